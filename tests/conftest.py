"""Shared fixtures: tiny configs and data so the whole suite runs in minutes on 2 cores."""
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from ganviz.config import GANConfig


@pytest.fixture(scope="session")
def tiny_images() -> np.ndarray:
    from ganviz.doodles import make_doodles
    return make_doodles(64, "camel", seed=3).reshape(-1, 28, 28)


@pytest.fixture
def tiny_config() -> GANConfig:
    return GANConfig(steps=3, batch_size=8, probe_size=4)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("GANVIZ_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
