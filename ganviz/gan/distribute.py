"""tf.distribute for the one training loop: which strategy runs it, and how a global batch splits.

  default      one device: the fast path, no distribution code runs
  mirrored     every local GPU, or N logical CPU devices (`--cpu-devices N`, for tests)
  multiworker  MultiWorkerMirroredStrategy over the processes listed in TF_CONFIG

The global batch keeps the book's meaning (64 images per step in all) and is cut into equal
consecutive slices, one per replica, so replicas never repeat each other's samples and the
union of their slices is exactly the single-device batch: same data order, same noise.
"""
from __future__ import annotations

import json
import os

import numpy as np
import tensorflow as tf

from ganviz.config import STRATEGIES
from ganviz.errors import UserError


def split_cpu(n: int) -> None:
    """Present the CPU as n logical devices; only possible before TensorFlow first uses it."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise UserError("--cpu-devices must be set before TensorFlow starts; run it in a fresh process") from None


def make_strategy(name: str, cpu_devices: int = 1) -> tf.distribute.Strategy:
    """The tf.distribute strategy called `name` (one of STRATEGIES)."""
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if tf.config.list_physical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        if cpu_devices > 1:
            split_cpu(cpu_devices)
        return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "multiworker":
        try:
            cluster = json.loads(os.environ["TF_CONFIG"])["cluster"]["worker"]
        except (KeyError, ValueError, TypeError):
            raise UserError("--strategy multiworker needs TF_CONFIG, e.g. "
                            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
                            '"task": {"type": "worker", "index": 0}} (see docs/SCALING.md)') from None
        if len(cluster) < 1:
            raise UserError("TF_CONFIG lists no workers")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UserError(f"unknown strategy {name!r}; accepted: {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files: all but workers 1, 2, ... of a multi-worker run."""
    resolver = getattr(strategy, "cluster_resolver", None)
    return resolver is None or not resolver.task_type or resolver.task_id == 0


def check_batch(strategy: tf.distribute.Strategy, batch: int) -> None:
    replicas = strategy.num_replicas_in_sync
    if batch % replicas:
        raise UserError(f"batch {batch} does not split evenly over {replicas} replicas; "
                        f"use a multiple of {replicas}")


def per_replica(strategy: tf.distribute.Strategy, *arrays: np.ndarray):
    """Each replica's consecutive rows of the global batch: replica r of R takes [r*n/R, (r+1)*n/R)."""
    replicas = strategy.num_replicas_in_sync
    if replicas == 1:
        return arrays

    def rows(a: np.ndarray):
        def value(ctx: tf.distribute.ValueContext) -> np.ndarray:
            r = ctx.replica_id_in_sync_group
            return a[r * len(a) // replicas:(r + 1) * len(a) // replicas]
        return strategy.experimental_distribute_values_from_function(value)

    return tuple(rows(a) for a in arrays)
