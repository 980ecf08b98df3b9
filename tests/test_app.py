"""The dashboard through Streamlit's AppTest: every section runs, widgets and links change the view."""
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ganviz import operators
from ganviz.config import BOOK_PAIR, DRAWN_SEEDS, GANConfig
from ganviz.dashboard.runs import new_run
from ganviz.dashboard.state import owner_key, public_id
from ganviz.gan.training import Trainer
from ganviz.store.bundle import find_bundles, load_bundle, save_bundles

APP = str(Path(__file__).parents[1] / "app.py")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory):
    """A stand-in for pretrained/: one tiny paired run on 60 doodles."""
    from ganviz.data import load
    root = tmp_path_factory.mktemp("pretrained")
    ds = load("doodles:camel:60")
    trainer = Trainer(GANConfig(dataset="doodles:camel:60", steps=4, batch_size=8, measure_size=8), ds.images).run()
    save_bundles(trainer, root / "doodles-camel-s0")
    return root


@pytest.fixture
def app(pretrained, tmp_path, monkeypatch):
    monkeypatch.setenv("GANVIZ_PRETRAINED", str(pretrained))
    monkeypatch.setenv("GANVIZ_RUNS", str(tmp_path / "runs"))
    return AppTest.from_file(APP, default_timeout=180)


def _images(at):
    return at.get("image")


def _button(at, label):
    return next(b for b in at.button if b.label == label)


def _number(at, label):
    return next(n for n in at.number_input if n.label == label)


def _ok(at):
    assert not at.exception, [e.value for e in at.exception]


def test_compare_shows_both_generators_and_nearest_images(app, pretrained):
    app.run()
    _ok(app)
    assert [h.value for h in app.subheader] == ["UpSampling2D + Conv2D", "Conv2DTranspose"]
    assert len(_images(app)) == 2 and len(app.get("plotly_chart")) == 1
    assert "mean |a - b|" in app.markdown[0].value and "60 training images" in app.markdown[0].value
    assert app.query_params["view"] == "Compare"
    from ganviz.dashboard.state import compare_steps
    from ganviz.store.bundle import load_bundle
    early = compare_steps(load_bundle(pretrained / "doodles-camel-s0" / "upsample").timeline_steps)[0]
    assert app.segmented_control(key="w_cstep").value == -1  # the final generators first
    assert not _number(app, "Sample seed (latent z)").disabled
    app.segmented_control(key="w_cstep").set_value(early).run()  # an early step: the probe batch as recorded
    _ok(app)
    assert f"probe batch of z at step {early}" in app.markdown[0].value and len(_images(app)) == 2
    assert app.query_params["step"] == str(early)
    assert _number(app, "Sample seed (latent z)").disabled and _button(app, "New samples").disabled  # z are fixed
    linked = AppTest.from_file(APP, default_timeout=120)
    linked.query_params["step"] = str(early)
    linked.run()  # a link to a recorded step: fixed z from the first draw
    _ok(linked)
    assert _number(linked, "Sample seed (latent z)").disabled
    app.toggle[0].set_value(True).run()  # look closer: both images large, with their own ratio maps
    _ok(app)
    assert len(_images(app)) == 4 and len(app.get("plotly_chart")) == 1


def test_seed_changes_the_samples(app):
    app.run()
    before = [i.proto.imgs[0].url for i in _images(app)]
    _number(app, "Sample seed (latent z)").set_value(7).run()
    _ok(app)
    assert app.query_params["seed"] == "7"
    assert "(seed 7)" in app.markdown[0].value
    assert [i.proto.imgs[0].url for i in _images(app)] != before
    drawn = set()
    for _ in range(2):  # a fresh seed each time, short enough to read out to a room
        _button(app, "New samples").click().run()
        _ok(app)
        drawn.add(app.session_state["w_seed"])
    assert drawn <= set(range(DRAWN_SEEDS)) and drawn != {7}


