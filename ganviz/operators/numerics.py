"""The NumPy arithmetic every operator's viewer layer is made of (spec.PhaseLayer): a 'valid'
convolution four ways, bilinear resizing, depth-to-space and a fixed filter on every channel.
No TensorFlow: the dashboard shows samples without it."""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from contextlib import contextmanager
from fractions import Fraction
from typing import Iterator

import numba
import numpy as np

CHUNK_IMAGES = 8  # images through the forward pass at once: at most ~9 MB of patches for the book's layers
WINOGRAD_KERNELS = (3, 5)  # kernel sizes convolved in Winograd's domain (points 0, +-1, +-2: see winograd_matrices)
WINOGRAD_MIN_CHANNELS = 64  # the classifier's 3x3 32 -> 64 layers ran no faster that way (docs/PERFORMANCE.md)


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
    """Which way `conv_valid` computes a k x k convolution from C to O channels: Winograd's for
    3x3 and 5x5 kernels between wide layers (2.25x and 2.8x fewer multiplies); otherwise the
    one that moves the fewest floats per output pixel (their matrix products' FLOPs are the same)."""
    if k in WINOGRAD_KERNELS and min(c, o) >= WINOGRAD_MIN_CHANNELS:
        return "winograd"
    moved = {"im2col": k * k * c, "row taps": k * c + 3 * (k - 1) * o, "shift-add": 2 * k * k * o}
    return min(moved, key=moved.get)


