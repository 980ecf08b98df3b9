"""The variants compared over every seed of a data set: the analysis behind the dashboard's
Analysis section, the report and `python -m ganviz report`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganviz import analysis, data
from ganviz.bundle import Bundle
from ganviz.config import VARIANTS
from ganviz.compare import generate
from ganviz.doodles import make_doodles
from ganviz.errors import DataError
from ganviz.inference import NumpyGenerator
from ganviz.neighbours import L1Index
from ganviz.noise import latent_batch

N_SAMPLES = 256


def held_out(spec: str, n: int) -> np.ndarray | None:
    """Real images of the same kind that no run trained on, or None where there are none."""
    kind, _, rest = spec.partition(":")
    if kind == "doodles":  # training draws seed 0; seed 1 draws new drawings of the same class
        return make_doodles(n, rest.partition(":")[0] or "camel", seed=1).reshape(-1, 28, 28)
    if spec == "fashion-mnist":
        path = data.find_fashion_mnist()
        return data.read_idx(path.with_name("t10k-images-idx3-ubyte.gz").read_bytes(), "t10k")[:n] if path else None
    return None


@dataclass
class Study:
    dataset: str
    runs: list[analysis.RunMeasures]
    table: dict[str, dict[str, analysis.Interval]]
    sentences: list[str]
    real_spectrum: np.ndarray
    has_held_out: bool


def run_study(bundles: list[Bundle], n: int = N_SAMPLES, generators: dict | None = None) -> Study:
    """Measure every bundle (all trained on one data set) and summarise over seeds."""
    specs = {b.config.dataset for b in bundles}
    if len(specs) != 1:
        raise DataError(f"a study compares runs on one data set, got {sorted(specs)}")
    spec = specs.pop()
    train = data.load(spec).images
    index = L1Index.build(train)
    reference = train[np.random.default_rng(0).choice(len(train), min(len(train), 1024), replace=False)]
    real_share, real_div = analysis.nyquist_share(reference), analysis.mean_pairwise_l1(reference)
    extra = held_out(spec, n)
    runs = []
    for b in sorted(bundles, key=lambda b: (VARIANTS.index(b.variant), b.config.seed)):
        gen = (generators or {}).get(str(b.path)) or NumpyGenerator.from_bundle(b)
        samples = generate(gen, latent_batch(0, n, b.config.z_dim))
        runs.append(analysis.measure(b.variant, b.config.seed, samples, train, index, extra,
                                     b.timeline_steps, b.timeline, real_div, real_share))
    table, sentences = analysis.summarise(runs)
    return Study(spec, runs, table, sentences, analysis.power_spectrum(reference), extra is not None)


def study_figures(study: Study) -> dict[str, "go.Figure"]:
    """The analysis charts, shared by the dashboard and the report."""
    from ganviz import charts
    by_variant: dict[str, list[analysis.RunMeasures]] = {}
    for r in study.runs:
        by_variant.setdefault(r.variant, []).append(r)
    spectra = {"real": study.real_spectrum}
    spectra.update({f"{v} (mean of {len(rs)} seeds)": np.mean([r.spectrum for r in rs], axis=0)
                    for v, rs in by_variant.items()})
    figures = {
        "spectra": charts.spectrum_figure(spectra),
        "profiles": charts.profile_figure({k: analysis.radial_profile(s) for k, s in spectra.items()}),
        "checkerboard_over_training": charts.timeline_figure(
            [(f"{r.variant} seed {r.seed}", r.timeline_steps, r.timeline_checkerboard) for r in study.runs],
            "checkerboard score (probe batch)"),
    }
    if study.has_held_out:
        dist = {"held-out real": study.runs[0].copy.held_out}
        dist.update({f"{v} seed {rs[0].seed}": rs[0].copy.generated for v, rs in by_variant.items()})
        figures["copying"] = charts.copy_figure(dist)
    return figures


def study_table(study: Study) -> list[dict[str, str]]:
    """Rows for a table: one per measure, a column per variant with mean [95% interval]."""
    return [{"measure": analysis.MEASURES[m][0], **{v: str(i) for v, i in per.items()}}
            for m, per in study.table.items()]


CURVES = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")
WINDOWS = ((1, 200), (201, 1000), (1001, 2000))  # steps, inclusive: early, middle, late training


def _per_seed(bundles: list[Bundle]) -> dict[tuple[str, str], dict[int, float]]:
    """(variant, measure) -> {seed: value}: the final-sample measures and windowed curve means."""
    values: dict[tuple[str, str], dict[int, float]] = {}
    for r in run_study(bundles).runs:
        for m, (label, _) in analysis.MEASURES.items():
            values.setdefault((r.variant, label), {})[r.seed] = getattr(r, m)
    for b in bundles:
        for metric in CURVES:
            for lo, hi in WINDOWS:
                if len(b.history[metric]) >= hi:
                    values.setdefault((b.variant, f"mean {metric}, steps {lo}-{hi}"), {})[b.config.seed] = \
                        float(np.mean(b.history[metric][lo - 1:hi]))
    return values


def compare_recipes(a: list[Bundle], b: list[Bundle], names: tuple[str, str]) -> list[dict[str, str]]:
    """Two training recipes run with the same seeds: per variant and measure, each recipe's mean
    over seeds and the paired difference (same seed, same data order and init) with its 95%
    interval. 'differs' only where that interval excludes zero (n/a with one seed)."""
    va, vb = _per_seed(a), _per_seed(b)
    rows = []
    for key, by_seed in va.items():
        seeds = sorted(set(by_seed) & set(vb.get(key, {})))
        if not seeds:
            continue
        diff = analysis.interval([vb[key][s] - by_seed[s] for s in seeds])
        rows.append({"variant": key[0], "measure": key[1],
                     names[0]: f"{np.mean([by_seed[s] for s in seeds]):.3g}",
                     names[1]: f"{np.mean([vb[key][s] for s in seeds]):.3g}",
                     f"{names[1]} - {names[0]} (95%, {len(seeds)} seeds)": str(diff),
                     "differs": "n/a" if diff.n < 2 else "yes" if diff.low > 0 or diff.high < 0 else "no"})
    return sorted(rows, key=lambda r: VARIANTS.index(r["variant"]))
