"""One run, the same from the command line and the dashboard: start or resume, checkpoint,
write the bundles.

  start    a Trainer on the data set, and a checkpoint at step 0 before the first step, so a
           run killed at any moment can be resumed (from step 0 at worst)
  restore  a trainer from the run's checkpoint, continuing exactly (the caller has checked, in
           NumPy, that the images are the ones the run trained on: `store.bundle.load_run` and
           `data.load_matching`)
  train    checkpoints every CHECKPOINT_EVERY steps or CHECKPOINT_SECONDS, whichever comes
           first, and at the end; then one bundle per variant

A run that diverges keeps its last checkpoint on disk (a good state) and writes bundles of the
weights the trainer restored.
"""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import tensorflow as tf

from ganviz.config import CHECKPOINT_EVERY, CHECKPOINT_SECONDS, GANConfig
from ganviz.errors import Diverged
from ganviz.gan.distribute import is_chief
from ganviz.gan.training import Trainer
from ganviz.store.bundle import save_bundles, save_checkpoint

StepHook = Callable[[Trainer], None]


def start(config: GANConfig, variants: tuple[str, ...], images: np.ndarray, out: Path,
          on_step: StepHook | None = None, strategy: tf.distribute.Strategy | None = None) -> Trainer:
    """A new run's trainer, its step-0 checkpoint already on disk."""
    trainer = Trainer(config, images, variants, on_step=on_step, strategy=strategy)
    if _chief(strategy):
        save_checkpoint(trainer, out)
    return trainer


def restore(config: GANConfig, variants: tuple[str, ...], state: dict[str, np.ndarray], images: np.ndarray,
            on_step: StepHook | None = None, strategy: tf.distribute.Strategy | None = None) -> Trainer:
    """A trainer continued from a checkpoint's state, on images already checked to be the run's."""
    trainer = Trainer(config, images, variants, on_step=on_step, strategy=strategy)
    trainer.load_state(state)
    return trainer


def train(trainer: Trainer, out: Path, strategy: tf.distribute.Strategy | None = None,
          every: int | None = None) -> list[Path]:
    """Run the trainer to its end (or a stop), checkpointing every `every` steps or
    CHECKPOINT_SECONDS on the way; write its bundles.

    In a multi-worker run every worker trains and only worker 0 keeps what it writes."""
    every, chief = every or CHECKPOINT_EVERY, _chief(strategy)
    target = out if chief else Path(tempfile.mkdtemp(prefix="ganviz-worker-"))
    hook, last = trainer.on_step, [time.monotonic()]

    def on_step(t: Trainer) -> None:
        if hook:
            hook(t)
        if t.step % every == 0 or time.monotonic() - last[0] >= CHECKPOINT_SECONDS:
            save_checkpoint(t, target)
            last[0] = time.monotonic()

    trainer.on_step = on_step
    try:
        trainer.run()
    except Diverged:
        if trainer.step > 0:  # the checkpoint on disk is the last good state; keep it
            save_bundles(trainer, target)
        raise
    finally:
        trainer.on_step = hook
    save_checkpoint(trainer, target)
    paths = save_bundles(trainer, target)
    if not chief:
        shutil.rmtree(target, ignore_errors=True)
        return [out / p.name for p in paths]
    return paths


def _chief(strategy: tf.distribute.Strategy | None) -> bool:
    return strategy is None or is_chief(strategy)
