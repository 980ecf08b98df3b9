"""`ganviz study`: a paired multi-seed comparison that resumes after a kill, shards over
processes and refuses bad input in one line, with the same bundles every way it is run."""
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_same_picture

from ganviz import runner
from ganviz.cli import main
from ganviz.config import BOOK_PAIR
from ganviz.errors import UserError
from ganviz.store.bundle import GENERATOR, load_bundle, read_weights, save_weights
from ganviz.view.weights import weight_shapes

ARGS = ["--dataset", "doodles:camel:64", "--variants", "upsample,transpose", "--steps", "8", "--batch", "8",
        "--measure-size", "8", "--no-verdicts", "--quiet"]
FOLDERS = ("doodles-camel-64-s0", "doodles-camel-64-s1")


def _study(out, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ganviz", "study", *ARGS, "--out", str(out), *extra]


def _same_bundles(a, b, exact: bool = True) -> None:
    """Every bundle of study `a` has the weights, curves and frames of study `b`'s: bit for bit,
    or (runs on other thread counts, where oneDNN sums in another order and RMSprop carries the
    last bits on) apart by under 1% of how far the weights moved from their start in 8 steps
    (measured on an AMD EPYC: 0.0004-0.0007 of it)."""
    for folder in FOLDERS:
        for variant in BOOK_PAIR:
            x, y = load_bundle(a / folder / variant), load_bundle(b / folder / variant)
            assert y.meta["steps_done"] == 8 and y.meta["status"] == "finished"
            shapes = weight_shapes(x.config, variant)
            wx, wy = (read_weights(p / folder / variant / GENERATOR, shapes) for p in (a, b))
            if exact:
                assert all(np.array_equal(wx[k], wy[k]) for k in shapes), folder
            else:
                w0 = _initial_generator(x.config, variant, shapes)
                flat = lambda w: np.concatenate([w[k].ravel() for k in shapes])
                apart, moved = np.linalg.norm(flat(wx) - flat(wy)), np.linalg.norm(flat(wx) - flat(w0))
                assert apart < 0.01 * moved, (folder, variant, apart, moved)
            for m in x.history:
                assert np.array_equal(x.history[m], y.history[m]) if exact else \
                    np.allclose(x.history[m], y.history[m], atol=0.02), (folder, m)
            if exact:
                assert np.array_equal(x.timeline, y.timeline)
            else:
                assert_same_picture(x.timeline, y.timeline)


def _initial_generator(config, variant: str, shapes) -> dict:
    """The generator's weights before its first step, as its run built them."""
    from ganviz.gan.training import GAN
    with tempfile.TemporaryDirectory() as folder:
        save_weights(GAN(config, variant).generator, Path(folder) / GENERATOR)
        return read_weights(Path(folder) / GENERATOR, shapes)


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    """Seeds 0-1 of the book's pair, uninterrupted, one run at a time."""
    out = tmp_path_factory.mktemp("whole")
    subprocess.run(_study(out, "--seeds", "0-1", "--parallel", "1"), check=True, timeout=600)
    return out


def test_a_study_pairs_each_seeds_variants(whole):
    for folder in FOLDERS:
        first = {v: load_bundle(whole / folder / v).history["d_loss_real"][0] for v in BOOK_PAIR}
        assert first["upsample"] == first["transpose"]  # same first real batch, same initial discriminator
        assert sorted(p.name for p in (whole / folder).iterdir()) == sorted(BOOK_PAIR)  # no work folder left
    a, b = (load_bundle(whole / f / "upsample").history["d_loss_real"][0] for f in FOLDERS)
    assert a != b  # and seeds differ


def test_a_study_killed_resumes_to_the_same_bundles(whole, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(_study(out, "--seeds", "0-1", "--parallel", "1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = out / FOLDERS[1] / ".training-upsample-transpose" / "checkpoint.npz"
    deadline = time.time() + 300
    while not checkpoint.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    time.sleep(0.5)  # into the second seed's steps
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL, "the study ended before it was killed"
    assert (out / FOLDERS[0] / "upsample").is_dir() and not (out / FOLDERS[1] / "upsample").exists()
    done = subprocess.run(_study(out, "--seeds", "0-1", "--parallel", "1"), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "resumed at step" in done.stdout or "from step 0" in done.stdout
    _same_bundles(whole, out)


def test_two_shards_give_the_bundles_of_one_process(whole, tmp_path):
    procs = [subprocess.Popen(_study(tmp_path, "--seeds", "0-1", "--parallel", "1", "--shard", f"{i}/2"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    _same_bundles(whole, tmp_path)


def test_parallel_runs_each_seed_in_a_process_of_its_own(whole, tmp_path, capfd):
    """Two at once, a thread each: the same runs as one at a time, to float tolerance (oneDNN
    sums in another order on one thread), one line per run with the study's ETA."""
    assert main(["study", *ARGS[:-1], "--out", str(tmp_path), "--seeds", "0-1", "--parallel", "2"]) == 0
    out = capfd.readouterr().out
    assert out.count(": started · ") == 2 and "2 of 2 runs done · study ETA 0:00" in out
    _same_bundles(whole, tmp_path, exact=False)


def test_a_study_skips_what_is_done_and_refuses_another_recipe(whole, capsys):
    before = {p: p.stat().st_mtime_ns for p in whole.rglob("*")}
    assert main(["study", *ARGS, "--out", str(whole), "--seeds", "0-1"]) == 0
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*")} == before
    capsys.readouterr()
    assert main(["study", *ARGS, "--out", str(whole), "--seeds", "0-1", "--steps", "9"]) == 2
    err = capsys.readouterr().err.strip()
    assert "holds runs of another recipe (steps 8 there, 9 asked)" in err and "--force" in err and "\n" not in err
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*")} == before


def test_a_seed_another_process_holds_fails_alone(tmp_path, capsys):
    """One run at a time, as in parallel: a seed that cannot run is reported and the rest train."""
    held = runner.lock_run(tmp_path / FOLDERS[0] / ".training-upsample-transpose")
    try:
        assert main(["study", *ARGS, "--out", str(tmp_path), "--seeds", "0-1", "--parallel", "1"]) == 2
    finally:
        held.close()
    out, err = capsys.readouterr()
    assert "another process is training this run" in out
    assert err.strip() == f"error: 1 run failed ({FOLDERS[0]} (upsample, transpose)); rerun the same command to resume them"
    assert all((tmp_path / FOLDERS[1] / v / "config.json").is_file() for v in BOOK_PAIR)
    assert not (tmp_path / FOLDERS[0] / "upsample").exists()


@pytest.mark.parametrize("extra, message", [
    (["--variants", "upsample,nearest"], "unknown 'nearest'; choose from upsample, transpose"),
    (["--seeds", "5-2"], "the range 5-2 is reversed"),
    (["--seeds", ""], "give seeds as 0-9"),
    (["--seeds", "0-100000000"], "seeds run from 0 to 2147483647, at most 1000 in a study"),
    (["--seeds", "2147483648"], "seeds run from 0 to 2147483647"),
    (["--seeds", "0-3", "--shard", "2/2"], "the index must be from 0 to 1"),
    (["--seeds", "0-3", "--shard", "x"], "give I/N"),
    (["--seeds", "0", "--shard", "1/2"], "shard 1/2 has no seeds"),
    (["--dataset", "doodles:unicorn"], "unicorn"),
])
def test_bad_study_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    assert main(["study", *ARGS, "--out", str(tmp_path / "s"), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert not (tmp_path / "s").exists()


def test_shards_from_a_job_array():
    assert runner.parse_shard(None, {}) == (0, 1)
    assert runner.parse_shard("1/4", {"SLURM_ARRAY_TASK_ID": "3", "SLURM_ARRAY_TASK_COUNT": "9"}) == (1, 4)
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "4", "SLURM_ARRAY_TASK_COUNT": "3"}
    assert runner.parse_shard(None, slurm) == (1, 3)  # --array=4-6: the second task
    assert runner.parse_shard(None, {"JOB_COMPLETION_INDEX": "2"}, count=3) == (2, 3)
    with pytest.raises(UserError, match="--shard-count"):
        runner.parse_shard(None, {"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(UserError, match="from JOB_COMPLETION_INDEX"):
        runner.parse_shard(None, {"JOB_COMPLETION_INDEX": "3"}, count=3)
    with pytest.raises(UserError, match="SLURM_ARRAY_TASK_ID='%a': a job array's task variables must be whole"):
        runner.parse_shard(None, {"SLURM_ARRAY_TASK_ID": "%a", "SLURM_ARRAY_TASK_COUNT": "3"})
    assert runner.parse_seeds("0,2,5-7,2") == [0, 2, 5, 6, 7]
    assert runner.parse_variants("transpose,upsample") == BOOK_PAIR


def test_the_eta_weighs_each_step_by_the_generators_it_trains(monkeypatch, tmp_path):
    """A pair's seed done, one of four operators in lockstep left: twice the pair's work remains."""
    from ganviz.config import GANConfig
    pair = runner.Job(GANConfig(steps=10), BOOK_PAIR, tmp_path / "s0")
    four = runner.Job(GANConfig(steps=10), ("subpixel", "bilinear", "transpose4", "transpose_blur"), tmp_path / "s1")
    monkeypatch.setattr(runner, "steps_done", lambda job: 0)
    progress = runner.Progress([pair, four])
    progress.t0 -= 100  # the pair's 10 steps took 100 s
    progress.finish(pair)
    assert progress.line(pair, "done").endswith("1 of 2 runs done · study ETA 3:20")


def test_parallel_auto_fits_cores_and_memory():
    assert runner.auto_parallel(cpus=2, memory=24_000) == 2
    assert runner.auto_parallel(cpus=16, memory=4_000) == 5  # (4,000 - 600) // 570 MB a training
    assert runner.auto_parallel(cpus=2, memory=900) == 1


def test_pretrain_is_a_study_of_the_shipped_recipe_slim(tmp_path, monkeypatch, capsys):
    """Operators beyond the book's pair train beside the seed's pair and join its folder, so the
    page finds one run with every operator; bundles ship without discriminator, in float16."""
    import h5py

    from ganviz import cli
    from ganviz.dashboard.runs import find_runs
    monkeypatch.setattr(cli, "PRETRAINED", (("doodles:camel:64", BOOK_PAIR, range(1)),
                                            ("doodles:camel:64", ("transpose4",), range(1))))
    argv = ["pretrain", "--out", str(tmp_path), "--steps", "2", "--measure-size", "8", "--parallel", "1", "--quiet"]
    assert main(argv) == 0
    folder = tmp_path / "doodles-camel-64-s0"
    assert sorted(p.name for p in folder.iterdir()) == ["transpose", "transpose4", "upsample"]  # nothing hidden left
    (run,) = find_runs("pretrained", tmp_path)
    assert list(run.bundles) == ["upsample", "transpose", "transpose4"]
    for variant in run.bundles:
        assert sorted(p.name for p in (folder / variant).iterdir()) == \
            ["config.json", "generator.weights.h5", "history.npz", "timeline.npz"]
        with h5py.File(folder / variant / "generator.weights.h5", "r") as f:
            assert f["generator_conv_0/kernel"].dtype == np.float16
    first = {v: load_bundle(folder / v).history["d_loss_real"][0] for v in run.bundles}
    assert first["transpose4"] == first["upsample"] == first["transpose"]
    # a work folder left by a kill after its bundles moved in goes on the next call
    (folder / ".training-transpose4" / "transpose4").mkdir(parents=True)
    capsys.readouterr()
    assert main(argv) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["transpose", "transpose4", "upsample"]


def test_report_prints_the_verdicts_and_writes_their_table(whole, tmp_path, capsys):
    import json
    assert main(["report", str(whole), "--out", str(tmp_path / "r.html"), "--json", str(tmp_path / "t.json")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Conv2DTranspose against UpSampling2D + Conv2D, 2 paired seeds:")
    rows = json.loads((tmp_path / "t.json").read_text())
    final = {r["measure"]: r for r in rows if r["moment"] == "final"}
    assert len(final) == 10 and {r["moment"] for r in rows} == {"step 0", "step 8", "final"}
    corner = final["corner"]
    assert corner["seeds"] == [0, 1] and len(corner["differences"]) == 2
    assert corner["mean"] == pytest.approx(np.mean(corner["differences"]))
    assert corner["low"] <= corner["mean"] <= corner["high"]
