"""The run bundle: one folder per trained generator, all the dashboard needs, no retraining.

  config.json                   GANConfig, the operator (`variant`), data set id and fingerprint,
                                versions, timing (formats 1-2, still read, kept the operator in the config)
  generator.weights.h5          weights only, HDF5 arrays keyed layer/variable (no pickles, no code)
  discriminator.weights.h5      optional: needed only to continue training (slim bundles drop it)
  history.npz                   per-step metrics (float32 arrays, no pickles)
  timeline.npz                  probe z and probe samples at log-spaced steps (uint8) and the mean
                                power spectrum of the images of the measure batch (config.measure_size
                                z, 256 by default) at the same steps (format 1, still read, lacks it)

Written atomically (temporary folder, then rename); `load_bundle` validates every part.
"""
from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np

from ganviz import operators
from ganviz.atomic import replaced
from ganviz.config import METRICS, GANConfig
from ganviz.errors import BundleError

if TYPE_CHECKING:  # TensorFlow is imported only where models are built: viewing a bundle needs none
    import keras

    from ganviz.gan.training import Trainer

GENERATOR = "generator.weights.h5"
FILES = ("config.json", GENERATOR, "history.npz", "timeline.npz")  # every bundle has these
DISCRIMINATOR = "discriminator.weights.h5"
FORMAT = 3


@dataclass
class Bundle:
    path: Path
    config: GANConfig
    variant: str  # the generator's operator
    meta: dict
    history: dict[str, np.ndarray]
    timeline_steps: np.ndarray  # (T,)
    timeline: np.ndarray  # (T, probe, 28, 28) uint8
    probe_z: np.ndarray  # (probe, z_dim)
    spectra: np.ndarray | None = None  # (T, 28, 28) measure-batch power spectra; None in format 1

    @property
    def name(self) -> str:
        return self.path.name

    def frame(self, step: int) -> np.ndarray:
        """The probe batch at a recorded step, uint8 (probe, 28, 28)."""
        return self.timeline[int(np.flatnonzero(self.timeline_steps == step)[0])]


def stored_config(values: dict) -> tuple[GANConfig, str | None]:
    """(config, operator) from a stored config dict: bundle formats 1-2 keep the operator in the
    config as `variant` (None here when it is not there: format 3 stores it beside the config)."""
    values = dict(values)
    variant = values.pop("variant", None)
    return GANConfig.from_dict(values), variant


def nearest_steps(recorded: np.ndarray, wanted: tuple[int, ...] | list[int]) -> list[int]:
    """The recorded step nearest each wanted one, without repeats, in order: timelines keep
    frames at log-spaced steps, and views ask for round ones."""
    recorded = np.asarray(recorded)
    return sorted({int(recorded[np.abs(recorded - s).argmin()]) for s in wanted}) if len(recorded) else []


def save_weights(model: keras.Model, path: Path) -> None:
    """Weights only, keyed `layer/variable` by name: plain float arrays in HDF5, no code."""
    with h5py.File(path, "w") as f:
        for layer in model.layers:
            for w in layer.weights:
                f.create_dataset(f"{layer.name}/{w.name}", data=w.numpy())


