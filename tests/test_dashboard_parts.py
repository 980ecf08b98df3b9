"""Dashboard logic without Streamlit: runs, view state, bundle zips, the report, the explainer."""
import io
import re
import zipfile

import numpy as np
import pytest

from ganviz.config import GANConfig
from ganviz.dashboard import VIEWS, ViewState, bundle_zip, find_runs, import_bundle_zip
from ganviz.gan.training import Trainer
from ganviz.present import explain
from ganviz.present.charts import smooth
from ganviz.present.report import build_report
from ganviz.store.bundle import BundleError, find_bundles, load_bundle, save_bundles
from ganviz.view.compare import compare


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from ganviz.data.doodles import make_doodles
    images = make_doodles(48, "camel", seed=4).reshape(-1, 28, 28)
    trainer = Trainer(GANConfig(steps=2, batch_size=8, probe_size=4), images).run()
    root = tmp_path_factory.mktemp("pre")
    save_bundles(trainer, root / "camel-s0")
    return root, trainer, images


def test_find_runs_groups_variants(run_dir, tmp_path):
    root, _, _ = run_dir
    runs = find_runs({"pretrained": root, "yours": tmp_path / "none"})
    assert [r.name for r in runs] == ["pretrained/camel-s0"]
    assert list(runs[0].bundles) == ["upsample", "transpose"]


def test_view_state_round_trip_and_validation():
    s = ViewState(run="a", seed=3, step=10, view="Training", smooth=0.25)
    back, problems = ViewState.from_query(s.to_query(), ["a", "b"])
    assert back == s and problems == []
    bad, problems = ViewState.from_query({"seed": "x", "smooth": "2", "view": "Zzz", "run": "c"}, ["a"])
    assert bad == ViewState(run="a") and len(problems) == 4
    assert ViewState().view == VIEWS[0]


def test_bundle_zip_round_trip(run_dir, tmp_path):
    root, _, _ = run_dir
    src = root / "camel-s0" / "transpose"
    path = import_bundle_zip(bundle_zip(src), tmp_path)
    assert path.name == "transpose" and load_bundle(path).meta == load_bundle(src).meta
    assert find_bundles(tmp_path) == [path]


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_zips_are_refused_and_never_escape(run_dir, tmp_path):
    root, _, _ = run_dir
    src = root / "camel-s0" / "upsample"
    good = {f"b/{p.name}": p.read_bytes() for p in src.iterdir()}
    cases = {
        b"not a zip": "not a zip file",
        _zip({"b/config.json": b"{}"}): "missing",
        _zip({**good, "b/config.json": b"{broken"}): "config.json: invalid",
        _zip({**good, "b/generator.weights.h5": b"HDF5 lies"}): "unreadable weights file",
    }
    for data, message in cases.items():
        with pytest.raises(BundleError, match=message):
            import_bundle_zip(data, tmp_path / "in")
    # names that climb out of the folder are used only for their last part
    slip = _zip({f"../../{p.name}": p.read_bytes() for p in src.iterdir()})
    path = import_bundle_zip(slip, tmp_path / "in")
    assert path.is_relative_to(tmp_path / "in") and not (tmp_path.parent / "config.json").exists()
    assert not list((tmp_path / "in").glob("*/bundle"))  # refused uploads left nothing behind


def test_report_is_self_contained(run_dir):
    root, trainer, images = run_dir
    comp = compare({v: g.generator for v, g in trainer.gans.items()}, images, seed=1, n=8)
    html = build_report("r", comp, {v: {k: np.array(x) for k, x in h.items()} for v, h in trainer.history.items()},
                        images, ["note"])
    assert len(re.findall(r"<img alt=\"[^\"]*\" src=\"data:image/png;base64,", html)) == 4  # samples + nearest, per variant
    assert "Plotly.newPlot" in html and html.count("<script") >= 2
    external = re.findall(r'<script[^>]+src="(http[^"]+)"', html)
    assert external == []  # plotly.js is inlined, nothing to fetch


def test_compare_uses_the_same_z_for_every_variant(run_dir):
    _, trainer, images = run_dir
    generators = {v: g.generator for v, g in trainer.gans.items()}
    a = compare(generators, images, seed=3, n=4)
    b = compare({"transpose": generators["transpose"]}, images, seed=3, n=4)
    assert np.array_equal(a.samples["transpose"], b.samples["transpose"])
    assert a.distances["upsample"].shape == (4,) and (a.distances["upsample"] > 0).all()
    c = compare(generators, images, seed=3, n=130)  # more than one generation batch
    assert np.array_equal(c.samples["transpose"][:4], a.samples["transpose"])


