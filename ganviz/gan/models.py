"""The book's discriminator and generator, with the generator's upsampling operator as a switch.

The book's two variants are a controlled pair: same layers, same kernel sizes, same
parameter count (844,161 with the book's values). Only the way a feature map is made twice
as large differs:
  upsample    UpSampling2D (nearest: repeat each pixel 2x2) then Conv2D(stride 1)
  transpose   Conv2DTranspose(stride 2): zeros between pixels, uneven kernel overlap
and three known fixes for the checkerboard, which change only the doubling layers:
  subpixel    Conv2D to 4x the channels, then depth_to_space(2), ICNR-initialised so that all
              four phases start equal (Shi et al., CVPR 2016; Aitken et al., arXiv 2017)
  bilinear    bilinear UpSampling2D then Conv2D (Odena, Dumoulin & Olah, Distill 2016)
  transpose4  Conv2DTranspose with kernel 4, divisible by the stride: even overlap (Odena et al.)

`config.precision` is every layer's Keras dtype policy (mixed_bfloat16: bfloat16 compute,
float32 weights), except the discriminator's dropout and both models' outputs, always float32.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from ganviz.config import TRANSPOSED, GANConfig, doubling_kernel
from ganviz.operators import phase_taps
from ganviz.store.bundle import Bundle, load_weights


def _init(config: GANConfig) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=config.weight_init_std)


def build_discriminator(config: GANConfig) -> keras.Model:
    """4 x [Conv2D -> ReLU -> Dropout] -> Flatten -> Dense(1, sigmoid); 720,833 parameters."""
    p = config.precision
    x = inputs = keras.Input(config.image_shape, name="discriminator_input")
    for i, (f, k, s) in enumerate(zip(config.d_filters, config.d_kernels, config.d_strides)):
        x = layers.Conv2D(f, k, strides=s, padding="same", kernel_initializer=_init(config),
                          name=f"discriminator_conv_{i}", dtype=p)(x)
        x = layers.ReLU(dtype=p)(x)
        # float32 masks whatever the precision: bfloat16 uniforms have 7 random bits, which
        # would drop 40.6% of activations instead of 40% and shrink the mean by 1.2%
        x = layers.Dropout(config.d_dropout, dtype="float32")(x)
    x = layers.Flatten(dtype=p)(x)
    # float32 whatever the precision: bfloat16 has no value between 0.996 and 1, too coarse for
    # probabilities under a log loss (TensorFlow's mixed-precision guide keeps outputs float32 too)
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=_init(config),
                       name="discriminator_output", dtype="float32")(x)
    return keras.Model(inputs, out, name="discriminator")


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


class FusedBatchNormalization(layers.BatchNormalization):
    """Keras BatchNormalization on NHWC maps, computed by TensorFlow's fused kernel.

    Same variables and the same function: batch statistics in training, moving averages of
    the *biased* batch variance (the fused kernel reports the unbiased one, so it is rescaled),
    moving statistics at inference. One pass forward and one back instead of Keras' chain of
    reductions and element-wise ops: about 2.5x faster on a 28x28x64 batch.
    """

    def call(self, inputs, training=None, mask=None):
        if len(inputs.shape) != 4 or self.axis not in (-1, 3) or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        if training and self.trainable:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)
            n = tf.cast(tf.size(inputs) // tf.shape(inputs)[-1], variance.dtype)
            self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
            self.moving_variance.assign(self.moving_variance * self.momentum
                                        + variance * ((n - 1.0) / n) * (1.0 - self.momentum))
            return y
        y, _, _ = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, mean=self.moving_mean, variance=self.moving_variance,
            epsilon=self.epsilon, is_training=False)
        return y


def batch_norm(config: GANConfig, name: str, fused: bool = True, synchronized: bool = False) -> layers.BatchNormalization:
    """The generator's batch normalisation: Keras' own layer, the same maths fused, or (over
    several tf.distribute replicas) Keras' layer with statistics of the whole global batch."""
    if synchronized:
        return layers.BatchNormalization(momentum=config.g_bn_momentum, synchronized=True, name=name,
                                         dtype=config.precision)
    kind = FusedBatchNormalization if fused else layers.BatchNormalization
    return kind(momentum=config.g_bn_momentum, name=name, dtype=config.precision)


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


def upsampling_block(config: GANConfig, variant: str, filters: int, kernel: int, factor: int, name: str,
                     fused: bool = True) -> list:
    """The one place the variants differ: how a layer grows the feature map by `factor`. Layers
    that keep the size (factor 1) are the book's for every variant: a transposed convolution
    for `transpose` and `transpose4`, a convolution for the others."""
    init, p = _init(config), config.precision
    if variant in TRANSPOSED:
        return [layers.Conv2DTranspose(filters, doubling_kernel(variant, kernel, factor), strides=factor, padding="same", kernel_initializer=init,
                                       name=name, dtype=p)]
    conv = layers.Conv2D(filters, kernel, padding="same", kernel_initializer=init, name=name, dtype=p)
    if factor == 1:
        return [conv]
    if variant == "subpixel":
        return [layers.Conv2D(filters * factor**2, kernel, padding="same", kernel_initializer=ICNR(init, factor),
                              name=name, dtype=p), DepthToSpace(factor, name=f"{name}_depth_to_space", dtype=p)]
    if variant == "bilinear":
        return [layers.UpSampling2D(factor, interpolation="bilinear", name=f"{name}_upsample", dtype=p), conv]
    if fused:
        return [UpsampleConv2D(filters, kernel, factor, kernel_initializer=init, name=name, dtype=p)]
    return [layers.UpSampling2D(factor, name=f"{name}_upsample", dtype=p), conv]


def build_generator(config: GANConfig, variant: str | None = None, fused: bool = True,
                    synchronized: bool = False) -> keras.Model:
    """z (100) -> Dense -> BN -> ReLU -> 7x7x64 -> 4 upsampling layers -> tanh 28x28x1.

    `fused=False` builds the book's literal Keras layers (UpSampling2D + Conv2D, Keras batch
    norm); the default computes the same function faster (UpsampleConv2D,
    FusedBatchNormalization). `synchronized` is for training over several replicas. All
    load the same weights files.
    """
    variant = variant or config.variant
    x = inputs = keras.Input((config.z_dim,), name="generator_input")
    units = config.g_initial_shape[0] * config.g_initial_shape[1] * config.g_initial_shape[2]
    p = config.precision
    x = layers.Dense(units, kernel_initializer=_init(config), name="generator_dense", dtype=p)(x)
    x = batch_norm(config, "generator_dense_bn", fused, synchronized)(x)
    x = layers.ReLU(dtype=p)(x)
    x = layers.Reshape(config.g_initial_shape, dtype=p)(x)
    last = len(config.g_filters) - 1
    for i, (f, k, u) in enumerate(zip(config.g_filters, config.g_kernels, config.g_upsample)):
        for layer in upsampling_block(config, variant, f, k, u, f"generator_conv_{i}", fused):
            x = layer(x)
        if i < last:
            x = batch_norm(config, f"generator_bn_{i}", fused, synchronized)(x)
            x = layers.ReLU(dtype=p)(x)
        else:  # images leave the generator in float32 whatever the precision
            x = layers.Activation("tanh", name="generator_output", dtype="float32")(x)
    return keras.Model(inputs, x, name=f"generator_{variant}")


def generator_from_bundle(bundle: Bundle) -> keras.Model:
    """The Keras generator of a bundle, its stored weights loaded (checked by name and shape)."""
    model = build_generator(bundle.config, bundle.variant)
    load_weights(model, bundle.path / "generator.weights.h5")
    return model
