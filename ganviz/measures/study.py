"""The variants compared over every seed of a data set: the analysis behind the dashboard's
Analysis section, the report and `python -m ganviz report`."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganviz import data, operators
from ganviz.config import BASELINE, EARLY_STEPS
from ganviz.data.doodles import make_doodles
from ganviz.errors import BundleError, DataError
from ganviz.measures import analysis, quality
from ganviz.noise import latent_batch
from ganviz.readable import number
from ganviz.spectrum import power_spectrum, reference_images
from ganviz.store.bundle import Bundle, nearest_steps
from ganviz.view.compare import generate
from ganviz.view.inference import NumpyGenerator
from ganviz.view.neighbours import L1Index

N_SAMPLES = 256  # samples per generator; measured against spectrum.reference_images


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
    verdicts: list[analysis.Paired]
    real_spectrum: np.ndarray
    has_held_out: bool
    classifier: str  # which classifier's features the quality measures use, and its accuracy; "" if none


def run_study(bundles: list[Bundle], n: int = N_SAMPLES, generators: dict | None = None) -> Study:
    """Measure every bundle (all trained on one data set) and compare the variants paired by seed."""
    specs = {b.config.dataset for b in bundles}
    if len(specs) != 1:
        raise DataError(f"a study compares runs on one data set, got {sorted(specs)}")
    spec = specs.pop()
    train = data.load(spec).images
    index = L1Index.build(train)
    reference = reference_images(train)
    real, real_div = power_spectrum(reference), analysis.mean_pairwise_l1(reference)
    extra = held_out(spec, n)
    clf = _classifier(spec)
    real_features = clf.features(reference) if clf else None
    runs = []
    for b in sorted(bundles, key=lambda b: (operators.order(b.variant), b.config.seed)):
        gen = (generators or {}).get(str(b.path)) or NumpyGenerator.from_bundle(b)
        samples = generate(gen, latent_batch(0, n, b.config.z_dim))
        q = quality.quality(real_features, clf.features(samples)) if clf else None
        kid_over_training = np.array([1000 * quality.mmd2(clf.features(f), real_features) for f in b.timeline]) \
            if clf else None
        # bundles since format 2 hold the spectrum of a measure batch per frame (256 z unless
        # config.measure_size says otherwise); older ones only their 16 probe images, a noisier estimate
        spectra = b.spectra if b.spectra is not None else np.stack([power_spectrum(f) for f in b.timeline])
        runs.append(analysis.measure(b.variant, b.config.seed, samples, index, extra, real, real_div,
                                     b.timeline_steps, spectra, q, kid_over_training))
    classifier = f"{clf.name} classifier, held-out accuracy {clf.accuracy:.3f}" if clf else ""
    return Study(spec, runs, analysis.summarise(runs), analysis.verdicts(runs), real, extra is not None,
                 classifier)


def _classifier(spec: str) -> quality.Classifier | None:
    name = quality.classifier_name(spec)
    try:
        return quality.Classifier.load(name) if name else None
    except BundleError:
        return None  # not shipped: the quality measures are left out, the rest stands


def checkerboard_over_training(study: Study, wanted: tuple[int, ...]) -> list[tuple[int, dict[str, float],
                                                                                 list[analysis.Paired]]]:
    """Power at (pi, pi) over real at the recorded steps nearest `wanted`: per step, each variant's
    log ratio averaged over seeds, and each other variant paired with the baseline seed by seed. The
    checkerboard lives early in training, where the final generators no longer show it."""
    out = []
    for step in nearest_steps(study.runs[0].timeline_steps, wanted):
        at: dict[str, dict[int, float]] = {}  # variant -> seed -> log ratio at this step
        for r in study.runs:
            nearest = nearest_steps(r.timeline_steps, [step])[0]  # runs of other lengths: their nearest frame
            at.setdefault(r.variant, {})[r.seed] = float(r.timeline_corner[list(r.timeline_steps).index(nearest)])
        means = {v: float(np.mean(list(by_seed.values()))) for v, by_seed in at.items()}
        pairs = [analysis.paired("corner", BASELINE, v, at[BASELINE], by_seed)
                 for v, by_seed in at.items() if v != BASELINE and BASELINE in at]
        out.append((step, means, [p for p in pairs if p is not None]))
    return out


MOMENTS = (0, *EARLY_STEPS)  # training steps (the recorded ones nearest) where the checkerboard is measured paired


@dataclass
class Verdict:
    """One operator against the baseline, paired by seed: the power at (pi, pi) at the recorded
    steps nearest MOMENTS (`during`), and every measure of the final generators (`final`)."""
    variant: str
    final: list[analysis.Paired]
    during: list[tuple[int, analysis.Paired]]

    @property
    def seeds(self) -> int:
        return max(p.interval.n for p in self.final)


def operator_verdicts(study: Study) -> list[Verdict]:
    """Every operator with paired seeds against the baseline, in registration order."""
    over_training = checkerboard_over_training(study, MOMENTS)
    groups: dict[str, list[analysis.Paired]] = {}
    for p in study.verdicts:
        groups.setdefault(p.b, []).append(p)
    return [Verdict(v, final, [(step, p) for step, _, pairs in over_training for p in pairs if p.b == v])
            for v, final in sorted(groups.items(), key=lambda kv: operators.order(kv[0]))]


def verdict_table(study: Study) -> list[dict]:
    """The numbers behind the paired verdicts, one row per operator, moment and measure: the
    (pi, pi) power at the recorded steps nearest MOMENTS, then every measure of the final
    generators. A "log" measure's mean and interval are natural-log ratios of the operator to the
    baseline (exp() reads them as "x times"); a "diff" measure's are differences."""
    rows = []
    for v in operator_verdicts(study):
        rows += [(f"step {step}", step, p) for step, p in v.during] + [("final", None, p) for p in v.final]
    return [{"operator": p.b, "baseline": p.a, "moment": moment, "step": step, "measure": p.measure,
             "kind": analysis.MEASURES[p.measure][1], "mean": float(p.interval.mean), "low": float(p.interval.low),
             "high": float(p.interval.high), "seeds": [int(s) for s in p.seeds],
             "differences": [float(d) for d in p.diffs], "agree": p.agree, "sign_flip_p": float(p.p),
             "differs": bool(p.differs)}
            for moment, step, p in rows]


