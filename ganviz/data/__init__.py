"""Training images: one spec string names a data set everywhere (CLI, dashboard, bundles).

Specs:
  doodles[:CLASS[:N]]      the embedded procedural drawings (camel by default, 10,000 of them)
  quickdraw:CATEGORY[:N]   the book's real data: a Quick Draw numpy-bitmap file, downloaded once
                           (the book keeps N = 80,000 camels)
  fashion-mnist            Debian's `dataset-fashion-mnist` IDX files, or Keras' cache
  PATH                     an IDX file (raw or .gz), .npy, .npz, PNG/JPEG, a zip or folder of images

Every source gives uint8 images (N, 28, 28), white strokes on black; `to_model_scale` applies
the book's normalisation `(x - 127.5) / 127.5` to [-1, 1].
"""
from __future__ import annotations

import gzip
import hashlib
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganviz.atomic import replaced
from ganviz.data import files, quickdraw
from ganviz.data.doodles import CLASSES, make_doodles
from ganviz.errors import DataError

DEFAULT_DOODLES = 10_000
FASHION_MNIST_DIRS = (
    Path("/usr/share/datasets/fashion-mnist"),
    Path.home() / ".keras" / "datasets" / "fashion-mnist",
)
INVERT = {"auto": None, "yes": True, "no": False}  # image files' polarity: detect, invert, keep
SPECS = "doodles[:CLASS[:N]], quickdraw:CATEGORY[:N], fashion-mnist, or a file/folder path"


@dataclass(frozen=True)
class Dataset:
    spec: str
    images: np.ndarray  # (N, 28, 28) uint8

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.images)


def describe(spec: str) -> str:
    """What a spec's images are, in words, for the page and the report: above all whether they
    are real drawings or the built-in ones made by code."""
    kind, _, rest = spec.partition(":")
    if kind == "doodles":
        return (f"{rest.partition(':')[0] or 'camel'} doodles made by code in Quick Draw's format "
                "(ganviz's built-in data set, not Quick Draw's own drawings)")
    if kind == "quickdraw":
        return f"Quick Draw's {rest.partition(':')[0]} drawings, the book's data"
    if spec == "fashion-mnist":
        return "Fashion-MNIST's training images"
    return f"images from {Path(spec).name}"


def slug(spec: str) -> str:
    """A data set spec as a file or folder name: doodles:camel -> doodles-camel."""
    return re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-") or "data"


def fingerprint(images: np.ndarray) -> str:
    """Short content hash, so a bundle can tell which images it was trained on."""
    return hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()[:16]


def as_model_scale(images: np.ndarray) -> np.ndarray:
    """The one [-1, 1] mapping: uint8 images get the book's `(x - 127.5) / 127.5`; generator
    outputs (already on that scale) pass as they are. float32, a trailing channel axis dropped:
    (N, H, W, 1) -> (N, H, W)."""
    x = np.asarray(images)
    if x.dtype == np.uint8:
        x = (x.astype(np.float32) - 127.5) / 127.5
    return (x[..., 0] if x.ndim == 4 else x).astype(np.float32, copy=False)