def test_overlap_map_for_kernel_5_stride_2_matches_the_analytic_pattern():
    m = explain.overlap_map(5, 2, size=8)
    interior = m[4:-4, 4:-4]
    # per axis, output pixels alternate between ceil(5/2)=3 and floor(5/2)=2 taps: 9, 6, 4 in 2D
    assert set(np.unique(interior)) == {4, 6, 9}
    assert np.array_equal(explain.overlap_pattern(5, 2), np.array([[9, 6], [6, 4]]))
    assert np.unique(explain.overlap_map(4, 2, 8)[4:-4, 4:-4]).tolist() == [4]  # divisible: even
    assert m.sum() == 8 * 8 * 25  # every tap lands somewhere


def test_operator_demo_shapes_and_zero_insertion():
    d = explain.operator_demo(np.eye(3))
    assert d["nearest upsample"].shape == (6, 6) and (d["nearest upsample"][:2, :2] == 1).all()
    assert d["zero insertion"][1::2].sum() == 0 and d["zero insertion"][::2, ::2].sum() == 3


def test_smoothing():
    x = np.array([0.0, 10.0, 10.0])
    assert np.array_equal(smooth(x, 0), x)
    s = smooth(x, 0.5)
    assert s[0] == 0 and 0 < s[1] < 10 and s[1] < s[2] < 10


def test_save_uploads_checks_first_and_returns_a_spec(tmp_path):
    from test_files import STROKE, _npy, _png

    from ganviz import data
    from ganviz.dashboard import save_uploads
    from ganviz.errors import DataError

    spec = save_uploads([("camels.npy", _npy(np.tile(STROKE, (4, 1, 1))))], tmp_path)
    assert data.load(spec).images.shape == (4, 28, 28)
    spec = save_uploads([("a.png", _png(255 - STROKE)), ("../../b.JPG", _png(255 - STROKE, "JPEG"))], tmp_path)
    images = data.load(spec).images
    assert images.shape == (2, 28, 28) and images[0, 14, 14] > 200  # dark-on-white detected and inverted
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    kept = set(tmp_path.rglob("*"))
    with pytest.raises(DataError, match="bad.npy: the file is empty"):
        save_uploads([("a.png", _png(STROKE)), ("bad.npy", b"")], tmp_path)
    with pytest.raises(DataError, match="several files can only be PNG/JPEG"):
        save_uploads([("a.png", _png(STROKE)), ("b.npy", _npy(np.zeros((1, 784), np.uint8)))], tmp_path)
    assert set(tmp_path.rglob("*")) == kept  # refused uploads leave nothing behind


def test_training_jobs_are_limited_queued_and_stop_when_the_page_goes_away(tmp_path, monkeypatch):
    import time as _time

    from ganviz import dashboard
    monkeypatch.setattr(dashboard, "ORPHAN_AFTER_S", 1.5)
    monkeypatch.setattr(dashboard, "MAX_TRAININGS", 1)
    monkeypatch.setattr(dashboard, "_slots", __import__("threading").BoundedSemaphore(1))
    from ganviz.data.doodles import make_doodles
    images = make_doodles(32, "camel", seed=1).reshape(-1, 28, 28)
    cfg = GANConfig(steps=10_000, batch_size=8)
    job = dashboard.TrainingJob.start(cfg, ("transpose",), tmp_path / "a", images)
    # the server's one slot is taken: the next jobs wait in line, in order
    second = dashboard.TrainingJob.start(cfg.replace(steps=2), ("transpose",), tmp_path / "b", images)
    third = dashboard.TrainingJob.start(cfg.replace(steps=2), ("transpose",), tmp_path / "c", images)
    assert (second.trainer, second.position, third.position) == (None, 1, 2)
    job.trainer.pause()  # even a paused job nobody watches is stopped; the third's page is gone too
    _wait(second, lambda: second.done, timeout=180)  # only the second's page keeps polling
    assert job.done and "browser session went away" in job.error
    assert job.trainer.status == "stopped"
    assert (job.saved and load_bundle(job.saved[0]).meta["status"] == "stopped") or job.trainer.step == 0
    assert second.trainer.status == "finished" and len(second.saved) == 1 and second.position == 0
    deadline = _time.time() + 30
    while not third.done and _time.time() < deadline:
        _time.sleep(0.2)
    assert third.done and third.trainer is None and third.error.startswith("left the queue")
    # a job cancelled from its page leaves the queue too, and the slot serves the next
    blocker = dashboard.TrainingJob.start(cfg, ("transpose",), tmp_path / "d", images)
    waiting = dashboard.TrainingJob.start(cfg.replace(steps=2), ("transpose",), tmp_path / "e", images)
    waiting.cancel()
    _wait(waiting, lambda: waiting.done)
    assert waiting.error == "left the queue" and waiting.trainer is None
    blocker.trainer.stop()
    _wait(blocker, lambda: blocker.done)


