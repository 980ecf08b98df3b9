"""The engine, and the only folder that imports TensorFlow and Keras: the models, the one
paired training loop, tf.distribute placement, the run orchestrator, the quality classifiers.
Importing this package itself costs nothing: `import_tensorflow` brings TensorFlow in."""
from __future__ import annotations

import os
import sys


def import_tensorflow(verbose: bool = False, threads: int | None = None) -> None:
    """Import TensorFlow with its C++/absl start-up logs (CUDA probes, oneDNN notices) sent to
    /dev/null, so the CLI prints only its own words; `--verbose` or GANVIZ_VERBOSE=1 shows them.
    Those logs are written to file descriptor 2 by C++ before Python's logging exists, so the
    descriptor itself is redirected around the import. `threads` caps TensorFlow's thread pools
    (a study's parallel runs share the cores)."""
    verbose = verbose or os.environ.get("GANVIZ_VERBOSE", "") not in ("", "0")
    if "tensorflow" in sys.modules:
        return
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        sys.stderr.flush()
        saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
    try:
        import tensorflow as tf
        if threads:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        tf.config.list_physical_devices()  # device probes log once, here
    finally:
        if not verbose:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)
    if not verbose:
        tf.get_logger().setLevel("ERROR")  # retracing notes and other Python-side warnings
