"""The book's discriminator and generator, with the generator's upsampling operator as a switch.

The two generator variants are a controlled pair: same layers, same kernel sizes, same
parameter count (844,161 with the book's values). Only the way a feature map is made twice
as large differs:
  upsample   UpSampling2D (nearest: repeat each pixel 2x2) then Conv2D(stride 1)
  transpose  Conv2DTranspose(stride 2): zeros between pixels, uneven kernel overlap
"""
from __future__ import annotations

import keras
from keras import layers

from ganviz.config import GANConfig


def _init(config: GANConfig) -> keras.initializers.Initializer:
    return keras.initializers.RandomNormal(mean=0.0, stddev=config.weight_init_std)


def build_discriminator(config: GANConfig) -> keras.Model:
    """4 x [Conv2D -> ReLU -> Dropout] -> Flatten -> Dense(1, sigmoid); 720,833 parameters."""
    x = inputs = keras.Input(config.image_shape, name="discriminator_input")
    for i, (f, k, s) in enumerate(zip(config.d_filters, config.d_kernels, config.d_strides)):
        x = layers.Conv2D(f, k, strides=s, padding="same", kernel_initializer=_init(config),
                          name=f"discriminator_conv_{i}")(x)
        x = layers.ReLU()(x)
        x = layers.Dropout(config.d_dropout)(x)
    x = layers.Flatten()(x)
    out = layers.Dense(1, activation="sigmoid", kernel_initializer=_init(config),
                       name="discriminator_output")(x)
    return keras.Model(inputs, out, name="discriminator")


def upsampling_block(config: GANConfig, variant: str, filters: int, kernel: int, factor: int, name: str) -> list:
    """The one place the variants differ: how a layer grows the feature map by `factor`."""
    if variant == "transpose":
        return [layers.Conv2DTranspose(filters, kernel, strides=factor, padding="same",
                                       kernel_initializer=_init(config), name=name)]
    grow = [layers.UpSampling2D(factor, name=f"{name}_upsample")] if factor > 1 else []
    return grow + [layers.Conv2D(filters, kernel, padding="same", kernel_initializer=_init(config), name=name)]


def build_generator(config: GANConfig, variant: str | None = None) -> keras.Model:
    """z (100) -> Dense -> BN -> ReLU -> 7x7x64 -> 4 upsampling layers -> tanh 28x28x1."""
    variant = variant or config.variant
    x = inputs = keras.Input((config.z_dim,), name="generator_input")
    units = config.g_initial_shape[0] * config.g_initial_shape[1] * config.g_initial_shape[2]
    x = layers.Dense(units, kernel_initializer=_init(config), name="generator_dense")(x)
    x = layers.BatchNormalization(momentum=config.g_bn_momentum)(x)
    x = layers.ReLU()(x)
    x = layers.Reshape(config.g_initial_shape)(x)
    last = len(config.g_filters) - 1
    for i, (f, k, u) in enumerate(zip(config.g_filters, config.g_kernels, config.g_upsample)):
        for layer in upsampling_block(config, variant, f, k, u, f"generator_conv_{i}"):
            x = layer(x)
        if i < last:
            x = layers.BatchNormalization(momentum=config.g_bn_momentum)(x)
            x = layers.ReLU()(x)
        else:
            x = layers.Activation("tanh", name="generator_output")(x)
    return keras.Model(inputs, x, name=f"generator_{variant}")
