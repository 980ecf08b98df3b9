"""The field's sample-quality measures, on a small classifier's features, in NumPy.

Inception features (FID, Heusel et al. 2017) mean nothing for 28x28 drawings, so each data
set gets its own small CNN classifier (`python -m ganviz classifier`, Keras, ganviz/gan/classifier.py),
shipped as a weights-only file beside the bundles; its penultimate layer gives the features.
Viewing runs it here in NumPy, so the page never imports TensorFlow.

  KID        unbiased squared MMD with the cubic polynomial kernel (Binkowski et al., "Demystifying
             MMD GANs", ICLR 2018); standard error from random subsets
  Frechet    distance between Gaussians fitted to the features (the FID formula)
  precision  share of samples inside the real images' k-NN balls; recall: share of real images
             inside the samples' (Kynkaanniemi et al., "Improved Precision and Recall Metric for
             Assessing Generative Models", NeurIPS 2019), k = 3
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganviz.config import CLASSIFIED, CLASSIFIER_FEATURES, CLASSIFIER_KERNEL, CLASSIFIER_LAYERS
from ganviz.data import as_model_scale
from ganviz.errors import BundleError
from ganviz.store.bundle import read_weights
from ganviz.operators.numerics import conv_same

CLASSIFIERS = Path(__file__).resolve().parents[2] / "pretrained" / "classifiers"
LAYERS, KERNEL, FEATURES = CLASSIFIER_LAYERS, CLASSIFIER_KERNEL, CLASSIFIER_FEATURES
K_NEAREST = 3  # Kynkaanniemi et al.'s default
KID_SUBSETS, KID_SUBSET = 50, 100


def classifier_name(spec: str) -> str | None:
    """Which shipped classifier judges a data set spec (None: none fits, e.g. an upload)."""
    kind = spec.partition(":")[0]
    return kind if kind in CLASSIFIED else None


def weight_shapes(classes: int) -> dict[str, tuple[int, ...]]:
    shapes = {}
    for name, cin, cout in LAYERS:
        shapes[f"{name}/kernel"], shapes[f"{name}/bias"] = (KERNEL, KERNEL, cin, cout), (cout,)
    side = 28 // 2 ** len(LAYERS)
    shapes["classifier_features/kernel"], shapes["classifier_features/bias"] = (side * side * LAYERS[-1][2], FEATURES), (FEATURES,)
    shapes["classifier_output/kernel"], shapes["classifier_output/bias"] = (FEATURES, classes), (classes,)
    return shapes


@dataclass
class Classifier:
    """The NumPy forward pass of `classifier.build_classifier`, from its weights file."""
    name: str
    classes: list[str]
    accuracy: float  # on held-out images, as measured when it was trained
    w: dict[str, np.ndarray]

    @classmethod
    def load(cls, name: str, folder: Path = CLASSIFIERS) -> "Classifier":
        try:
            meta = json.loads((folder / f"{name}.json").read_text())
        except (OSError, ValueError) as exc:
            raise BundleError(f"{folder / name}.json: no usable classifier ({exc}); train one with "
                              f"`python -m ganviz classifier {name}`") from None
        weights = read_weights(folder / f"{name}.weights.h5", weight_shapes(len(meta["classes"])))
        return cls(name, list(meta["classes"]), float(meta["accuracy"]), weights)

    def features(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """Penultimate-layer features (N, FEATURES) of uint8 or [-1, 1] images."""
        return np.concatenate([self._features(as_model_scale(images[i:i + batch])[..., None])
                               for i in range(0, len(images), batch)])

    def _features(self, x: np.ndarray) -> np.ndarray:
        for name, _, _ in LAYERS:
            x = np.maximum(conv_same(x, self.w[f"{name}/kernel"]) + self.w[f"{name}/bias"], 0.0)
            n, h, w, c = x.shape
            x = x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))  # MaxPooling2D(2)
        x = x.reshape(len(x), -1)
        return np.maximum(x @ self.w["classifier_features/kernel"] + self.w["classifier_features/bias"], 0.0)

    def predict(self, images: np.ndarray) -> np.ndarray:
        """Class indices, for checking the NumPy pass against the held-out accuracy."""
        return (self.features(images) @ self.w["classifier_output/kernel"]).argmax(axis=1)


def _kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a @ b.T / a.shape[1] + 1.0) ** 3


def mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """The unbiased squared MMD of two feature sets (cubic polynomial kernel): KID's estimate."""
    m, n = len(x), len(y)
    kxx, kyy = _kernel(x, x), _kernel(y, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
                 - 2 * _kernel(x, y).mean())


def kid(x: np.ndarray, y: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """(KID, standard error): the unbiased estimate on all features (so it does not depend on
    their order), and the spread of estimates on random subsets for its error."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    rng, size = np.random.default_rng(seed), min(KID_SUBSET, len(x), len(y))
    subsets = [mmd2(x[rng.choice(len(x), size, replace=False)], y[rng.choice(len(y), size, replace=False)])
               for _ in range(KID_SUBSETS)]
    return mmd2(x, y), float(np.std(subsets, ddof=1) / np.sqrt(KID_SUBSETS) * np.sqrt(size / min(len(x), len(y))))


def frechet(x: np.ndarray, y: np.ndarray) -> float:
    """|mu_x - mu_y|^2 + tr(Cx + Cy - 2 (Cx Cy)^(1/2)), via a symmetric form for stability."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    cx, cy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    vals, vecs = np.linalg.eigh(cx)
    root = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ cy @ root), 0, None)).sum()
    return float(((x.mean(0) - y.mean(0)) ** 2).sum() + np.trace(cx) + np.trace(cy) - 2 * cross)


def _radii(x: np.ndarray, k: int) -> np.ndarray:
    d = _distances(x, x)
    return np.sort(d, axis=1)[:, k]  # column 0 is the point itself


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    sq = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2 * a @ b.T
    return np.sqrt(np.clip(sq, 0, None))


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = K_NEAREST) -> tuple[float, float]:
    """(precision, recall) of fake features against real ones."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    d = _distances(real, fake)  # (real, fake)
    precision = (d <= _radii(real, k)[:, None]).any(axis=0).mean()
    recall = (d <= _radii(fake, k)[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def quality(real: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Every measure of fake features against real ones (KID reported x 1000, as is usual)."""
    k, k_se = kid(fake, real)
    precision, recall = precision_recall(real, fake)
    return {"kid": 1000 * k, "kid_se": 1000 * k_se, "fd": frechet(fake, real), "precision": precision, "recall": recall}
