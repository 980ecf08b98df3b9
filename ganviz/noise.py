"""Every random draw of a run, in plain NumPy: the probe batch of z, sample z, and the stream of
real-batch indices and noise. One seed fixes them all, so every variant of a run sees the same
ones; the viewer draws z without TensorFlow."""
from __future__ import annotations

from typing import Iterator

import numpy as np

from ganviz.config import GANConfig


def probe_z(config: GANConfig) -> np.ndarray:
    """The fixed probe batch of latent vectors shared by every variant of a run."""
    return np.random.default_rng([config.seed, 1]).standard_normal((config.probe_size, config.z_dim)).astype(np.float32)


def latent_batch(seed: int, n: int, z_dim: int) -> np.ndarray:
    """n latent vectors z ~ N(0, 1) for a sample seed: the same z goes through every variant."""
    return np.random.default_rng(seed).standard_normal((n, z_dim)).astype(np.float32)


def batch_stream(config: GANConfig, n_images: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Endless (real indices, z for the D-fake batch, z for the G batch), the same for every variant."""
    rng = np.random.default_rng([config.seed, 2])
    b, z = config.batch_size, config.z_dim
    while True:
        yield (rng.integers(0, n_images, b),
               rng.standard_normal((b, z)).astype(np.float32),
               rng.standard_normal((b, z)).astype(np.float32))
