import shutil

import h5py
import numpy as np
import pytest

from ganviz.measures import analysis
from ganviz.noise import slerp
from ganviz.present import verdicts
from ganviz.measures.study import Verdict
from ganviz.spectrum import log_ratios, power_spectrum, radial_profile, ratio_map, region_masks
from ganviz.store.bundle import GENERATOR, load_bundle
from ganviz.view.inference import NumpyGenerator
from ganviz.view.weights import weight_shapes


def _smooth(n, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28] / 28.0
    return np.stack([np.sin(2 * np.pi * (rng.uniform(0.5, 2) * xx + rng.uniform() * yy)) for _ in range(n)]) * 0.8


def test_the_artifact_measures_see_a_planted_period_2_pattern_where_it_lives():
    real, other = power_spectrum(_smooth(64, 0)), power_spectrum(_smooth(64, 1))
    checker = (np.indices((28, 28)).sum(axis=0) % 2) * 2 - 1
    planted = power_spectrum(np.clip(_smooth(64, 2) + 0.3 * checker, -1, 1))
    stripes = power_spectrum(np.clip(_smooth(64, 3) + 0.3 * ((np.arange(28) % 2) * 2 - 1)[None, None, :], -1, 1))
    same = log_ratios(other, real)
    assert all(abs(v) < 1.0 for v in same.values())  # another draw of the same kind: near the real level
    assert log_ratios(planted, real)["corner"] > np.log(100)  # a checkerboard: (pi, pi), by orders of magnitude
    assert log_ratios(stripes, real)["lines"] > np.log(100)  # period 2 in x alone: the Nyquist line
    assert log_ratios(stripes, real)["corner"] < log_ratios(stripes, real)["lines"]
    ratio = ratio_map(planted, real)
    assert np.isnan(ratio[14, 14]) and np.nanargmax(ratio) == 0  # the (pi, pi) bin is the hottest


def test_region_masks_are_where_the_nyquist_frequencies_sit():
    masks = region_masks((28, 28))
    assert masks["corner"].sum() == 1 and masks["corner"][0, 0]
    assert masks["lines"].sum() == 2 * 28 - 2 and not (masks["lines"] & masks["corner"]).any()
    assert masks["high"][0, 0] and not masks["high"][14, 14] and masks["high"][14, 0]


def test_radial_profile_and_spectrum_shapes():
    s = power_spectrum(_smooth(8))
    assert s.shape == (28, 28) and (s >= 0).all()
    p = radial_profile(s)
    assert p[0] == pytest.approx(s[14, 14]) and len(p) == 21  # radii 0 .. round(14 * sqrt(2))


def test_slerp_endpoints_and_norm():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(100), rng.standard_normal(100)
    path = slerp(z0, z1, 7)
    np.testing.assert_allclose(path[0], z0, rtol=1e-6)
    np.testing.assert_allclose(path[-1], z1, rtol=1e-5, atol=1e-6)
    norms = np.linalg.norm(path, axis=1)
    assert norms.min() > 0.6 * min(np.linalg.norm(z0), np.linalg.norm(z1))  # no collapse to the origin


def test_interpolation_endpoints_equal_the_generators_output():
    from ganviz.config import GANConfig
    from ganviz.gan.models import build_generator
    from ganviz.noise import latent_batch
    from ganviz.view.compare import generate
    g = build_generator(GANConfig(), "transpose")
    z0, z1 = latent_batch(1, 1, 100)[0], latent_batch(2, 1, 100)[0]
    row = generate(g, slerp(z0, z1, 5))
    np.testing.assert_allclose(row[0], generate(g, z0[None])[0], atol=1e-5)
    np.testing.assert_allclose(row[-1], generate(g, z1[None])[0], atol=1e-5)


