"""The dashboard's trainings, each in a process of its own.

A training is `python -m ganviz train --resume DIR --live`: the one run orchestrator, started on
a run folder whose run.json the page wrote. The server only starts, watches and signals these
processes. It never imports TensorFlow, and when a training ends (finished, stopped, diverged,
orphaned or killed) its process exits and all of its memory goes back to the system.

  progress   the process writes DIR/live.npz (`ganviz.store.live`); any page reads it
  control    pause / resume / stop as lines on the process's stdin; when the server dies, however,
             stdin ends and the training stops and saves: no process outlives the server
  limits     at most `limit` processes at once on the server, and no more than fit in its memory
             beside the server (`admits`): its cgroup's limit, or the machine's; more wait in a
             first-come queue. A server too small for even one training refuses Train in one line
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
from ganviz.config import TRAINING_MB
from ganviz.errors import UserError
from ganviz.hostmem import charge_mb, limit_mb
from ganviz.store.bundle import RUN_FILE, find_bundles, load_run
from ganviz.store.live import Live, mark_ended, read_live

MAX_TRAININGS = int(os.environ.get("GANVIZ_MAX_TRAININGS", "2"))  # at once, on the whole server
# No page polling for this long: stop. Fragments don't poll while their page runs a long full rerun
# (a first Analysis, a download), so this is well above the 2 s polling.
ORPHAN_AFTER_S = float(os.environ.get("GANVIZ_ORPHAN_AFTER_S", "60"))
STOP_GRACE_S = 120.0  # a process asked to stop that is still running after this is killed (its checkpoint stays)
TRAINING_NICE = int(os.environ.get("GANVIZ_TRAINING_NICE", "10"))  # CPU priority of trainings below the pages
# One malloc arena: TensorFlow's threads otherwise each grow their own, and a short training
# process peaks ~100-200 MB higher (docs/RELIABILITY.md); the server's environment overrides it.
TRAINING_ENV = {"MALLOC_ARENA_MAX": "1"}
LOG = "train.log"  # the training process's own output, in its run folder


def _signal_name(number: int) -> str:
    """SIGKILL for 9: what the page says killed a training."""
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal has no name
        return f"signal {number}"


@dataclass(eq=False)
class TrainingJob:
    """One training: queued, then running in its process, then done (`error` says why, if not
    finished or stopped from its page)."""
    out_dir: Path
    state: str = "queued"  # queued -> running -> done
    error: str = ""
    last_seen: float = field(default_factory=time.monotonic)
    peak_mb: float = 0.0  # the most the process has cost the host (hostmem.charge_mb), as read every 0.25 s
    process: subprocess.Popen | None = field(default=None, repr=False)
    _log_from: int = field(default=0, repr=False)  # where this process's part of the log begins
    _stop_sent: float | None = field(default=None, repr=False)

    def touch(self) -> None:
        """Called by the page whenever it polls: the tab is still open."""
        self.last_seen = time.monotonic()

    def live(self) -> Live | None:
        """The latest progress the process wrote (None until its first write)."""
        return read_live(self.out_dir)

    def pause(self) -> None:
        self._send("pause")

    def resume(self) -> None:
        self._send("resume")

    def stop(self) -> None:
        self._send("stop")
        self._stop_sent = self._stop_sent or time.monotonic()

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
        env = {**TRAINING_ENV, **os.environ}
        with open(self.out_dir / LOG, "ab") as log:
            self._log_from = log.tell()
            self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=env)
        self.state = "running"
        self.touch()  # the orphan clock starts with the process

    def _finish(self, code: int) -> None:
        """Record how the process ended; `done` turns true last, when everything says so."""
        if code < 0:
            self.error = (f"interrupted: the training process was killed ({_signal_name(-code)}); resume it from "
                          "its last checkpoint")
        elif code and not self.error:
            self.error = self._last_error() or f"the training process exited with code {code}; see {LOG}"
        if code < 0:  # killed mid-step: its last progress still says "running"
            mark_ended(self.out_dir, "interrupted")
        if self.process.stdin:
            self.process.stdin.close()
        self.state = "done"  # last: a page (another thread) that sees it done reads all of the above

    def _last_error(self) -> str:
        """The one-line `error: ...` the CLI printed for bad input or divergence, without its prefix."""
        try:
            with open(self.out_dir / LOG, "rb") as log:
                log.seek(self._log_from)
                text = log.read().decode(errors="replace")
        except OSError:
            return ""
        lines = [ln for ln in text.splitlines() if ln.startswith("error: ")]
        return lines[-1].removeprefix("error: ") if lines else ""


class Trainings:
    """Every training of one server, keyed by the owner who started it (one job per owner)."""

    def __init__(self, limit: int = MAX_TRAININGS, orphan_after_s: float = ORPHAN_AFTER_S,
                 nice: int = TRAINING_NICE, memory_mb: float | None = None) -> None:
        self.limit, self.orphan_after_s, self.nice = limit, orphan_after_s, nice
        self.memory_mb = limit_mb() if memory_mb is None else memory_mb
        self.training_mb = float(TRAINING_MB)  # raised to the largest cost a training of this server reaches
        self._lock = threading.Lock()
        self._jobs: dict[str, TrainingJob] = {}
        self._queue: list[TrainingJob] = []
        self._running: list[TrainingJob] = []
        self._closed = threading.Event()
        threading.Thread(target=self._supervise, daemon=True, name="ganviz-trainings").start()

    def submit(self, owner: str, out_dir: Path) -> TrainingJob:
        """Train the run whose run.json is in out_dir: at once if a slot is free, else queued.
        One training per owner at a time: a second is refused (two tabs, two clicks)."""
        job = TrainingJob(out_dir.resolve())
        with self._lock:
            if not self.admits(0):
                raise UserError(self.too_small())
            if (current := self._jobs.get(owner)) is not None and not current.done:
                raise UserError("a training of yours is already running or queued; stop it or wait for it to end")
            for key, old in list(self._jobs.items()):  # forget finished jobs nobody looks at
                if old.done and time.monotonic() - old.last_seen > self.orphan_after_s:
                    del self._jobs[key]
            self._jobs[owner] = job
            self._queue.append(job)
            self._start_queued()
        return job

    def admits(self, running: int) -> bool:
        """Whether one more training fits in memory beside the server and `running` trainings,
        each counted at its peak: a cgroup's limit is a hard one, and the kernel kills what overruns it."""
        return charge_mb() + (running + 1) * self.training_mb <= self.memory_mb

    def at_once(self) -> int:
        """How many trainings this server runs at once: its limit, or fewer where memory is short."""
        n = 0
        while n < self.limit and self.admits(n):
            n += 1
        return n

    def too_small(self) -> str:
        return (f"this server cannot train: it has {self.memory_mb / 1024:.1f} GB, and a training needs about "
                f"{self.training_mb / 1024:.2f} GB beside the server's {charge_mb() / 1024:.2f} GB; viewing works as usual")

    def waiting_for(self) -> str:
        """Why queued trainings wait: a free slot, or memory."""
        n = self.at_once()
        if n < self.limit:
            return (f"waiting for memory: {n} training{'s' * (n != 1)} at a time on this "
                    f"{self.memory_mb / 1024:.1f} GB server")
        return f"waiting for a free slot: this server trains {self.limit} run{'s' * (self.limit != 1)} at once"

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
            if job.out_dir.is_dir() and [p.name for p in job.out_dir.iterdir()] == [RUN_FILE]:
                shutil.rmtree(job.out_dir, ignore_errors=True)

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.limit and self.admits(len(self._running)):
            job = self._queue.pop(0)
            try:
                job._spawn(self.nice)
            except OSError as exc:  # no process could start: said on the page, the slot stays free
                job.state, job.error = "done", f"the training process did not start: {exc}"
                continue
            self._running.append(job)

    def _supervise(self) -> None:
        """Reap ended processes (no zombies), stop orphans (and kill one that ignores the stop),
        start queued jobs as slots free up. One job's trouble never stops the loop."""
        while not self._closed.wait(0.25):
            with self._lock:
                now = time.monotonic()
                for job in list(self._running):
                    try:
                        self._watch(job, now)
                    except Exception as exc:  # noqa: BLE001 - keep supervising every other job
                        self._running.remove(job)
                        job.state, job.error = "done", f"lost track of the training process: {exc}"
                for job in list(self._queue):
                    if now - job.last_seen > self.orphan_after_s:
                        self._leave_queue(job, "left the queue: the browser session went away")
                self._start_queued()

    def _watch(self, job: TrainingJob, now: float) -> None:
        job.peak_mb = max(job.peak_mb, charge_mb(job.process.pid))
        self.training_mb = max(self.training_mb, job.peak_mb)
        code = job.process.poll()
        if code is not None:
            self._running.remove(job)
            job._finish(code)
        elif job._stop_sent is not None and now - job._stop_sent > STOP_GRACE_S:
            job.process.kill()  # reaped on the next round
        elif now - job.last_seen > self.orphan_after_s and not job.error:
            job.error = "stopped: the browser session went away; the run so far was saved"
            job.stop()


def check_resumable(out_dir: Path) -> None:
    """Refuse, in one line, a run that cannot continue: a damaged checkpoint or run file, or
    training images that changed since (the data fingerprint). NumPy only: the page asks
    before it starts a process."""
    config, _, trained_on, _ = load_run(out_dir)
    data.load_matching(config.dataset, None, trained_on)
