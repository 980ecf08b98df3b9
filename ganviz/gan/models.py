"""The book's discriminator and generator, the generator's doubling operator a registered block.

The book's two operators are a controlled pair: same layers, same kernel sizes, same
parameter count (844,161 with the book's values). Only the way a feature map is made twice
as large differs (UpSampling2D + Conv2D, or Conv2DTranspose), and so it is for every other
registered operator (ganviz/operators/builtin.py; their Keras blocks in blocks.py).

`config.precision` is every layer's Keras dtype policy (mixed_bfloat16: bfloat16 compute,
float32 weights), except the discriminator's dropout and both models' outputs, always float32.
"""
from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from ganviz.config import GANConfig
from ganviz.gan.blocks import doubling_block, initializer


def build_discriminator(config: GANConfig) -> keras.Model:
    """4 x [Conv2D -> ReLU -> Dropout] -> Flatten -> Dense(1, sigmoid); 720,833 parameters."""
    p = config.precision
    x = inputs = keras.Input(config.image_shape, name="discriminator_input")
    for i, (f, k, s) in enumerate(zip(config.d_filters, config.d_kernels, config.d_strides)):
        x = layers.Conv2D(f, k, strides=s, padding="same", kernel_initializer=initializer(config),
                          name=f"discriminator_conv_{i}", dtype=p)(x)
        x = layers.ReLU(dtype=p)(x)
        # float32 masks whatever the precision: bfloat16 uniforms have 7 random bits, which
        # would drop 40.6% of activations instead of 40% and shrink the mean by 1.2%
        x = layers.Dropout(config.d_dropout, dtype="float32")(x)
    x = layers.Flatten(dtype=p)(x)
    # float32 whatever the precision: bfloat16 has no value between 0.996 and 1, too coarse for
    # probabilities under a log loss (TensorFlow's mixed-precision guide keeps outputs float32 too)
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=initializer(config),
                       name="discriminator_output", dtype="float32")(x)
    return keras.Model(inputs, out, name="discriminator")


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


def build_generator(config: GANConfig, variant: str, fused: bool = True,
                    synchronized: bool = False) -> keras.Model:
    """z (100) -> Dense -> BN -> ReLU -> 7x7x64 -> 4 upsampling layers -> tanh 28x28x1.

    `fused=False` builds the literal Keras layers (e.g. UpSampling2D + Conv2D, Keras batch
    norm); the default computes the same function faster (the operators' fused layers,
    FusedBatchNormalization). `synchronized` is for training over several replicas. All
    load the same weights files.
    """
    x = inputs = keras.Input((config.z_dim,), name="generator_input")
    units = config.g_initial_shape[0] * config.g_initial_shape[1] * config.g_initial_shape[2]
    p = config.precision
    x = layers.Dense(units, kernel_initializer=initializer(config), name="generator_dense", dtype=p)(x)
    x = batch_norm(config, "generator_dense_bn", fused, synchronized)(x)
    x = layers.ReLU(dtype=p)(x)
    x = layers.Reshape(config.g_initial_shape, dtype=p)(x)
    last = len(config.g_filters) - 1
    for i, (f, k, u) in enumerate(zip(config.g_filters, config.g_kernels, config.g_upsample)):
        for layer in doubling_block(variant, config, f, k, u, f"generator_conv_{i}", fused):
            x = layer(x)
        if i < last:
            x = batch_norm(config, f"generator_bn_{i}", fused, synchronized)(x)
            x = layers.ReLU(dtype=p)(x)
        else:  # images leave the generator in float32 whatever the precision
            x = layers.Activation("tanh", name="generator_output", dtype="float32")(x)
    return keras.Model(inputs, x, name=f"generator_{variant}")
