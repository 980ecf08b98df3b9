import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from conftest import keras_generator, keras_gan
from ganviz.cli import main
from ganviz.data import fingerprint
from ganviz.gan.training import Trainer
from ganviz.store.bundle import BundleError, find_bundles, load_bundle, nearest_steps, save_bundles

A_PRETRAINED_BUNDLE = Path(__file__).parents[1] / "pretrained" / "doodles-camel-s1" / "upsample"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from ganviz.config import GANConfig
    from ganviz.data.doodles import make_doodles
    images = make_doodles(64, "camel", seed=3).reshape(-1, 28, 28)
    trainer = Trainer(GANConfig(steps=3, batch_size=8, measure_size=8, probe_size=4), images).run()
    out = tmp_path_factory.mktemp("runs")
    save_bundles(trainer, out)
    return trainer, out


def test_bundle_round_trip(trained):
    trainer, out = trained
    assert [p.name for p in find_bundles(out)] == ["transpose", "upsample"]
    b = load_bundle(out / "upsample")
    assert b.variant == "upsample" and b.meta["data_fingerprint"] == fingerprint(trainer.images) and b.meta["steps_done"] == 3
    assert np.allclose(b.history["g_loss"], trainer.history["upsample"]["g_loss"])
    assert list(b.timeline_steps) == trainer.recorded_steps
    # the stored weights are the ones that painted the stored last frame
    assert np.array_equal(keras_gan(b).sample(b.probe_z), b.timeline[-1])
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no temporaries left


def test_nearest_steps_picks_recorded_steps_once_each_in_order():
    recorded = np.array([0, 1, 3, 7, 63, 252, 1002, 2000])
    assert nearest_steps(recorded, [2000, 50, 200, 55]) == [63, 252, 2000]  # 50 and 55 both land on 63
    assert nearest_steps(recorded, []) == [] and nearest_steps(np.array([], int), [50]) == []


def test_halved_weights_load_as_float32_and_paint_within_one_grey_level(trained, tmp_path):
    from ganviz.store.bundle import halve_weights
    from ganviz.view.inference import NumpyGenerator
    _, out = trained
    shutil.copytree(out / "transpose", tmp_path / "transpose")
    path = tmp_path / "transpose" / "generator.weights.h5"
    halve_weights(path)
    with h5py.File(path, "r") as f:
        assert f["generator_conv_0/kernel"].dtype == np.float16
    before = path.stat().st_ino
    halve_weights(path)  # halved already: left alone (a rewrite would be a new file)
    assert path.stat().st_ino == before
    full, half = (NumpyGenerator.from_bundle(load_bundle(d / "transpose")) for d in (out, tmp_path))
    assert half.w["generator_conv_0/kernel"].dtype == np.float32
    assert not np.array_equal(half.w["generator_conv_0/kernel"], full.w["generator_conv_0/kernel"])
    z = np.random.default_rng(0).normal(size=(64, 100)).astype(np.float32)
    grey = lambda x: np.round((x + 1) * 127.5)
    assert np.abs(grey(full(z)) - grey(half(z))).max() <= 1
    keras_half = keras_generator(load_bundle(tmp_path / "transpose"))  # Keras reads it too
    assert np.abs(keras_half(z, training=False).numpy() - half(z)).max() < 1e-4


def test_an_array_float16_cannot_hold_stays_float32(tmp_path):
    from ganviz.store.bundle import halve_weights, read_weights
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as f:
        f["layer/small"], f["layer/huge"] = np.float32([0.5, -2.0]), np.float32([1e6, 1.0])
    halve_weights(path)
    with h5py.File(path, "r") as f:
        assert (f["layer/small"].dtype, f["layer/huge"].dtype) == (np.float16, np.float32)
    values = read_weights(path, {"layer/small": (2,), "layer/huge": (2,)})
    assert values["layer/huge"][0] == 1e6 and values["layer/small"].dtype == np.float32


def test_mixed_bfloat16_bundle_round_trip(tmp_path):
    """A bfloat16 run's bundle records its precision, reloads into bfloat16 models, and the
    float32 NumPy viewer draws the same images to bfloat16 precision."""
    from ganviz.config import GANConfig
    from ganviz.data.doodles import make_doodles
    from ganviz.view.inference import NumpyGenerator
    images = make_doodles(64, "camel", seed=3).reshape(-1, 28, 28)
    config = GANConfig(steps=2, batch_size=8, measure_size=8, probe_size=4, precision="mixed_bfloat16")
    save_bundles(Trainer(config, images, variants=("transpose",)).run(), tmp_path)
    b = load_bundle(tmp_path / "transpose")
    assert b.config.precision == "mixed_bfloat16"
    assert np.array_equal(keras_gan(b).sample(b.probe_z), b.timeline[-1])
    viewer = NumpyGenerator.from_bundle(b)(b.probe_z)
    keras_out = keras_generator(b)(b.probe_z, training=False).numpy()
    assert np.abs(viewer - keras_out).max() < 0.05 and not np.array_equal(viewer, keras_out)


