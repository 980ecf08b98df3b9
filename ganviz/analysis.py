"""Measures of what the upsampling operator does, each with its uncertainty over seeds.

  checkerboard   share of image power at the period-2 (Nyquist) frequencies, generated minus
                 real; in the spirit of Durall et al., "Watch your Up-Convolution", CVPR 2020
  copying        nearest-training-image distances of samples against those of held-out real
                 images (Meehan et al., "A Non-Parametric Test to Detect Data-Copying", AISTATS 2020)
  diversity      mean pairwise L1 within a batch of samples over the same within real images;
                 well below 1 means mode collapse
  interpolation  spherical interpolation between two latent vectors, the same z for each variant
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ganviz.neighbours import L1Index, nearest_l1, to_rows

# two-sided 95% Student t quantiles by degrees of freedom (1..10); 1.96 beyond
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


def _model_scale(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 127.5) / 127.5
    return x.reshape(len(x), x.shape[1], x.shape[2]).astype(np.float64)


def power_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean 2D power spectrum |FFT|^2 (per-image mean removed), zero frequency at the centre."""
    x = _model_scale(images)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    return np.fft.fftshift((np.abs(np.fft.fft2(x)) ** 2).mean(axis=0))


def radial_profile(spectrum: np.ndarray) -> np.ndarray:
    """Power averaged over rings of equal spatial frequency (index = radius in FFT bins)."""
    h, w = spectrum.shape
    yy, xx = np.indices(spectrum.shape)
    r = np.rint(np.hypot(yy - h // 2, xx - w // 2)).astype(int)
    return np.bincount(r.ravel(), spectrum.ravel()) / np.maximum(np.bincount(r.ravel()), 1)


def nyquist_share(images: np.ndarray) -> float:
    """Fraction of (non-DC) power at the period-2 frequencies: in x, in y, and in both."""
    s = power_spectrum(images)
    h, w = s.shape  # after fftshift the Nyquist bins sit at index 0 of each axis
    nyq = s[0, w // 2] + s[h // 2, 0] + s[0, 0]
    total = s.sum() - s[h // 2, w // 2]
    return float(nyq / total) if total > 0 else 0.0


def checkerboard_score(generated: np.ndarray, real: np.ndarray) -> float:
    """Excess share of power at period 2, in percentage points, over real images (0: as real)."""
    return 100.0 * (nyquist_share(generated) - nyquist_share(real))


def slerp(z0: np.ndarray, z1: np.ndarray, steps: int) -> np.ndarray:
    """Spherical interpolation from z0 to z1 (endpoints included), the path Gaussian z prefer."""
    t = np.linspace(0.0, 1.0, steps)[:, None]
    cos = np.dot(z0, z1) / (np.linalg.norm(z0) * np.linalg.norm(z1))
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    if omega < 1e-6:
        return ((1 - t) * z0 + t * z1).astype(np.float32)
    return ((np.sin((1 - t) * omega) * z0 + np.sin(t * omega) * z1) / np.sin(omega)).astype(np.float32)


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
        return f"{self.mean:.3g} [{self.low:.3g}, {self.high:.3g}]" if self.n > 1 else f"{self.mean:.3g} (1 seed)"


def interval(values: list[float] | np.ndarray) -> Interval:
    """Mean and 95% Student-t confidence interval over seeds."""
    v = np.asarray(values, float)
    m = float(v.mean())
    if len(v) < 2:
        return Interval(m, m, m, len(v))
    half = T95.get(len(v) - 1, 1.96) * v.std(ddof=1) / np.sqrt(len(v))
    return Interval(m, m - half, m + half, len(v))


def verdict(name: str, a: str, ia: Interval, b: str, ib: Interval, higher: str) -> str:
    """A plain sentence: do two variants differ beyond the spread over seeds?"""
    if ia.n < 2 or ib.n < 2:
        return f"{name}: {a} {ia.mean:.3g}, {b} {ib.mean:.3g} -- one seed each, so no claim about the difference."
    if ia.low > ib.high or ib.low > ia.high:
        top = a if ia.mean > ib.mean else b
        return f"{name}: {top} {higher}, beyond the spread over {min(ia.n, ib.n)} seeds ({a} {ia}, {b} {ib})."
    return f"{name}: no difference beyond the spread over seeds ({a} {ia}, {b} {ib})."


MEASURES = {  # name: (label, what a higher value means)
    "checkerboard": ("checkerboard score (pp of power at period 2 above real)", "paints more checkerboard"),
    "nn_median": ("median L1 to nearest training image", "stays farther from the training images"),
    "copy_z": ("copying z (Mann-Whitney; < -3 flags copying)", "copies less"),
    "diversity": ("diversity (pairwise L1 of samples / of real)", "is more diverse (collapses less)"),
}


@dataclass
class RunMeasures:
    """Every measure of one trained generator (one variant, one seed)."""
    variant: str
    seed: int
    checkerboard: float
    nn_median: float
    copy_z: float
    diversity: float
    timeline_steps: np.ndarray
    timeline_checkerboard: np.ndarray
    spectrum: np.ndarray
    copy: CopyTest | None


def measure(variant: str, seed: int, samples: np.ndarray, train: np.ndarray, index: L1Index,
            held_out: np.ndarray | None, timeline_steps: np.ndarray, timeline: np.ndarray,
            real_diversity: float, real_share: float) -> RunMeasures:
    """All measures for one generator's samples (uint8 or [-1, 1]) against its training set."""
    copy = copy_test(samples, index, held_out) if held_out is not None else None
    _, d = nearest_l1(samples, index) if copy is None else (None, copy.generated)
    return RunMeasures(
        variant, seed,
        checkerboard=100.0 * (nyquist_share(samples) - real_share),
        nn_median=float(np.median(d)),
        copy_z=copy.z if copy else float("nan"),
        diversity=mean_pairwise_l1(samples) / real_diversity,
        timeline_steps=timeline_steps,
        timeline_checkerboard=np.array([100.0 * (nyquist_share(f) - real_share) for f in timeline]),
        spectrum=power_spectrum(samples), copy=copy)


def summarise(runs: list[RunMeasures]) -> tuple[dict[str, dict[str, Interval]], list[str]]:
    """Per measure and variant: mean and 95% interval over seeds; and one sentence per measure."""
    variants = sorted({r.variant for r in runs}, key=["upsample", "transpose"].index)
    table = {m: {v: interval([getattr(r, m) for r in runs if r.variant == v and np.isfinite(getattr(r, m))] or [np.nan])
                 for v in variants} for m in MEASURES}
    sentences = []
    if len(variants) == 2:
        a, b = variants
        for m, (label, higher) in MEASURES.items():
            if np.isfinite(table[m][a].mean) and np.isfinite(table[m][b].mean):
                sentences.append(verdict(label, a, table[m][a], b, table[m][b], higher))
    return table, sentences
