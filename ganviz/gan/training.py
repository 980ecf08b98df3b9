"""One training loop for every operator, faithful to the book and paired.

Per step, for each operator (the book's `train_discriminator` + `train_generator`):
  1. discriminator on a real batch, label 1          (one RMSprop update)
  2. discriminator on a generated batch, label 0     (one RMSprop update)
  3. generator through the frozen discriminator, label 1 (only generator weights move)
Paired: every operator trained from the same seed sees the same real batches and the same
noise in the same order, and is probed with the same fixed probe batch of z. Operators trained
together are interleaved step by step, so a live view shows all of them at any moment.
"""
from __future__ import annotations

import json
import math
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from ganviz import operators
from ganviz.config import BOOK_PAIR, CHECKPOINT_EVERY, METRICS, GANConfig
from ganviz.data import fingerprint, to_model_scale, to_uint8
from ganviz.errors import Diverged
from ganviz.gan.distribute import check_batch, per_replica
from ganviz.gan.models import build_discriminator, build_generator
from ganviz.noise import batch_stream, in_batches, measure_z, probe_z
from ganviz.spectrum import power_spectrum


def timeline_steps(total: int, frames: int = 24) -> list[int]:
    """Log-spaced steps at which the probe batch is rendered: 0 (untrained) ... total."""
    raw = np.geomspace(1, total, frames - 1) if total > 1 else np.array([1.0])
    return sorted({0, total, *np.rint(raw).astype(int).tolist()})


# Losses and accuracies are sums over this replica's rows divided by the *global* batch: the
# optimiser all-reduces gradients by summing, and the step's outputs are summed over replicas,
# so every strategy computes the book's batch means (on one device, plain means).
def _bce(labels: tf.Tensor, probs: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(keras.losses.binary_crossentropy(labels, probs)) / global_batch


def _accuracy(labels: tf.Tensor, probs: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tf.equal(tf.cast(probs > 0.5, tf.float32), labels), tf.float32)) / global_batch


def _optimizer(config: GANConfig, lr: float) -> keras.optimizers.Optimizer:
    return keras.optimizers.RMSprop(lr) if config.optimizer == "rmsprop" else keras.optimizers.Adam(lr, beta_1=0.5)