def _wait(job, until, timeout: float = 60) -> None:
    import time as _time
    deadline = _time.time() + timeout
    while not until() and _time.time() < deadline:
        job.touch()  # as the page's heartbeat does
        _time.sleep(0.05)
    assert until(), "timed out"


def test_a_stopped_dashboard_run_is_offered_and_resumes_exactly(tmp_path, monkeypatch):
    from ganviz import dashboard, data
    from ganviz.errors import DataError
    from ganviz.gan import run
    from ganviz.gan.training import Trainer
    monkeypatch.setattr(run, "CHECKPOINT_EVERY", 2)
    cfg = GANConfig(dataset="doodles:camel:40", steps=8, batch_size=8)
    root = tmp_path / "runs"
    ds = data.load(cfg.dataset)
    images = ds.images
    job = dashboard.TrainingJob.start(cfg, ("transpose",), root / "a", images)
    _wait(job, lambda: job.trainer.step >= 3)
    job.trainer.stop()
    _wait(job, lambda: job.done)
    stopped_at = job.trainer.step
    assert 3 <= stopped_at < 8
    assert dashboard.resumable_runs(root) == [(root / "a", stopped_at, 8)]

    # a run whose training images are not the ones the spec now loads is not continued
    import json
    import shutil
    shutil.copytree(root / "a", tmp_path / "other")
    with np.load(tmp_path / "other" / "checkpoint.npz") as npz:
        state = dict(npz)
    state["meta"] = np.array(json.dumps({**json.loads(str(state["meta"])), "data_fingerprint": "x"}))
    np.savez(tmp_path / "other" / "checkpoint.npz", **state)
    with pytest.raises(DataError, match="not the images the run trained on"):
        dashboard.TrainingJob.resume(tmp_path / "other")

    resumed = dashboard.TrainingJob.resume(root / "a")
    _wait(resumed, lambda: resumed.done)
    assert resumed.trainer.status == "finished" and resumed.trainer.step == 8
    assert dashboard.resumable_runs(root) == []
    reference = Trainer(cfg, images, ("transpose",)).run()
    assert resumed.trainer.history == reference.history  # every loss of every step, bit for bit
    assert load_bundle(root / "a" / "transpose").meta["steps_done"] == 8


def test_a_reloaded_page_finds_its_session_and_its_training():
    from ganviz.dashboard import job_of, session_key, set_job
    key = session_key(None)
    assert session_key(key) == key  # the link's key is kept ...
    for bad in ("", "../../etc", "ABCDEF012345", "0" * 13):
        assert session_key(bad) != bad and len(session_key(bad)) == 12  # ... a bad one is replaced
    assert job_of(key) is None

    class Finished:  # a finished job whose page went away long ago
        done, last_seen = True, 0.0
    old, new = session_key(None), Finished()
    set_job(old, Finished())
    set_job(key, new)
    assert job_of(key) is new and job_of(session_key(None)) is None
    assert job_of(old) is None  # forgotten: its models are freed, its runs stay on disk


def test_a_diverged_dashboard_run_keeps_its_last_good_checkpoint(tmp_path, monkeypatch):
    import tensorflow as tf

    from ganviz import dashboard, data
    from ganviz.gan import run
    from ganviz.store.bundle import checkpoint_progress, load_checkpoint
    monkeypatch.setattr(run, "CHECKPOINT_EVERY", 2)
    on_step = dashboard.TrainingJob._on_step

    def blow_up_after_step_3(self, trainer):  # as if the 4th update had made the weights NaN
        on_step(self, trainer)
        if trainer.step == 3:
            w = trainer.gans["transpose"].generator.weights[0]
            w.assign(tf.fill(w.shape, float("nan")))
    monkeypatch.setattr(dashboard.TrainingJob, "_on_step", blow_up_after_step_3)
    cfg = GANConfig(dataset="doodles:camel:40", steps=400, batch_size=8)
    ds = data.load(cfg.dataset)
    job = dashboard.TrainingJob.start(cfg, ("transpose",), tmp_path / "run", ds.images)
    _wait(job, lambda: job.done)
    assert "diverged" in job.error and "learning rates" in job.error
    step, _ = checkpoint_progress(tmp_path / "run")
    assert step == 2  # the last periodic checkpoint, from before the NaN
    _, _, arrays = load_checkpoint(tmp_path / "run")
    assert all(np.isfinite(a).all() for k, a in arrays.items() if "/var/" in k)
    assert load_bundle(job.saved[0]).meta["status"].startswith("diverged")
