"""The one nearest-neighbour search: for each query image, its nearest reference by L1.

Distance is the book's `l1_compare_images(a, b) = mean(|a - b|)` on the model's [-1, 1]
scale, and the search is exact. It is a compiled brute force (numba) with two tricks that
change how much work is done, never the answer:
  * blocking: a block of references small enough for the L2 cache is compared with every
    query (queries in parallel) before the next block is read, so memory is read once;
  * early abandoning: the distance is summed a few image rows at a time, and a reference is
    dropped as soon as its partial sum exceeds the query's best so far (partial sums of
    |a - b| only grow). Realistic queries find close references early and read a fraction
    of each image; uniform noise, whose distances are all alike, costs a full scan.
Ties go to the lowest index, as with np.argmin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

BLOCK = 256  # references per block: 256 x 784 float32 = 0.8 MB, stays in L2
CHUNK = 112  # pixels summed between abandon checks (784 = 7 x 112)


def to_rows(images: np.ndarray) -> np.ndarray:
    """uint8 images -> the book's [-1, 1] scale; anything else as float32; one row per image.

    Convert a fixed training set once and pass the rows to `nearest_l1` on every call.
    """
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 127.5) / 127.5
    return np.ascontiguousarray(x.reshape(len(x), int(np.prod(x.shape[1:]))), dtype=np.float32)


@dataclass(frozen=True)
class L1Index:
    """References prepared once for repeated searches: [-1, 1] rows, most varied pixels first.

    L1 does not depend on pixel order; putting the pixels where images differ most first lets
    early abandoning drop a far reference after its first few rows of the sum.
    """
    rows: np.ndarray  # (N, D / CHUNK, CHUNK) float32, pixels permuted by `order`
    order: np.ndarray  # (D,) pixel permutation

    @classmethod
    def build(cls, references: np.ndarray) -> "L1Index":
        r = to_rows(references)
        if len(r) == 0:
            raise ValueError("no reference images to search")
        if r.shape[1] % CHUNK:
            raise ValueError(f"images must have a multiple of {CHUNK} pixels, got {r.shape[1]}")
        order = np.argsort(-r.var(axis=0), kind="stable")
        return cls(np.ascontiguousarray(r[:, order]).reshape(len(r), -1, CHUNK), order)

    def __len__(self) -> int:
        return len(self.rows)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _search(q: np.ndarray, r: np.ndarray, groups: int) -> tuple[np.ndarray, np.ndarray]:
    # q (Q, chunks, CHUNK), r (N, chunks, CHUNK): the constant inner length lets LLVM
    # vectorise the sum fully (a runtime pixel count made this loop 5x slower)
    nq, chunks, _ = q.shape
    best = np.full(nq, np.inf, dtype=np.float32)
    best_i = np.zeros(nq, dtype=np.int64)
    size = (nq + groups - 1) // groups
    for start in range(0, r.shape[0], BLOCK):
        stop = min(start + BLOCK, r.shape[0])
        # each thread owns a slice of the queries (no shared writes); every row of the block
        # is compared with all of the thread's queries while it sits in L1
        for g in numba.prange(groups):
            for j in range(start, stop):
                for i in range(g * size, min(nq, (g + 1) * size)):
                    bound = best[i]
                    acc = np.float32(0.0)
                    for c in range(chunks):
                        part = np.float32(0.0)
                        for k in range(CHUNK):
                            part += abs(q[i, c, k] - r[j, c, k])
                        acc += part
                        if acc > bound:  # partial sums only grow: j cannot be nearest
                            break
                    if acc < bound:
                        best[i] = acc
                        best_i[i] = j
    return best_i, best.astype(np.float64) / (chunks * CHUNK)


def nearest_l1(queries: np.ndarray, references: np.ndarray | L1Index) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest reference by mean |a - b| for each query: (indices int64, distances float64).

    Images are uint8 (mapped to [-1, 1] as in training) or floats on the model's scale, of
    any shape (N, ...). For repeated searches over one training set pass `L1Index.build(refs)`.
    """
    index = references if isinstance(references, L1Index) else L1Index.build(references)
    q = to_rows(queries)
    if q.shape[1] != len(index.order):
        raise ValueError(f"queries have {q.shape[1]} pixels, references {len(index.order)}")
    if len(q) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    q = np.ascontiguousarray(q[:, index.order]).reshape(len(q), -1, CHUNK)
    return _search(q, index.rows, numba.get_num_threads())


def nearest_l1_numpy(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plain reference: one vectorised NumPy pass per query (the benchmark's baseline)."""
    q, r = to_rows(queries), to_rows(references)
    idx, dist = np.empty(len(q), np.int64), np.empty(len(q), np.float64)
    for i, row in enumerate(q):
        d = np.abs(r - row).mean(axis=1)
        idx[i] = np.argmin(d)
        dist[i] = d[idx[i]]
    return idx, dist
