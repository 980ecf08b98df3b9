"""The variants compared over every seed of a data set: the analysis behind the dashboard's
Analysis section, the report and `python -m ganviz report`."""
from __future__ import annotations

import functools
import hashlib
import inspect
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganviz import data, operators
from ganviz.atomic import replaced
from ganviz.config import BASELINE, EARLY_STEPS
from ganviz.data.doodles import make_doodles
from ganviz.errors import BundleError, DataError
from ganviz.measures import analysis, quality
from ganviz.noise import latent_batch
from ganviz.readable import number
from ganviz import spectrum as spectrum_module
from ganviz.spectrum import power_spectrum, reference_images, shares
from ganviz.store.bundle import GENERATOR, Bundle, nearest_steps
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
    baseline: str = BASELINE  # the operator every other is paired with (`baseline_of`)


def baseline_of(variants) -> str:
    """The operator a study pairs the others with: the book's UpSampling2D + Conv2D where the
    study has it, else its first in registration order."""
    return BASELINE if BASELINE in variants else min(variants, key=operators.order)


STORE = "analysis-{}.npz"  # beside a study's seed folders, one per data set


def bundle_key(bundle: Bundle, n: int = N_SAMPLES) -> str:
    """What a run's measures depend on: its config, operator and weights (by content, so a fresh
    clone finds the stored measures), the sample count and the measure code."""
    digest = hashlib.sha256(f"{bundle.variant}|{bundle.config.to_json()}|{n}|{measure_code()}".encode())
    digest.update((bundle.path / GENERATOR).read_bytes())
    digest.update(bundle.timeline_steps.tobytes())
    return digest.hexdigest()[:24]


def final_samples(b: Bundle, n: int = N_SAMPLES, generator: NumpyGenerator | None = None) -> np.ndarray:
    """What a run's final generator is measured on: n samples of the same z (sample seed 0) for
    every run, so that runs compare sample for sample."""
    return generate(generator or NumpyGenerator.from_bundle(b), latent_batch(0, n, b.config.z_dim))


@dataclass
class _Context:
    """What measuring a run against its data set needs: built once, and only if a run is measured."""
    index: L1Index
    real: np.ndarray
    real_div: float
    extra: np.ndarray | None
    clf: quality.Classifier | None
    real_features: np.ndarray | None

    @classmethod
    def build(cls, spec: str, n: int) -> "_Context":
        train = data.load(spec).images
        reference = reference_images(train)
        clf = _classifier(spec)
        return cls(L1Index.build(train), power_spectrum(reference), analysis.mean_pairwise_l1(reference),
                   held_out(spec, n), clf, clf.features(reference) if clf else None)

    def measure(self, b: Bundle, n: int, generator=None) -> analysis.RunMeasures:
        samples = final_samples(b, n, generator)
        q = quality.quality(self.real_features, self.clf.features(samples)) if self.clf else None
        # bundles since format 2 hold the spectrum of a measure batch per frame (256 z unless
        # config.measure_size says otherwise); older ones only their 16 probe images, a noisier estimate
        spectra = b.spectra if b.spectra is not None else np.stack([power_spectrum(f) for f in b.timeline])
        return analysis.measure(b.variant, b.config.seed, samples, self.index, self.extra, self.real, self.real_div,
                                b.timeline_steps, spectra, q)

    @property
    def classifier(self) -> str:
        return f"{self.clf.name} classifier, held-out accuracy {self.clf.accuracy:.3f}" if self.clf else ""


@functools.cache
def measure_code() -> str:
    """A hash of everything that makes a run's measures: the code that samples and measures it
    (the viewer and the operators, the measures, the spectra, the search, the noise, `_Context`,
    `final_samples`)
    and the classifiers' weights. Stored measures are used only where it is unchanged."""
    from ganviz import noise
    from ganviz.view import inference, neighbours
    files = [Path(m.__file__) for m in (analysis, quality, spectrum_module, noise, inference, neighbours)]
    files += sorted(Path(operators.__file__).parent.glob("*.py")) + sorted(quality.CLASSIFIERS.glob("*"))
    digest = hashlib.sha256((inspect.getsource(_Context) + inspect.getsource(final_samples)).encode())
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Stored:
    """Measures kept beside a study's runs: per run key, and what the data set gives all of them."""
    dataset: str
    real_spectrum: np.ndarray
    has_held_out: bool
    classifier: str
    runs: dict[str, analysis.RunMeasures]


def run_study(bundles: list[Bundle], n: int = N_SAMPLES, generators: dict | None = None,
              stored: Stored | None = None) -> Study:
    """Measure every bundle (all trained on one data set) and compare the variants paired by
    seed. Runs whose measures are `stored` (same key) are not measured again: with all of them
    stored, neither the data set nor a generator is touched."""
    specs = {b.config.dataset for b in bundles}
    if len(specs) != 1:
        raise DataError(f"a study compares runs on one data set, got {sorted(specs)}")
    spec = specs.pop()
    known = stored.runs if stored is not None and stored.dataset == spec else {}
    ordered = sorted(bundles, key=lambda b: (operators.order(b.variant), b.config.seed))
    keys = [bundle_key(b, n) for b in ordered]
    context = None if all(k in known for k in keys) and known else _Context.build(spec, n)
    runs = [known[key] if key in known else context.measure(b, n, (generators or {}).get(str(b.path)))
            for b, key in zip(ordered, keys)]
    if context is None:
        real, has_extra, classifier = stored.real_spectrum, stored.has_held_out, stored.classifier
    else:
        real, has_extra, classifier = context.real, context.extra is not None, context.classifier
    baseline = baseline_of({r.variant for r in runs})
    return Study(spec, runs, analysis.summarise(runs), analysis.verdicts(runs, baseline), real, has_extra, classifier,
                 baseline)


