"""KID, Frechet distance and precision/recall on the shipped classifier's features: they score
real images as real, an untrained generator as far from it, and ignore the order of samples."""
import numpy as np
import pytest

from ganviz.data import as_model_scale
from ganviz.data.doodles import make_doodles
from ganviz.measures import quality


@pytest.fixture(scope="module")
def doodles():
    clf = quality.Classifier.load("doodles")
    train = make_doodles(600, "camel", seed=0).reshape(-1, 28, 28)
    held_out = make_doodles(300, "camel", seed=1).reshape(-1, 28, 28)
    return clf, clf.features(train), clf.features(held_out)


def test_the_shipped_classifier_is_as_accurate_as_it_says():
    from ganviz.data.doodles import CLASSES
    clf = quality.Classifier.load("doodles")
    images = np.concatenate([make_doodles(100, c, seed=1).reshape(-1, 28, 28) for c in CLASSES])
    labels = np.repeat(np.arange(len(CLASSES)), 100)
    assert clf.classes == list(CLASSES)
    assert (clf.predict(images) == labels).mean() >= clf.accuracy - 0.02  # the NumPy pass is the Keras model


def test_real_images_score_as_real_and_an_untrained_generator_far_worse(doodles):
    clf, train, held = doodles
    real = quality.quality(train, held)
    assert abs(real["kid"]) < 5 * real["kid_se"] + 1.0 and real["precision"] > 0.9 and real["recall"] > 0.9
    from ganviz.config import GANConfig
    from ganviz.view.inference import NumpyGenerator
    from ganviz.view.weights import weight_shapes
    rng = np.random.default_rng(0)  # a generator at step 0: the book's N(0, 0.02) weights, unit batch norm
    weights = {k: (rng.normal(0, 0.02, s) if k.endswith("kernel") else
                   np.ones(s) if k.endswith(("gamma", "moving_variance")) else np.zeros(s)).astype(np.float32)
               for k, s in weight_shapes(GANConfig(), "upsample").items()}
    untrained = NumpyGenerator(GANConfig(), "upsample", weights)(rng.standard_normal((300, 100)).astype(np.float32))
    fake = quality.quality(train, clf.features(untrained))
    assert fake["kid"] > 20 * max(real["kid"], real["kid_se"]) and fake["fd"] > 10 * real["fd"]
    assert fake["precision"] < 0.2 and fake["recall"] < 0.2


def test_the_measures_ignore_the_order_of_samples(doodles):
    _, train, held = doodles
    order = np.random.default_rng(1).permutation(len(held))
    a, b = quality.quality(train, held), quality.quality(train, held[order])
    for key in ("kid", "fd", "precision", "recall"):
        assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-9), key


def test_frechet_distance_of_known_gaussians():
    rng = np.random.default_rng(0)
    x, y = rng.normal(0, 1, (20000, 3)), rng.normal(0, 2, (20000, 3)) + 1.0
    # |mu|^2 = 3, traces 3 + 12, cross term 2 * tr((I * 4I)^(1/2)) = 12
    assert quality.frechet(x, y) == pytest.approx(3 + 3 + 12 - 12, rel=0.05)


def test_features_take_uint8_and_model_scale_alike():
    clf = quality.Classifier.load("doodles")
    images = make_doodles(8, "camel", seed=5).reshape(-1, 28, 28)
    np.testing.assert_allclose(clf.features(images), clf.features(as_model_scale(images)), rtol=1e-6)
