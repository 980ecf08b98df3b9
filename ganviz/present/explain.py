"""Why the operators differ, computed on small arrays (no TensorFlow needed).

Transposed convolution with stride s scatters each input pixel's k x k kernel onto the
output every s pixels. When k is not divisible by s the footprints overlap unevenly, so
some output pixels receive more kernel taps than their neighbours -- the checkerboard
(Odena, Dumoulin & Olah, "Deconvolution and Checkerboard Artifacts", Distill 2016).
Nearest upsampling followed by a stride-1 convolution gives every output pixel k x k taps, and
so do sub-pixel convolution and bilinear upsampling + convolution. A transposed convolution whose
kernel the stride divides gives every output pixel the same number (kernel 4, stride 2: 4 each);
a binomial blur after one with kernel 5 averages its 9, 6 and 4 taps with the neighbours'.
`operators.tap_pattern` counts the taps of any registered operator.
"""
from __future__ import annotations

import numpy as np

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.operators.numerics import conv_same
from ganviz.view.inference import NumpyGenerator
from ganviz.view.weights import initial_weights


def overlap_map(kernel: int, stride: int, size: int = 8) -> np.ndarray:
    """How many kernel taps land on each output pixel of a transposed convolution.

    A size x size input of ones is scattered with a kernel of ones; the interior of the
    result shows the periodic pattern (border pixels see fewer inputs).
    """
    n = (size - 1) * stride + kernel
    out = np.zeros((n, n), dtype=np.int64)
    for i in range(size):
        for j in range(size):
            out[i * stride: i * stride + kernel, j * stride: j * stride + kernel] += 1
    return out


def overlap_pattern(kernel: int, stride: int) -> np.ndarray:
    """One period (stride x stride) of the interior overlap counts: ceil/floor(k/s) per axis."""
    per_axis = np.array([len(range(r, kernel, stride)) for r in range(stride)])
    return np.outer(per_axis, per_axis)


def untrained_responses(config: GANConfig, seed: int = 0) -> dict[str, np.ndarray]:
    """What each operator's first doubling layer paints from a flat input before any training
    (the book's initialisation, ICNR for sub-pixel): the structural part of a checkerboard."""
    return {v: NumpyGenerator(config, v, initial_weights(config, v, seed)).constant_response(0, size=9)[4:-4, 4:-4]
            for v in operators.names()}


def nearest_upsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """UpSampling2D (nearest): repeat each pixel factor x factor."""
    return np.repeat(np.repeat(x, factor, axis=0), factor, axis=1)


def zero_insert(x: np.ndarray, stride: int = 2) -> np.ndarray:
    """The first half of a transposed convolution: the input with zeros between its pixels."""
    out = np.zeros((x.shape[0] * stride, x.shape[1] * stride), dtype=float)
    out[::stride, ::stride] = x
    return out


def _conv2d(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """One channel through the viewer's 'same' convolution: (H, W) * (k, k) -> (H, W)."""
    return conv_same(x[None, :, :, None].astype(np.float32), kernel[:, :, None, None].astype(np.float32))[0, :, :, 0]


def operator_demo(x: np.ndarray, kernel_size: int = 5) -> dict[str, np.ndarray]:
    """Both operators on the same small map with the same averaging kernel, step by step."""
    kernel = np.ones((kernel_size, kernel_size)) / kernel_size**2
    up = nearest_upsample(x)
    zeros = zero_insert(x)
    return {"input": x, "nearest upsample": up, "upsample + conv": _conv2d(up, kernel),
            "zero insertion": zeros, "transpose conv": _conv2d(zeros, kernel) * 4}
