"""The Keras side of each registered operator: its doubling block, registered under the
operator's name, and the layers the blocks need (the fast fused paths among them).

A block is the layer list that replaces one of the generator's convolutions: it grows the map
by `factor` (or keeps it, at factor 1) and owns the layer named `name`, whose `kernel` and
`bias` are the weights the operator's spec catalogues (ganviz/operators). The NumPy viewer runs
the same function from those weights; tests check the two against each other.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.operators.builtin import BINOMIAL
from ganviz.operators.taps import phase_taps


def initializer(config: GANConfig) -> keras.initializers.Initializer:
    """The book's weight initialisation: N(0, weight_init_std)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=config.weight_init_std)


@dataclass(frozen=True)
class Block:
    """What a block builder is given: one generator layer's place and size."""

    variant: str
    config: GANConfig
    filters: int
    factor: int
    name: str
    fused: bool  # the fast path where the operator has one; False: the literal Keras layers
    given_kernel: int  # the config's kernel size for this layer

    @property
    def kernel(self) -> int:
        """The kernel size the operator's spec stores for this layer (transpose4: 4 when doubling)."""
        return operators.get(self.variant).shapes(self.given_kernel, 1, self.filters, self.factor)["kernel"][0]

    @property
    def init(self) -> keras.initializers.Initializer:
        return initializer(self.config)

    @property
    def dtype(self) -> str:
        return self.config.precision

    def conv(self, filters: int | None = None, init: keras.initializers.Initializer | None = None) -> layers.Conv2D:
        """A stride-1 'same' convolution owning the layer's weights."""
        return layers.Conv2D(filters or self.filters, self.kernel, padding="same", kernel_initializer=init or self.init,
                             name=self.name, dtype=self.dtype)

    def transposed(self) -> layers.Conv2DTranspose:
        """A 'same' transposed convolution with stride `factor`, owning the layer's weights."""
        return layers.Conv2DTranspose(self.filters, self.kernel, strides=self.factor, padding="same",
                                      kernel_initializer=self.init, name=self.name, dtype=self.dtype)


KERAS_BLOCKS: dict[str, Callable[[Block], list]] = {}


def keras_block(name: str):
    """Register the Keras block of the operator `name` (decorator)."""
    def add(build: Callable[[Block], list]) -> Callable[[Block], list]:
        KERAS_BLOCKS[name] = build
        return build
    return add


def doubling_block(variant: str, config: GANConfig, filters: int, kernel: int, factor: int, name: str,
                   fused: bool = True) -> list:
    """The layers of one generator layer for the operator `variant`."""
    operators.check_factors(variant, (factor,))
    if variant not in KERAS_BLOCKS:
        raise ValueError(f"operator {variant!r} has no Keras block: register one with ganviz.gan.blocks.keras_block")
    return KERAS_BLOCKS[variant](Block(variant, config, filters, factor, name, fused, kernel))


class UpsampleConv2D(layers.Conv2D):
    """UpSampling2D(factor) then this Conv2D, computed without materialising the upsampled map.

    Same weights, same function (up to float rounding): each of the factor^2 output phases is
    a small convolution of the *input* with summed taps (3x3 instead of 5x5 for the book's
    kernel 5, factor 2), and depth_to_space interleaves the phases. 2.8x fewer FLOPs.
    """

    def __init__(self, filters: int, kernel_size: int, factor: int = 2, **kwargs):
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        self.factor = factor
        self._taps, self._lo, self._hi = phase_taps(kernel_size, factor)

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        return (b, None if h is None else h * self.factor, None if w is None else w * self.factor, self.filters)

    def call(self, inputs):
        f, taps = self.factor, tf.constant(self._taps, self.compute_dtype)
        kernel = tf.einsum("apu,bqv,uvio->pqiabo", taps, taps, self.kernel)
        m = taps.shape[1]
        kernel = tf.reshape(kernel, (m, m, kernel.shape[2], f * f * self.filters))
        pad = [[0, 0], [-self._lo, self._hi], [-self._lo, self._hi], [0, 0]]
        y = tf.nn.conv2d(tf.pad(inputs, pad), kernel, 1, "VALID")
        return tf.nn.depth_to_space(y, f) + self.bias

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class DepthToSpace(layers.Layer):
    """(H, W, f*f*C) -> (f*H, f*W, C): the channels of each pixel become an f x f block."""

    def __init__(self, factor: int, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return tf.nn.depth_to_space(inputs, self.factor)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        f = self.factor
        return (b, None if h is None else h * f, None if w is None else w * f, c // (f * f))

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


class ICNR(keras.initializers.Initializer):
    """A sub-pixel kernel whose f*f phases start as copies of one kernel drawn by `base`: the
    layer then begins as nearest upsampling followed by a convolution, with no checkerboard at
    initialisation (Aitken et al., 2017)."""

    def __init__(self, base: keras.initializers.Initializer, factor: int):
        self.base, self.factor = base, factor

    def __call__(self, shape, dtype=None):
        k1, k2, cin, cout = shape
        one = self.base((k1, k2, cin, cout // self.factor**2), dtype=dtype)
        return tf.tile(one, [1, 1, 1, self.factor**2])  # depth_to_space reads channel (a*f + b)*C + c


class Blur(layers.Layer):
    """A fixed filter on every channel, 'same' zero padding: no weights, nothing learned."""

    def __init__(self, taps: np.ndarray, **kwargs):
        super().__init__(**kwargs)
        self.taps = np.asarray(taps, np.float32)

    def call(self, inputs):
        channels = inputs.shape[-1]
        kernel = tf.constant(np.tile(self.taps[:, :, None, None], (1, 1, channels, 1)), self.compute_dtype)
        return tf.nn.depthwise_conv2d(inputs, kernel, [1, 1, 1, 1], "SAME")

    def get_config(self):
        return {**super().get_config(), "taps": self.taps.tolist()}


@keras_block("upsample")
def _upsample(b: Block) -> list:
    if b.factor == 1:
        return [b.conv()]
    if b.fused:
        return [UpsampleConv2D(b.filters, b.kernel, b.factor, kernel_initializer=b.init, name=b.name, dtype=b.dtype)]
    return [layers.UpSampling2D(b.factor, name=f"{b.name}_upsample", dtype=b.dtype), b.conv()]


@keras_block("transpose")
@keras_block("transpose4")  # its spec stores kernel 4 for doubling layers
def _transpose(b: Block) -> list:
    return [b.transposed()]


@keras_block("subpixel")
def _subpixel(b: Block) -> list:
    if b.factor == 1:
        return [b.conv()]
    return [b.conv(b.filters * b.factor**2, ICNR(b.init, b.factor)),
            DepthToSpace(b.factor, name=f"{b.name}_depth_to_space", dtype=b.dtype)]


@keras_block("bilinear")
def _bilinear(b: Block) -> list:
    if b.factor == 1:
        return [b.conv()]
    return [layers.UpSampling2D(b.factor, interpolation="bilinear", name=f"{b.name}_upsample", dtype=b.dtype), b.conv()]


@keras_block("transpose_blur")
def _transpose_blur(b: Block) -> list:
    if b.factor == 1:
        return [b.transposed()]
    return [b.transposed(), Blur(BINOMIAL, name=f"{b.name}_blur", dtype=b.dtype)]
