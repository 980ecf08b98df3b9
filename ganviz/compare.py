"""A side-by-side comparison: the same z through each generator, and each sample's nearest
training image by L1. Shared by the dashboard, the exported report and the CLI."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganviz.data import to_uint8
from ganviz.neighbours import L1Index, nearest_l1
from ganviz.training import GAN, latent_batch


@dataclass
class Comparison:
    seed: int
    samples: dict[str, np.ndarray]  # variant -> uint8 (n, 28, 28)
    nearest: dict[str, np.ndarray]  # variant -> indices into the training images
    distances: dict[str, np.ndarray]  # variant -> mean |a - b| on [-1, 1]


def compare(gans: dict[str, GAN], train_images: np.ndarray | L1Index | None, seed: int, n: int) -> Comparison:
    """Sample n images per variant from the same z; find nearest training images if given
    (pass an `L1Index` of the training set when comparing repeatedly)."""
    any_gan = next(iter(gans.values()))
    z = latent_batch(seed, n, any_gan.config.z_dim)
    samples, nearest, distances = {}, {}, {}
    for variant, gan in gans.items():
        generated = gan.generator(z, training=False).numpy()
        samples[variant] = to_uint8(generated)
        if train_images is not None:
            nearest[variant], distances[variant] = nearest_l1(generated, train_images)
    return Comparison(seed, samples, nearest, distances)