def test_every_section_renders(app):
    app.run()
    for view in ("Training", "Analysis", "Train now", "Why they differ", "Compare"):
        app.segmented_control(key="w_view").set_value(view).run()
        _ok(app)
        assert app.query_params["view"] == view
        if view == "Why they differ":  # every operator before training: at most three a row, titles whole
            every = [c for c in app.columns if len(c.get("plotly_chart")) == 2]
            assert len(every) == len(operators.names()) and all(c.weight >= 1 / 3 - 1e-9 for c in every)
        if view == "Analysis":
            text = " ".join(m.value for m in app.markdown)
            # the fixture's runs have one seed: one line with every measure's difference, no claim
            assert text.count("on one seed (seed 0), so no claim: power at the checkerboard frequency") == 1
            # ratio maps, the checkerboard and KID over training, radial power, copying; interpolation rows
            assert len(app.get("plotly_chart")) == 5 and len(_images(app)) == 2


def test_training_replay_and_smoothing(app):
    app.query_params["view"] = "Training"
    app.run()
    _ok(app)
    assert app.select_slider(key="w_step").value == 4  # the last recorded step
    app.select_slider(key="w_step").set_value(1).run()
    assert [c.value for c in app.caption if "probe z" in c.value] == []  # captions live on images
    assert all("step 1" in i.proto.imgs[0].caption for i in _images(app))
    app.slider(key="w_smooth").set_value(0.0).run()
    _ok(app)
    assert app.query_params["step"] == "1" and app.query_params["smooth"] == "0"


def test_a_link_restores_the_view(app, pretrained):
    for k, v in {"view": "Training", "seed": "42", "step": "2", "smooth": "0.3"}.items():
        app.query_params[k] = v
    app.run()
    _ok(app)
    assert app.segmented_control(key="w_view").value == "Training"
    assert app.select_slider(key="w_step").value == 2 and app.slider(key="w_smooth").value == 0.3
    assert app.session_state["w_seed"] == 42


def test_a_bad_link_falls_back_with_a_message(app):
    app.query_params["view"] = "Nope"
    app.query_params["seed"] = "-3"
    app.query_params["run"] = "missing/run"
    app.run()
    _ok(app)
    assert app.segmented_control(key="w_view").value == "Compare"
    msgs = " ".join(t.proto.body for t in app.toast)
    assert "unknown" in msgs and "is not a number from 0 to 2147483647" in msgs and "not available" in msgs


def _train_until_saved(app, timeout: float = 240) -> None:
    """Rerun the page, as its polling does, until its training says it saved."""
    deadline = time.time() + timeout
    while not any("Saved" in x.value for x in app.success):
        assert time.time() < deadline, [e.value for e in app.error]
        time.sleep(1)
        app.run()
        _ok(app)


def test_train_now_finishes_and_the_run_becomes_selectable(app, tmp_path):
    app.query_params["view"] = "Train now"
    app.run()
    app.text_input[0].set_value("doodles:camel:40")
    _number(app, "Steps").set_value(3)
    _number(app, "Batch size").set_value(8)
    _number(app, "Spectrum batch").set_value(16)
    _button(app, "Train").click().run()
    _ok(app)
    assert app.query_params["live"].startswith("runs/")  # the link lets others watch the training ...
    assert app.session_state["owner"] not in str(dict(app.query_params))  # ... and carries no key
    _train_until_saved(app)
    assert "Saved 2 bundle(s)" in app.success[0].value
    saved = [load_bundle(p) for p in find_bundles(tmp_path / "runs")]
    assert len(saved) == 2 and {b.config.measure_size for b in saved} == {16}  # the form's fields reach the run
    assert all(b.spectra.shape[0] == len(b.timeline_steps) for b in saved)
    names = app.selectbox(key="w_run").options
    assert names[0] == "pretrained/doodles-camel-s0" and names[1].startswith("yours/doodles-camel-40-s0")
    app.selectbox(key="w_run").set_value(app.selectbox(key="w_run").options[1]).run()
    app.segmented_control(key="w_view").set_value("Compare").run()
    _ok(app)
    assert len(_images(app)) == 2 and app.query_params["run"].startswith(f"runs/{public_id(app.session_state['owner'])}/")


