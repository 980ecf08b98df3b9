"""The generator's forward pass in NumPy, from a bundle's weights file, for viewing only.

Why a second forward pass: importing TensorFlow costs the dashboard ~680 MB of memory and
~3.5 s before the first picture, and showing samples needs neither gradients nor a GPU. This
runs the same layers as `models.build_generator` in inference mode (batch norm with its
moving statistics), from the same weights; tests check it against the Keras model. Training
always uses the Keras models.
"""
from __future__ import annotations

import numpy as np

from ganviz.config import TRANSPOSED, GANConfig, doubling_kernel
from ganviz.operators import phase_kernel, phase_taps, transpose_taps
from ganviz.store.bundle import DISCRIMINATOR, Bundle, read_weights

BN_EPSILON = 1e-3  # keras.layers.BatchNormalization's default


def weight_shapes(config: GANConfig, variant: str) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the generator's weights, as `bundle.save_weights` writes them."""
    units = int(np.prod(config.g_initial_shape))
    shapes = {"generator_dense/kernel": (config.z_dim, units), "generator_dense/bias": (units,)}
    bn = lambda name, n: {f"{name}/{v}": (n,) for v in ("gamma", "beta", "moving_mean", "moving_variance")}
    shapes.update(bn("generator_dense_bn", units))
    cin = config.g_initial_shape[2]
    for i, (f, k, u) in enumerate(zip(config.g_filters, config.g_kernels, config.g_upsample)):
        if variant in TRANSPOSED:
            k = doubling_kernel(variant, k, u)
            shapes[f"generator_conv_{i}/kernel"] = (k, k, f, cin)
        else:
            out = f * u * u if variant == "subpixel" else f  # sub-pixel: one channel per output phase
            shapes[f"generator_conv_{i}/kernel"], shapes[f"generator_conv_{i}/bias"] = (k, k, cin, out), (out,)
        shapes.setdefault(f"generator_conv_{i}/bias", (f,))
        if i < len(config.g_filters) - 1:
            shapes.update(bn(f"generator_bn_{i}", f))
        cin = f
    return shapes