def test_copy_test_flags_samples_that_are_training_images():
    from ganviz.data.doodles import make_doodles
    train = make_doodles(400, "camel", seed=0).reshape(-1, 28, 28)
    held = make_doodles(60, "camel", seed=1).reshape(-1, 28, 28)
    copied = analysis.copy_test(train[:60], train, held)
    assert copied.copying and (copied.generated == 0).all()
    fresh = analysis.copy_test(make_doodles(60, "camel", seed=2).reshape(-1, 28, 28), train, held)
    assert not fresh.copying and abs(fresh.z) < 3


def test_diversity_drops_under_mode_collapse():
    from ganviz.data.doodles import make_doodles
    varied = make_doodles(50, "camel", seed=0).reshape(-1, 28, 28)
    collapsed = np.repeat(varied[:2], 25, axis=0)
    assert analysis.mean_pairwise_l1(collapsed) < 0.6 * analysis.mean_pairwise_l1(varied)


def test_intervals_shrink_as_seeds_are_added():
    rng = np.random.default_rng(0)
    values = rng.normal(1.0, 0.2, 12)
    widths = [analysis.interval(values[:n]).high - analysis.interval(values[:n]).low for n in (3, 6, 12)]
    assert widths[0] > widths[1] > widths[2]
    one = analysis.interval([2.0])
    assert (one.low, one.high, one.n) == (2.0, 2.0, 1)


def test_sign_flip_p_is_exact():
    assert analysis.sign_flip_p([1.0, 2.0, 3.0, 4.0]) == 2 / 16  # all agree: only the two extreme patterns
    assert analysis.sign_flip_p([1.0, -1.0, 1.0, -1.0]) == 1.0
    assert analysis.sign_flip_p([0.7, 0.7, 2.0, 2.2, 0.1]) == 2 / 32


def test_sign_flip_p_beyond_exact_enumeration_is_drawn_and_repeatable():
    """40 seeds would be 2^40 patterns: drawn instead, the same on every call, never below 1 / 2^16."""
    agree = np.linspace(0.5, 2.0, 40)
    p = analysis.sign_flip_p(agree)
    assert p == analysis.sign_flip_p(agree) == 2**-16
    noise = np.random.default_rng(3).normal(size=40)
    exact_like = analysis.sign_flip_p(noise)
    assert 0.1 < exact_like < 1 and exact_like == analysis.sign_flip_p(noise)


def test_paired_verdicts_say_direction_size_and_agreement():
    up = {s: v for s, v in enumerate([0.0, 0.1, -0.1, 0.05, 0.0])}
    tr = {s: v for s, v in enumerate([1.2, 1.0, 1.3, 1.1, 1.25])}
    p = analysis.paired("corner", "upsample", "transpose", up, tr)
    assert p.differs and p.agree == 5 and p.p == 2 / 32
    text = verdicts.sentence(p)
    assert text.startswith("Conv2DTranspose has 3.") and "5 of 5 seeds agree" in text and "(pi, pi)" in text
    noise = analysis.paired("kid", "upsample", "transpose", up, {s: v + (0.1 if s % 2 else -0.1) for s, v in up.items()})
    assert not noise.differs and "No difference beyond the spread over 5 paired seeds" in verdicts.sentence(noise)
    one = analysis.paired("kid", "upsample", "transpose", {0: 1.0}, {0: 2.0, 1: 3.0})
    assert one.seeds == [0] and "one seed, so no claim" in verdicts.sentence(one)
    # pairing is what makes it powerful: a shared per-seed offset cancels in the difference
    offset = {s: 10.0 * s for s in range(5)}
    shifted = analysis.paired("fd", "upsample", "transpose", offset, {s: v + 0.5 for s, v in offset.items()})
    assert shifted.differs and shifted.interval.low == pytest.approx(0.5)


