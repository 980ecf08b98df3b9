"""Tools around the package, not part of it: the benchmark, the docs' pictures, the browser harness."""
