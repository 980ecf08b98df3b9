"""tf.distribute: the same loop on 2 logical CPU devices and on 2 worker processes matches a
single-device run; only worker 0 writes; the bundles load anywhere.

Dropout is off here so the runs can be compared number for number: with dropout on, each
replica draws its own masks, and the runs agree in distribution only (docs/SCALING.md)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import keras_generator
from ganviz.config import BOOK_PAIR, METRICS
from ganviz.noise import latent_batch
from ganviz.store.bundle import load_bundle
from ganviz_tools.browser import free_ports

ROOT = Path(__file__).parents[1]
RUN = ["--dataset", "doodles:camel:40", "--steps", "3", "--batch", "8", "--dropout", "0", "--measure-size", "8"]
TOLERANCE = 1e-5  # absolute, on every loss and accuracy of every step: float32 summation order


def _train(out: Path, *args: str, env: dict | None = None, wait: bool = True):
    cmd = [sys.executable, "-m", "ganviz", "train", *RUN, "--out", str(out), *args]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if wait:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
    return proc


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    out = tmp_path_factory.mktemp("single")
    _train(out)
    return out


def _assert_matches(run: Path, single: Path, replicas: int) -> None:
    for v in BOOK_PAIR:
        a, b = load_bundle(single / v), load_bundle(run / v)
        assert b.meta["replicas"] == replicas and b.meta["steps_done"] == 3
        for m in METRICS:
            np.testing.assert_allclose(b.history[m], a.history[m], atol=TOLERANCE, err_msg=f"{v} {m}")
        np.testing.assert_allclose(b.timeline[-1].astype(int), a.timeline[-1].astype(int), atol=2)  # uint8 images


def test_mirrored_on_two_cpu_devices_matches_one_device(single, tmp_path):
    _train(tmp_path, "--strategy", "mirrored", "--cpu-devices", "2")
    _assert_matches(tmp_path, single, replicas=2)
    # written by a distributed run, read by the one-device models and the NumPy viewer
    bundle = load_bundle(tmp_path / "transpose")
    z = latent_batch(0, 4, bundle.config.z_dim)
    np.testing.assert_allclose(keras_generator(bundle)(z, training=False).numpy(),
                               keras_generator(load_bundle(single / "transpose"))(z, training=False).numpy(), atol=1e-4)


def test_two_worker_processes_match_one_device_and_only_worker_0_writes(single, tmp_path):
    ports = free_ports(2)
    workers = [_train(tmp_path / "out", "--strategy", "multiworker", wait=False, env={"TF_CONFIG": json.dumps({
        "cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]}, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    for w in workers:
        _, err = w.communicate(timeout=300)
        assert w.returncode == 0, err[-2000:]
    _assert_matches(tmp_path / "out", single, replicas=2)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["checkpoint.npz", "run.json", "transpose", "upsample"]


@pytest.mark.parametrize("args, env, message", [
    (["--strategy", "multiworker"], {"TF_CONFIG": ""}, "--strategy multiworker needs TF_CONFIG"),
    (["--strategy", "mirrored", "--cpu-devices", "2", "--batch", "7"], {}, "batch 7 does not split evenly over 2"),
    (["--dropout", "1.5"], {}, "1.5 must be at least 0 and below 1"),
])
def test_bad_distributed_settings_are_one_line_errors(tmp_path, args, env, message):
    proc = subprocess.run([sys.executable, "-m", "ganviz", "train", *RUN, "--out", str(tmp_path), *args], cwd=ROOT,
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