CURVES = ("d_loss", "g_loss", "d_acc_real", "d_acc_fake")
WINDOWS = ((1, 200), (201, 1000), (1001, 2000))  # steps, inclusive: early, middle, late training


def _per_seed(bundles: list[Bundle], n: int) -> dict[tuple[str, str], dict[int, float]]:
    """(variant, measure) -> {seed: value}: the final-sample measures and windowed curve means."""
    values: dict[tuple[str, str], dict[int, float]] = {}
    for r in run_study(bundles, n).runs:
        for m, (label, _, _) in analysis.MEASURES.items():
            values.setdefault((r.variant, label), {})[r.seed] = r.values[m]
    for b in bundles:
        for metric in CURVES:
            for lo, hi in WINDOWS:
                if len(b.history[metric]) >= hi:
                    values.setdefault((b.variant, f"mean {metric}, steps {lo}-{hi}"), {})[b.config.seed] = \
                        float(np.mean(b.history[metric][lo - 1:hi]))
    return values


def compare_recipes(a: list[Bundle], b: list[Bundle], names: tuple[str, str],
                    n: int = N_SAMPLES) -> list[dict[str, str]]:
    """Two training recipes run with the same seeds: per variant and measure, each recipe's mean
    over seeds and the paired difference (same seed, same data order and init) with its 95%
    interval and sign-flip p. 'differs' only where that interval excludes zero (n/a with one seed).
    `n`: samples per generator."""
    va, vb = _per_seed(a, n), _per_seed(b, n)
    rows = []
    for key, by_seed in va.items():
        p = analysis.paired(key[1], names[0], names[1], by_seed, vb.get(key, {}))
        if p is None:
            continue
        rows.append({"variant": key[0], "measure": key[1],
                     names[0]: number(float(np.mean([by_seed[s] for s in p.seeds]))),
                     names[1]: number(float(np.mean([vb[key][s] for s in p.seeds]))),
                     f"{names[1]} - {names[0]} (95%, {len(p.seeds)} seeds)": str(p.interval),
                     "differs": "n/a" if p.interval.n < 2 else "yes" if p.differs else "no"})
    return sorted(rows, key=lambda r: operators.order(r["variant"]))
