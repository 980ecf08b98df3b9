"""A study: one paired run per seed, every variant in lockstep, resumable, sharded, in parallel.

    DIR/<data set>-s<seed>/<variant>/                  a finished bundle
    DIR/<data set>-s<seed>/.training-<variants>/       a run in progress: run.json, checkpoint.npz, lock

A seed's variants train together (same data order, noise and initial discriminator), so every
comparison between them is paired; variants added to a finished seed later train in a run of
their own from the same seed, which pairs them the same way. A run killed at any moment resumes
from its checkpoint with the numbers an uninterrupted run gives (`gan.run.restore`). Shards split
the seeds (every N-th from index I) between processes or machines that share DIR; a lock held by
the training process keeps two of them off one seed.

This module plans and schedules in NumPy; only the process that trains imports TensorFlow.
"""
from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ganviz import data, operators
from ganviz.config import MAX_SEED, TRAINING_MB, GANConfig
from ganviz.errors import UserError
from ganviz.hostmem import limit_mb
from ganviz.store.bundle import CHECKPOINT, RUN_FILE, checkpoint_progress, load_run, replace_dir, stored_config

LOCK = "lock"
# Fields that may differ between the runs of one study: the rest is its recipe.
PER_RUN = ("dataset", "seed")
MAX_SEEDS = 1000  # seeds in one study: more is a typo in a range (0-100000 would be months of training)
RESERVE_MB = 600  # what the study's own process and the system keep beside its trainings


def parse_seeds(text: str) -> list[int]:
    """'0-9', '3', '0,2,5-7' -> sorted distinct seeds; empty or reversed ranges are refused."""
    seeds: set[int] = set()
    for part in text.split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds {text!r}: give seeds as 0-9, 3 or 0,2,5-7 (whole numbers, ranges low-high)")
        lo, hi = int(m[1]), int(m[2] if m[2] is not None else m[1])
        if hi < lo:
            raise UserError(f"--seeds {text!r}: the range {lo}-{hi} is reversed; write {hi}-{lo}")
        if hi > MAX_SEED or len(seeds) + hi - lo + 1 > MAX_SEEDS:
            raise UserError(f"--seeds {text!r}: seeds run from 0 to {MAX_SEED}, at most {MAX_SEEDS} in a study")
        seeds.update(range(lo, hi + 1))
    return sorted(seeds)


def parse_variants(text: str) -> tuple[str, ...]:
    """'upsample,transpose' or 'all' -> variants in the registry's order."""
    known = operators.names()
    asked = known if text.strip() == "all" else tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in asked if v not in known]
    if unknown or not asked:
        raise UserError(f"--variants {text!r}: unknown {', '.join(map(repr, unknown)) or 'empty list'}; "
                        f"choose from {', '.join(known)} (comma-separated) or all")
    return tuple(v for v in known if v in asked)


def parse_shard(text: str | None, env: dict[str, str], count: int | None = None) -> tuple[int, int]:
    """(index, count) of this process's shard: --shard I/N; else a Slurm array task
    (SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN of SLURM_ARRAY_TASK_COUNT); else a Kubernetes
    Indexed Job (JOB_COMPLETION_INDEX of --shard-count); else the whole study."""
    if text is not None:
        m = re.fullmatch(r"(\d+)/(\d+)", text.strip())
        if not m or int(m[2]) < 1:
            raise UserError(f"--shard {text!r}: give I/N, this process's index I of N shards (e.g. 0/4)")
        index, count = int(m[1]), int(m[2])
        source = "--shard"
    elif "SLURM_ARRAY_TASK_ID" in env and "SLURM_ARRAY_TASK_COUNT" in env:
        index = _env_int(env, "SLURM_ARRAY_TASK_ID") - _env_int(env, "SLURM_ARRAY_TASK_MIN", "0")
        count, source = _env_int(env, "SLURM_ARRAY_TASK_COUNT"), "the Slurm array"
    elif "JOB_COMPLETION_INDEX" in env:
        if count is None:
            raise UserError("JOB_COMPLETION_INDEX is set (a Kubernetes Indexed Job): add --shard-count N, "
                            "the Job's completions")
        index, source = _env_int(env, "JOB_COMPLETION_INDEX"), "JOB_COMPLETION_INDEX"
    else:
        return 0, 1
    if not 0 <= index < count:
        raise UserError(f"shard {index} of {count} (from {source}): the index must be from 0 to {count - 1}")
    return index, count


def _env_int(env: dict[str, str], name: str, default: str | None = None) -> int:
    try:
        return int(env.get(name, default))
    except (TypeError, ValueError):
        raise UserError(f"{name}={env.get(name)!r}: a job array's task variables must be whole numbers") from None