def to_model_scale(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [-1, 1]: the model's input."""
    return as_model_scale(images)[..., None]


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Model scale [-1, 1] (any trailing channel axis) -> uint8 (N, 28, 28)."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 4:
        x = x[..., 0]
    return np.clip(np.rint(x * 127.5 + 127.5), 0, 255).astype(np.uint8)


def cache_dir() -> Path:
    """Where downloads and generated data are kept (GANVIZ_CACHE overrides)."""
    return Path(os.environ.get("GANVIZ_CACHE", Path.home() / ".cache" / "ganviz"))


def _count(text: str, what: str) -> int | None:
    if not text:
        return None
    try:
        n = int(text)
    except ValueError:
        raise DataError(f"{what} count {text!r} is not a whole number") from None
    if not 1 <= n <= files.MAX_IMAGES:
        raise DataError(f"{what} count must be between 1 and {files.MAX_IMAGES:,}, got {n}")
    return n


def _doodles(n: int, category: str) -> np.ndarray:
    """Drawing takes ~0.7 ms each; keep the result on disk so a restart is instant."""
    path = cache_dir() / f"doodles-{category}-{n}.npy"
    if path.exists():
        try:
            return files.images_from_bytes(path.name, path.read_bytes())
        except DataError:
            pass  # a damaged cache file is simply redrawn
    images = make_doodles(n, category).reshape(-1, 28, 28)
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced(path) as fh:
        np.save(fh, images)
    return images


def read_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode an IDX3 (MNIST-format) image file held in memory."""
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{source}: damaged gzip data ({exc})") from None
    if len(raw) < 16:
        raise DataError(f"{source}: too short for an IDX header")
    magic, n, rows, cols = struct.unpack(">IIII", raw[:16])
    if magic != 0x00000803:
        raise DataError(f"{source}: not an IDX image file (magic {magic:#010x}, expected 0x00000803)")
    if (rows, cols) != (28, 28):
        raise DataError(f"{source}: {rows}x{cols} images; accepted: 28x28")
    if len(raw) != 16 + n * rows * cols:
        raise DataError(f"{source}: holds {len(raw) - 16} pixel bytes, header promises {n}x{rows}x{cols}")
    if not 1 <= n <= files.MAX_IMAGES:
        raise DataError(f"{source}: {n:,} images; accepted: 1 to {files.MAX_IMAGES:,}")
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows, cols).copy()


def read_idx_labels(raw: bytes, source: str) -> np.ndarray:
    """Decode an IDX1 (MNIST-format) label file held in memory: uint8 (N,)."""
    raw = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    if len(raw) < 8 or struct.unpack(">I", raw[:4])[0] != 0x00000801:
        raise DataError(f"{source}: not an IDX label file")
    n = struct.unpack(">I", raw[4:8])[0]
    if len(raw) != 8 + n:
        raise DataError(f"{source}: holds {len(raw) - 8} labels, header promises {n}")
    return np.frombuffer(raw, dtype=np.uint8, offset=8).copy()


def _is_idx(path: Path) -> bool:
    return "idx" in path.name or "ubyte" in path.name


def find_fashion_mnist() -> Path | None:
    for folder in FASHION_MNIST_DIRS:
        if (folder / "train-images-idx3-ubyte.gz").exists():
            return folder / "train-images-idx3-ubyte.gz"
    return None


def load_matching(spec: str, invert: bool | None, fingerprint: str | None,
                  progress: quickdraw.Progress | None = None) -> Dataset:
    """The data set of a spec, and only if it is the very one with this fingerprint (None: any);
    an image upload whose polarity was detected is tried both ways. Resuming a run needs this."""
    tries = (invert,) if fingerprint is None or invert is not None else (None, True, False)
    for inv in tries:
        dataset = load(spec, invert=inv, progress=progress)
        if fingerprint is None or dataset.fingerprint == fingerprint:
            return dataset
    raise DataError(f"{spec}: these are not the images the run trained on (fingerprint {fingerprint}), so it "
                    "cannot continue exactly; start a new run instead")


def load(spec: str, invert: bool | None = None, progress: quickdraw.Progress | None = None) -> Dataset:
    """Resolve a data set spec string to uint8 images (N, 28, 28).

    `invert` applies to image files (None: detect dark-on-light from the borders);
    `progress(done, total)` reports a Quick Draw download.
    """
    kind, _, rest = spec.partition(":")
    if kind == "doodles":
        category, _, count = rest.partition(":")
        category = category or "camel"
        if category not in CLASSES:
            raise DataError(f"unknown doodles class {category!r}; available: {', '.join(CLASSES)}")
        return Dataset(spec, _doodles(_count(count, "doodles") or DEFAULT_DOODLES, category))
    if kind == "quickdraw":
        category, _, count = rest.partition(":")
        cap = _count(count, "quickdraw")  # checked before a download that may take minutes
        path = quickdraw.download(category, cache_dir(), progress)
        drawings = np.load(path, allow_pickle=False, mmap_mode="r")
        return Dataset(spec, np.array(drawings[:cap]).reshape(-1, 28, 28))
    if spec == "fashion-mnist":
        path = find_fashion_mnist()
        if path is None:
            raise DataError("fashion-mnist: IDX files not found; install them with "
                            "`apt-get install dataset-fashion-mnist` (or put train-images-idx3-ubyte.gz "
                            f"in {FASHION_MNIST_DIRS[1]})")
        return Dataset(spec, read_idx(path.read_bytes(), str(path)))
    path = Path(spec)
    if not path.exists():
        raise DataError(f"data set {spec!r} not found; accepted: {SPECS}")
    if path.is_file() and _is_idx(path):
        return Dataset(spec, read_idx(path.read_bytes(), str(path)))
    return Dataset(spec, files.fix_polarity(files.read_path(path), invert))