def test_a_headline_names_only_the_measures_that_differ():
    up = {s: v for s, v in enumerate([0.0, 0.1, -0.1, 0.05, 0.0])}
    corner = analysis.paired("corner", "upsample", "transpose", up, {s: v + 1.1 + 0.05 * s for s, v in up.items()})
    kid = analysis.paired("kid", "upsample", "transpose", up, {s: v + (0.1 if s % 2 else -0.1) for s, v in up.items()})
    line = verdicts.headline(Verdict("transpose", [corner, kid], []))
    assert line.startswith("**Conv2DTranspose** against UpSampling2D + Conv2D, 5 paired seeds: final generators differ "
                           "in **power at the checkerboard frequency** 3.")
    assert "5 of 5 seeds agree" in line and "KID" not in line and line.endswith("in the other 1.")
    # during training: only the steps whose interval excludes 1 are named
    line = verdicts.headline(Verdict("transpose", [kid], [(45, corner), (178, kid)]))
    assert line.startswith("**Conv2DTranspose** against UpSampling2D + Conv2D, 5 paired seeds: during training, power "
                           "at (pi, pi) **3.") and "at step 45 (5 of 5 seeds agree)." in line and "178" not in line
    assert line.endswith("Final generators: no difference beyond the spread in any of the 1 measures.")
    assert "(steps 178), power at (pi, pi) within the spread." in verdicts.headline(Verdict("transpose", [kid], [(178, kid)]))


def test_mann_whitney_direction():
    assert analysis.mann_whitney_z(np.arange(30), np.arange(30) + 100) < -4
    assert abs(analysis.mann_whitney_z(np.arange(30), np.arange(30) + 0.5)) < 1


def _tiny_runs(root, steps: int = 2, **changes) -> list:
    """Both variants, seeds 0 and 1, a few steps on 64 doodles."""
    from ganviz.config import GANConfig
    from ganviz.data import load
    from ganviz.gan.training import Trainer
    from ganviz.store.bundle import load_bundle, save_bundles
    ds = load("doodles:camel:64")
    bundles = []
    for seed in (0, 1):
        cfg = GANConfig(dataset="doodles:camel:64", steps=steps, batch_size=8, measure_size=8, seed=seed, **changes)
        t = Trainer(cfg, ds.images).run()
        bundles += [load_bundle(p) for p in save_bundles(t, root / f"s{seed}")]
    return bundles


