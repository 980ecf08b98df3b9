"""How the dashboard's one process uses the machine: settings made once, at its first page view.

A Streamlit server runs every rerun of every session in a thread of its own, and samples with
NumPy. Two defaults of the libraries under it cost a busy server CPU and memory:
  * BLAS keeps a pool of threads per core that spin while they wait; with one sampling per
    core already running, they spin against each other. One BLAS thread here; the search's
    Numba threads are set per call (`compare(..., threads=1)`), since Numba's are per thread.
  * glibc's malloc gives threads arenas of their own (up to 8 per core) and, after a large
    array is freed, serves arrays up to that size from the arenas instead of fresh pages.
    Freed memory then stays with the process, and the server's RSS creeps up with every
    training watched and run compared. A fixed mmap threshold returns every array over 1 MB
    to the system when it is freed; arenas created from now on are capped at two (the few
    made before the first page view stay).
"""
from __future__ import annotations

import ctypes
import ctypes.util

from threadpoolctl import threadpool_limits

M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8  # mallopt's parameters, from glibc's malloc.h
MMAP_THRESHOLD = 1 << 20  # bytes: arrays above this are mapped and unmapped on their own
ARENAS = 2


def configure_server() -> bool:
    """One BLAS thread; glibc malloc tuned as above. True where malloc was tuned (glibc only)."""
    threadpool_limits(1, user_api="blas")
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) & bool(mallopt(M_ARENA_MAX, ARENAS))  # & : both calls
