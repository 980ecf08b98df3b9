"""Every random draw of a run, in plain NumPy: the probe batch of z, sample z, and the stream of
real-batch indices and noise. One seed fixes them all, so every variant of a run sees the same
ones; the viewer draws z without TensorFlow. It also holds `in_batches`, the one batching of
z through a generator, for the viewer and for training's frames alike."""
from __future__ import annotations

from typing import Callable

import numpy as np

from ganviz.config import GANConfig


def probe_z(config: GANConfig) -> np.ndarray:
    """The fixed probe batch of latent vectors shared by every variant of a run."""
    return np.random.default_rng([config.seed, 1]).standard_normal((config.probe_size, config.z_dim)).astype(np.float32)


def measure_z(config: GANConfig) -> np.ndarray:
    """The fixed measure batch of z, recorded at the probe's steps: the spectrum over training.
    The book's 16 probe images are too few for a stable spectrum; 256 (the default) are enough."""
    rng = np.random.default_rng([config.seed, 3])
    return rng.standard_normal((config.measure_size, config.z_dim)).astype(np.float32)


SAMPLE_BATCH = 64  # z per generator call: bounds the activations held at once, in the server and in training


def in_batches(generate: Callable[[np.ndarray], np.ndarray], z: np.ndarray) -> np.ndarray:
    """generate(z), SAMPLE_BATCH latent vectors at a time: a 256-z measure batch in one call
    would hold ~100 MB per activation."""
    return np.concatenate([np.asarray(generate(z[i:i + SAMPLE_BATCH])) for i in range(0, len(z), SAMPLE_BATCH)])


def latent_batch(seed: int, n: int, z_dim: int) -> np.ndarray:
    """n latent vectors z ~ N(0, 1) for a sample seed: the same z goes through every variant."""
    return np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)


class batch_stream:
    """Endless (real indices, z for the D-fake batch, z for the G batch), the same for every
    variant. Its generator's state can be saved and restored, so a resumed run draws on."""

    def __init__(self, config: GANConfig, n_images: int):
        self.rng = np.random.default_rng([config.seed, 2])
        self.batch, self.z_dim, self.n_images = config.batch_size, config.z_dim, n_images

    def __iter__(self) -> "batch_stream":
        return self

    def __next__(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b, z, rng = self.batch, self.z_dim, self.rng
        return (rng.integers(0, self.n_images, b),
                rng.standard_normal((b, z)).astype(np.float32),
                rng.standard_normal((b, z)).astype(np.float32))


def slerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation from z0 to z1 (endpoints included), the path Gaussian z prefer."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    return ((np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)).astype(np.float32)