def test_study_over_seeds(tmp_path):
    """The book's pair on two seeds, and an operator trained on seed 0 only: paired where both
    have seeds, in the tables and the docs' tables, but 'no claim' from one seed."""
    from ganviz.config import GANConfig
    from ganviz.data import load
    from ganviz.gan.training import Trainer
    from ganviz.measures.study import checkerboard_over_training, run_study
    from ganviz.present.verdicts import study_table
    from ganviz.present.charts import study_figures
    from ganviz.store.bundle import load_bundle, save_bundles
    from ganviz_tools.figures import results_tables
    bundles = _tiny_runs(tmp_path)
    extra = Trainer(GANConfig(dataset="doodles:camel:64", steps=2, batch_size=8, measure_size=8, seed=0),
                    load("doodles:camel:64").images, variants=("transpose4",)).run()
    bundles += [load_bundle(p) for p in save_bundles(extra, tmp_path / "s0")]
    study = run_study(bundles, n=32)
    assert study.has_held_out and len(study.runs) == 5 and study.classifier.startswith("doodles classifier")
    assert set(study.table) == set(analysis.MEASURES)
    assert study.table["corner"]["transpose"].n == 2 and study.table["corner"]["transpose4"].n == 1
    assert {(p.measure, p.b) for p in study.verdicts} == {(m, b) for m in analysis.MEASURES
                                                         for b in ("transpose", "transpose4")}
    assert all(p.seeds == ([0, 1] if p.b == "transpose" else [0]) for p in study.verdicts)
    (pair, headline, bullets), (four, one_seed, none) = verdicts.sections(study)
    assert pair == "transpose" and headline.startswith("**Conv2DTranspose** against UpSampling2D + Conv2D, 2 paired seeds")
    bullets = bullets.splitlines()
    assert len(bullets) == len(analysis.MEASURES) and all(line.startswith("- **") and line.endswith(".") for line in bullets)
    # kernel 4, on seed 0 only: one line with every difference, not ten "no claim" lines
    assert four == "transpose4" and none == ""
    assert one_seed.startswith("Conv2DTranspose, kernel 4 against UpSampling2D + Conv2D on one seed (seed 0), so no "
                               "claim: power at the checkerboard frequency ") and one_seed.count(";") == 9
    r = study.runs[0]
    assert r.timeline_corner.shape == r.timeline_steps.shape
    # the checkerboard over training: each variant's geometric mean, each operator paired with upsample
    (step, means, pairs), = checkerboard_over_training(study, (0,))
    corner = {(r.variant, r.seed): r.timeline_corner[0] for r in study.runs}
    assert step == 0 and means["upsample"] == pytest.approx((corner["upsample", 0] + corner["upsample", 1]) / 2)
    assert [(p.b, p.seeds) for p in pairs] == [("transpose", [0, 1]), ("transpose4", [0])]
    assert pairs[0].diffs == pytest.approx([corner["transpose", s] - corner["upsample", s] for s in (0, 1)])
    assert len(study_table(study)) == len(analysis.MEASURES)
    maps = study_figures(study)["ratio_maps"]
    titles = [a.text.replace("<br>", " ") for a in maps.layout.annotations]  # wrapped to fit five side by side
    assert titles == ["UpSampling2D + Conv2D (2 seeds)", "Conv2DTranspose (2 seeds)",
                      "Conv2DTranspose, kernel 4 (1 seed)"]

    text = results_tables(bundles, n=32)
    header = next(line for line in text.splitlines() if line.startswith("| measure"))
    assert header.split(" | ")[1:4] == ["UpSampling2D + Conv2D", "Conv2DTranspose", "Conv2DTranspose, kernel 4"]
    assert "transpose vs upsample, paired" in header and "transpose4 vs upsample, paired" in header
    rows = [line for line in text.splitlines() if line.startswith("| power at the checkerboard")]
    assert len(rows) == 1 and rows[0].count(" | ") == 5  # 3 variants, 2 paired columns
    assert f"- {one_seed}" in text.splitlines() and f"- {headline}" in text.splitlines()
    steps = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| 0 | ") or line.startswith("| 2 | ")]
    assert steps == ["| 0", "| 2"]  # the checkerboard over training, from step 0 to the last
    assert sum(line.startswith("    - **") for line in text.splitlines()) == len(analysis.MEASURES)  # the pair's
    assert "5 generators, seeds [0, 1]" in text

    # a study without the book's operator pairs the others with its first registered one
    alone = run_study([b for b in bundles if b.variant != "upsample"], n=32)
    assert alone.baseline == "transpose" and {(p.a, p.b) for p in alone.verdicts} == {("transpose", "transpose4")}
    (four, one_seed, _), = verdicts.sections(alone)
    assert four == "transpose4" and one_seed.startswith("Conv2DTranspose, kernel 4 against Conv2DTranspose on one seed")


def test_recipes_compared_seed_by_seed(tmp_path, monkeypatch):
    from ganviz.measures import study
    monkeypatch.setattr(study, "WINDOWS", ((1, 2), (3, 4)))
    book = _tiny_runs(tmp_path / "book", steps=4)
    fused = _tiny_runs(tmp_path / "fused", steps=4, fused_step=True)
    same = study.compare_recipes(book, book, ("a", "b"), n=32)
    assert len(same) == 2 * (len(analysis.MEASURES) + 4 * 2)  # per variant: sample measures, 4 curves x 2 windows
    assert all(r["differs"] == "no" and r["b - a (95%, 2 seeds)"].startswith("0 ") for r in same)
    rows = study.compare_recipes(book, fused, ("book", "fused"), n=32)
    g_loss = next(r for r in rows if r["variant"] == "transpose" and r["measure"] == "mean g_loss, steps 3-4")
    assert g_loss["book"] != g_loss["fused"]  # the fused step really trained differently
    assert {r["differs"] for r in rows} <= {"yes", "no"}


