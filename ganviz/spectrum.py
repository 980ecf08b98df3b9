"""Where a checkerboard lives: the power spectrum of images, and the shares of it at the
frequencies an uneven transposed convolution paints.

A period-2 pattern puts its power at the Nyquist frequencies: the corner (pi, pi) for a
checkerboard, the lines (pi, *) and (*, pi) for stripes (Odena, Dumoulin & Olah, "Deconvolution
and Checkerboard Artifacts", Distill 2016). Generated images are compared with real ones by the
*ratio* of their shares of non-DC power there (Durall et al., "Watch your Up-Convolution",
CVPR 2020; Dzanic et al., "Fourier spectrum discrepancies in deep network generated images",
NeurIPS 2020): real stroke drawings carry power on those frequencies too, and a ratio, unlike a
difference of shares, does not hide a 2-100x excess behind a small baseline.

Plain NumPy: the training loop records spectra with it, and the measures read them.
"""
from __future__ import annotations

import numpy as np

from ganviz import operators
from ganviz.data import as_model_scale

# "High frequency": radial bins at or beyond this fraction of the Nyquist radius (side / 2).
HIGH_FREQUENCY = 0.75
REGIONS = ("corner", "lines", "high")  # the artifact measures, each a share of non-DC power


def power_spectrum(images: np.ndarray) -> np.ndarray:
    """Mean 2D power spectrum |FFT|^2 of images on the model's [-1, 1] scale (uint8 or float
    input), each image's mean removed, zero frequency at the centre (fftshift)."""
    x = as_model_scale(images).astype(np.float64)
    x = x - x.mean(axis=(1, 2), keepdims=True)
    return np.fft.fftshift((np.abs(np.fft.fft2(x)) ** 2).mean(axis=0))


REAL_REFERENCE = 1024  # training images whose mean spectrum stands for "real"


def reference_images(images: np.ndarray) -> np.ndarray:
    """A fixed random subset of REAL_REFERENCE training images: what generated images are measured against."""
    pick = np.random.default_rng(0).choice(len(images), min(len(images), REAL_REFERENCE), replace=False)
    return np.asarray(images)[np.sort(pick)]


def real_spectrum(images: np.ndarray) -> np.ndarray:
    """The mean power spectrum of the reference subset of training images."""
    return power_spectrum(reference_images(images))


def _radius(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.indices(shape)
    return np.hypot(yy - h // 2, xx - w // 2)


def radial_profile(spectrum: np.ndarray) -> np.ndarray:
    """Power averaged over rings of equal spatial frequency (index = radius in FFT bins)."""
    r = np.rint(_radius(spectrum.shape)).astype(int)
    return np.bincount(r.ravel(), spectrum.ravel()) / np.maximum(np.bincount(r.ravel()), 1)


def region_masks(shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Boolean masks of the artifact regions in an fftshift-ed spectrum: the (pi, pi) corner,
    the two Nyquist lines without it, and every bin beyond HIGH_FREQUENCY of the Nyquist radius."""
    h, w = shape  # after fftshift the Nyquist bins sit at index 0 of each axis (even sides)
    corner = np.zeros(shape, bool)
    corner[0, 0] = True
    lines = np.zeros(shape, bool)
    lines[0, :] = lines[:, 0] = True
    lines &= ~corner
    high = _radius(shape) >= HIGH_FREQUENCY * min(h, w) / 2
    return {"corner": corner, "lines": lines, "high": high}


def shares(spectrum: np.ndarray) -> dict[str, float]:
    """Each region's share of the non-DC power of a spectrum."""
    h, w = spectrum.shape
    total = spectrum.sum() - spectrum[h // 2, w // 2]
    return {name: float(spectrum[m].sum() / total) if total > 0 else 0.0
            for name, m in region_masks(spectrum.shape).items()}


def log_ratios(generated: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """Natural log of (generated share / real share) per region, from two power spectra:
    0 is the real images' level, log(2) twice their share. A generator whose spectrum is all
    zero (a constant image) has no share anywhere; it gets -inf, never a fake number."""
    g, r = shares(generated), shares(real)
    with np.errstate(divide="ignore"):
        return {k: float(np.log(g[k]) - np.log(r[k])) for k in REGIONS}


def ratio_map(generated: np.ndarray, real: np.ndarray) -> np.ndarray:
    """log10 of generated over real power per frequency, each spectrum first normalised by its
    non-DC total (so the map shows where power moved, not overall contrast); DC is NaN."""
    def normalised(s: np.ndarray) -> np.ndarray:
        s = s.astype(np.float64).copy()
        s[s.shape[0] // 2, s.shape[1] // 2] = np.nan
        return s / np.nansum(s)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log10(normalised(generated) / normalised(real))


def closer_maps(images: dict[str, np.ndarray], i: int, real: np.ndarray) -> dict[str, np.ndarray]:
    """The ratio map of image `i` of each variant's batch alone: where that one image's power sits."""
    return {f"{operators.label(v)} #{i + 1}": ratio_map(power_spectrum(x[i:i + 1]), real) for v, x in images.items()}