def initial_weights(config: GANConfig, variant: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Weights as the models start (models.py): kernels from N(0, weight_init_std), biases and
    batch-norm shifts 0, scales and variances 1; a sub-pixel kernel's phases are one kernel
    (ICNR). Drawn in NumPy, for the explainer: the server never builds a Keras model."""
    rng, weights = np.random.default_rng(seed), {}
    for name, shape in weight_shapes(config, variant).items():
        if name.endswith("/kernel"):
            phases = config.g_upsample[int(name.split("_")[-1].split("/")[0])] ** 2 if variant == "subpixel" and \
                name.startswith("generator_conv") else 1
            one = rng.normal(0.0, config.weight_init_std, (*shape[:-1], shape[-1] // phases))
            weights[name] = np.tile(one, phases).astype(np.float32)
        else:
            weights[name] = np.ones(shape, np.float32) if name.endswith(("gamma", "variance")) else np.zeros(shape, np.float32)
    return weights


def generator_flops(config: GANConfig, variant: str) -> int:
    """Multiply-adds x 2 of one generated image, counting each operator as its literal layers
    compute it (UpSampling2D + Conv2D convolves the enlarged map; a transposed convolution
    spreads each input pixel's kernel), without the fast paths' savings."""
    h, w, c = config.g_initial_shape
    macs = config.z_dim * h * w * c
    for i, (f, u) in enumerate(zip(config.g_filters, config.g_upsample)):
        kernel = weight_shapes(config, variant)[f"generator_conv_{i}/kernel"]
        taps = kernel[0] * kernel[1] * kernel[2] * kernel[3]  # k * k * in * out, whichever way stored
        enlarged_first = variant in ("upsample", "bilinear") and u > 1
        macs += (h * u) * (w * u) * taps if enlarged_first else h * w * taps
        h, w = h * u, w * u
    return 2 * macs


def discriminator_shapes(config: GANConfig) -> dict[str, tuple[int, ...]]:
    """Names and shapes of the discriminator's weights: an uploaded bundle is checked against
    them without building a Keras model (the viewing server never imports TensorFlow)."""
    shapes, (side, _, cin) = {}, config.image_shape
    for i, (f, k, s) in enumerate(zip(config.d_filters, config.d_kernels, config.d_strides)):
        shapes[f"discriminator_conv_{i}/kernel"], shapes[f"discriminator_conv_{i}/bias"] = (k, k, cin, f), (f,)
        side, cin = -(-side // s), f  # 'same' padding: ceil(side / stride)
    shapes["discriminator_output/kernel"], shapes["discriminator_output/bias"] = (side * side * cin, 1), (1,)
    return shapes


def check_weights(bundle: Bundle) -> None:
    """Every weights file of a bundle holds exactly the finite arrays its config's models need
    (a BundleError says what is wrong). NumPy only."""
    read_weights(bundle.path / "generator.weights.h5", weight_shapes(bundle.config, bundle.variant))
    if (bundle.path / DISCRIMINATOR).is_file():
        read_weights(bundle.path / DISCRIMINATOR, discriminator_shapes(bundle.config))


CHUNK_IMAGES = 8  # images through the forward pass at once: at most ~9 MB of patches for the book's layers


def conv_way(k: int, c: int, o: int) -> str:
    """Which way `conv_valid` computes a k x k convolution from C to O channels: the one that
    moves the fewest floats per output pixel (the matrix products' FLOPs are the same)."""
    moved = {"im2col": k * k * c, "row taps": k * c + 3 * (k - 1) * o, "shift-add": 2 * k * k * o}
    return min(moved, key=moved.get)


def conv_valid(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Conv2D(padding='valid', stride 1): x (N, H + k - 1, W + k - 1, C), kernel (k, k, C, O)
    -> (N, H, W, O), as matrix products on chunks of images, one of three ways (`conv_way`):
      im2col     gather each output pixel's whole k*k*C patch, then one product (the wide
                 doubling layers, O > C)
      row taps   gather only each pixel's k-wide row of the patch (k*C), then one product per
                 kernel row u, added into the output row u rows above the patch row (the 28 x 28
                 layer, O = C: its whole patches were 1,600 floats for a product 64 wide)
      shift-add  x @ kernel gives every tap's products at every input pixel, then each tap's
                 slice is added in at its offset (the last layer, O = 1: ~15x im2col)"""
    n, hp, wp, c = x.shape
    k, o = kernel.shape[0], kernel.shape[3]
    h, w = hp - k + 1, wp - k + 1
    out = np.empty((n, h, w, o), np.float32)
    way = conv_way(k, c, o)
    if way == "shift-add":
        flat = np.ascontiguousarray(kernel.transpose(2, 0, 1, 3).reshape(c, k * k * o), np.float32)
        for s in range(0, n, CHUNK_IMAGES):
            chunk = np.ascontiguousarray(x[s:s + CHUNK_IMAGES], np.float32)
            taps = (chunk.reshape(-1, c) @ flat).reshape(len(chunk), hp, wp, k, k, o)
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
            patches = np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 5, 3)).reshape(-1, k * k * c)
            out[s:s + CHUNK_IMAGES] = (patches @ flat).reshape(-1, h, w, o)
    else:
        rows = np.ascontiguousarray(kernel.reshape(k, k * c, o), np.float32)
        for s in range(0, n, CHUNK_IMAGES):
            windows = np.lib.stride_tricks.sliding_window_view(x[s:s + CHUNK_IMAGES], k, axis=2)  # (n, hp, w, c, k)
            patches = np.ascontiguousarray(windows.transpose(0, 1, 2, 4, 3), np.float32).reshape(-1, hp * w, k * c)
            acc = out[s:s + CHUNK_IMAGES].reshape(-1, h * w, o)
            np.matmul(patches[:, :h * w], rows[0], out=acc)
            for u in range(1, k):  # output row i takes kernel row u from patch row i + u
                acc += patches[:, u * w:u * w + h * w] @ rows[u]
    return out


def conv_same(x: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Conv2D(padding='same', stride 1): x (N, H, W, C), kernel (k, k, C, O) -> (N, H, W, O)."""
    k = kernel.shape[0]
    return conv_valid(np.pad(x, ((0, 0), (k // 2, k - 1 - k // 2), (k // 2, k - 1 - k // 2), (0, 0))), kernel)


def phase_conv(x: np.ndarray, kernel: np.ndarray, taps: tuple[np.ndarray, int, int]) -> np.ndarray:
    """A doubling operator computed as one convolution of the input per output phase
    (ganviz/operators.py), then depth-to-space: x (N, H, W, C) -> (N, fH, fW, O)."""
    table, lo, hi = taps
    f = table.shape[0]
    return depth_to_space(conv_valid(np.pad(x, ((0, 0), (-lo, hi), (-lo, hi), (0, 0))), phase_kernel(kernel, table)), f)


def upsample_conv_same(x: np.ndarray, kernel: np.ndarray, factor: int) -> np.ndarray:
    """UpSampling2D(factor) then Conv2D(padding='same'), without building the upsampled map."""
    return phase_conv(x, kernel, phase_taps(kernel.shape[0], factor))


def conv_transpose_same(x: np.ndarray, kernel: np.ndarray, stride: int) -> np.ndarray:
    """Conv2DTranspose(padding='same'): each input pixel adds its kernel footprint every
    `stride` pixels of the output. kernel (k, k, O, C) as Keras stores it -> (N, sH, sW, O)."""
    return phase_conv(x, kernel.transpose(0, 1, 3, 2), transpose_taps(kernel.shape[0], stride))


def bilinear_upsample(x: np.ndarray, factor: int = 2) -> np.ndarray:
    """UpSampling2D(factor, interpolation='bilinear') as Keras computes it (half-pixel centres,
    edges clamped): for factor 2 each output pixel is 3/4 of its own input pixel and 1/4 of the
    neighbour on its side, along each axis. x (N, H, W, C) -> (N, 2H, 2W, C)."""
    if factor != 2:
        raise ValueError(f"bilinear upsampling is implemented for factor 2, got {factor}")
    for axis in (1, 2):
        pad = [(0, 0)] * 4
        pad[axis] = (1, 1)
        e = np.pad(x, pad, mode="edge")
        n = x.shape[axis]
        prev, nxt = np.take(e, range(0, n), axis=axis), np.take(e, range(2, n + 2), axis=axis)
        even, odd = 0.75 * x + 0.25 * prev, 0.75 * x + 0.25 * nxt
        x = np.stack([even, odd], axis=axis + 1).reshape(*x.shape[:axis], 2 * n, *x.shape[axis + 1:])
    return x.astype(np.float32)


def depth_to_space(y: np.ndarray, f: int) -> np.ndarray:
    """(N, H, W, f*f*C) -> (N, fH, fW, C), TensorFlow's channel order: (a*f + b)*C + c."""
    n, h, w, _ = y.shape
    return y.reshape(n, h, w, f, f, -1).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * f, w * f, -1)


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
        return cls(bundle.config, bundle.variant, read_weights(bundle.path / "generator.weights.h5", shapes))

    def _bn(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Batch norm in inference mode as y = x * scale + shift (moving statistics)."""
        w = self.w
        scale = w[f"{name}/gamma"] / np.sqrt(w[f"{name}/moving_variance"] + BN_EPSILON)
        return scale, w[f"{name}/beta"] - w[f"{name}/moving_mean"] * scale

    def _folded(self, i: int) -> tuple[int, np.ndarray, np.ndarray, tuple[int, int], int]:
        """Layer i as (bilinear resize factor first, valid kernel, bias, input padding, phases per side), batch
        norm folded into the kernel and bias. Every operator but bilinear is then one convolution
        of the input whose output channels are the phases (depth_to_space order)."""
        kernel, factor = self.w[f"generator_conv_{i}/kernel"], self.config.g_upsample[i]
        bias, k, last = self.w[f"generator_conv_{i}/bias"], kernel.shape[0], i == len(self.config.g_filters) - 1
        bilinear = self.variant == "bilinear" and factor > 1
        if self.variant in TRANSPOSED:
            kernel, (table, lo, hi) = kernel.transpose(0, 1, 3, 2), transpose_taps(k, factor)
        elif self.variant == "subpixel" or bilinear:
            table, lo, hi = phase_taps(k, 1)  # a plain 'same' convolution; its channels are the phases
        else:
            table, lo, hi = phase_taps(k, factor)
        if not last:
            scale, shift = self._bn(f"generator_bn_{i}")
            if self.variant == "subpixel":  # batch norm sees the channels after depth_to_space
                scale, shift = np.tile(scale, factor**2), np.tile(shift, factor**2)
            kernel, bias = kernel * scale, bias * scale + shift
        phases = table.shape[0]
        return (factor if bilinear else 1, phase_kernel(kernel, table).astype(np.float32), np.tile(bias, phases**2).astype(np.float32),
                (-lo, hi), factor if self.variant == "subpixel" else phases)

    def flops(self) -> int:
        """Multiply-adds x 2 this forward pass executes per image: its phase kernels, which skip
        UpSampling2D's repeated pixels and a transposed convolution's zeros (`generator_flops`
        counts the literal layers)."""
        h, w, _ = self.config.g_initial_shape
        total = self._dense[0].size
        for resize, kernel, _, _, f in self._layers:
            h, w = h * resize, w * resize
            total += h * w * kernel.size  # a 'valid' convolution on the padded input: one output per input pixel
            h, w = h * f, w * f
        return 2 * total

    def upsampling_layer(self, i: int, x: np.ndarray) -> np.ndarray:
        """Layer i's operator alone (no bias, no batch norm) on x (N, H, W, C)."""
        kernel, factor = self.w[f"generator_conv_{i}/kernel"], self.config.g_upsample[i]
        if self.variant in TRANSPOSED:
            return conv_transpose_same(x, kernel, factor)
        if self.variant == "subpixel":
            return depth_to_space(conv_same(x, kernel), factor)
        if self.variant == "bilinear" and factor > 1:
            return conv_same(bilinear_upsample(x, factor), kernel)
        return upsample_conv_same(x, kernel, factor)

    def constant_response(self, i: int = 0, size: int = 7) -> np.ndarray:
        """What the learned kernels of layer i paint from a flat input: mean over output channels
        of the response to an all-ones map. Flat for nearest upsampling (away from the border);
        a periodic pattern where a transposed convolution's taps overlap unevenly."""
        channels = self.w[f"generator_conv_{i}/kernel"].shape[3 if self.variant in TRANSPOSED else 2]
        return self.upsampling_layer(i, np.ones((1, size, size, channels), np.float32))[0].mean(axis=-1)

    def __call__(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        z = np.asarray(z, np.float32)
        # a few images through every layer at a time: their activations stay in the CPU's cache
        return np.concatenate([self._forward(z[s:s + CHUNK_IMAGES]) for s in range(0, len(z), CHUNK_IMAGES)]) \
            if len(z) else np.zeros((0, *self.config.image_shape), np.float32)

    def _forward(self, z: np.ndarray) -> np.ndarray:
        kernel, bias = self._dense
        x = np.maximum(z @ kernel + bias, 0.0).astype(np.float32)
        x = x.reshape(len(x), *self.config.g_initial_shape)
        for i, (resize, kernel, bias, (lo, hi), f) in enumerate(self._layers):
            if resize > 1:
                x = bilinear_upsample(x, resize)
            y = conv_valid(np.pad(x, ((0, 0), (lo, hi), (lo, hi), (0, 0))), kernel)
            y += bias
            if i < len(self._layers) - 1:
                np.maximum(y, 0.0, out=y)
            else:
                np.tanh(y, out=y)
            x = depth_to_space(y, f)
        return x
