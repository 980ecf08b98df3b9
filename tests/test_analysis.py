import numpy as np
import pytest

from ganviz import analysis


def _smooth(n, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:28, 0:28] / 28.0
    return np.stack([np.sin(2 * np.pi * (rng.uniform(0.5, 2) * xx + rng.uniform() * yy)) for _ in range(n)]) * 0.8


def test_checkerboard_score_sees_a_planted_period_2_pattern():
    real, other = _smooth(64, 0), _smooth(64, 1)
    checker = (np.indices((28, 28)).sum(axis=0) % 2) * 2 - 1
    planted = np.clip(_smooth(64, 2) + 0.3 * checker, -1, 1)
    assert abs(analysis.checkerboard_score(other, real)) < 0.5
    assert analysis.checkerboard_score(planted, real) > 10
    stripes = np.clip(_smooth(64, 3) + 0.3 * ((np.arange(28) % 2) * 2 - 1)[None, None, :], -1, 1)
    assert analysis.checkerboard_score(stripes, real) > 10  # period 2 in x alone counts too


def test_radial_profile_and_spectrum_shapes():
    s = analysis.power_spectrum(_smooth(8))
    assert s.shape == (28, 28) and (s >= 0).all()
    p = analysis.radial_profile(s)
    assert p[0] == pytest.approx(s[14, 14]) and len(p) == 21  # radii 0 .. round(14 * sqrt(2))


def test_slerp_endpoints_and_norm():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(100), rng.standard_normal(100)
    path = analysis.slerp(z0, z1, 7)
    np.testing.assert_allclose(path[0], z0, rtol=1e-6)
    np.testing.assert_allclose(path[-1], z1, rtol=1e-5, atol=1e-6)
    norms = np.linalg.norm(path, axis=1)
    assert norms.min() > 0.6 * min(np.linalg.norm(z0), np.linalg.norm(z1))  # no collapse to the origin


def test_interpolation_endpoints_equal_the_generators_output():
    from ganviz.config import GANConfig
    from ganviz.compare import generate
    from ganviz.models import build_generator
    from ganviz.noise import latent_batch
    g = build_generator(GANConfig(), "transpose")
    z0, z1 = latent_batch(1, 1, 100)[0], latent_batch(2, 1, 100)[0]
    row = generate(g, analysis.slerp(z0, z1, 5))
    np.testing.assert_allclose(row[0], generate(g, z0[None])[0], atol=1e-5)
    np.testing.assert_allclose(row[-1], generate(g, z1[None])[0], atol=1e-5)


def test_copy_test_flags_samples_that_are_training_images():
    from ganviz.doodles import make_doodles
    train = make_doodles(400, "camel", seed=0).reshape(-1, 28, 28)
    held = make_doodles(60, "camel", seed=1).reshape(-1, 28, 28)
    copied = analysis.copy_test(train[:60], train, held)
    assert copied.copying and (copied.generated == 0).all()
    fresh = analysis.copy_test(make_doodles(60, "camel", seed=2).reshape(-1, 28, 28), train, held)
    assert not fresh.copying and abs(fresh.z) < 3


def test_diversity_drops_under_mode_collapse():
    from ganviz.doodles import make_doodles
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


def test_verdicts():
    a, b = analysis.interval([1.0, 1.1, 0.9]), analysis.interval([3.0, 3.1, 2.9])
    assert "beyond the spread" in analysis.verdict("checkerboard", "transpose", b, "upsample", a, "paints more")
    assert "transpose paints more" in analysis.verdict("checkerboard", "transpose", b, "upsample", a, "paints more")
    c = analysis.interval([1.0, 2.0, 3.0])
    assert "no difference" in analysis.verdict("x", "a", a, "b", c, "is higher")
    assert "one seed" in analysis.verdict("x", "a", analysis.interval([1.0]), "b", c, "is higher")


def test_mann_whitney_direction():
    assert analysis.mann_whitney_z(np.arange(30), np.arange(30) + 100) < -4
    assert abs(analysis.mann_whitney_z(np.arange(30), np.arange(30) + 0.5)) < 1


def _tiny_runs(root, steps: int = 2, **changes) -> list:
    """Both variants, seeds 0 and 1, a few steps on 64 doodles."""
    from ganviz.bundle import load_bundle, save_bundles
    from ganviz.config import GANConfig
    from ganviz.data import load
    from ganviz.training import Trainer
    ds = load("doodles:camel:64")
    bundles = []
    for seed in (0, 1):
        t = Trainer(GANConfig(dataset="doodles:camel:64", steps=steps, batch_size=8, seed=seed, **changes),
                    ds.images).run()
        bundles += [load_bundle(p) for p in save_bundles(t, root / f"s{seed}")]
    return bundles


def test_study_over_seeds(tmp_path):
    from ganviz.study import run_study
    bundles = _tiny_runs(tmp_path)
    study = run_study(bundles, n=32)
    assert study.has_held_out and len(study.runs) == 4
    assert set(study.table) == {"checkerboard", "nn_median", "copy_z", "diversity"}
    assert study.table["checkerboard"]["transpose"].n == 2
    assert len(study.sentences) == 4 and all(s.endswith(".") for s in study.sentences)
    assert study.runs[0].timeline_checkerboard.shape == study.runs[0].timeline_steps.shape


def test_recipes_compared_seed_by_seed(tmp_path, monkeypatch):
    from ganviz import study
    monkeypatch.setattr(study, "WINDOWS", ((1, 2), (3, 4)))
    book = _tiny_runs(tmp_path / "book", steps=4)
    fused = _tiny_runs(tmp_path / "fused", steps=4, fused_step=True)
    same = study.compare_recipes(book, book, ("a", "b"))
    assert len(same) == 2 * (4 + 4 * 2)  # per variant: 4 sample measures, 4 curves x 2 windows
    assert all(r["differs"] == "no" and r["b - a (95%, 2 seeds)"].startswith("0 ") for r in same)
    rows = study.compare_recipes(book, fused, ("book", "fused"))
    g_loss = next(r for r in rows if r["variant"] == "transpose" and r["measure"] == "mean g_loss, steps 3-4")
    assert g_loss["book"] != g_loss["fused"]  # the fused step really trained differently
    assert {r["differs"] for r in rows} <= {"yes", "no"}