@pytest.mark.parametrize("damage, message", [
    (lambda p: (p / "history.npz").unlink(), "missing history.npz"),
    (lambda p: (p / "config.json").write_text("{not json"), "config.json: invalid"),
    (lambda p: (p / "config.json").write_text(json.dumps({"config": {"variant": "x"}})), "config.json: invalid"),
    (lambda p: (p / "timeline.npz").write_bytes(b"garbage"), "timeline.npz: unreadable"),
    (lambda p: np.savez(p / "timeline.npz", steps=np.zeros(2), images=np.zeros((2, 4, 28, 28)),
                        probe_z=np.zeros((4, 100)), spectra=np.zeros((2, 28, 28))), "unexpected shapes or types"),
    (lambda p: np.savez(p / "timeline.npz", **{**np.load(p / "timeline.npz"), "spectra": np.zeros((1, 28, 28))}),
     "unexpected shapes or types"),
])
def test_damaged_bundles_are_refused(trained, tmp_path, damage, message):
    import shutil
    target = tmp_path / "b"
    shutil.copytree(trained[1] / "transpose", target)
    damage(target)
    with pytest.raises(BundleError, match=message):
        load_bundle(target)


def test_mismatched_weights_are_refused(trained, tmp_path):
    import shutil
    target = tmp_path / "b"
    shutil.copytree(trained[1] / "transpose", target)
    shutil.copy(trained[1] / "upsample" / "discriminator.weights.h5", target / "generator.weights.h5")
    with pytest.raises(BundleError, match="weights do not match"):
        keras_gan(load_bundle(target))