@dataclass(frozen=True)
class Job:
    """One seed's run: the variants it still lacks, trained together in `work`."""

    config: GANConfig
    variants: tuple[str, ...]
    folder: Path  # the seed's folder, where finished bundles live

    @property
    def work(self) -> Path:
        return self.folder / f".training-{'-'.join(self.variants)}"

    @property
    def name(self) -> str:
        return f"{self.folder.name} ({', '.join(self.variants)})"


def recipe(config: GANConfig | dict) -> dict:
    """What every run of one study shares: the config without the data set and seed."""
    values = config.to_dict() if isinstance(config, GANConfig) else dict(config)
    return {k: v for k, v in values.items() if k not in PER_RUN}


def _differences(there: dict, asked: dict) -> str:
    return "; ".join(f"{k} {there.get(k)} there, {v} asked" for k, v in asked.items() if there.get(k) != v)


def plan(config: GANConfig, variants: tuple[str, ...], seeds: list[int], out: Path,
         force: bool = False) -> tuple[list[Job], list[str]]:
    """(jobs to run, seeds' names already done). Refuses a folder holding another recipe's runs
    or checkpoints unless `force`, which retrains the asked variants of the asked seeds."""
    want, jobs, done = recipe(config), [], []
    for seed in seeds:
        folder = out / f"{data.slug(config.dataset)}-s{seed}"
        cfg = config.replace(seed=seed)
        for meta in () if force else _recipes_in(folder):
            if recipe(meta) != want:
                raise UserError(f"{folder}: holds runs of another recipe ({_differences(recipe(meta), want)}); "
                                "rerun with that recipe, choose another --out, or add --force to retrain them")
        missing = variants if force else tuple(v for v in variants if not (folder / v / "config.json").is_file())
        if missing:
            jobs.append(Job(cfg, missing, folder))
        else:
            done.append(folder.name)
            _tidy(folder)
    return jobs, done


def _tidy(folder: Path) -> None:
    """Remove the work folders of runs whose bundles all reached the seed's folder (a kill
    between moving the bundles and removing the work folder leaves one), unless still locked."""
    for work in folder.glob(".training-*"):
        if all((folder / v / "config.json").is_file() for v in work.name.removeprefix(".training-").split("-")):
            try:
                lock_run(work).close()
            except Busy:
                continue
            shutil.rmtree(work, ignore_errors=True)


def _recipes_in(folder: Path) -> Iterator[dict]:
    """The configs (as dicts) of the finished bundles and runs in progress in a seed's folder."""
    for path in sorted(folder.glob("*/config.json")):
        try:
            yield stored_config(json.loads(path.read_text())["config"])[0].to_dict()
        except (OSError, ValueError, KeyError, TypeError, RecursionError):
            raise UserError(f"{path}: unreadable bundle config; delete the bundle or add --force") from None
    for work in sorted(folder.glob(".training-*")):
        if (work / CHECKPOINT).is_file() or (work / RUN_FILE).is_file():
            yield load_run(work)[0].to_dict()


class Busy(UserError):
    """Another process holds the seed's lock."""


def lock_run(work: Path):
    """An exclusive lock on a run's folder (a study's or `ganviz train`'s), released by the kernel
    when its process dies: two processes never train one run."""
    work.mkdir(parents=True, exist_ok=True)
    fh = open(work / LOCK, "w")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        raise Busy(f"{work}: another process is training this run; let it finish, or stop it first") from None
    return fh


def train_job(job: Job, force: bool = False, finish: Callable[[Path, tuple[str, ...]], None] | None = None,
              hook=None) -> str:
    """Train (or resume) one seed's run and move its bundles into the seed's folder. Returns
    what happened, in a few words. TensorFlow must already be imported (gan.import_tensorflow)."""
    from ganviz.gan import run
    lock = lock_run(job.work)
    try:
        saved = None if force else _saved(job)
        if saved is not None:
            trainer = run.restore(job.config, job.variants, saved[3], data.load_matching(
                job.config.dataset, None, saved[2]).images, hook)
            how = f"resumed at step {trainer.step}"
        else:
            for stale in (CHECKPOINT, RUN_FILE):
                (job.work / stale).unlink(missing_ok=True)
            trainer = run.start(job.config, job.variants, data.load(job.config.dataset).images, job.work, hook)
            how = "from step 0"
        run.train(trainer, job.work)
        for v in job.variants:  # bundles first: killed before the work folder goes, a rerun only moves them again
            replace_dir(job.work / v, job.folder / v)
        if finish:
            finish(job.folder, job.variants)
        shutil.rmtree(job.work, ignore_errors=True)  # while locked: no other process tidies it meanwhile
    finally:
        lock.close()
    return how


