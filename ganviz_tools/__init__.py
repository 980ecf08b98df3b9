"""Tools around the package, installed beside it but not part of it (they import TensorFlow and
drive a browser): the benchmark, the docs' pictures, the browser harness."""
