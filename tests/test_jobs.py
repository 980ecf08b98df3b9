"""The dashboard's trainings run in processes of their own: limited, queued, steered by their
page, stopped when it goes away, interrupted (and resumable) when killed, never outliving the
server. Tiny runs: a few steps on 40 doodles."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ganviz import data
from ganviz.config import TRAINING_MB, GANConfig
from ganviz.dashboard.jobs import Trainings, check_resumable
from ganviz.dashboard.runs import new_run, resumable_runs
from ganviz.errors import DataError, UserError
from ganviz.hostmem import charge_mb
from ganviz.store.bundle import checkpoint_progress, load_bundle

ROOT = Path(__file__).parents[1]
CFG = GANConfig(dataset="doodles:camel:40", batch_size=8, measure_size=8)


@pytest.fixture(scope="module")
def fingerprint():
    return data.load(CFG.dataset).fingerprint


def _until(what, jobs=(), timeout: float = 240) -> None:
    """Wait for `what()`, touching `jobs` as their open pages do."""
    deadline = time.time() + timeout
    while not what():
        assert time.time() < deadline, "timed out"
        for job in jobs:
            job.touch()
        time.sleep(0.1)


def _hold(seconds: float, jobs) -> None:
    end = time.time() + seconds
    _until(lambda: time.time() > end, jobs)


def _step(job) -> int:
    live = job.live()
    return live.step if live else -1


def test_trainings_are_admitted_by_the_memory_left(tmp_path):
    """The arithmetic of admission, on any host (tests/test_small_host.py runs it for real in a
    cgroup): room for two trainings beside the server, for one (the rest wait for memory, and
    say so), for none (a start is refused in one line, and nothing is queued)."""
    for room, at_once, says in ((10.0, 2, "waiting for a free slot: this server trains 2 runs"),
                                (1.5, 1, "waiting for memory: 1 training at a time"), (0.5, 0, None)):
        pool = Trainings(limit=2, memory_mb=charge_mb() + room * TRAINING_MB)
        try:
            assert pool.at_once() == at_once
            if says:
                assert pool.waiting_for().startswith(says), pool.waiting_for()
            else:
                with pytest.raises(UserError, match="this server cannot train: it has .* viewing works as usual"):
                    pool.submit("owner", tmp_path)
                assert pool.job_of("owner") is None
        finally:
            pool.close()


def test_trainings_are_processes_that_obey_their_page_queue_and_stop_when_it_goes(tmp_path, fingerprint):
    pool = Trainings(limit=1, orphan_after_s=4, nice=0)
    try:
        long = new_run(tmp_path, CFG.replace(steps=10_000), ("upsample",), fingerprint, False)
        a = pool.submit("owner-a", long)
        b = pool.submit("owner-b", new_run(tmp_path, CFG.replace(steps=2), ("transpose",), fingerprint, False))
        c = pool.submit("owner-c", new_run(tmp_path, CFG.replace(steps=2), ("transpose",), fingerprint, False))
        assert (a.state, pool.position(b), pool.position(c)) == ("running", 1, 2)
        assert a.process.pid != os.getpid() and pool.job_of("owner-a") is a
        with pytest.raises(UserError, match="already running or queued"):  # one training per owner (two tabs)
            pool.submit("owner-a", new_run(tmp_path, CFG, ("upsample",), fingerprint, False))

        _until(lambda: _step(a) >= 2, [a, b])  # c's page never polls: it leaves the queue
        assert c.done and c.error == "left the queue: the browser session went away"
        assert not c.out_dir.exists()  # it held only a run.json
        a.pause()
        _until(lambda: a.live().paused, [a, b], 30)
        held = _step(a)
        _hold(1.5, [a, b])
        assert _step(a) == held  # nothing moves while paused
        a.resume()
        _until(lambda: _step(a) > held, [a, b], 60)
        a.stop()
        _until(lambda: a.done, [a, b], 120)
        assert a.error == "" and load_bundle(long / "upsample").meta["status"] == "stopped"
        assert a.process.returncode == 0 and pool.position(b) == 0  # the slot went to b

        _until(lambda: b.done, [b])
        assert b.error == "" and [p.name for p in b.saved] == ["transpose"]
        assert load_bundle(b.saved[0]).meta["status"] == "finished"

        d = pool.submit("owner-d", new_run(tmp_path, CFG.replace(steps=10_000), ("upsample",), fingerprint, False))
        _until(lambda: _step(d) >= 1, [d])  # then its tab closes: no more polling
        _until(lambda: d.done, timeout=120)
        assert "browser session went away" in d.error and d.saved  # stopped, and what it trained was saved
    finally:
        pool.close()


def test_a_bad_run_is_refused_in_one_line_from_its_process(tmp_path):
    out = tmp_path / "bad"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"config": CFG.replace(dataset="doodles:unicorn").to_dict(),
                                              "variants": ["upsample"], "data_fingerprint": "x"}))
    pool = Trainings(limit=1, nice=0)
    job = pool.submit("owner", out)
    _until(lambda: job.done, [job], 120)
    pool.close()
    assert job.error.startswith("unknown doodles class 'unicorn'") and "\n" not in job.error


def test_a_killed_training_is_interrupted_and_resumes_exactly(tmp_path, fingerprint):
    from ganviz.gan.training import Trainer
    cfg = CFG.replace(steps=12)
    out = new_run(tmp_path, cfg, ("transpose",), fingerprint, False)
    assert resumable_runs(tmp_path) == [(out, 0, 12)]  # cut off before its first checkpoint: from step 0
    pool = Trainings(limit=1, nice=0)
    try:
        job = pool.submit("owner", out)
        _until(lambda: _step(job) >= 2, [job])
        job.pause()  # held part way, however fast this CPU runs the remaining steps
        _until(lambda: job.live().paused, [job], 30)
        job.process.send_signal(signal.SIGKILL)  # as the out-of-memory killer would
        _until(lambda: job.done, [job], 60)
        assert job.error.startswith("interrupted: the training process was killed (SIGKILL)")
        assert job.live().status == "interrupted"  # not "running" for ever: what its viewers see too
        step, steps = checkpoint_progress(out)
        assert resumable_runs(tmp_path) == [(out, step, 12)] and step < 12

        other = tmp_path / "other"  # the same run, but its images changed since: refused before any process
        __import__("shutil").copytree(out, other)
        with np.load(other / "checkpoint.npz") as npz:
            state = dict(npz)
        state["meta"] = np.array(json.dumps({**json.loads(str(state["meta"])), "data_fingerprint": "x"}))
        np.savez(other / "checkpoint.npz", **state)
        with pytest.raises(DataError, match="not the images the run trained on"):
            check_resumable(other)

        check_resumable(out)
        resumed = pool.submit("owner", out)
        _until(lambda: resumed.done, [resumed])
        assert resumed.error == "" and resumable_runs(tmp_path) == [(other, step, 12)]
    finally:
        pool.close()
    reference = Trainer(cfg, data.load(cfg.dataset).images, ("transpose",)).run()
    bundle = load_bundle(out / "transpose")
    for metric, values in reference.history["transpose"].items():  # every loss of every step
        np.testing.assert_allclose(bundle.history[metric], values, rtol=1e-6, err_msg=metric)


def test_no_training_outlives_the_server(tmp_path, fingerprint):
    """The server dies without a word (SIGKILL): its training sees its stdin end, saves, exits."""
    out = new_run(tmp_path, CFG.replace(steps=10_000), ("upsample",), fingerprint, False)
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom ganviz.dashboard.jobs import Trainings\n"
         f"job = Trainings(nice=0).submit('owner', Path({str(out)!r}))\n"
         "print(job.process.pid, flush=True)\n"
         "while True:\n    job.touch()\n    time.sleep(0.2)\n"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child = int(server.stdout.readline())
    _until(lambda: (out / "live.npz").exists())
    server.kill()
    server.wait()
    deadline = time.time() + 120
    while _alive(child):
        assert time.time() < deadline, "the training outlived its server"
        time.sleep(0.2)
    assert load_bundle(out / "upsample").meta["status"] == "stopped"


def _alive(pid: int) -> bool:
    """Whether the process runs (a zombie, ended but not reaped by its new parent yet, counts as ended)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] != "Z"
    except OSError:
        return False
