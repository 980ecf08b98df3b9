"""Images from files and uploads: .npy, .npz, PNG/JPEG, a zip or a folder of images.

Everything becomes uint8 (N, 28, 28), white strokes on black like Quick Draw: colour is
converted to grayscale, images are padded to a square and resized to 28x28 with Pillow,
dark-on-light drawings are inverted (detected from the border, or forced), and float arrays
are scaled from whichever range they use ([0, 1], [-1, 1] or [0, 255]).
Nothing is executed: no pickles, and zip member names are never used as paths.
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from ganviz.errors import DataError

MAX_FILE_BYTES = 256 * 2**20  # one upload or file
MAX_UNPACKED_BYTES = 512 * 2**20  # everything inside one zip
MAX_IMAGE_PIXELS = 4096 * 4096  # one picture; larger ones are refused before decoding
MAX_IMAGES = 500_000
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
ACCEPTED = ".npy (N x 784, N x 28 x 28 or N x 28 x 28 x 1), .npz, PNG/JPEG, or a zip or folder of PNG/JPEG"


def _scale(arr: np.ndarray, source: str) -> np.ndarray:
    """Numeric array -> uint8 0..255, refusing what has no sensible pixel meaning."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind not in "fiub":
        raise DataError(f"{source}: dtype {arr.dtype} is not numeric pixels; accepted: uint8, or floats in "
                        "[0, 1], [-1, 1] or [0, 255]")
    x = arr.astype(np.float64)
    if x.size and not np.isfinite(x).all():
        raise DataError(f"{source}: contains NaN or infinite values")
    lo, hi = (x.min(), x.max()) if x.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1 and arr.dtype.kind == "f":
        x = x * 255
    elif lo >= -1 and hi <= 1 and arr.dtype.kind == "f":
        x = (x + 1) * 127.5
    elif not (lo >= 0 and hi <= 255):
        raise DataError(f"{source}: values run from {lo:g} to {hi:g}; accepted: [0, 1], [-1, 1] or [0, 255]")
    return np.rint(x).astype(np.uint8)


