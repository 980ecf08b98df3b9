"""Training images: one spec string names a data set everywhere (CLI, dashboard, bundles).

Specs:
  doodles[:CLASS[:N]]   the embedded procedural drawings (default class camel, 10,000 drawings)
  fashion-mnist         the Debian package `dataset-fashion-mnist` (IDX files)
  PATH.npy              a Quick Draw numpy-bitmap file, (N, 784) uint8
  PATH (IDX, .gz too)   an MNIST-format image file

Every loader returns uint8 images of shape (N, 28, 28), white strokes on black; `to_model_scale`
applies the book's normalisation `(x - 127.5) / 127.5` to [-1, 1].
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganviz.doodles import CLASSES, make_doodles

DEFAULT_DOODLES = 10_000
MAX_IMAGES = 500_000
FASHION_MNIST_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".keras" / "datasets" / "fashion-mnist",
)


class DataError(ValueError):
    """A data source that cannot be used; the message says what was wrong and what is accepted."""


@dataclass(frozen=True)
class Dataset:
    spec: str
    images: np.ndarray  # (N, 28, 28) uint8

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.images)


def fingerprint(images: np.ndarray) -> str:
    """Short content hash, so a bundle can tell which images it was trained on."""
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]


def to_model_scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1], the book's normalisation."""
    return ((images.astype(np.float32) - 127.5) / 127.5)[..., None]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model scale [-1, 1] (any trailing channel axis) -> uint8 (N, 28, 28)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4:
        x = x[..., 0]
    return np.clip(np.rint(x * 127.5 + 127.5), 0, 255).astype(np.uint8)


def _check_images(images: np.ndarray, source: str) -> np.ndarray:
    if images.ndim == 2 and images.shape[1] == 784:
        images = images.reshape(-1, 28, 28)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataError(f"{source}: shape {images.shape} is not images of 28x28; "
                        "accepted: (N, 784), (N, 28, 28) or (N, 28, 28, 1)")
    if len(images) == 0:
        raise DataError(f"{source}: holds no images; accepted: at least one 28x28 image")
    if len(images) > MAX_IMAGES:
        raise DataError(f"{source}: {len(images):,} images is more than the limit of {MAX_IMAGES:,}")
    if images.dtype != np.uint8:
        raise DataError(f"{source}: dtype {images.dtype} is not uint8; accepted: uint8 pixel values 0-255")
    return np.ascontiguousarray(images)


def load_npy(path: str | os.PathLike) -> np.ndarray:
    """A Quick Draw numpy-bitmap file: (N, 784) uint8. Never unpickles."""
    try:
        arr = np.load(path, allow_pickle=False, mmap_mode=None)
    except ValueError as exc:  # object arrays need pickle
        raise DataError(f"{path}: not a plain numeric .npy file ({exc}); accepted: uint8 arrays") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read as .npy ({exc})") from None
    return _check_images(arr, str(path))


def read_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode an IDX3 (MNIST-format) image file held in memory."""
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 16:
        raise DataError(f"{source}: too short for an IDX header")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise DataError(f"{source}: not an IDX image file (magic {magic:#010x}, expected 0x00000803)")
    if len(raw) != 16 + n * rows * cols:
        raise DataError(f"{source}: holds {len(raw) - 16} pixel bytes, header promises {n}x{rows}x{cols}")
    images = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols)
    return _check_images(images, source)


def cache_dir() -> Path:
    """Where downloads and generated data are kept (GANVIZ_CACHE overrides)."""
    return Path(os.environ.get("GANVIZ_CACHE", Path.home() / ".cache" / "ganviz"))


def _cached_doodles(n: int, category: str) -> np.ndarray:
    """Drawing takes ~0.7 ms each; keep the result on disk so a restart is instant."""
    path = cache_dir() / f"doodles-{category}-{n}.npy"
    if path.exists():
        try:
            return load_npy(path)
        except DataError:
            pass  # a damaged cache file is simply redrawn
    images = make_doodles(n, category).reshape(-1, 28, 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, images)
    os.replace(tmp, path)
    return images


def find_fashion_mnist() -> Path | None:
    for folder in FASHION_MNIST_DIRS:
        if (folder / "train-images-idx3-ubyte.gz").exists():
            return folder / "train-images-idx3-ubyte.gz"
    return None


def load(spec: str) -> Dataset:
    """Resolve a data set spec string to uint8 images (N, 28, 28)."""
    kind, _, rest = spec.partition(":")
    if kind == "doodles":
        category, _, count = rest.partition(":")
        category = category or "camel"
        if category not in CLASSES:
            raise DataError(f"unknown doodles class {category!r}; available: {', '.join(CLASSES)}")
        try:
            n = int(count) if count else DEFAULT_DOODLES
        except ValueError:
            raise DataError(f"doodles count {count!r} is not a whole number") from None
        if not 1 <= n <= MAX_IMAGES:
            raise DataError(f"doodles count must be between 1 and {MAX_IMAGES:,}, got {n}")
        return Dataset(spec, _cached_doodles(n, category))
    if spec == "fashion-mnist":
        path = find_fashion_mnist()
        if path is None:
            raise DataError("fashion-mnist: IDX files not found; install them with "
                            "`apt-get install dataset-fashion-mnist` (or put train-images-idx3-ubyte.gz "
                            f"in {FASHION_MNIST_DIRS[1]})")
        return Dataset(spec, read_idx(path.read_bytes(), str(path)))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"data set {spec!r} not found; accepted: doodles[:CLASS[:N]], fashion-mnist, "
                        "a .npy file or an IDX file")
    if path.suffix == ".npy":
        return Dataset(spec, load_npy(path))
    return Dataset(spec, read_idx(path.read_bytes(), str(path)))