def test_train_now_bad_dataset_is_an_error_on_the_page(app):
    app.query_params["view"] = "Train now"
    app.run()
    app.text_input[0].set_value("doodles:unicorn")
    _button(app, "Train").click().run()
    _ok(app)
    assert "unknown doodles class" in app.error[0].value
    assert "live" not in app.query_params  # no training started
    app.segmented_control(key="w_view").set_value("Compare").run()
    assert len(_images(app)) == 2  # the loaded run is still there


def test_the_owner_is_offered_a_stopped_run_and_resumes_it(app, tmp_path):
    from ganviz.data import load
    owner, _ = owner_key(None)
    cfg = GANConfig(dataset="doodles:camel:40", steps=6, batch_size=8, measure_size=8)
    out = new_run(tmp_path / "runs" / public_id(owner), cfg, ("upsample",), load(cfg.dataset).fingerprint, False)
    app.session_state["owner"] = owner  # the owner's browser: its cookie names this key
    app.query_params["view"] = "Train now"
    app.run()
    _ok(app)
    assert any(out.name in i.value and "step 0 of 6" in i.value for i in app.info)
    _button(app, "Resume").click().run()
    _ok(app)
    _train_until_saved(app)
    assert not any(out.name in i.value for i in app.info)  # nothing left to resume
    assert load_bundle(out / "upsample").meta["steps_done"] == 6


def test_a_run_of_every_operator_shows_two_side_by_side(tmp_path, monkeypatch):
    from ganviz import operators
    from ganviz.data import load
    root = tmp_path / "pretrained"
    trainer = Trainer(GANConfig(dataset="doodles:camel:60", steps=2, batch_size=8, measure_size=8),
                      load("doodles:camel:60").images, operators.names())
    save_bundles(trainer.run(), root / "every-operator")
    monkeypatch.setenv("GANVIZ_PRETRAINED", str(root))
    monkeypatch.setenv("GANVIZ_RUNS", str(tmp_path / "runs"))
    app = AppTest.from_file(APP, default_timeout=180)
    app.run()
    _ok(app)
    assert [h.value for h in app.subheader] == ["UpSampling2D + Conv2D", "Conv2DTranspose"]  # the book's pair first
    app.multiselect[0].set_value(["subpixel", "transpose4"]).run()
    _ok(app)
    assert [h.value for h in app.subheader] == ["Sub-pixel (Conv2D x4 + depth_to_space, ICNR)",
                                                "Conv2DTranspose, kernel 4"]
    assert len(_images(app)) == 2
    assert app.query_params["pair"] == "subpixel,transpose4"  # a shared link shows the same two
    app.multiselect[0].set_value([]).run()
    _ok(app)
    assert app.multiselect[0].value == list(BOOK_PAIR) and len(app.subheader) == 2  # cleared: the default pair
    assert "pair" not in app.query_params  # the default pair needs no word in a link
    app.multiselect[0].set_value(["subpixel", "transpose4"]).run()
    linked = AppTest.from_file(APP, default_timeout=180)
    linked.query_params["pair"] = "bilinear,transpose_blur"
    linked.run()
    _ok(linked)
    assert [h.value for h in linked.subheader] == ["Bilinear UpSampling2D + Conv2D", "Conv2DTranspose + binomial blur"]
    app.segmented_control(key="w_view").set_value("Analysis").run()
    _ok(app)
    text = " ".join(m.value for m in app.markdown)
    # one line per operator against upsample
    assert text.count("on one seed (seed 0), so no claim") == len(operators.names()) - 1