def test_stored_measures_open_a_study_without_the_data_set(tmp_path, monkeypatch):
    """pretrain and study keep each run's measures beside the runs, keyed by the bundle's content
    and the measure code: a study read back gives the same verdicts without loading a training
    image or running a generator, and a changed bundle is measured again."""
    from ganviz import data
    from ganviz.measures.study import bundle_key, load_all_measures, run_study, save_measures, verdict_table
    bundles = _tiny_runs(tmp_path)
    study = run_study(bundles, n=32)
    save_measures(tmp_path, study, bundles, n=32)
    stored = load_all_measures(tmp_path)["doodles:camel:64"]
    assert set(stored.runs) == {bundle_key(b, 32) for b in bundles}

    def refuse(*args, **kwargs):
        raise AssertionError("measured again")
    with monkeypatch.context() as m:
        m.setattr(data, "load", refuse)
        m.setattr(NumpyGenerator, "__call__", refuse)
        again = run_study(bundles, n=32, stored=stored)
        changed = tmp_path / "changed" / bundles[0].path.name  # other weights, same everything else
        shutil.copytree(bundles[0].path, changed)
        with h5py.File(changed / GENERATOR, "r+") as f:
            kernel = f[next(n for n in weight_shapes(bundles[0].config, bundles[0].variant) if n.endswith("kernel"))]
            kernel[...] = kernel[...] * 1.01
        edited = load_bundle(changed)
        assert bundle_key(edited, 32) != bundle_key(bundles[0], 32)
        with pytest.raises(AssertionError, match="measured again"):
            run_study([edited, *bundles[1:]], n=32, stored=stored)
    assert verdict_table(again) == verdict_table(study)
    np.testing.assert_array_equal(again.real_spectrum, study.real_spectrum)
    assert again.classifier == study.classifier and again.has_held_out == study.has_held_out
    assert bundle_key(bundles[0], 32) != bundle_key(bundles[0], 64)  # another sample count: measured anew
    (tmp_path / "analysis-doodles-camel-64.npz").write_bytes(b"damaged")
    assert load_all_measures(tmp_path) == {}  # a damaged file is measured anew, never trusted


def test_the_sentence_under_the_final_samples_gives_analysis_number(tmp_path, monkeypatch):
    """Compare's "In the final generators ... x" is the seed's paired (pi, pi) ratio that Analysis
    shows, over the same 256 samples, read from stored measures without running a generator;
    at a recorded step it rests on that step's recorded batch."""
    from ganviz.measures.study import (checkerboard_at, final_spectrum, load_all_measures, run_study,
                                       save_measures)
    from ganviz.present.texts import what_you_see
    bundles = _tiny_runs(tmp_path)
    study = run_study(bundles)
    save_measures(tmp_path, study, bundles)
    stored = load_all_measures(tmp_path)["doodles:camel:64"]
    seed0 = {b.variant: b for b in bundles if b.config.seed == 0}
    corner = {r.variant: r.values["corner"] for r in study.runs if r.seed == 0}
    measured = {v: final_spectrum(b) for v, b in seed0.items()}

    def refuse(*args, **kwargs):
        raise AssertionError("measured again")
    with monkeypatch.context() as m:
        m.setattr(NumpyGenerator, "__call__", refuse)
        kept = {v: final_spectrum(b, stored) for v, b in seed0.items()}
    for final in (measured, kept):
        base, ratios, n = checkerboard_at(seed0, -1, final)
        assert (base, n) == ("upsample", 256)
        assert ratios["transpose"] == pytest.approx(corner["transpose"] - corner["upsample"], abs=1e-9)
    assert "over the same 256 z for every run" in what_you_see(-1, base, ratios, n)
    step = int(seed0["upsample"].timeline_steps[1])
    assert checkerboard_at(seed0, step)[2] == 8  # the run's measure batch (measure_size=8)
