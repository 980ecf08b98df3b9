"""The registered operators: the book's pair, then the fixes the literature proposes for
checkerboards, each around the same discriminator, loop and noise.

Every one is, output phase by output phase, a small convolution of the layer's *input*
(taps.py), which is how the viewer runs it. Their Keras blocks are in ganviz/gan/blocks.py.
"""
from __future__ import annotations

import numpy as np

from ganviz.operators.spec import Operator, PhaseLayer, register
from ganviz.operators.taps import phase_kernel, phase_taps, transpose_taps

# StyleGAN's upsampling filter: the binomial [1, 2, 1] x [1, 2, 1] / 16, which keeps a flat map's
# level. After a stride-2 transposed convolution it averages each output pixel with its
# neighbours of the other phases, so the 9 / 6 / 6 / 4 taps of a kernel-5 layer even out.
BINOMIAL = np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16


def _conv_shapes(k: int, cin: int, cout: int, factor: int) -> dict[str, tuple[int, ...]]:
    return {"kernel": (k, k, cin, cout), "bias": (cout,)}


def _transposed_shapes(k: int, cin: int, cout: int, factor: int) -> dict[str, tuple[int, ...]]:
    return {"kernel": (k, k, cout, cin), "bias": (cout,)}  # Conv2DTranspose keeps (k, k, out, in)


def _phased(kernel: np.ndarray, bias: np.ndarray, taps: tuple[np.ndarray, int, int], **more) -> PhaseLayer:
    table, lo, hi = taps
    phases = table.shape[0]
    return PhaseLayer(phase_kernel(kernel, table).astype(np.float32), np.tile(bias, phases**2).astype(np.float32),
                      (-lo, hi), phases, **more)


def _upsample_layer(kernel, bias, factor):
    return _phased(kernel, bias, phase_taps(kernel.shape[0], factor))


def _transpose_layer(kernel, bias, factor):
    return _phased(kernel.transpose(0, 1, 3, 2), bias, transpose_taps(kernel.shape[0], factor))


def _enlarged_macs(h, w, k, cin, cout, factor):  # the convolution runs on the enlarged map
    return h * factor * w * factor * k * k * cin * cout


def _scattered_macs(h, w, k, cin, cout, factor):  # each input pixel spreads its kernel once
    return h * w * k * k * cin * cout


register(Operator(
    name="upsample", label="UpSampling2D + Conv2D", colour="#1f77b4",
    citation="Foster, Generative Deep Learning (2019), ch. 4; Odena, Dumoulin & Olah, Distill (2016)",
    how="repeats each pixel factor x factor, then a stride-1 convolution: every output pixel gets k x k taps",
    shapes=_conv_shapes, layer=_upsample_layer, macs=_enlarged_macs))

register(Operator(
    name="transpose", label="Conv2DTranspose", colour="#d62728",
    citation="Foster, Generative Deep Learning (2019), ch. 4; Dumoulin & Visin, arXiv 1603.07285 (2016)",
    how="scatters each input pixel's k x k kernel every `stride` pixels: with k = 5, stride 2, output pixels "
        "get 9, 6 or 4 taps, a period-2 pattern",
    shapes=_transposed_shapes, layer=_transpose_layer, macs=_scattered_macs))


def _subpixel_shapes(k, cin, cout, factor):
    return _conv_shapes(k, cin, cout * factor * factor, factor)


def _icnr(rng, shapes, std, factor):
    """ICNR: the factor^2 phases start as copies of one kernel, so the layer begins as nearest
    upsampling + convolution, with no checkerboard at initialisation (Aitken et al., 2017)."""
    k1, k2, cin, cout = shapes["kernel"]
    one = rng.normal(0.0, std, (k1, k2, cin, cout // factor**2))
    return {"kernel": np.tile(one, factor**2).astype(np.float32), "bias": np.zeros(shapes["bias"], np.float32)}


def _subpixel_layer(kernel, bias, factor):
    """A 'same' convolution to factor^2 x the channels; depth-to-space makes them the phases."""
    table, lo, hi = phase_taps(kernel.shape[0], 1)
    return PhaseLayer(phase_kernel(kernel, table).astype(np.float32), bias.astype(np.float32), (-lo, hi), factor)


def _subpixel_macs(h, w, k, cin, cout, factor):
    return h * w * k * k * cin * cout * factor * factor


register(Operator(
    name="subpixel", label="Sub-pixel (Conv2D x4 + depth_to_space, ICNR)", colour="#2ca02c",
    citation="Shi et al., CVPR (2016); Aitken et al., arXiv 1707.02937 (2017)",
    how="one convolution computes all factor x factor output phases as channels, depth_to_space interleaves "
        "them; ICNR starts every phase equal",
    shapes=_subpixel_shapes, layer=_subpixel_layer, macs=_subpixel_macs, init=_icnr))


def _bilinear_layer(kernel, bias, factor):
    return _phased(kernel, bias, phase_taps(kernel.shape[0], 1), resize=factor)


register(Operator(
    name="bilinear", label="Bilinear UpSampling2D + Conv2D", colour="#9467bd",
    citation="Odena, Dumoulin & Olah, Distill (2016)",
    how="interpolates the map bilinearly, then a stride-1 convolution: every output pixel gets k x k taps",
    shapes=_conv_shapes, layer=_bilinear_layer, macs=_enlarged_macs, factors=(1, 2)))

TRANSPOSE4_KERNEL = 4  # divisible by the stride 2, so every output pixel gets the same number of taps


def _transpose4_shapes(k, cin, cout, factor):
    return _transposed_shapes(TRANSPOSE4_KERNEL if factor > 1 else k, cin, cout, factor)


def _transpose4_macs(h, w, k, cin, cout, factor):
    return _scattered_macs(h, w, TRANSPOSE4_KERNEL if factor > 1 else k, cin, cout, factor)


register(Operator(
    name="transpose4", label="Conv2DTranspose, kernel 4", colour="#ff7f0e",
    citation="Odena, Dumoulin & Olah, Distill (2016)",
    how="a transposed convolution whose kernel (4) the stride (2) divides: every output pixel gets 4 taps",
    shapes=_transpose4_shapes, layer=_transpose_layer, macs=_transpose4_macs))


def _blurred_layer(kernel, bias, factor):
    return _phased(kernel.transpose(0, 1, 3, 2), bias, transpose_taps(kernel.shape[0], factor),
                   post=BINOMIAL if factor > 1 else None)


def _blurred_macs(h, w, k, cin, cout, factor):
    blur = (h * factor) * (w * factor) * cout * int(np.count_nonzero(BINOMIAL)) if factor > 1 else 0
    return _scattered_macs(h, w, k, cin, cout, factor) + blur


register(Operator(
    name="transpose_blur", label="Conv2DTranspose + binomial blur", colour="#8c564b",
    citation="Karras et al., StyleGAN, CVPR (2019) and StyleGAN2, CVPR (2020); Zhang, ICML (2019)",
    how="the transposed convolution, then a fixed [1, 2, 1] x [1, 2, 1] / 16 blur that averages each output "
        "pixel with its neighbours of the other phases: the uneven taps even out",
    shapes=_transposed_shapes, layer=_blurred_layer, macs=_blurred_macs))