def _saved(job: Job):
    """The run's checkpoint state, or None to start it; a checkpoint of another run is refused."""
    if not ((job.work / CHECKPOINT).is_file() or (job.work / RUN_FILE).is_file()):
        return None
    saved = load_run(job.work)
    if saved[:2] != (job.config, job.variants):  # hours of training are never overwritten by a typo
        raise UserError(f"{job.work}: its checkpoint is of another run ({_differences(saved[0].to_dict(), job.config.to_dict())}); "
                        "rerun with the options it was started with, or add --force to start it over")
    return saved


def steps_done(job: Job) -> int:
    """Steps its checkpoint holds (0 when none): for the study's ETA."""
    try:
        return checkpoint_progress(job.work)[0] if (job.work / CHECKPOINT).is_file() else 0
    except UserError:
        return 0


def auto_parallel(cpus: int | None = None, memory: float | None = None) -> int:
    """Runs at once for --parallel auto: one per core, as many as fit in memory (one run per
    core trains more seeds per hour than one run on all of them: docs/PERFORMANCE.md)."""
    memory = limit_mb() if memory is None else memory
    return max(1, min(cpus or cores(), int((memory - RESERVE_MB) // TRAINING_MB)))


def format_duration(seconds: float) -> str:
    if seconds == float("inf"):
        return "--:--"
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


class Progress:
    """The study's ETA from the steps its runs have done since it started (all runs at once),
    each step weighed by the generators it trains: a step of four operators in lockstep costs
    about twice one of the book's pair."""

    def __init__(self, jobs: list[Job], force: bool = False):
        self.jobs, self.t0 = jobs, time.monotonic()
        self.start = {j.work: 0 if force else steps_done(j) for j in jobs}
        self.finished: set[Path] = set()

    def finish(self, job: Job) -> None:
        self.finished.add(job.work)

    def line(self, job: Job, what: str) -> str:
        """'<run>: <what> · k of n runs done · study ETA h:mm:ss'."""
        done = {j.work: j.config.steps if j.work in self.finished else steps_done(j) for j in self.jobs}
        new = sum((done[j.work] - self.start[j.work]) * len(j.variants) for j in self.jobs)
        left = sum((j.config.steps - done[j.work]) * len(j.variants) for j in self.jobs)
        eta = (time.monotonic() - self.t0) * left / new if new else float("inf")
        return (f"{job.name}: {what} · {len(self.finished)} of {len(self.jobs)} runs done · "
                f"study ETA {format_duration(eta) if left else '0:00'}")


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def threads_per_run(parallel: int) -> int:
    """Each run's share of the cores when `parallel` run at once: the same for every run of a
    study, whatever is left of it, so a resumed run computes as it started."""
    return max(1, cores() // parallel)


LOG = "study.log"  # a parallel run's own output, in its work folder


def run_parallel(jobs: list[Job], child_args: Callable[[Job], list[str]], parallel: int,
                 say: Callable[[str], None], force: bool = False) -> list[str]:
    """Train the jobs `parallel` at a time, each in a process of its own (`child_args(job)` is its
    command line, with its share of the cores) writing to its work folder's log. Returns the
    failed runs' names."""
    progress, pending, running, failed = Progress(jobs, force), list(jobs), {}, []
    while pending or running:
        while pending and len(running) < parallel:
            job = pending.pop(0)
            at = 0 if force else steps_done(job)
            job.work.mkdir(parents=True, exist_ok=True)
            with open(job.work / LOG, "w") as log:
                running[job] = (subprocess.Popen(child_args(job), stdout=log, stderr=subprocess.STDOUT,
                                                 preexec_fn=_die_with_parent), time.monotonic())
            say(progress.line(job, f"resuming at step {at}" if at else "started"))
        time.sleep(0.5)
        for job, (proc, t0) in list(running.items()):
            if proc.poll() is None:
                continue
            del running[job]
            try:  # the work folder goes when a run ends well
                last = ((job.work / LOG).read_text().strip().splitlines() or [""])[-1]
            except OSError:
                last = ""
            if proc.returncode == 0:
                progress.finish(job)
                say(progress.line(job, f"done in {format_duration(time.monotonic() - t0)} ({last or 'trained'})"))
            else:
                say(progress.line(job, f"failed: {last or f'exit code {proc.returncode}'} (log: {job.work / LOG})"))
                failed.append(job.name)
    return failed


def _die_with_parent() -> None:
    """A training process ends with the study that started it (Linux's PR_SET_PDEATHSIG), so a
    killed study leaves no orphan holding a seed's lock."""
    try:
        import ctypes
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def child_command(argv: list[str]) -> list[str]:
    """This interpreter running the CLI with `argv`."""
    return [sys.executable, "-m", "ganviz", *argv]
