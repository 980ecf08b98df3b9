"""Measures of what the upsampling operator does, and paired verdicts over seeds.

  artifacts      log ratio of generated to real power at the checkerboard frequency (pi, pi),
                 on the Nyquist lines, and in the high-frequency ring (ganviz/spectrum.py;
                 Odena et al., Distill 2016; Durall et al., CVPR 2020; Dzanic et al., NeurIPS 2020)
  quality        KID, Frechet distance, precision and recall on a small classifier's features
                 (ganviz/measures/quality.py)
  copying        nearest-training-image distances of samples against those of held-out real
                 images (Meehan et al., "A Non-Parametric Test to Detect Data-Copying", AISTATS 2020)
  diversity      mean pairwise L1 within a batch of samples over the same within real images;
                 well below 1 means mode collapse

Verdicts are paired: the operators of one seed share data order, noise and the initial
discriminator, so the per-seed difference is what is tested (mean with a 95% t-interval and an
exact sign-flip permutation p-value), never two overlapping intervals.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganviz.config import BASELINE
from ganviz.readable import number
from ganviz.spectrum import log_ratios, power_spectrum
from ganviz.view.neighbours import L1Index, nearest_l1, to_rows

# two-sided 95% Student t quantiles by degrees of freedom (1..10); 1.96 beyond
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def mean_pairwise_l1(images: np.ndarray, limit: int = 256) -> float:
    """Mean of mean|a - b| over all pairs of the first `limit` images ([-1, 1] scale)."""
    x = to_rows(np.asarray(images)[:limit])
    n = len(x)
    if n < 2:
        return 0.0
    total = sum(np.abs(x[i + 1:] - x[i]).mean(axis=1).sum() for i in range(n - 1))
    return float(total / (n * (n - 1) / 2))


def mann_whitney_z(a: np.ndarray, b: np.ndarray) -> float:
    """Normal-approximation z of the Mann-Whitney U test; negative: a tends to be smaller than b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ranks = np.empty(len(a) + len(b))
    order = np.argsort(np.concatenate([a, b]), kind="stable")
    ranks[order] = np.arange(1, len(ranks) + 1)
    u = ranks[: len(a)].sum() - len(a) * (len(a) + 1) / 2
    mean, sd = len(a) * len(b) / 2, np.sqrt(len(a) * len(b) * (len(a) + len(b) + 1) / 12)
    return float((u - mean) / sd)


@dataclass
class CopyTest:
    generated: np.ndarray  # nearest-training distances of samples
    held_out: np.ndarray  # nearest-training distances of real images not trained on
    z: float  # Mann-Whitney z; strongly negative = samples sit closer to training images than new data

    @property
    def copying(self) -> bool:
        return self.z < -3.0


def copy_test(generated: np.ndarray, train: np.ndarray | L1Index, held_out: np.ndarray) -> CopyTest:
    _, d_gen = nearest_l1(generated, train)
    _, d_held = nearest_l1(held_out, train)
    return CopyTest(d_gen, d_held, mann_whitney_z(d_gen, d_held))


@dataclass
class Interval:
    mean: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        return f"{number(self.mean)} [{number(self.low)}, {number(self.high)}]" if self.n > 1 \
            else f"{number(self.mean)} (1 seed)"


