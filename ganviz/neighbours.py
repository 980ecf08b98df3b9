"""The one nearest-neighbour search: for each query image, its nearest reference by L1.

Distance is the book's `l1_compare_images(a, b) = mean(|a - b|)` on the model's [-1, 1]
scale. The search is exact. Two paths give the same answer:
  * a compiled blocked brute force (numba): reference blocks in parallel, all queries per
    block, so each reference is read from memory once;
  * pruning for typical queries: for pixels in [-1, 1], |d| >= d^2 / 2, so
    mean|a - b| >= mean((a - b)^2) / 2, and the squared distances to every reference come
    from one matrix product. A reference whose bound exceeds a distance already found
    cannot be nearest, so only the few survivors are measured exactly.
"""
from __future__ import annotations

import numba
import numpy as np

BLOCK = 256  # references per block: 256 x 784 float32 = 0.8 MB, fits in L2 with the queries
PRUNE_MAX_FRACTION = 0.05  # beyond this share of survivors, brute force is cheaper


def _flat(images: np.ndarray) -> np.ndarray:
    """uint8 images -> the book's [-1, 1] scale; anything else as float32; rows of pixels."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 127.5) / 127.5
    return np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32)


@numba.njit(parallel=True, fastmath=True, cache=True)
def _brute(q: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nq, dim = q.shape
    nblocks = (r.shape[0] + BLOCK - 1) // BLOCK
    best_d = np.full((nblocks, nq), np.inf, dtype=np.float64)
    best_i = np.zeros((nblocks, nq), dtype=np.int64)
    for b in numba.prange(nblocks):
        for j in range(b * BLOCK, min((b + 1) * BLOCK, r.shape[0])):
            for i in range(nq):
                acc = np.float32(0.0)
                for k in range(dim):
                    acc += abs(q[i, k] - r[j, k])
                d = acc / dim
                if d < best_d[b, i]:
                    best_d[b, i] = d
                    best_i[b, i] = j
    out_d = np.empty(nq, dtype=np.float64)
    out_i = np.empty(nq, dtype=np.int64)
    for i in range(nq):  # earlier blocks win ties: the lowest index, like np.argmin
        k = np.argmin(best_d[:, i])
        out_d[i], out_i[i] = best_d[k, i], best_i[k, i]
    return out_i, out_d


@numba.njit(parallel=True, fastmath=True, cache=True)
def _measure(q: np.ndarray, r: np.ndarray, pairs_q: np.ndarray, pairs_r: np.ndarray) -> np.ndarray:
    """Exact L1 for listed (query, reference) pairs."""
    out = np.empty(len(pairs_q), dtype=np.float64)
    dim = q.shape[1]
    for p in numba.prange(len(pairs_q)):
        acc = np.float32(0.0)
        i, j = pairs_q[p], pairs_r[p]
        for k in range(dim):
            acc += abs(q[i, k] - r[j, k])
        out[p] = acc / dim
    return out


def _pruned(q: np.ndarray, r: np.ndarray, r_sq: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Bound-and-check search; None when too few references can be ruled out."""
    dim = q.shape[1]
    sq = (q * q).sum(1)[:, None] + r_sq[None, :] - 2.0 * (q @ r.T)
    # float32 round-off in the product: widen the bound's slack so it stays a true lower bound
    bound = np.maximum(sq, 0.0) / (2.0 * dim) - 1e-4
    k = min(8, len(r))  # measure the k most promising references to get a distance to beat
    seeds = np.argpartition(bound, k - 1, axis=1)[:, :k]
    rows = np.repeat(np.arange(len(q)), k)
    tau = _measure(q, r, rows, seeds.reshape(-1)).reshape(len(q), k).min(1)
    survivors = bound <= tau[:, None]
    if survivors.sum() > PRUNE_MAX_FRACTION * survivors.size:
        return None
    pq, pr = np.nonzero(survivors)
    d = _measure(q, r, pq, pr)
    order = np.lexsort((pr, d, pq))  # per query: smallest distance, then lowest index
    first = np.unique(pq[order], return_index=True)[1]
    return pr[order][first].astype(np.int64), d[order][first]


def nearest_l1(queries: np.ndarray, references: np.ndarray,
               ref_sq: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact nearest reference by mean |a - b| for each query: (indices int64, distances float64).

    Images are uint8 (mapped to [-1, 1] as in training) or floats already on the model's
    scale; any shape (N, ...) is flattened. `ref_sq` (per-reference sum of squares, see
    `reference_norms`) may be passed to skip recomputing it for a fixed training set.
    """
    q, r = _flat(queries), _flat(references)
    if q.shape[1] != r.shape[1]:
        raise ValueError(f"queries have {q.shape[1]} pixels, references {r.shape[1]}")
    if len(r) == 0:
        raise ValueError("no reference images to search")
    if len(q) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    if np.abs(q).max() <= 1.0 and np.abs(r).max() <= 1.0:  # the bound needs |pixel| <= 1
        found = _pruned(q, r, reference_norms(r) if ref_sq is None else ref_sq)
        if found is not None:
            return found
    return _brute(q, r)


def reference_norms(references: np.ndarray) -> np.ndarray:
    r = _flat(references)
    return (r * r).sum(1)


def nearest_l1_numpy(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plain reference: one vectorised NumPy pass per query (the benchmark's baseline)."""
    q, r = _flat(queries), _flat(references)
    idx, dist = np.empty(len(q), np.int64), np.empty(len(q), np.float64)
    for i, row in enumerate(q):
        d = np.abs(r - row).mean(axis=1)
        idx[i] = np.argmin(d)
        dist[i] = d[idx[i]]
    return idx, dist
