"""The generator's forward pass in NumPy, from a bundle's weights file, for viewing only.

Why a second forward pass: importing TensorFlow costs the dashboard ~680 MB of memory and
~3.5 s before the first picture, and showing samples needs neither gradients nor a GPU. This
runs the same layers as `models.build_generator` in inference mode (batch norm with its
moving statistics), from the same weights, each layer as its operator's `PhaseLayer`; tests
check it against the Keras model. Training always uses the Keras models.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.operators.numerics import CHUNK_IMAGES
from ganviz.operators.spec import PhaseLayer
from ganviz.store.bundle import GENERATOR, Bundle, read_weights
from ganviz.view.weights import weight_shapes

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default


class NumpyGenerator:
    """Callable like a Keras generator in inference mode: z (N, z_dim) -> images (N, 28, 28, 1).

    At load, each layer becomes one 'valid' convolution (a doubling operator's phase kernel)
    with its batch norm folded into the kernel and bias: the forward pass is then a product,
    an add and an activation per layer. The dashboard shares one per bundle among all
    sessions, so its weights are read-only."""

    def __init__(self, config: GANConfig, variant: str, weights: dict[str, np.ndarray]):
        for array in weights.values():
            array.setflags(write=False)
        self.config, self.variant, self.w = config, variant, weights
        self.input_shape = (None, config.z_dim)
        scale, shift = self._bn("generator_dense_bn")
        self._dense = (weights["generator_dense/kernel"] * scale, weights["generator_dense/bias"] * scale + shift)
        self._layers = [self._folded(i) for i in range(len(config.g_filters))]

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> "NumpyGenerator":
        shapes = weight_shapes(bundle.config, bundle.variant)
        return cls(bundle.config, bundle.variant, read_weights(bundle.path / GENERATOR, shapes))

    def _bn(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Batch norm in inference mode as y = x * scale + shift (moving statistics)."""
        w = self.w
        scale = w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + BN_EPSILON)
        return scale, w[f"{name}/beta"] - w[f"{name}/moving_mean"] * scale

    def _raw(self, i: int) -> PhaseLayer:
        """Layer i's operator alone, as trained: no batch norm folded in."""
        w = self.w
        return operators.get(self.variant).layer(w[f"generator_conv_{i}/kernel"], w[f"generator_conv_{i}/bias"],
                                                 self.config.g_upsample[i])

    def _folded(self, i: int) -> PhaseLayer:
        """Layer i with its batch norm folded into the kernel and bias (the last layer has none)."""
        layer = self._raw(i)
        return layer if i == len(self.config.g_filters) - 1 else layer.with_batch_norm(*self._bn(f"generator_bn_{i}"))

    def flops(self) -> int:
        """Multiply-adds x 2 of this forward pass's matrix products per image: its phase kernels,
        which skip UpSampling2D's repeated pixels and a transposed convolution's zeros, convolved
        the way `conv_valid` runs them (`generator_flops` counts the literal layers)."""
        h, w, _ = self.config.g_initial_shape
        total = self._dense[0].size
        for layer in self._layers:
            macs, h, w = layer.macs(h, w)
            total += macs
        return 2 * total

    def constant_response(self, i: int = 0, size: int = 7) -> np.ndarray:
        """What the learned kernels of layer i paint from a flat input, without bias: mean over
        output channels of the response to an all-ones map. Flat for nearest upsampling (away
        from the border); a periodic pattern where a transposed convolution's taps overlap unevenly."""
        layer = self._raw(i)
        layer = replace(layer, bias=np.zeros_like(layer.bias))
        return layer(np.ones((1, size, size, layer.kernel.shape[2]), np.float32))[0].mean(axis=-1)

    def __call__(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        z = np.asarray(z, np.float32)
        # a few images through every layer at a time: their activations stay in the CPU's cache
        return np.concatenate([self._forward(z[s:s + CHUNK_IMAGES]) for s in range(0, len(z), CHUNK_IMAGES)]) \
            if len(z) else np.zeros((0, *self.config.image_shape), np.float32)

    def _forward(self, z: np.ndarray) -> np.ndarray:
        kernel, bias = self._dense
        x = np.maximum(z @ kernel + bias, 0.0).astype(np.float32)
        x = x.reshape(len(x), *self.config.g_initial_shape)
        for i, layer in enumerate(self._layers):
            x = layer(x)
            if i < len(self._layers) - 1:
                np.maximum(x, 0.0, out=x)
            else:
                np.tanh(x, out=x)
        return x