def halve_weights(path: Path) -> None:
    """Rewrite a `save_weights` file with float16 arrays, for shipping: half the bytes, and
    `read_weights` gives float32 back (a pretrained generator's samples move by at most one
    grey level of 255: docs/RESULTS.md). An array float16 cannot hold stays as it is. Atomic, like a
    checkpoint; a file halved already is left alone."""
    with h5py.File(path, "r") as f:
        arrays: dict[str, np.ndarray] = {}
        f.visititems(lambda name, obj: arrays.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    with np.errstate(over="ignore"):  # an overflow becomes inf, and that array stays as it is
        halved = {name: a.astype(np.float16) if a.dtype.kind == "f" else a for name, a in arrays.items()}
    halved = {name: h if np.isfinite(h).all() else arrays[name] for name, h in halved.items()}
    if all(h.dtype == arrays[name].dtype for name, h in halved.items()):
        return
    with replaced(path, sync=True) as fh, h5py.File(fh, "w") as f:
        for name, a in halved.items():
            f.create_dataset(name, data=a)


def read_weights(path: Path, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """Arrays of a `save_weights` file, checked to be exactly the named float arrays of these
    shapes, all finite (a diverged run's NaN weights would paint garbage without a word)."""
    try:
        with h5py.File(path, "r") as f:
            found: set[str] = set()
            f.visititems(lambda name, obj: found.add(name) if isinstance(obj, h5py.Dataset) else None)
            if found != set(shapes):
                missing, extra = sorted(set(shapes) - found), sorted(found - set(shapes))
                raise BundleError(f"{path}: weights do not match the config's model "
                                  f"(missing {missing[:3]}, unexpected {extra[:3]})")
            values = {}
            for key, shape in shapes.items():
                ds = f[key]
                if ds.shape != tuple(shape) or ds.dtype.kind != "f":
                    raise BundleError(f"{path}: {key} has shape {ds.shape} {ds.dtype}, the config's model "
                                      f"needs {tuple(shape)} float")
                values[key] = ds[()].astype(np.float32)
                if not np.isfinite(values[key]).all():
                    raise BundleError(f"{path}: {key} holds NaN or infinite values; accepted: the weights of "
                                      "a run that did not diverge")
            return values
    except BundleError:
        raise
    except Exception as exc:  # h5py raises OSError, KeyError, ValueError... for damaged files
        raise BundleError(f"{path}: unreadable weights file ({type(exc).__name__}: {exc})") from None


def _versions() -> dict[str, str]:
    """The versions that trained a bundle, from the installed packages' metadata."""
    return {"python": platform.python_version(), "numpy": np.__version__,
            "tensorflow": metadata.version("tensorflow"), "keras": metadata.version("keras")}


def save_bundles(trainer: Trainer, out_dir: str | os.PathLike) -> list[Path]:
    """Write one bundle per trained variant under out_dir, named after the variant."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for variant, gan in trainer.gans.items():
        meta = {"format": FORMAT, "config": gan.config.to_dict(), "variant": variant, "data_fingerprint": trainer.fingerprint,
                "n_train_images": int(len(trainer.images)), "steps_done": trainer.step,
                "status": trainer.status, "wall_time_s": round(trainer.wall_time, 3),
                "steps_per_s": round(trainer.steps_per_s, 4), "trained_together": list(trainer.variants),
                "replicas": gan.strategy.num_replicas_in_sync,
                "versions": _versions()}
        target = out / variant
        tmp = Path(tempfile.mkdtemp(prefix=f".{variant}-", dir=out))
        try:
            (tmp / "config.json").write_text(json.dumps(meta, indent=2))
            save_weights(gan.generator, tmp / GENERATOR)
            save_weights(gan.discriminator, tmp / DISCRIMINATOR)
            np.savez_compressed(tmp / "history.npz",
                                **{m: np.asarray(trainer.history[variant][m], np.float32) for m in METRICS})
            np.savez_compressed(tmp / "timeline.npz", steps=np.asarray(trainer.recorded_steps, np.int64),
                                images=np.stack(trainer.timeline[variant]), probe_z=trainer.probe,
                                spectra=np.stack(trainer.spectra[variant]))
            replace_dir(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        paths.append(target)
    return paths


CHECKPOINT = "checkpoint.npz"


def save_checkpoint(trainer: Trainer, out_dir: str | os.PathLike) -> Path:
    """Everything to continue the run exactly, in one file replaced atomically: a kill at
    any moment leaves either the previous checkpoint or the new one, never half of each."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with replaced(out / CHECKPOINT, sync=True) as fh:
        np.savez(fh, **trainer.state())
    return out / CHECKPOINT


RUN_FILE = "run.json"


def save_run_file(out_dir: str | os.PathLike, config: GANConfig, variants: tuple[str, ...],
                  fingerprint: str) -> None:
    """What a run is (config, variants, data fingerprint), written atomically before anything
    slow happens, so a run killed even before its first checkpoint restarts from step 0."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with replaced(out / RUN_FILE) as fh:
        fh.write(json.dumps({"config": config.to_dict(), "variants": list(variants),
                             "data_fingerprint": fingerprint}, indent=2).encode())


def load_run_file(out_dir: str | os.PathLike) -> tuple[GANConfig, tuple[str, ...], str]:
    """(config, variants, data fingerprint) of `save_run_file`."""
    path = Path(out_dir) / RUN_FILE
    try:
        meta = json.loads(path.read_text())
        return stored_config(meta["config"])[0], tuple(meta["variants"]), str(meta["data_fingerprint"])
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        raise BundleError(f"{path}: unreadable run file ({type(exc).__name__}: {exc})") from None


def load_checkpoint(out_dir: str | os.PathLike) -> tuple[GANConfig, tuple[str, ...], dict[str, np.ndarray]]:
    """(config, variants, arrays) of a run's checkpoint; arrays go to `Trainer.load_state`."""
    path = Path(out_dir) / CHECKPOINT
    if not path.is_file():
        raise BundleError(f"{path}: no checkpoint to resume from; train with --out {out_dir} first")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        meta = json.loads(str(arrays["meta"]))
        return stored_config(meta["config"])[0], tuple(meta["variants"]), arrays
    except Exception as exc:  # a damaged file: say so, never guess
        raise BundleError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None


def state_fingerprint(state: dict[str, np.ndarray]) -> str | None:
    """The data fingerprint a checkpoint's run trained on (None in checkpoints that predate it)."""
    return json.loads(str(state["meta"])).get("data_fingerprint")


def load_run(out_dir: str | os.PathLike) -> tuple[GANConfig, tuple[str, ...], str | None, dict[str, np.ndarray] | None]:
    """(config, variants, data fingerprint, checkpoint state) of the run in `out_dir`: from its
    checkpoint, or from its run file alone (state None) when it was cut off before the first."""
    out = Path(out_dir)
    if (out / CHECKPOINT).is_file() or not (out / RUN_FILE).is_file():
        config, variants, state = load_checkpoint(out)
        return config, variants, state_fingerprint(state), state
    return (*load_run_file(out), None)


def checkpoint_progress(out_dir: str | os.PathLike) -> tuple[int, int]:
    """(steps done, steps planned) of a run's checkpoint, reading only its small meta record."""
    path = Path(out_dir) / CHECKPOINT
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz["meta"]))
        return int(meta["step"]), int(meta["config"]["steps"])
    except Exception as exc:
        raise BundleError(f"{path}: unreadable checkpoint ({type(exc).__name__}: {exc})") from None


