"""Crash safety: a training killed with SIGKILL at any moment resumes to the same numbers."""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ganviz.cli import main
from ganviz.errors import BundleError
from ganviz.store.bundle import checkpoint_progress, load_bundle, read_weights
from ganviz.view.weights import weight_shapes

ARGS = ["--variant", "both", "--steps", "14", "--batch", "8", "--dataset", "doodles:camel:64", "--seed", "3",
        "--measure-size", "8"]


def _train(out, extra=()):
    return [sys.executable, "-m", "ganviz", "train", *ARGS, "--out", str(out), *extra]


def _kill_when(out, ready, delay: float = 0.0, extra=()) -> None:
    """Start a training and SIGKILL it `delay` seconds after `ready()`; it must still be running."""
    proc = subprocess.Popen(_train(out, extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the training ended before it was killed"


def _steps_saved(out) -> int:
    try:
        return checkpoint_progress(out)[0]
    except BundleError:  # not written yet
        return -1


def _assert_same_run(a_dir, b_dir) -> None:
    for variant in ("upsample", "transpose"):
        a, b = load_bundle(a_dir / variant), load_bundle(b_dir / variant)
        for metric, values in a.history.items():
            assert np.array_equal(values, b.history[metric]), (variant, metric)
        assert np.array_equal(a.timeline, b.timeline) and list(a.timeline_steps) == list(b.timeline_steps)
        assert b.meta["steps_done"] == 14
        shapes = weight_shapes(a.config, variant)
        wa, wb = (read_weights(d / variant / "generator.weights.h5", shapes) for d in (a_dir, b_dir))
        assert all(np.array_equal(wa[k], wb[k]) for k in shapes)
    assert not [p for p in os.listdir(b_dir) if p.endswith(".tmp")]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("whole")
    assert subprocess.run(_train(out), capture_output=True, timeout=300).returncode == 0
    return out


@pytest.mark.parametrize("moment", ["starting", "before the first checkpoint", "after checkpoints"])
def test_sigkill_then_resume_matches_an_uninterrupted_run(uninterrupted, tmp_path, moment):
    """Killed while TensorFlow loads (only run.json exists), after the step-0 checkpoint but
    before the first periodic one (cadence 50 > 14 steps), or amid checkpoints every 2 steps."""
    out = tmp_path / "killed"
    if moment == "starting":
        _kill_when(out, (out / "run.json").exists)
        assert not (out / "checkpoint.npz").exists()
    elif moment == "before the first checkpoint":
        _kill_when(out, (out / "checkpoint.npz").exists, 0.5)
        assert _steps_saved(out) == 0
    else:
        _kill_when(out, lambda: _steps_saved(out) >= 2, 0.0, ["--checkpoint-every", "2"])
        assert 2 <= _steps_saved(out) < 14
    assert main(["train", "--resume", str(out), "--quiet"]) == 0
    _assert_same_run(uninterrupted, out)


def test_resume_checks_the_training_images(tmp_path, capsys):
    out = tmp_path / "run"
    _kill_when(out, (out / "run.json").exists)
    meta = json.loads((out / "run.json").read_text())
    (out / "run.json").write_text(json.dumps({**meta, "data_fingerprint": "0123456789abcdef"}))
    assert main(["train", "--resume", str(out)]) == 2
    assert "not the images the run trained on" in capsys.readouterr().err


def test_resume_without_a_checkpoint_is_a_clear_error(tmp_path, capsys):
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "no checkpoint to resume from" in capsys.readouterr().err
    assert main(["train", "--steps", "2"]) == 2
    assert "--out DIR is required" in capsys.readouterr().err


def test_a_diverged_run_keeps_its_last_good_checkpoint(tmp_path):
    import tensorflow as tf

    from ganviz import data
    from ganviz.config import GANConfig
    from ganviz.errors import Diverged
    from ganviz.gan import run
    from ganviz.store.bundle import load_checkpoint

    def blow_up_after_step_3(trainer):  # as if the 4th update had made the weights NaN
        if trainer.step == 3:
            w = trainer.gans["transpose"].generator.weights[0]
            w.assign(tf.fill(w.shape, float("nan")))
    cfg = GANConfig(dataset="doodles:camel:40", steps=400, batch_size=8, measure_size=8)
    trainer = run.start(cfg, ("transpose",), data.load(cfg.dataset).images, tmp_path, blow_up_after_step_3)
    with pytest.raises(Diverged, match="learning rates"):
        run.train(trainer, tmp_path, every=2)
    assert checkpoint_progress(tmp_path) == (2, 400)  # the last periodic checkpoint, from before the NaN
    _, _, arrays = load_checkpoint(tmp_path)
    assert all(np.isfinite(a).all() for k, a in arrays.items() if "/var/" in k)
    assert load_bundle(tmp_path / "transpose").meta["status"].startswith("diverged")
