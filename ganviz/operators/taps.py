"""The arithmetic of doubling a feature map, shared by the operators' specs (builtin.py, which
the NumPy viewer runs) and the fused Keras layer that trains fast (ganviz/gan/blocks.py).

The book's two operators are, output phase by output phase, small convolutions of the *input*: output
pixel f*i + a reads input pixels i + p for a few offsets p, each through one kernel tap. The tap
tables say which; a phase kernel sums the taps that land on the same input pixel:
  upsample   UpSampling2D(f) then Conv2D(k, same): 3x3 phase kernels for k = 5, f = 2 (2.8x fewer FLOPs)
  transpose  Conv2DTranspose(k, stride s, same): 3x3 phase kernels too, of 9, 6 or 4 live taps,
             which is the uneven overlap behind the checkerboard
"""
from __future__ import annotations

import numpy as np


def _table(pairs: list[list[tuple[int, int]]], kernel: int) -> tuple[np.ndarray, int, int]:
    """Tap table A[a, p - lo, u] = 1 when tap u of phase a reads input offset p."""
    lo = min(p for row in pairs for p, _ in row)
    hi = max(p for row in pairs for p, _ in row)
    taps = np.zeros((len(pairs), hi - lo + 1, kernel), np.float32)
    for a, row in enumerate(pairs):
        for p, u in row:
            taps[a, p - lo, u] = 1.0
    return taps, lo, hi


def phase_taps(kernel: int, factor: int) -> tuple[np.ndarray, int, int]:
    """UpSampling2D(factor) -> Conv2D(kernel, same): output pixel f*i + a reads input pixel
    i + (a + u - k//2) // f through tap u. Returns the tap table and the offset range (lo, hi)."""
    return _table([[((a + u - kernel // 2) // factor, u) for u in range(kernel)] for a in range(factor)], kernel)


def transpose_taps(kernel: int, stride: int) -> tuple[np.ndarray, int, int]:
    """Conv2DTranspose(kernel, stride, same): output pixel s*m + a receives input pixel m + p
    through tap u = a + before - s*p, where TensorFlow's 'same' crops `before` pixels first."""
    before = max(kernel - stride, 0) // 2
    return _table([[(p, a + before - stride * p) for p in range(-kernel, kernel + 1)
                    if 0 <= a + before - stride * p < kernel] for a in range(stride)], kernel)


def phase_kernel(kernel: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """(k, k, C, O) kernel -> (P, P, C, f * f * O): one convolution of the input whose output
    channels are the f x f phases of every output channel (depth-to-space order)."""
    f, p, _ = taps.shape
    c, o = kernel.shape[2], kernel.shape[3]
    return np.einsum("apu,bqv,uvio->pqiabo", taps, taps, kernel).reshape(p, p, c, f * f * o)