def conv_macs(h: int, w: int, kernel_shape: tuple[int, ...]) -> int:
    """Multiply-adds of `conv_valid`'s matrix products for an h x w output, the way it runs
    (Winograd's: (k + 1)^2 per 2 x 2 output tile instead of 4 k^2; its transforms not counted)."""
    k, _, c, o = kernel_shape
    if conv_way(k, c, o) == "winograd":
        return -(-h // 2) * -(-w // 2) * (k + 1) ** 2 * c * o
    return h * w * k * k * c * o


def conv_valid(x: np.ndarray, kernel: np.ndarray, pad: tuple[int, int] = (0, 0),
               transformed: np.ndarray | None = None) -> np.ndarray:
    """Conv2D(padding='valid', stride 1) of x with `pad` = (before, after) rows and columns of
    zeros added: x (N, H + k - 1 - before - after, ..., C), kernel (k, k, C, O) -> (N, H, W, O).
    `transformed`: `prepared_kernel(kernel)`, kept by a caller that convolves with it again.
    The padded copy is a scratch array. See `_conv_valid` for how."""
    lo, hi = pad
    n, h, w, c = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    way = conv_way(k, c, o)
    if way == "winograd":
        transformed = prepared_kernel(kernel) if transformed is None else transformed
        if transformed.shape != ((k + 1) ** 2, c, o) or transformed.dtype != np.float32:
            raise ValueError(f"transformed: {transformed.shape} {transformed.dtype}, not winograd_kernel's "
                             f"{((k + 1) ** 2, c, o)} float32 for this {kernel.shape} kernel")
    elif transformed is not None:
        raise ValueError(f"transformed: a {kernel.shape} kernel is convolved the {way} way, not in Winograd's domain")
    # Winograd's way makes 2 x 2 output tiles: an odd side gets one more row or column of zeros, cropped after
    odd_h, odd_w = ((h + lo + hi - k + 1) % 2, (w + lo + hi - k + 1) % 2) if way == "winograd" else (0, 0)
    if not (lo or hi or odd_h or odd_w):
        return _conv_valid(x, kernel, way, transformed)
    with SCRATCH((n, h + lo + hi + odd_h, w + lo + hi + odd_w, c)) as padded:
        padded.fill(0.0)
        padded[:, lo:lo + h, lo:lo + w] = x
        y = _conv_valid(padded, kernel, way, transformed)
    return np.ascontiguousarray(y[:, :y.shape[1] - odd_h, :y.shape[2] - odd_w]) if odd_h or odd_w else y


def _conv_valid(x: np.ndarray, kernel: np.ndarray, way: str, transformed: np.ndarray | None) -> np.ndarray:
    """Conv2D(padding='valid', stride 1): x (N, H + k - 1, W + k - 1, C), kernel (k, k, C, O)
    -> (N, H, W, O), as matrix products on chunks of images, one of four ways (`conv_way`;
    Winograd's with H and W even and the kernel `transformed`):
      winograd   Winograd's minimal filtering F(2x2, kxk), one image at a time (its work arrays
                 then stay in the CPU's cache): each 2 x 2 output tile from a (k+1)^2 input tile,
                 as (k+1)^2 matrix products of tiles x C by C x O (`_winograd`). Every operator's
                 wide layers: the 3x3 phase kernels, the 5x5 kernels (sub-pixel's, bilinear's, the
                 28 x 28 layer); the book's pair samples 1.9x as fast as the direct ways
      im2col     gather each output pixel's whole k*k*C patch, then one product (narrow layers,
                 O > C: the classifier's)
      row taps   gather only each pixel's k-wide row of the patch (k*C), then one product per
                 kernel row u, added into the output row u rows above the patch row (narrow
                 layers, O <= C: a whole patch would be many floats for a narrow product)
      shift-add  x @ kernel gives every tap's products at every input pixel, then each tap's
                 slice is added in at its offset (the last layer, O = 1: ~15x im2col)"""
    n, hp, wp, c = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    h, w = hp - k + 1, wp - k + 1
    out = np.empty((n, h, w, o), np.float32)
    if way == "winograd":
        _winograd(np.ascontiguousarray(x, np.float32), transformed, k, out)
    elif way == "shift-add":
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


@functools.lru_cache(maxsize=None)
def winograd_matrices(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T, G, B^T), float64, of Winograd's F(2, k) (Lavin & Gray, "Fast Algorithms for Convolutional
    Neural Networks", CVPR 2016, arXiv:1509.09308): a k-tap correlation's 2 outputs from its
    k + 1 inputs d as y = A^T [(G g) * (B^T d)], k + 1 products instead of 2k. Built exactly
    (in fractions) as the transpose of Toom-Cook's linear convolution at the points 0, +-1, +-2
    and infinity: G and A^T evaluate at them, B^T is the inverse of their Vandermonde matrix,
    transposed. Small points keep float32's error under 1e-5 of the output's scale for k = 5
    and 1e-6 for k = 3 (tested)."""
    n = k + 1
    points = [Fraction(p) for p in (0, 1, -1, 2, -2)[:n - 1]]

    def evaluate(length: int) -> list[list[Fraction]]:
        """The matrix taking a polynomial's `length` coefficients to its values at the points
        (at infinity: its top coefficient)."""
        top = [Fraction(int(e == length - 1)) for e in range(length)]
        return [[p ** e for e in range(length)] for p in points] + [top]

    # invert the n x n Vandermonde matrix by Gauss-Jordan, exactly
    rows = [row + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(evaluate(n))]
    for col in range(n):
        pivot = next(r for r in range(col, n) if rows[r][col] != 0)
        rows[col], rows[pivot] = rows[pivot], rows[col]
        rows[col] = [v / rows[col][col] for v in rows[col]]
        for r in range(n):
            if r != col and rows[r][col] != 0:
                rows[r] = [a - rows[r][col] * b for a, b in zip(rows[r], rows[col])]
    inverse = np.array([[float(v) for v in row[n:]] for row in rows])
    at = np.array(evaluate(2), float).T
    g = np.array(evaluate(k), float)
    matrices = (at, g, inverse.T)
    for matrix in matrices:
        matrix.setflags(write=False)
    return matrices


@functools.lru_cache(maxsize=None)
def _transforms32(k: int) -> tuple[np.ndarray, np.ndarray]:
    """A^T and B^T of F(2, k) in float32, for the compiled tile transforms."""
    at, _, bt = winograd_matrices(k)
    return at.astype(np.float32), bt.astype(np.float32)


def prepared_kernel(kernel: np.ndarray) -> np.ndarray | None:
    """What `conv_valid` convolves with besides the kernel itself, made once by a caller that
    convolves with it again: its Winograd transform where it takes that way, else None."""
    k, _, c, o = kernel.shape
    return winograd_kernel(kernel) if conv_way(k, c, o) == "winograd" else None


def winograd_kernel(kernel: np.ndarray) -> np.ndarray:
    """A (k, k, C, O) kernel in Winograd's domain, G g G^T per channel pair: ((k + 1)^2, C, O)."""
    k = kernel.shape[0]
    g = winograd_matrices(k)[1]
    u = np.einsum("ik,klco,jl->ijco", g, kernel.astype(np.float64), g)
    return np.ascontiguousarray(u.reshape((k + 1) ** 2, *kernel.shape[2:]), np.float32)


def _winograd(x: np.ndarray, transformed: np.ndarray, k: int, out: np.ndarray) -> None:
    """out (N, H, W, O) = the valid convolution of x (N, H + k - 1, W + k - 1, C), H and W even,
    one image at a time: input tiles to Winograd's domain, (k + 1)^2 matrix products, back."""
    if out.shape[1] % 2 or out.shape[2] % 2:  # the compiled passes would leave the last row or column unwritten
        raise ValueError(f"Winograd's F(2x2) needs an even output, got {out.shape[1]} x {out.shape[2]}")
    at, bt = _transforms32(k)
    nn, c, o = transformed.shape
    tiles = out.shape[1] // 2 * (out.shape[2] // 2)
    with SCRATCH((nn, tiles, c)) as v, SCRATCH((nn, tiles, o)) as products:
        for image, y in zip(x, out):
            _tiles_in(image, bt, v)
            np.matmul(v, transformed, out=products)
            _tiles_out(products, at, y)


@numba.njit(cache=True, nogil=True)  # nogil: the server samples on one thread per core at once
def _tiles_in(x, bt, v):
    """v[i * n + j, tile] = (B^T d B)[i, j] of each n x n input tile d at stride 2, channels
    last. Rows first, once per row of tiles; then columns, tile by tile."""
    hp, wp, c = x.shape
    n = bt.shape[0]
    th, tw = (hp - n) // 2 + 1, (wp - n) // 2 + 1
    rows = np.empty((n, wp, c), np.float32)
    for a in range(th):
        rows[:] = 0.0
        for i in range(n):
            for r in range(n):
                weight = bt[i, r]
                if weight != 0.0:
                    for col in range(wp):
                        for ch in range(c):
                            rows[i, col, ch] += weight * x[2 * a + r, col, ch]
        first = a * tw
        for i in range(n):
            for j in range(n):
                dst = v[i * n + j, first:first + tw]
                dst[:] = 0.0
                for l in range(n):
                    weight = bt[j, l]
                    if weight != 0.0:
                        for t in range(tw):
                            for ch in range(c):
                                dst[t, ch] += weight * rows[i, 2 * t + l, ch]


@numba.njit(cache=True, nogil=True)
def _tiles_out(m, at, y):
    """Each 2 x 2 output tile of y (H, W, O) = A^T M A of its products M, a row of tiles at a time."""
    h, w, o = y.shape
    n = at.shape[1]
    th, tw = h // 2, w // 2
    half = np.empty((2, n, tw, o), np.float32)
    for a in range(th):
        first = a * tw
        half[:] = 0.0
        for r in range(n):
            for j in range(n):
                src = m[r * n + j, first:first + tw]
                for i in range(2):
                    weight = at[i, r]
                    if weight != 0.0:
                        for t in range(tw):
                            for ch in range(o):
                                half[i, j, t, ch] += weight * src[t, ch]
        for i in range(2):
            dst = y[2 * a + i]
            dst[:] = 0.0
            for jj in range(2):
                for l in range(n):
                    weight = at[jj, l]
                    if weight != 0.0:
                        for t in range(tw):
                            for ch in range(o):
                                dst[2 * t + jj, ch] += weight * half[i, l, t, ch]


def conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Conv2D(padding='same', stride 1): x (N, H, W, C), kernel (k, k, C, O) -> (N, H, W, O)."""
    k = kernel.shape[0]
    return conv_valid(x, kernel, (k // 2, k - 1 - k // 2))


def bilinear_upsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """UpSampling2D(factor, interpolation='bilinear') as Keras computes it (half-pixel centres,
    edges clamped): for factor 2 each output pixel is 3/4 of its own input pixel and 1/4 of the
    neighbour on its side, along each axis. x (N, H, W, C) -> (N, 2H, 2W, C).

    Both halves of each axis are written from slices of x into one output array, without
    padded or stacked copies: the viewer's bilinear layers spend a third of their time here."""
    if factor != 2:
        raise ValueError(f"bilinear upsampling is implemented for factor 2, got {factor}")
    x = np.asarray(x, np.float32)
    for axis in (1, 2):
        out = np.empty((*x.shape[:axis], 2 * x.shape[axis], *x.shape[axis + 1:]), np.float32)
        own, side = np.moveaxis(0.75 * x, axis, 0), np.moveaxis(0.25 * x, axis, 0)
        rows = np.moveaxis(out, axis, 0)  # a view: writing it fills out
        even, odd = rows[0::2], rows[1::2]
        even[1:] = own[1:] + side[:-1]
        odd[:-1] = own[:-1] + side[1:]
        even[0] = own[0] + side[0]  # at the edges the clamped neighbour is the pixel itself
        odd[-1] = own[-1] + side[-1]
        x = out
    return x


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