class GAN:
    """One variant: its generator, discriminator, optimisers and compiled training step.

    `strategy` (tf.distribute) places them; the default strategy is one device. With several
    replicas, batch-norm statistics are synchronised over the global batch, as on one device.
    """

    def __init__(self, config: GANConfig, variant: str, fused_upsample: bool = True,
                 strategy: tf.distribute.Strategy | None = None):
        self.config, self.variant = config, variant
        self.strategy = strategy or tf.distribute.get_strategy()
        replicas = self.strategy.num_replicas_in_sync
        check_batch(self.strategy, config.batch_size)
        with self.strategy.scope():
            keras.utils.set_random_seed(config.seed)  # identical discriminators for every variant
            self.discriminator = build_discriminator(config)
            keras.utils.set_random_seed(config.seed)
            self.generator = build_generator(config, variant, fused=fused_upsample, synchronized=replicas > 1)
            self.d_opt = _optimizer(config, config.d_lr)
            self.g_opt = _optimizer(config, config.g_lr)
            self.d_opt.build(self.discriminator.trainable_variables)
            self.g_opt.build(self.generator.trainable_variables)
        self._compiled = tf.function(self._step if replicas == 1 else self._replicated_step, reduce_retracing=True)
        # Inference compiled once for any batch size: an eager Keras call costs ~50 ms of Python
        # dispatch, which made recording the measure batch cost more than the steps of a short run.
        self._infer = tf.function(lambda z: self.generator(z, training=False),
                                  input_signature=[tf.TensorSpec((None, config.z_dim), tf.float32)])

    def train_step(self, real: np.ndarray, z_d: np.ndarray, z_g: np.ndarray) -> dict[str, tf.Tensor]:
        """One step of the book's loop on a global batch (split over the replicas, if several)."""
        return self._compiled(*per_replica(self.strategy, real, z_d, z_g))

    def _replicated_step(self, real, z_d, z_g) -> dict[str, tf.Tensor]:
        out = self.strategy.run(self._step, args=(real, z_d, z_g))
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None) for k, v in out.items()}

    def _d_update(self, images: tf.Tensor, labels: tf.Tensor, n: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            probs = self.discriminator(images, training=True)
            loss = _bce(labels, probs, n)
        d_vars = self.discriminator.trainable_variables
        self.d_opt.apply(tape.gradient(loss, d_vars), d_vars)
        return loss, _accuracy(labels, probs, n)

    def _step(self, real: tf.Tensor, z_d: tf.Tensor, z_g: tf.Tensor) -> dict[str, tf.Tensor]:
        # the global batch, whatever share of it this replica holds (equal shares: check_batch)
        n = tf.cast(tf.shape(real)[0] * self.strategy.num_replicas_in_sync, tf.float32)
        ones = tf.ones((tf.shape(real)[0], 1))
        zeros = tf.zeros_like(ones)
        d_loss_real, d_acc_real = self._d_update(real, ones, n)
        g_vars = self.generator.trainable_variables
        if self.config.fused_step:
            # One generator pass (training mode) makes the D-fake batch and, after the
            # discriminator has been updated, carries the generator's gradient.
            with tf.GradientTape() as g_tape:
                fake = self.generator(z_d, training=True)
                d_loss_fake, d_acc_fake = self._d_update(tf.stop_gradient(fake), zeros, n)
                probs = self.discriminator(fake, training=True)
                g_loss = _bce(ones, probs, n)
        else:
            # The book: generator.predict (inference-mode batch norm) for the D-fake batch.
            fake = self.generator(z_d, training=False)
            d_loss_fake, d_acc_fake = self._d_update(fake, zeros, n)
            with tf.GradientTape() as g_tape:
                probs = self.discriminator(self.generator(z_g, training=True), training=True)
                g_loss = _bce(ones, probs, n)
        self.g_opt.apply(g_tape.gradient(g_loss, g_vars), g_vars)
        return {"d_loss_real": d_loss_real, "d_loss_fake": d_loss_fake,
                "d_loss": 0.5 * (d_loss_real + d_loss_fake),
                "d_acc_real": d_acc_real, "d_acc_fake": d_acc_fake,
                "g_loss": g_loss, "g_acc": _accuracy(ones, probs, n),
                # The weights themselves: BCE clips probabilities and oneDNN's fused batch
                # norm + ReLU maps NaN to 0, so NaN weights can hide behind finite losses and images.
                "nonfinite": 1.0 - tf.cast(tf.reduce_all([tf.reduce_all(tf.math.is_finite(v)) for v in
                                                          g_vars + self.discriminator.trainable_variables]), tf.float32)}

    @property
    def state_variables(self) -> list:
        """Every variable training changes: weights, batch-norm statistics, dropout seed states,
        optimiser slots and step counters. Restoring them all continues a run exactly."""
        return (self.generator.variables + self.discriminator.variables
                + self.g_opt.variables + self.d_opt.variables)

    def sample(self, z: np.ndarray) -> np.ndarray:
        """Generated images for z, uint8 (N, 28, 28), in batches of noise.SAMPLE_BATCH z, which
        bound a training process's peak memory."""
        return to_uint8(in_batches(self._infer, np.asarray(z, np.float32)))


@dataclass
class Trainer:
    """Trains one or more variants in lockstep; pausable and stoppable between steps.

    `on_step(trainer)` is called after every step (CLI progress bar, dashboard live view).
    """

    config: GANConfig
    images: np.ndarray  # uint8 (N, 28, 28)
    variants: tuple[str, ...] = BOOK_PAIR
    on_step: Callable[["Trainer"], None] | None = None
    strategy: tf.distribute.Strategy | None = None  # tf.distribute placement; None: one device
    step: int = 0
    status: str = "ready"
    history: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    timeline: dict[str, list[np.ndarray]] = field(default_factory=dict)
    spectra: dict[str, list[np.ndarray]] = field(default_factory=dict)  # measure batch, per frame

    def __post_init__(self) -> None:
        # Same seed, same machine -> same numbers (costs little on CPU for these ops). Switched on
        # where a run starts, not at import: importing ganviz changes no process-wide setting.
        tf.config.experimental.enable_op_determinism()
        for v in self.variants:
            operators.check_factors(v, self.config.g_upsample)
        self.gans = {v: GAN(self.config, v, strategy=self.strategy) for v in self.variants}
        self.probe = probe_z(self.config)
        self.measure = measure_z(self.config)
        self.frame_steps = timeline_steps(self.config.steps)
        self.recorded_steps: list[int] = []
        self.history = {v: {m: [] for m in METRICS} for v in self.variants}
        self.timeline = {v: [] for v in self.variants}
        self.spectra = {v: [] for v in self.variants}
        self.wall_time = 0.0
        self._warm: list | None = None  # [steps, seconds] after this process's first (compiling) step
        self.fingerprint = fingerprint(self.images)  # which images: resume checks them
        self._stream = batch_stream(self.config, len(self.images))
        self._running = threading.Event()
        self._running.set()
        self._stop = threading.Event()
        self._record_frame()

    # -- control (safe to call from another thread) --
    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def steps_per_s(self) -> float:
        """Training speed, leaving out the first step of this process (it compiles the step)."""
        if self._warm and self._warm[0]:
            return self._warm[0] / self._warm[1]
        return self.step / self.wall_time if self.wall_time else 0.0

    @property
    def images_per_s(self) -> float:
        return self.steps_per_s * self.config.batch_size * len(self.variants)

    @property
    def eta_s(self) -> float:
        return (self.config.steps - self.step) / self.steps_per_s if self.steps_per_s else math.inf

    def _snapshot(self) -> dict[str, list[np.ndarray]]:
        # all training state, optimiser slots included: a NaN step poisons RMSprop's averages too
        return {v: [var.numpy() for var in g.state_variables] for v, g in self.gans.items()}

    def _restore(self, snapshot: dict[str, list[np.ndarray]]) -> None:
        for v, g in self.gans.items():
            for var, value in zip(g.state_variables, snapshot[v]):
                var.assign(value)

    def state(self) -> dict[str, np.ndarray]:
        """The whole run as plain arrays (a JSON string for the scalars): see `load_state`."""
        arrays = {}
        for v, g in self.gans.items():
            arrays.update({f"{v}/var/{i:04d}": var.numpy() for i, var in enumerate(g.state_variables)})
            arrays.update({f"{v}/history/{m}": np.asarray(x, np.float64) for m, x in self.history[v].items()})
            arrays[f"{v}/timeline"] = np.stack(self.timeline[v])
            arrays[f"{v}/spectra"] = np.stack(self.spectra[v])
        meta = {"step": self.step, "wall_time": self.wall_time, "recorded_steps": self.recorded_steps,
                "rng": self._stream.rng.bit_generator.state, "variants": list(self.variants),
                "config": self.config.to_dict(), "data_fingerprint": self.fingerprint}
        arrays["meta"] = np.array(json.dumps(meta))
        return arrays

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Continue from `state()`: the same config, variants and data are the caller's job."""
        meta = json.loads(str(arrays["meta"]))
        for v, g in self.gans.items():
            variables = g.state_variables
            if sum(k.startswith(f"{v}/var/") for k in arrays) != len(variables):
                raise ValueError(f"checkpoint does not match the {v} models")
            for i, var in enumerate(variables):
                var.assign(arrays[f"{v}/var/{i:04d}"])
            self.history[v] = {m: arrays[f"{v}/history/{m}"].tolist() for m in METRICS}
            self.timeline[v] = list(arrays[f"{v}/timeline"])
            self.spectra[v] = list(arrays[f"{v}/spectra"])
        self.step, self.wall_time, self.recorded_steps = meta["step"], meta["wall_time"], meta["recorded_steps"]
        self._stream.rng.bit_generator.state = meta["rng"]

    def _record_frame(self) -> None:
        self.recorded_steps.append(self.step)
        for v, gan in self.gans.items():
            self.timeline[v].append(gan.sample(self.probe))
            # 16 probe images are too few for a spectrum: a larger fixed batch measures it
            self.spectra[v].append(power_spectrum(gan.sample(self.measure)).astype(np.float32))

    def run(self) -> "Trainer":
        """Train until config.steps, a stop request or divergence."""
        self.status = "running"
        good, good_step = self._snapshot(), self.step  # the last weights known to be finite
        while self.step < self.config.steps:
            while not self._running.wait(timeout=0.2) and not self._stop.is_set():
                pass  # paused; a stop ends the pause whatever the order of the two calls
            if self._stop.is_set():
                self.status = "stopped"
                break
            idx, z_d, z_g = next(self._stream)
            real = to_model_scale(self.images[idx])  # a batch at a time: no float32 copy of the data set
            t0 = time.perf_counter()
            for v, gan in self.gans.items():
                out = {k: float(t) for k, t in gan.train_step(real, z_d, z_g).items()}
                if out.pop("nonfinite") or not all(map(math.isfinite, out.values())):
                    self._restore(good)
                    self.status = (f"diverged at step {self.step + 1} ({v}): loss or weights NaN/inf; the learning "
                                   f"rates (D {self.config.d_lr}, G {self.config.g_lr}) are likely too high; "
                                   f"weights restored to step {good_step}")
                    raise Diverged(self.status)
                for k, val in out.items():
                    self.history[v][k].append(val)
            dt = time.perf_counter() - t0
            if self._warm is None:
                self._warm = [0, 0.0]
            else:
                self._warm = [self._warm[0] + 1, self._warm[1] + dt]
            self.wall_time += dt
            self.step += 1
            if self.step % CHECKPOINT_EVERY == 0:  # the last good state, restored on divergence
                good, good_step = self._snapshot(), self.step
            if self.step in self.frame_steps:
                self._record_frame()
            if self.on_step:
                self.on_step(self)
        else:
            self.status = "finished"
        if self.recorded_steps[-1] != self.step:
            self._record_frame()
        return self