def test_cli_sample_writes_a_grid(trained, tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", str(trained[1] / "transpose"), "--n", "6", "--scale", "3", "--out", str(out)]) == 0
    img = Image.open(out)
    assert img.size == ((3 * 29 + 1) * 3, (2 * 29 + 1) * 3)


@pytest.mark.parametrize("argv, message", [
    (["train", "--steps", "0", "--out", "x"], "--steps: 0 must be at least 1"),
    (["train", "--batch", "100000", "--out", "x"], "--batch: 100000 must be from 1 to 1024"),
    (["train", "--variant", "nearest", "--out", "x"], "invalid choice"),
    (["train", "--precision", "float16", "--out", "x"], "invalid choice"),
    (["train", "--dataset", "doodles:unicorn", "--steps", "1", "--out", "x"], "unknown doodles class"),
    (["sample", "/no/bundle"], "not a folder"),
    (["sample", "/no/bundle", "--n", "100000"], "--n: 100000 must be from 1 to 1024"),
    (["sample", "/no/bundle", "--seed", "-1"], "--seed: -1 must be from 0 to 2147483647"),
    (["train", "--seed", "2147483648", "--out", "x"], "--seed: 2147483648 must be from 0 to 2147483647"),
    (["classifier", "doodles", "mnist"], "no classifier recipe for 'mnist'; accepted: doodles, fashion-mnist"),
    (["load", "--viewers", "-3"], "--viewers: -3 must be at least 0"),
    (["sample", str(A_PRETRAINED_BUNDLE), "--out", "/no/folder/grid.png"],
     "/no/folder/grid.png: No such file or directory"),
    (["figures", "--pretrained", "/no/runs", "--out", "/no/docs"], "--pretrained /no/runs: not a folder"),
    (["frobnicate"], "invalid choice"),
])
def test_cli_bad_input_exits_2_with_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_a_run_another_process_trains_is_refused(tmp_path, capsys):
    """Two `train` calls on one folder would overwrite each other's checkpoints: the second is refused."""
    from ganviz import runner
    held = runner.lock_run(tmp_path / "x")
    try:
        assert main(["train", "--steps", "1", "--dataset", "doodles:camel:40", "--out", str(tmp_path / "x")]) == 2
    finally:
        held.close()
    err = capsys.readouterr().err.strip()
    assert "another process is training this run" in err and len(err.splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == [runner.LOCK]  # its run.json was not written


def test_cli_train_end_to_end(tmp_path):
    """The real command in a subprocess: two bundles, a progress bar, exit 0."""
    cmd = [sys.executable, "-m", "ganviz", "train", "--variant", "both", "--steps", "3", "--batch", "8",
           "--dataset", "doodles:camel:40", "--measure-size", "8", "--out", str(tmp_path / "x")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_no_log_level())
    assert proc.returncode == 0, proc.stderr
    assert "step 3/3" in proc.stderr and "img/s" in proc.stderr and "ETA" in proc.stderr
    # only ganviz's words: no absl, CUDA or oneDNN start-up lines from TensorFlow
    assert all(line.startswith("[") for line in proc.stderr.splitlines() if line), proc.stderr
    bundles = [load_bundle(p) for p in find_bundles(tmp_path / "x")]
    assert [b.variant for b in bundles] == ["transpose", "upsample"]
    assert all(b.config.measure_size == 8 and b.spectra.shape == (4, 28, 28) for b in bundles)  # 4 frames


def _no_log_level() -> dict[str, str]:
    """The environment of a user who never heard of TF_CPP_MIN_LOG_LEVEL."""
    import os
    return {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "GANVIZ_VERBOSE")}


def test_a_bad_data_file_is_refused_in_one_line_before_tensorflow_loads(tmp_path):
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a numpy file")
    code = ("import sys; from ganviz.cli import main; rc = main(sys.argv[1:]); "
            "print('tensorflow' in sys.modules); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "train", "--dataset", str(bad), "--out", str(tmp_path / "x")],
                          capture_output=True, text=True, timeout=120, env=_no_log_level())
    assert proc.returncode == 2 and proc.stdout.strip() == "False"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "bad.npy" in lines[0], proc.stderr
    assert not (tmp_path / "x").exists()  # nothing was started


def test_verbose_shows_tensorflows_own_logs(tmp_path):
    cmd = [sys.executable, "-m", "ganviz", "train", "--steps", "1", "--batch", "4", "--variant", "upsample",
           "--dataset", "doodles:camel:8", "--measure-size", "4", "--quiet", "--verbose", "--out", str(tmp_path / "x")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=_no_log_level())
    assert proc.returncode == 0  # whatever TensorFlow says on this machine, it is shown beside ganviz's words
    assert [line for line in proc.stderr.splitlines() if line and not line.startswith("[")], proc.stderr


def test_cli_report_is_one_self_contained_file(tmp_path):
    from ganviz.config import GANConfig
    from ganviz.data import load
    ds = load("doodles:camel:64")
    for seed in (0, 1):
        t = Trainer(GANConfig(dataset="doodles:camel:64", steps=2, batch_size=8, measure_size=8, seed=seed),
                    ds.images).run()
        save_bundles(t, tmp_path / "runs" / f"s{seed}")
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "runs"), "--out", str(out)]) == 0
    html = out.read_text()
    assert "Analysis over seeds: doodles:camel:64" in html and "4 generators in the analysis" in html
    assert html.count("Plotly.newPlot") >= 5 and "checkerboard" in html
    # the verdicts as on the page: the pair's headline, then its ten measures under it
    assert "<li><b>Conv2DTranspose</b> against UpSampling2D + Conv2D, 2 paired seeds:" in html
    verdicts = html.split("<h2>Analysis over seeds")[1].split("<h3>Where the power moved")[0]  # under the forest plot
    assert verdicts.count("<li><b>power at the checkerboard frequency</b>: ") == 1 and "**" not in verdicts
    assert main(["report", str(tmp_path / "nothing")]) == 2
    from ganviz.cli import _bundles_under
    assert len(_bundles_under([str(tmp_path / "runs"), str(tmp_path / "runs" / "s0" / "upsample")])) == 4
    # two recipes compared seed by seed need a seed in common
    assert main(["recipes", *(str(tmp_path / "runs" / s) for s in ("s0", "s1")), "--dataset", "doodles:camel:64"]) == 2


def test_cli_help_on_every_command():
    for argv in (["--help"], ["train", "--help"], ["sample", "--help"], ["pretrain", "--help"], ["report", "--help"],
                 ["bench", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0


def test_a_bundle_with_nan_weights_is_refused_in_one_line(trained, tmp_path, capsys):
    import shutil

    import h5py
    target = tmp_path / "diverged"
    shutil.copytree(trained[1] / "upsample", target)
    with h5py.File(target / "generator.weights.h5", "r+") as f:
        f["generator_dense/kernel"][...] = np.nan
    assert main(["sample", str(target), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip()
    assert "NaN or infinite" in err and "generator_dense/kernel" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x.png").exists()