def save_measures(folder: Path, study: Study, bundles: list[Bundle], n: int = N_SAMPLES) -> Path:
    """Keep a study's measures beside its runs (analysis-<data set>.npz, plain arrays and JSON,
    no pickles), written atomically; the page and the report read them in milliseconds."""
    ordered = sorted(bundles, key=lambda b: (operators.order(b.variant), b.config.seed))  # as run_study orders them
    arrays, meta = {"real_spectrum": study.real_spectrum}, {}
    for b, r in zip(ordered, study.runs, strict=True):
        key = bundle_key(b, n)
        meta[key] = {"variant": r.variant, "seed": r.seed, "values": r.values,
                     "copy_z": None if r.copy is None else r.copy.z}
        arrays.update({f"{key}/spectrum": r.spectrum, f"{key}/timeline_steps": r.timeline_steps,
                       f"{key}/timeline_corner": r.timeline_corner})
        if r.copy is not None:
            arrays.update({f"{key}/copy_generated": r.copy.generated, f"{key}/copy_held_out": r.copy.held_out})
    arrays["meta"] = np.array(json.dumps({"dataset": study.dataset, "has_held_out": study.has_held_out,
                                          "classifier": study.classifier, "code": measure_code(), "runs": meta}))
    path = folder / STORE.format(data.slug(study.dataset))
    with replaced(path) as fh:
        np.savez_compressed(fh, **arrays)
    return path


def load_measures(path: Path) -> Stored | None:
    """Stored measures, or None where the file is missing, damaged or of other measure code."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays["meta"]))
        if meta["code"] != measure_code():
            return None
        runs = {}
        for key, m in meta["runs"].items():
            copy = None if m["copy_z"] is None else analysis.CopyTest(
                arrays[f"{key}/copy_generated"], arrays[f"{key}/copy_held_out"], float(m["copy_z"]))
            runs[key] = analysis.RunMeasures(str(m["variant"]), int(m["seed"]), {k: float(v) for k, v in m["values"].items()},
                                             arrays[f"{key}/spectrum"], arrays[f"{key}/timeline_steps"],
                                             arrays[f"{key}/timeline_corner"], copy)
        return Stored(str(meta["dataset"]), arrays["real_spectrum"], bool(meta["has_held_out"]),
                      str(meta["classifier"]), runs)
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None


def load_all_measures(folder: Path) -> dict[str, Stored]:
    """Every data set's stored measures in a study folder, by data set spec."""
    found = (load_measures(p) for p in sorted(Path(folder).glob(STORE.format("*"))))
    return {s.dataset: s for s in found if s is not None}


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
        pairs = [analysis.paired("corner", study.baseline, v, at[study.baseline], by_seed)
                 for v, by_seed in at.items() if v != study.baseline and study.baseline in at]
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


def final_spectrum(b: Bundle, stored: Stored | None = None, generator: NumpyGenerator | None = None) -> np.ndarray:
    """A final generator's power spectrum as Analysis measures it: the stored one where `stored`
    holds this run, else measured on `final_samples`."""
    known = stored.runs.get(bundle_key(b)) if stored is not None and stored.dataset == b.config.dataset else None
    return known.spectrum if known is not None else power_spectrum(final_samples(b, generator=generator))


def checkerboard_at(bundles: dict[str, Bundle], step: int,
                    final: dict[str, np.ndarray] | None = None) -> tuple[str, dict[str, float], int]:
    """What the page shows at a step, in numbers: the operator compared with, each other
    operator's natural-log ratio of power at (pi, pi) to it, and how many images per generator
    that rests on. A recorded step reads the measure batch recorded there (the 16 probe images in
    bundles before format 2); the final generators (step -1) read each one's `final_spectrum`
    (given in `final`, else measured), so that the page and Analysis give one number."""
    def spectrum_of(v: str, b: Bundle) -> tuple[np.ndarray, int]:
        if step == -1:
            return (final[v] if final is not None else final_spectrum(b)), N_SAMPLES
        i = int(np.flatnonzero(b.timeline_steps == step)[0])
        return (b.spectra[i], b.config.measure_size) if b.spectra is not None else \
            (power_spectrum(b.timeline[i]), len(b.timeline[i]))
    measured = {v: spectrum_of(v, b) for v, b in bundles.items()}
    corner = {v: float(np.log(shares(s)["corner"])) for v, (s, _) in measured.items()}
    base = baseline_of(bundles)
    return (base, {v: c - corner[base] for v, c in corner.items() if v != base},
            min(n for _, n in measured.values()))


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
