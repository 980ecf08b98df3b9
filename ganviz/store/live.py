"""How a training process and the dashboard talk: progress out as a file, commands in as lines.

  live.npz   in the run folder: step, speed, status, the latest probe images and the curves,
             written by the training process at most every LIVE_EVERY_S and when it ends. A
             file, so the server never holds a model and any page, the owner's or a viewer's,
             reads the same progress. Replaced atomically: a reader sees one whole version.
  commands   `pause`, `resume`, `stop`, one per line on the process's stdin. The end of stdin
             (the server gone, however it died) stops the run, which then saves what it trained.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

import numpy as np

from ganviz.atomic import replaced
from ganviz.config import METRICS
from ganviz.hostmem import rss_mb

if TYPE_CHECKING:
    from ganviz.gan.training import Trainer

LIVE = "live.npz"
LIVE_EVERY_S = 0.5
COMMANDS = ("pause", "resume", "stop")


@dataclass
class Live:
    """What the page shows of a training: where it is, how fast, its latest probe images, its curves."""
    step: int
    steps: int
    status: str  # ready, running, paused, stopped, finished, or the divergence message
    images_per_s: float
    eta_s: float
    precision: str
    recorded_step: int  # the step of `frames`
    frames: dict[str, np.ndarray]  # variant -> (probe, 28, 28) uint8
    history: dict[str, dict[str, np.ndarray]]  # variant -> metric -> per-step values

    @property
    def variants(self) -> list[str]:
        return list(self.frames)

    @property
    def paused(self) -> bool:
        return self.status == "paused"


def write_live(trainer: Trainer, out_dir: Path) -> None:
    """The trainer's progress into out_dir/live.npz, atomically."""
    meta = {"step": trainer.step, "steps": trainer.config.steps, "precision": trainer.config.precision,
            "status": "paused" if trainer.paused and trainer.status == "running" else trainer.status,
            "images_per_s": trainer.images_per_s, "eta_s": min(trainer.eta_s, 1e9),
            "recorded_step": trainer.recorded_steps[-1], "variants": list(trainer.variants),
            "peak_rss_mb": rss_mb("self", "VmHWM")}  # the load benchmark reads it
    arrays = {"meta": np.array(json.dumps(meta))}
    for v in trainer.variants:
        arrays[f"{v}/frame"] = trainer.timeline[v][-1]
        arrays.update({f"{v}/{m}": np.asarray(trainer.history[v][m], np.float32) for m in METRICS})
    _save(arrays, out_dir)


def mark_ended(out_dir: Path, status: str) -> None:
    """Set the status of a run whose process died without its last write (the server does this)."""
    try:
        with np.load(out_dir / LIVE, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        arrays["meta"] = np.array(json.dumps({**json.loads(str(arrays["meta"])), "status": status}))
        _save(arrays, out_dir)
    except (OSError, ValueError, KeyError):
        pass  # nothing written yet, or unreadable: nothing to correct


def _save(arrays: dict[str, np.ndarray], out_dir: Path) -> None:
    with replaced(out_dir / LIVE) as fh:
        np.savez(fh, **arrays)


def read_live(out_dir: Path) -> Live | None:
    """The latest progress of the training in out_dir, or None before its process has written any."""
    try:
        with np.load(out_dir / LIVE, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
            variants = meta["variants"]
            return Live(meta["step"], meta["steps"], meta["status"], meta["images_per_s"], meta["eta_s"],
                        meta["precision"], meta["recorded_step"],
                        {v: npz[f"{v}/frame"] for v in variants},
                        {v: {m: npz[f"{v}/{m}"] for m in METRICS} for v in variants})
    except (OSError, ValueError, KeyError):  # not written yet, or from an older ganviz
        return None


class LiveWriter:
    """A step hook for the training process: writes `live.npz` at most every LIVE_EVERY_S."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir, self._last, self._lock = out_dir, 0.0, threading.Lock()

    def __call__(self, trainer: Trainer) -> None:
        if time.monotonic() - self._last >= LIVE_EVERY_S:
            self.write(trainer)

    def write(self, trainer: Trainer) -> None:
        with self._lock:  # the step hook and the command thread both write
            try:
                write_live(trainer, self.out_dir)
            except OSError:
                pass  # progress is for the page; a full disk must not end the training (its checkpoint says)
            self._last = time.monotonic()


def obey(trainer: Trainer, lines: Iterable[str], writer: LiveWriter) -> threading.Thread:
    """Follow `pause` / `resume` / `stop` lines in a background thread, showing each at once in
    live.npz; when the lines end, stop the trainer."""
    def follow() -> None:
        for line in lines:
            if (command := line.strip()) in COMMANDS:
                getattr(trainer, command)()
                writer.write(trainer)
        trainer.stop()
    thread = threading.Thread(target=follow, daemon=True, name="ganviz-commands")
    thread.start()
    return thread
