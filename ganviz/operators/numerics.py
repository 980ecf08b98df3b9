"""The NumPy arithmetic every operator's viewer layer is made of (spec.PhaseLayer): a 'valid'
convolution three ways, bilinear resizing, depth-to-space and a fixed filter on every channel.
No TensorFlow: the dashboard shows samples without it."""
from __future__ import annotations

import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

import numpy as np

CHUNK_IMAGES = 8  # images through the forward pass at once: at most ~9 MB of patches for the book's layers


class Scratch:
    """Work arrays kept for the next convolution of the same shape, up to `limit_mb` in all (the
    shapes used longest ago make room for new ones).

    The dashboard's server gives every freed array over 1 MB back to the system (so that its
    memory does not creep; ganviz/dashboard/server.py), which makes each fresh patch matrix
    fault its pages in again: a quarter of a sampling's CPU time. Reused arrays skip that.
    Thread-safe: each array is lent to one caller at a time."""

    def __init__(self, limit_mb: float = 64):
        self.limit = int(limit_mb * 2**20)
        self._free: OrderedDict[tuple[int, ...], list[np.ndarray]] = OrderedDict()  # the latest used last
        self._lock = threading.Lock()

    @contextmanager
    def __call__(self, shape: tuple[int, ...]) -> Iterator[np.ndarray]:
        with self._lock:
            spare = self._free.get(shape)
            array = spare.pop() if spare else None
        if array is None:
            array = np.empty(shape, np.float32)
        try:
            yield array
        finally:
            if array.nbytes <= self.limit:
                self._keep(shape, array)

    def _keep(self, shape: tuple[int, ...], array: np.ndarray) -> None:
        """Keep a returned array, evicting the shapes used longest ago while it would not fit."""
        with self._lock:
            self._free.setdefault(shape, [])
            self._free.move_to_end(shape)
            held = sum(a.nbytes for arrays in self._free.values() for a in arrays)
            while held + array.nbytes > self.limit and next(iter(self._free)) != shape:
                held -= sum(a.nbytes for a in self._free.popitem(last=False)[1])
            if held + array.nbytes <= self.limit:
                self._free[shape].append(array)


SCRATCH = Scratch()


def conv_way(k: int, c: int, o: int) -> str:
    """Which way `conv_valid` computes a k x k convolution from C to O channels: the one that
    moves the fewest floats per output pixel (the matrix products' FLOPs are the same)."""
    moved = {"im2col": k * k * c, "row taps": k * c + 3 * (k - 1) * o, "shift-add": 2 * k * k * o}
    return min(moved, key=moved.get)


