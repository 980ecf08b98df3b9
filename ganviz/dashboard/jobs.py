"""The dashboard's trainings, each in a process of its own.

A training is `python -m ganviz train --resume DIR --live`: the one run orchestrator, started on
a run folder whose run.json the page wrote. The server only starts, watches and signals these
processes. It never imports TensorFlow, and when a training ends (finished, stopped, diverged,
orphaned or killed) its process exits and all of its memory goes back to the system.

  progress   the process writes DIR/live.npz (`ganviz.store.live`); any page reads it
  control    pause / resume / stop as lines on the process's stdin; when the server dies, however,
             stdin ends and the training stops and saves: no process outlives the server
  limits     at most `limit` processes at once on the server; more wait in a first-come queue
  orphans    a job no page has polled for `orphan_after_s` (its tab closed) is stopped, or leaves
             the queue
  priority   the process lowers its own CPU priority (nice), so pages stay quick
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ganviz import data
from ganviz.store.bundle import RUN_FILE, find_bundles, load_run
from ganviz.store.live import Live, read_live

MAX_TRAININGS = int(os.environ.get("GANVIZ_MAX_TRAININGS", "2"))  # at once, on the whole server
ORPHAN_AFTER_S = float(os.environ.get("GANVIZ_ORPHAN_AFTER_S", "20"))  # no page polling for this long: stop
TRAINING_NICE = int(os.environ.get("GANVIZ_TRAINING_NICE", "10"))  # CPU priority of trainings below the pages
LOG = "train.log"  # the training process's own output, in its run folder
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


@dataclass(eq=False)
class TrainingJob:
    """One training: queued, then running in its process, then done (`error` says why, if not
    finished or stopped from its page)."""
    out_dir: Path
    state: str = "queued"  # queued -> running -> done
    error: str = ""
    last_seen: float = field(default_factory=time.time)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def touch(self) -> None:
        """Called by the page whenever it polls: the tab is still open."""
        self.last_seen = time.time()

    def live(self) -> Live | None:
        """The latest progress the process wrote (None until its first write)."""
        return read_live(self.out_dir)

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")

    @property
    def done(self) -> bool:
        return self.state == "done"

    @property
    def saved(self) -> list[Path]:
        return find_bundles(self.out_dir) if self.done else []

    def _send(self, command: str) -> None:
        try:
            self.process.stdin.write(f"{command}\n".encode())
            self.process.stdin.flush()
        except (AttributeError, OSError, ValueError):
            pass  # not started, or already ended: nothing to steer

    def _spawn(self, nice: int) -> None:
        cmd = [sys.executable, "-m", "ganviz", "train", "--resume", str(self.out_dir), "--live", "--nice", str(nice)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (_PACKAGE_ROOT, os.environ.get("PYTHONPATH"))))}
        with open(self.out_dir / LOG, "ab") as log:
            self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.state = "running"
        self.touch()  # the orphan clock starts with the process

    def _finish(self, code: int) -> None:
        self.state = "done"
        if code < 0:
            self.error = (f"interrupted: the training process was killed ({signal.Signals(-code).name}); "
                          "resume it from its last checkpoint")
        elif code and not self.error:
            self.error = _last_error(self.out_dir / LOG) or f"the training process exited with code {code}; see {LOG}"
        if self.process.stdin:
            self.process.stdin.close()


def _last_error(log: Path) -> str:
    """The one-line `error: ...` the CLI prints for bad input or divergence, without its prefix."""
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.startswith("error: ")]
    return lines[-1].removeprefix("error: ") if lines else ""


class Trainings:
    """Every training of one server, keyed by the owner who started it (one job per owner)."""

    def __init__(self, limit: int = MAX_TRAININGS, orphan_after_s: float = ORPHAN_AFTER_S,
                 nice: int = TRAINING_NICE) -> None:
        self.limit, self.orphan_after_s, self.nice = limit, orphan_after_s, nice
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: list[TrainingJob] = []
        self._running: list[TrainingJob] = []
        self._closed = threading.Event()
        threading.Thread(target=self._supervise, daemon=True, name="ganviz-trainings").start()

    def submit(self, owner: str, out_dir: Path) -> TrainingJob:
        """Train the run whose run.json is in out_dir: at once if a slot is free, else queued."""
        job = TrainingJob(out_dir.resolve())
        with self._lock:
            for key, old in list(self._jobs.items()):  # forget finished jobs nobody looks at
                if old.done and time.time() - old.last_seen > self.orphan_after_s:
                    del self._jobs[key]
            self._jobs[owner] = job
            self._queue.append(job)
            self._start_queued()
        return job

    def job_of(self, owner: str) -> TrainingJob | None:
        """The owner's latest job, also after a reload of its page."""
        return self._jobs.get(owner)

    def position(self, job: TrainingJob) -> int:
        """1 for the next job to start, 2 after it, ...; 0 once it is not queued."""
        with self._lock:
            return self._queue.index(job) + 1 if job in self._queue else 0

    def cancel(self, job: TrainingJob, why: str = "left the queue") -> None:
        """Take a queued job out of the queue; its run folder (only a run.json) goes too."""
        with self._lock:
            self._leave_queue(job, why)

    def running(self) -> list[TrainingJob]:
        with self._lock:
            return list(self._running)

    def close(self, timeout_s: float = 60) -> None:
        """Stop every training, let each save, and wait for the processes (for tests and shutdown)."""
        self._closed.set()
        with self._lock:
            for job in list(self._queue):
                self._leave_queue(job, "left the queue: the server stopped")
            running = list(self._running)
        for job in running:
            job.stop()
        for job in running:
            try:
                job._finish(job.process.wait(timeout_s))
            except subprocess.TimeoutExpired:
                job.process.kill()
                job._finish(job.process.wait())

    def _leave_queue(self, job: TrainingJob, why: str) -> None:
        if job in self._queue:
            self._queue.remove(job)
            job.state, job.error = "done", why
            if [p.name for p in job.out_dir.iterdir()] == [RUN_FILE]:
                shutil.rmtree(job.out_dir, ignore_errors=True)

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.limit:
            job = self._queue.pop(0)
            job._spawn(self.nice)
            self._running.append(job)

    def _supervise(self) -> None:
        """Reap ended processes (no zombies), stop orphans, start queued jobs as slots free up."""
        while not self._closed.wait(0.25):
            with self._lock:
                now = time.time()
                for job in list(self._running):
                    code = job.process.poll()
                    if code is not None:
                        self._running.remove(job)
                        job._finish(code)
                    elif now - job.last_seen > self.orphan_after_s and not job.error:
                        job.error = "stopped: the browser session went away; the run so far was saved"
                        job.stop()
                for job in list(self._queue):
                    if now - job.last_seen > self.orphan_after_s:
                        self._leave_queue(job, "left the queue: the browser session went away")
                self._start_queued()


def check_resumable(out_dir: Path) -> None:
    """Refuse, in one line, a run that cannot continue: a damaged checkpoint or run file, or
    training images that changed since (the data fingerprint). NumPy only: the page asks
    before it starts a process."""
    config, _, trained_on, _ = load_run(out_dir)
    data.load_matching(config.dataset, None, trained_on)
