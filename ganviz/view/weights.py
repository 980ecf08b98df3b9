"""The catalogue of a bundle's weights: their names and shapes for a config and operator, their
initial values, the generator's cost, and the check an uploaded bundle passes. NumPy only: the
viewing server checks and reads bundles without building a Keras model."""
from __future__ import annotations

import numpy as np

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.store.bundle import DISCRIMINATOR, GENERATOR, Bundle, read_weights

BATCH_NORM = ("gamma", "beta", "moving_mean", "moving_variance")


def _layers(config: GANConfig):
    """(index, kernel size, input channels, output channels, factor) of each generator layer."""
    cin = config.g_initial_shape[2]
    for i, (f, k, u) in enumerate(zip(config.g_filters, config.g_kernels, config.g_upsample)):
        yield i, k, cin, f, u
        cin = f


def weight_shapes(config: GANConfig, variant: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the generator's weights, as `bundle.save_weights` writes them."""
    op = operators.get(variant)
    units = int(np.prod(config.g_initial_shape))
    shapes = {"generator_dense/kernel": (config.z_dim, units), "generator_dense/bias": (units,)}
    shapes.update({f"generator_dense_bn/{v}": (units,) for v in BATCH_NORM})
    for i, k, cin, cout, u in _layers(config):
        shapes.update({f"generator_conv_{i}/{name}": shape for name, shape in op.shapes(k, cin, cout, u).items()})
        if i < len(config.g_filters) - 1:
            shapes.update({f"generator_bn_{i}/{v}": (cout,) for v in BATCH_NORM})
    return shapes


def initial_weights(config: GANConfig, variant: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights as the models start: each layer's operator draws its kernel (N(0, weight_init_std),
    ICNR for sub-pixel), biases and batch-norm shifts 0, scales and variances 1. Drawn in NumPy,
    for the explainer: the server never builds a Keras model."""
    rng, op, shapes = np.random.default_rng(seed), operators.get(variant), weight_shapes(config, variant)
    weights = {}
    for name, shape in shapes.items():
        if name.startswith("generator_conv_"):
            continue
        fill = np.ones if name.endswith(("gamma", "variance")) else np.zeros
        weights[name] = rng.normal(0.0, config.weight_init_std, shape).astype(np.float32) \
            if name.endswith("kernel") else fill(shape, np.float32)
    for i, k, cin, cout, u in _layers(config):
        drawn = op.init(rng, op.shapes(k, cin, cout, u), config.weight_init_std, u)
        weights.update({f"generator_conv_{i}/{name}": array for name, array in drawn.items()})
    return weights


def generator_flops(config: GANConfig, variant: str) -> int:
    """Multiply-adds x 2 of one generated image, counting each operator as its literal layers
    compute it (UpSampling2D + Conv2D convolves the enlarged map; a transposed convolution
    spreads each input pixel's kernel), without the fast paths' savings."""
    op = operators.get(variant)
    h, w, c = config.g_initial_shape
    macs = config.z_dim * h * w * c
    for _, k, cin, cout, u in _layers(config):
        macs += op.macs(h, w, k, cin, cout, u)
        h, w = h * u, w * u
    return 2 * macs


def discriminator_shapes(config: GANConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the discriminator's weights."""
    shapes, (side, _, cin) = {}, config.image_shape
    for i, (f, k, s) in enumerate(zip(config.d_filters, config.d_kernels, config.d_strides)):
        shapes[f"discriminator_conv_{i}/kernel"], shapes[f"discriminator_conv_{i}/bias"] = (k, k, cin, f), (f,)
        side, cin = -(-side // s), f  # 'same' padding: ceil(side / stride)
    shapes["discriminator_output/kernel"], shapes["discriminator_output/bias"] = (side * side * cin, 1), (1,)
    return shapes


def check_weights(bundle: Bundle) -> None:
    """Every weights file of a bundle holds exactly the finite arrays its config's models need
    (a BundleError says what is wrong)."""
    read_weights(bundle.path / GENERATOR, weight_shapes(bundle.config, bundle.variant))
    if (bundle.path / DISCRIMINATOR).is_file():
        read_weights(bundle.path / DISCRIMINATOR, discriminator_shapes(bundle.config))