def conv_valid(x: np.ndarray, kernel: np.ndarray, pad: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Conv2D(padding='valid', stride 1) of x with `pad` = (before, after) rows and columns of
    zeros added: x (N, H + k - 1 - before - after, ..., C), kernel (k, k, C, O) -> (N, H, W, O).
    The padded copy is a scratch array. See `_conv_valid` for how."""
    lo, hi = pad
    if not (lo or hi):
        return _conv_valid(x, kernel)
    n, h, w, c = x.shape
    with SCRATCH((n, h + lo + hi, w + lo + hi, c)) as padded:
        padded.fill(0.0)
        padded[:, lo:lo + h, lo:lo + w] = x
        return _conv_valid(padded, kernel)


def _conv_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Conv2D(padding='valid', stride 1): x (N, H + k - 1, W + k - 1, C), kernel (k, k, C, O)
    -> (N, H, W, O), as matrix products on chunks of images, one of three ways (`conv_way`):
      im2col     gather each output pixel's whole k*k*C patch, then one product (the wide
                 doubling layers, O > C)
      row taps   gather only each pixel's k-wide row of the patch (k*C), then one product per
                 kernel row u, added into the output row u rows above the patch row (the 28 x 28
                 layer, O = C: its whole patches were 1,600 floats for a product 64 wide)
      shift-add  x @ kernel gives every tap's products at every input pixel, then each tap's
                 slice is added in at its offset (the last layer, O = 1: ~15x im2col)"""
    n, hp, wp, c = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    h, w = hp - k + 1, wp - k + 1
    out = np.empty((n, h, w, o), np.float32)
    way = conv_way(k, c, o)
    if way == "shift-add":
        flat = np.ascontiguousarray(kernel.transpose(2, 0, 1, 3).reshape(c, k * k * o), np.float32)
        for s in range(0, n, CHUNK_IMAGES):
            chunk = x[s:s + CHUNK_IMAGES].reshape(-1, c)
            with SCRATCH((len(chunk), k * k * o)) as taps:
                np.matmul(chunk, flat, out=taps)
                taps = taps.reshape(-1, hp, wp, k, k, o)
                acc = out[s:s + CHUNK_IMAGES]
                acc[:] = taps[:, :h, :w, 0, 0]
                for u in range(k):
                    for v in range(k):
                        if u or v:
                            acc += taps[:, u:u + h, v:v + w, u, v]
    elif way == "im2col":
        flat = np.ascontiguousarray(kernel.reshape(k * k * c, o), np.float32)
        for s in range(0, n, CHUNK_IMAGES):
            windows = np.lib.stride_tricks.sliding_window_view(x[s:s + CHUNK_IMAGES], (k, k), axis=(1, 2))
            with SCRATCH((len(windows), h, w, k, k, c)) as patches:
                patches[:] = windows.transpose(0, 1, 2, 4, 5, 3)
                np.matmul(patches.reshape(-1, k * k * c), flat, out=out[s:s + CHUNK_IMAGES].reshape(-1, o))
    else:
        rows = np.ascontiguousarray(kernel.reshape(k, k * c, o), np.float32)
        for s in range(0, n, CHUNK_IMAGES):
            windows = np.lib.stride_tricks.sliding_window_view(x[s:s + CHUNK_IMAGES], k, axis=2)  # (n, hp, w, c, k)
            with SCRATCH((len(windows), hp, w, k, c)) as patches, SCRATCH((len(windows), h * w, o)) as product:
                patches[:] = windows.transpose(0, 1, 2, 4, 3)
                patches = patches.reshape(-1, hp * w, k * c)
                acc = out[s:s + CHUNK_IMAGES].reshape(-1, h * w, o)
                np.matmul(patches[:, :h * w], rows[0], out=acc)
                for u in range(1, k):  # output row i takes kernel row u from patch row i + u
                    acc += np.matmul(patches[:, u * w:u * w + h * w], rows[u], out=product)
    return out


def conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Conv2D(padding='same', stride 1): x (N, H, W, C), kernel (k, k, C, O) -> (N, H, W, O)."""
    k = kernel.shape[0]
    return conv_valid(x, kernel, (k // 2, k - 1 - k // 2))


def bilinear_upsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """UpSampling2D(factor, interpolation='bilinear') as Keras computes it (half-pixel centres,
    edges clamped): for factor 2 each output pixel is 3/4 of its own input pixel and 1/4 of the
    neighbour on its side, along each axis. x (N, H, W, C) -> (N, 2H, 2W, C)."""
    if factor != 2:
        raise ValueError(f"bilinear upsampling is implemented for factor 2, got {factor}")
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (1, 1)
        e = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        prev, nxt = np.take(e, range(0, n), axis=axis), np.take(e, range(2, n + 2), axis=axis)
        even, odd = 0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt
        x = np.stack([even, odd], axis=axis + 1).reshape(*x.shape[:axis], 2 * n, *x.shape[axis + 1:])
    return x.astype(np.float32)


def depth_to_space(y: np.ndarray, f: int) -> np.ndarray:
    """(N, H, W, f*f*C) -> (N, fH, fW, C), TensorFlow's channel order: (a*f + b)*C + c."""
    n, h, w, _ = y.shape
    return y.reshape(n, h, w, f, f, -1).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * f, w * f, -1)


def depthwise_same(x: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """A fixed (k, k) filter on every channel, zero padding as TensorFlow's 'SAME' (the odd pixel
    after): x (N, H, W, C) -> (N, H, W, C)."""
    k = taps.shape[0]
    lo, hi = (k - 1) // 2, k // 2
    p = np.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0)))
    h, w = x.shape[1:3]
    out = np.zeros_like(x, dtype=np.float32)
    for u in range(k):
        for v in range(k):
            if taps[u, v]:
                out += np.float32(taps[u, v]) * p[:, u:u + h, v:v + w]
    return out
