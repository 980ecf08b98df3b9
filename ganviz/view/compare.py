"""A side-by-side comparison: the same z through each generator, and each sample's nearest
training image by L1. Shared by the dashboard, the exported report and the CLI."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ganviz.data import to_uint8
from ganviz.noise import in_batches, latent_batch, slerp
from ganviz.view.neighbours import L1Index, nearest_l1


@dataclass
class Comparison:
    seed: int
    samples: dict[str, np.ndarray]  # variant -> uint8 (n, 28, 28)
    nearest: dict[str, np.ndarray]  # variant -> indices into the training images
    distances: dict[str, np.ndarray]  # variant -> mean |a - b| on [-1, 1]


Generator = Callable[..., np.ndarray]  # a Keras generator or an inference.NumpyGenerator


def generate(generator: Generator, z: np.ndarray) -> np.ndarray:
    """Generator outputs on [-1, 1] for z, in inference mode, a batch at a time."""
    return in_batches(lambda batch: generator(batch, training=False), z)


def compare(generators: dict[str, Generator], train_images: np.ndarray | L1Index | None,
            seed: int, n: int, threads: int | None = None) -> Comparison:
    """Sample n images per variant from the same z; find nearest training images if given
    (pass an `L1Index` of the training set when comparing repeatedly; `threads`: see
    `nearest_l1`)."""
    z_dim = next(iter(generators.values())).input_shape[-1]
    z = latent_batch(seed, n, z_dim)
    samples, nearest, distances = {}, {}, {}
    for variant, generator in generators.items():
        generated = generate(generator, z)
        samples[variant] = to_uint8(generated)
        if train_images is not None:
            nearest[variant], distances[variant] = nearest_l1(generated, train_images, threads)
    return Comparison(seed, samples, nearest, distances)


def interpolation(generators: dict[str, Generator], seed: int, steps: int = 10) -> dict[str, np.ndarray]:
    """Each generator along the spherical path from z of `seed` to z of `seed + 1`: the same
    z for every variant, uint8 (steps, 28, 28) each."""
    z_dim = next(iter(generators.values())).input_shape[-1]
    z = slerp(latent_batch(seed, 1, z_dim)[0], latent_batch(seed + 1, 1, z_dim)[0], steps)
    return {v: to_uint8(generate(g, z)) for v, g in generators.items()}
