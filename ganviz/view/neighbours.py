"""The one nearest-neighbour search: for each query image, its nearest reference by L1.

Distance is the book's `l1_compare_images(a, b) = mean(|a - b|)` on the model's [-1, 1]
scale, and the search is exact. It is a compiled brute force (numba) with three tricks that
change how much work is done, never the answer:
  * blocking: a block of references small enough for the L2 cache is compared with every
    query (queries in parallel) before the next block is read, so memory is read once;
  * a lower bound from 4x4 tile sums: sum over tiles of |sum(a) - sum(b)| <= sum |a - b|
    (triangle inequality), 49 numbers per image instead of 784, so a reference whose bound
    already exceeds the query's best so far is skipped unread (the successive elimination
    of motion estimation: Li & Salari, IEEE Trans. Image Processing 4(1), 1995);
  * early abandoning: the distance is summed a few image rows at a time, and a reference is
    dropped as soon as its partial sum exceeds the query's best so far (partial sums of
    |a - b| only grow). Realistic queries find close references early and read a fraction
    of each image; uniform noise, whose distances are all alike, costs the most.
Ties go to the lowest index, as with np.argmin.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from ganviz.data import as_model_scale

SIDE = 28  # images are SIDE x SIDE
BLOCK = 256  # references per block: 256 x 784 float32 = 0.8 MB, stays in L2
CHUNK = 112  # pixels summed between abandon checks (784 = 7 x 112)
TILE = 4  # tile side of the lower bound: (28 / 4)^2 = 49 tile sums per image ...
TILES = 64  # ... stored padded with zeros to 64, a constant length the compiler vectorises
ORDER_SAMPLE = 4096  # references whose pixel variances choose the search order
# float32 rounding can lift a computed bound above the true one: by ~1e-6 of the two images'
# total |pixel| (< 5e-3 even for pixels in [-3, 3]) plus ~1e-5 of the bound itself. A
# reference is skipped only when its bound clears the best distance by more than both, so
# no true nearest is ever skipped.
SLACK_REL, SLACK_ABS = 1e-4, 1e-2


def to_rows(images: np.ndarray) -> np.ndarray:
    """uint8 images -> the book's [-1, 1] scale; anything else as float32; one row per image.

    Convert a fixed training set once and pass the rows to `nearest_l1` on every call.
    """
    x = as_model_scale(images)
    return np.ascontiguousarray(x.reshape(len(x), int(np.prod(x.shape[1:]))), dtype=np.float32)


@dataclass(frozen=True)
class L1Index:
    """References prepared once for repeated searches: [-1, 1] rows, most varied pixels first.

    L1 does not depend on pixel order; putting the pixels where images differ most first lets
    early abandoning drop a far reference after its first few rows of the sum.
    """
    rows: np.ndarray  # (N, D / CHUNK, CHUNK) float32, pixels permuted by `order`
    order: np.ndarray  # (D,) pixel permutation
    tiles: np.ndarray  # (N, TILES) float32: 4x4 tile sums of each image, zero-padded

    @classmethod
    def build(cls, references: np.ndarray) -> "L1Index":
        """One compiled pass over the references (uint8 or [-1, 1] floats): scale, permute,
        tile sums. The pixel order comes from the variance of at most ORDER_SAMPLE of them:
        any order gives the exact answer, a good one only gets there sooner."""
        x = np.asarray(references)
        if len(x) == 0:
            raise ValueError("no reference images to search")
        x = x.reshape(len(x), -1) if x.dtype == np.uint8 else to_rows(x)
        if x.shape[1] != SIDE * SIDE:
            raise ValueError(f"images must have {SIDE} x {SIDE} = {SIDE * SIDE} pixels, got {x.shape[1]}")
        sample = to_rows(x[:: max(1, len(x) // ORDER_SAMPLE)])
        order = np.argsort(-sample.var(axis=0), kind="stable")
        rows, tiles = _prepare(np.ascontiguousarray(x), order, x.dtype == np.uint8)
        return cls(rows, order, tiles)

    def __len__(self) -> int:
        return len(self.rows)


@numba.njit(parallel=True, cache=True)  # no fastmath: the scaling must round exactly as `to_rows`
def _prepare(x: np.ndarray, order: np.ndarray, from_uint8: bool) -> tuple[np.ndarray, np.ndarray]:
    n, d = x.shape
    rows = np.empty((n, d // CHUNK, CHUNK), np.float32)
    tiles = np.zeros((n, TILES), np.float32)
    k = SIDE // TILE
    for i in numba.prange(n):
        flat = rows[i].reshape(d)
        for p in range(d):
            v = np.float32(x[i, order[p]])
            flat[p] = (v - np.float32(127.5)) / np.float32(127.5) if from_uint8 else v
        for p in range(d):
            v = np.float32(x[i, p])
            v = (v - np.float32(127.5)) / np.float32(127.5) if from_uint8 else v
            tiles[i, (p // SIDE // TILE) * k + (p % SIDE) // TILE] += v
    return rows, tiles


def tile_sums(rows: np.ndarray) -> np.ndarray:
    """(N, SIDE * SIDE) rows -> (N, TILES) sums over TILE x TILE tiles, zero-padded."""
    if rows.shape[1] != SIDE * SIDE:
        raise ValueError(f"images must have {SIDE} x {SIDE} = {SIDE * SIDE} pixels, got {rows.shape[1]}")
    n, k = len(rows), SIDE // TILE
    out = np.zeros((n, TILES), np.float32)
    out[:, :k * k] = rows.reshape(n, k, TILE, k, TILE).sum(axis=(2, 4), dtype=np.float32).reshape(n, -1)
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def _search(q: np.ndarray, r: np.ndarray, q_tiles: np.ndarray, r_tiles: np.ndarray,
            groups: int) -> tuple[np.ndarray, np.ndarray]:
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
                    lower = np.float32(0.0)
                    for t in range(TILES):
                        lower += abs(q_tiles[i, t] - r_tiles[j, t])
                    if lower > bound * np.float32(1.0 + SLACK_REL) + np.float32(SLACK_ABS):
                        continue  # cannot be nearer than the best so far: skip it unread
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


def nearest_l1(queries: np.ndarray, references: np.ndarray | L1Index,
               threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest reference by mean |a - b| for each query: (indices int64, distances float64).

    Images are uint8 (mapped to [-1, 1] as in training) or floats on the model's scale, of
    any shape (N, ...). For repeated searches over one training set pass `L1Index.build(refs)`.
    `threads` caps the search's threads (default: Numba's; building an index from raw references
    is not capped); a server that runs one search per core for many sessions passes 1, since
    idle pool threads spin on a busy machine.
    """
    index = references if isinstance(references, L1Index) else L1Index.build(references)
    q = to_rows(queries)
    if q.shape[1] != len(index.order):
        raise ValueError(f"queries have {q.shape[1]} pixels, references {len(index.order)}")
    if len(q) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    q_tiles = tile_sums(q)
    q = np.ascontiguousarray(q[:, index.order]).reshape(len(q), -1, CHUNK)
    previous = numba.get_num_threads()
    numba.set_num_threads(min(threads or previous, previous))  # for this thread only
    try:
        return _search(q, index.rows, q_tiles, index.tiles, numba.get_num_threads())
    finally:
        numba.set_num_threads(previous)


def nearest_l1_numpy(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plain reference: one vectorised NumPy pass per query (the benchmark's baseline)."""
    q, r = to_rows(queries), to_rows(references)
    idx, dist = np.empty(len(q), np.int64), np.empty(len(q), np.float64)
    for i, row in enumerate(q):
        d = np.abs(r - row).mean(axis=1)
        idx[i] = np.argmin(d)
        dist[i] = d[idx[i]]
    return idx, dist