def replace_dir(src: Path, dst: Path) -> None:
    """Swap a finished folder into place; a reader never sees a half-written bundle."""
    old = dst.with_name(f".{dst.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dst.exists():
        os.replace(dst, old)
    os.replace(src, dst)
    shutil.rmtree(old, ignore_errors=True)


def _load_npz(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in keys if k not in npz.files]
            if missing:
                raise BundleError(f"{path}: missing arrays {', '.join(missing)}")
            return {k: npz[k] for k in keys}
    except BundleError:
        raise
    except Exception as exc:
        raise BundleError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None


def load_bundle(path: str | os.PathLike) -> Bundle:
    """Read and validate a bundle folder: its config, curves and frames (the weights are read by
    whoever needs them: the viewer, or a training that continues it)."""
    path = Path(path)
    if not path.is_dir():
        raise BundleError(f"{path}: not a folder; a bundle is a folder holding {', '.join(FILES)}")
    missing = [f for f in FILES if not (path / f).is_file()]
    if missing:
        raise BundleError(f"{path}: not a ganviz bundle, missing {', '.join(missing)}")
    try:
        meta = json.loads((path / "config.json").read_text())
        config, variant = stored_config(meta["config"])
        variant = meta.get("variant", variant)
        if variant not in operators.names():
            raise ValueError(f"operator {variant!r} is not one of {', '.join(operators.names())}")
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError, OverflowError) as exc:
        raise BundleError(f"{path}/config.json: invalid ({type(exc).__name__}: {exc})") from None
    history = _load_npz(path / "history.npz", METRICS)
    tl = _load_npz(path / "timeline.npz", ("steps", "images", "probe_z"))
    images, steps, z = tl["images"], tl["steps"], tl["probe_z"]
    spectra = _load_npz(path / "timeline.npz", ("spectra",))["spectra"] if meta.get("format", 1) >= 2 else None
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[2:] != config.image_shape[:2] \
            or len(images) != len(steps) or z.shape != (images.shape[1], config.z_dim) \
            or (spectra is not None and (spectra.shape != (len(steps), *config.image_shape[:2])
                                         or spectra.dtype.kind != "f")):
        raise BundleError(f"{path}/timeline.npz: arrays have unexpected shapes or types")
    if len({len(v) for v in history.values()}) != 1:
        raise BundleError(f"{path}/history.npz: metric arrays differ in length")
    z = z.astype(np.float32)
    for array in (*history.values(), steps, images, z, *([] if spectra is None else [spectra])):
        array.setflags(write=False)  # cached and shared by every dashboard session
    return Bundle(path, config, variant, meta, history, steps, images, z, spectra)


def find_bundles(root: str | os.PathLike) -> list[Path]:
    """Every bundle folder under root (sorted), skipping hidden temporaries."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.parent for p in root.rglob("config.json")
                  if not any(part.startswith(".") for part in p.relative_to(root).parts)
                  and all((p.parent / f).is_file() for f in FILES))
