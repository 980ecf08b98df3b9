"""Crash safety: a training killed with SIGKILL at any moment resumes to the same numbers."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ganviz.bundle import load_bundle
from ganviz.cli import main

ARGS = ["--variant", "both", "--steps", "14", "--batch", "8", "--dataset", "doodles:camel:64", "--seed", "3",
        "--checkpoint-every", "2"]


def _train(out, extra=()):
    return [sys.executable, "-m", "ganviz", "train", *ARGS, "--out", str(out), *extra]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert subprocess.run(_train(out), capture_output=True, timeout=300).returncode == 0
    return out


@pytest.mark.parametrize("delay", [0.0, 0.7])
def test_sigkill_then_resume_matches_an_uninterrupted_run(uninterrupted, tmp_path, delay):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_train(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not (out / "checkpoint.npz").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(delay)  # at once, or somewhere in the middle of later steps and checkpoint writes
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert (out / "checkpoint.npz").exists()
    assert main(["train", "--resume", str(out)]) == 0
    for variant in ("upsample", "transpose"):
        a, b = load_bundle(uninterrupted / variant), load_bundle(out / variant)
        for metric, values in a.history.items():
            assert np.array_equal(values, b.history[metric]), (variant, metric)
        assert np.array_equal(a.timeline, b.timeline) and list(a.timeline_steps) == list(b.timeline_steps)
        assert b.meta["steps_done"] == 14
    assert not [p for p in os.listdir(out) if p.endswith(".tmp")]


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert main(["train", "--steps", "2"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err