def interval(values: list[float] | np.ndarray) -> Interval:
    """Mean and 95% Student-t confidence interval."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return Interval(m, m, m, len(v))
    half = T95.get(len(v) - 1, 1.96) * v.std(ddof=1) / np.sqrt(len(v))
    return Interval(m, m - half, m + half, len(v))


EXACT_SIGN_FLIPS = 16  # seeds up to which every sign pattern is enumerated (2^16 patterns)


def sign_flip_p(diffs: np.ndarray) -> float:
    """Two-sided permutation p-value of a mean paired difference: under 'no effect' each seed's
    difference is as likely negated, so count the sign patterns whose |mean| reaches the observed
    one. Exact (all 2^n patterns) up to EXACT_SIGN_FLIPS seeds, where it cannot go below 2 / 2^n
    (0.125 for 4, 0.0625 for 5); beyond, 2^16 random patterns drawn with a fixed seed, counting
    the observed one, so that the p-value is valid and the same on every call."""
    d = np.asarray(diffs, float)
    if len(d) <= EXACT_SIGN_FLIPS:
        signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)
    else:
        drawn = np.random.default_rng(0).integers(0, 2, (2 ** EXACT_SIGN_FLIPS - 1, len(d)))
        signs = np.vstack([np.ones((1, len(d)), int), 1 - 2 * drawn])
    means = np.abs((signs * d).mean(axis=1))
    return float((means >= abs(d.mean()) - 1e-12).mean())


# name: (label, kind, what a higher value of b than a means). "log" measures are natural log
# ratios, read as "x times"; "diff" measures are read as differences.
MEASURES = {
    "corner": ("power at the checkerboard frequency (pi, pi), relative to real images", "log",
               "the power of {a} at the checkerboard frequency (pi, pi)"),
    "lines": ("power on the Nyquist lines, relative to real images", "log", "the power of {a} on the Nyquist lines"),
    "high": ("high-frequency power (beyond 3/4 of Nyquist), relative to real images", "log",
             "the high-frequency power of {a}"),
    "kid": ("KID x 1000 (classifier features; 0 = as real)", "diff", "KID"),
    "fd": ("Frechet distance (classifier features)", "diff", "Frechet distance"),
    "precision": ("precision (share of samples on the real manifold)", "diff", "precision"),
    "recall": ("recall (share of real images the samples cover)", "diff", "recall"),
    "nn_median": ("median L1 to nearest training image", "diff", "median L1 to the nearest training image"),
    "copy_z": ("copying z (Mann-Whitney; < -3 flags copying)", "diff", "copying z"),
    "diversity": ("diversity (pairwise L1 of samples / of real)", "diff", "diversity"),
}


@dataclass
class Paired:
    """b minus a over the seeds both were trained with."""
    measure: str
    a: str
    b: str
    seeds: list[int]
    diffs: np.ndarray
    interval: Interval
    p: float

    @property
    def differs(self) -> bool:
        return self.interval.n > 1 and (self.interval.low > 0 or self.interval.high < 0)

    @property
    def agree(self) -> int:
        """Seeds whose difference has the sign of the mean difference."""
        return int((np.sign(self.diffs) == np.sign(self.interval.mean)).sum())


def paired(measure: str, a: str, b: str, values_a: dict[int, float], values_b: dict[int, float]) -> Paired | None:
    """The paired comparison of b against a on the seeds both have (None if none)."""
    seeds = sorted(s for s in set(values_a) & set(values_b) if np.isfinite(values_a[s]) and np.isfinite(values_b[s]))
    if not seeds:
        return None
    d = np.array([values_b[s] - values_a[s] for s in seeds])
    return Paired(measure, a, b, seeds, d, interval(d), sign_flip_p(d) if len(d) > 1 else 1.0)


@dataclass
class RunMeasures:
    """Every measure of one trained generator (one variant, one seed); NaN where not measured."""
    variant: str
    seed: int
    values: dict[str, float]
    spectrum: np.ndarray  # mean power spectrum of its samples
    timeline_steps: np.ndarray
    timeline_corner: np.ndarray  # log ratio at (pi, pi) over training
    copy: CopyTest | None


def measure(variant: str, seed: int, samples: np.ndarray, index: L1Index, held_out: np.ndarray | None,
            real_spectrum: np.ndarray, real_diversity: float, timeline_steps: np.ndarray,
            timeline_spectra: np.ndarray, quality_values: dict[str, float] | None = None) -> RunMeasures:
    """All measures for one generator's samples (uint8 or [-1, 1]) against its training set."""
    copy = copy_test(samples, index, held_out) if held_out is not None else None
    _, d = nearest_l1(samples, index) if copy is None else (None, copy.generated)
    spectrum = power_spectrum(samples)
    values = {**log_ratios(spectrum, real_spectrum),
              "nn_median": float(np.median(d)), "copy_z": copy.z if copy else float("nan"),
              "diversity": mean_pairwise_l1(samples) / real_diversity,
              **{k: float("nan") for k in ("kid", "fd", "precision", "recall")}, **(quality_values or {})}
    corner = np.array([log_ratios(s, real_spectrum)["corner"] for s in timeline_spectra])
    return RunMeasures(variant, seed, values, spectrum, timeline_steps, corner, copy)


def verdicts(runs: list[RunMeasures], baseline: str = BASELINE) -> list[Paired]:
    """Every other variant against the baseline, per measure, paired by seed."""
    by_variant: dict[str, dict[int, RunMeasures]] = {}
    for r in runs:
        by_variant.setdefault(r.variant, {})[r.seed] = r
    out = []
    for variant in by_variant:
        if variant == baseline or baseline not in by_variant:
            continue
        for m in MEASURES:
            p = paired(m, baseline, variant, {s: r.values[m] for s, r in by_variant[baseline].items()},
                       {s: r.values[m] for s, r in by_variant[variant].items()})
            if p is not None:
                out.append(p)
    return out


def summarise(runs: list[RunMeasures]) -> dict[str, dict[str, Interval]]:
    """Per measure and variant: mean and 95% interval over seeds (for the tables)."""
    table: dict[str, dict[str, Interval]] = {}
    for m in MEASURES:
        for v in dict.fromkeys(r.variant for r in runs):
            vals = [r.values[m] for r in runs if r.variant == v and np.isfinite(r.values[m])]
            if vals:
                table.setdefault(m, {})[v] = interval(vals)
    return table
