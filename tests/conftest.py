"""Shared fixtures: tiny configs and data so the whole suite runs in minutes on 2 cores."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The page's trainings run at nice 10 so that a busy server stays responsive; in the suite the
# other pytest worker runs at nice 0 on the same 2 cores and would starve them towards the
# tests' timeouts. Priority is a deployment setting; the tests check behaviour.
os.environ.setdefault("GANVIZ_TRAINING_NICE", "0")

import numpy as np
import pytest

from ganviz.config import GANConfig


# The files that take a minute or more (`--durations`: browsers, the cgroup, studies), started
# first: pytest-xdist hands each worker whole files in collection order, and a long file
# collected last keeps one worker busy while the other has nothing left.
LONGEST_FIRST = ("test_browser.py", "test_small_host.py", "test_study.py", "test_glance.py", "test_app.py",
                 "test_analysis.py", "test_bench.py", "test_jobs.py")


def pytest_collection_modifyitems(items: list) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: every file keeps its order


@pytest.fixture(scope="session")
def tiny_images() -> np.ndarray:
    from ganviz.data.doodles import make_doodles
    return make_doodles(64, "camel", seed=3).reshape(-1, 28, 28)


@pytest.fixture
def tiny_config() -> GANConfig:
    return GANConfig(steps=3, batch_size=8, probe_size=4, measure_size=8)


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Data the tests generate stays in this run's temporary folder, never in ~/.cache: session
    scope, so that module-scoped fixtures (set up before any test's own) see it too."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GANVIZ_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield


def assert_same_picture(a: np.ndarray, b: np.ndarray) -> None:
    """uint8 images rendered on two machines (a stored file against a fresh computation).

    oneDNN picks other kernels on other CPUs (AVX2, AVX-512, AMX), which sum in another order:
    float32 outputs then differ by ~1e-6, and a pixel whose value sits within that of a
    rounding edge (1 uint8 level = 1/127.5 on the [-1, 1] scale) moves by one level, as does
    one in 50-150 pixels with the pretrained generators' float16 storage. So at
    most 2 levels anywhere and 0.05 on average (a level in 1 pixel of 20); a wrong weight or a
    wrong layer moves most pixels by many levels. Bit-exactness is asserted only between two
    computations in one test run (tests/test_training.py, tests/test_resume.py)."""
    diff = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16))
    assert a.shape == b.shape and diff.max() <= 2 and diff.mean() <= 0.05, (diff.max(), diff.mean())


def load_weights(model, path) -> None:
    """Fill a Keras model's variables from a weights file, each checked by name and shape."""
    from ganviz.store.bundle import read_weights
    variables = {f"{layer.name}/{w.name}": w for layer in model.layers for w in layer.weights}
    values = read_weights(path, {key: tuple(v.shape) for key, v in variables.items()})
    for key, var in variables.items():
        var.assign(values[key])


def keras_generator(bundle):
    """A bundle's Keras generator, its stored weights loaded by name and shape: what the NumPy
    viewer is checked against."""
    from ganviz.gan.models import build_generator
    model = build_generator(bundle.config, bundle.variant)
    load_weights(model, bundle.path / "generator.weights.h5")
    return model


def keras_gan(bundle):
    """Both models of a bundle, to sample or train on; a slim bundle (no discriminator) is
    refused with a BundleError, as training from it would be."""
    from ganviz.errors import BundleError
    from ganviz.gan.training import GAN
    from ganviz.store.bundle import DISCRIMINATOR
    if not (bundle.path / DISCRIMINATOR).is_file():
        raise BundleError(f"{bundle.path}: a slim bundle (no {DISCRIMINATOR}) can be viewed, not trained on")
    gan = GAN(bundle.config, bundle.variant)
    load_weights(gan.generator, bundle.path / "generator.weights.h5")
    load_weights(gan.discriminator, bundle.path / DISCRIMINATOR)
    return gan