def _shape(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.ndim == 2 and arr.shape[1] == 784:
        arr = arr.reshape(-1, 28, 28)
    elif arr.ndim == 4 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 3 or arr.shape[1:] != (28, 28):
        raise DataError(f"{source}: shape {arr.shape} is not a stack of 28x28 images; accepted: {ACCEPTED}")
    if len(arr) == 0:
        raise DataError(f"{source}: holds no images")
    if len(arr) > MAX_IMAGES:
        raise DataError(f"{source}: {len(arr):,} images, more than the limit of {MAX_IMAGES:,}")
    return arr


def _array(arr: np.ndarray, source: str) -> np.ndarray:
    return np.ascontiguousarray(_scale(_shape(arr, source), source))


def _npy(raw: bytes, source: str) -> np.ndarray:
    try:
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
    except Exception as exc:  # a damaged header can raise almost anything from NumPy's parser
        if "pickle" in str(exc).lower():
            raise DataError(f"{source}: holds Python objects (pickle), which are never loaded; "
                            "accepted: numeric arrays") from None
        raise DataError(f"{source}: not a readable .npy file ({type(exc).__name__})") from None
    return _array(arr, source)


def _npz(raw: bytes, source: str) -> np.ndarray:
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            names = list(npz.files)
            key = next((k for k in ("images", "x_train", "x", "arr_0") if k in names), names[0] if len(names) == 1 else None)
            if key is None:
                raise DataError(f"{source}: holds arrays {names}; name the images 'images' or store only one array")
            arr = npz[key]
    except DataError:
        raise
    except Exception as exc:  # zip and .npy parsers of damaged data raise many types
        raise DataError(f"{source}: not a readable .npz file ({type(exc).__name__})") from None
    return _array(arr, source)


def _picture(raw: bytes, source: str) -> np.ndarray:
    """One PNG/JPEG -> uint8 28x28, grayscale, padded to a square, any polarity."""
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.format not in ("PNG", "JPEG"):
                raise DataError(f"{source}: a {im.format} image; accepted: PNG or JPEG")
            w, h = im.size
            if w * h > MAX_IMAGE_PIXELS or w == 0 or h == 0:
                raise DataError(f"{source}: {w}x{h} pixels, more than the limit of {MAX_IMAGE_PIXELS:,} pixels")
            gray = im.convert("L")
    except DataError:
        raise
    except Exception as exc:  # Pillow's decoders raise many types on damaged data
        raise DataError(f"{source}: not a readable PNG or JPEG ({type(exc).__name__})") from None
    side = max(gray.size)
    border = np.concatenate([np.asarray(gray)[[0, -1]].ravel(), np.asarray(gray)[:, [0, -1]].ravel()])
    square = Image.new("L", (side, side), int(np.median(border)))
    square.paste(gray, ((side - gray.size[0]) // 2, (side - gray.size[1]) // 2))
    return np.asarray(square.resize((28, 28), Image.Resampling.BOX), dtype=np.uint8)


def _zip(raw: bytes, source: str) -> np.ndarray:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except Exception:  # BadZipFile, and ValueError/OSError/EOFError for some damaged directories
        raise DataError(f"{source}: not a readable zip file") from None
    with zf:
        members = [i for i in zf.infolist() if not i.is_dir()]
        pictures = [i for i in members if Path(i.filename).suffix.lower() in IMAGE_SUFFIXES]
        others = [i.filename for i in members if i not in pictures and not Path(i.filename).name.startswith(".")]
        if others:
            raise DataError(f"{source}: holds files that are not PNG/JPEG images ({', '.join(others[:3])}); "
                            "accepted: a zip of PNG/JPEG images")
        if not pictures:
            raise DataError(f"{source}: holds no PNG/JPEG images")
        if len(pictures) > MAX_IMAGES or sum(i.file_size for i in pictures) > MAX_UNPACKED_BYTES:
            raise DataError(f"{source}: unpacks to more than {MAX_UNPACKED_BYTES >> 20} MB or {MAX_IMAGES:,} images")
        try:  # each member is read into memory by itself; its name never becomes a path
            return np.stack([_picture(zf.read(i), f"{source}:{i.filename}") for i in pictures])
        except DataError:
            raise
        except Exception as exc:  # CRC errors, truncated members, unsupported compression ...
            raise DataError(f"{source}: damaged zip ({type(exc).__name__})") from None


def images_from_bytes(name: str, raw: bytes) -> np.ndarray:
    """Decode an upload by its name's ending; uint8 (N, 28, 28) before polarity."""
    if len(raw) == 0:
        raise DataError(f"{name}: the file is empty; accepted: {ACCEPTED}")
    if len(raw) > MAX_FILE_BYTES:
        raise DataError(f"{name}: {len(raw) / 2**20:.0f} MB, more than the limit of {MAX_FILE_BYTES >> 20} MB")
    suffix = Path(name).suffix.lower()
    if suffix == ".npy":
        return _npy(raw, name)
    if suffix == ".npz":
        return _npz(raw, name)
    if suffix in IMAGE_SUFFIXES:
        return _picture(raw, name)[None]
    if suffix == ".zip":
        return _zip(raw, name)
    raise DataError(f"{name}: unknown kind of file {suffix or '(no ending)'!r}; accepted: {ACCEPTED}")


def read_path(path: Path) -> np.ndarray:
    """A file or a folder of PNG/JPEG images, as uint8 (N, 28, 28) before polarity."""
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{path}: folder holds no PNG/JPEG images")
        if len(files) > MAX_IMAGES:
            raise DataError(f"{path}: {len(files):,} images, more than the limit of {MAX_IMAGES:,}")
        return np.stack([_picture(_read(p), str(p)) for p in files])
    return images_from_bytes(str(path), _read(path))


def _read(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise DataError(f"{path}: {size / 2**20:.0f} MB, more than the limit of {MAX_FILE_BYTES >> 20} MB")
    return path.read_bytes()


def fix_polarity(images: np.ndarray, invert: bool | None = None) -> np.ndarray:
    """White strokes on black, as the model expects. invert=None decides from the borders:
    a mostly light border means dark strokes on white paper."""
    if invert is None:
        border = np.concatenate([images[:, [0, -1], :].ravel(), images[:, :, [0, -1]].ravel()])
        invert = float(np.median(border)) > 127
    return 255 - images if invert else images
