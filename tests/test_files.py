"""Files and uploads: every accepted format loads right; every bad one gets its message."""
import gzip
import io
import struct
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ganviz import data
from ganviz.data.files import MAX_IMAGE_PIXELS, fix_polarity, images_from_bytes
from ganviz.errors import DataError


def _npy(arr, allow_pickle=False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


def _png(arr: np.ndarray, fmt="PNG", mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


def _zip(entries: dict) -> bytes:
    """A zip of fixed bytes: each entry dated 2020-01-01, not now (test parameters must be the
    same in every pytest-xdist worker, which collect them a moment apart)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, raw in entries.items():
            zf.writestr(zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0)), raw)
    return buf.getvalue()


STROKE = np.zeros((28, 28), np.uint8)
STROKE[5:23, 13:15] = 255  # a white bar on black


@pytest.mark.parametrize("name, raw, n", [
    ("a.npy", _npy(np.tile(STROKE.reshape(1, 784), (3, 1))), 3),
    ("a.npy", _npy(np.tile(STROKE, (2, 1, 1))), 2),
    ("a.npy", _npy(np.tile(STROKE[None, :, :, None], (4, 1, 1, 1))), 4),
    ("a.npy", _npy(np.tile(STROKE / 255.0, (2, 1, 1))), 2),  # floats in [0, 1]
    ("a.npy", _npy(np.tile(STROKE / 127.5 - 1, (2, 1, 1)).astype(np.float32)), 2),  # [-1, 1]
    ("a.npz", (lambda b: (np.savez(b, images=np.tile(STROKE, (5, 1, 1))), b.getvalue())[1])(io.BytesIO()), 5),
    ("a.png", _png(STROKE), 1),
    ("a.jpg", _png(np.repeat(STROKE[..., None], 3, axis=2), "JPEG"), 1),  # colour JPEG
    ("big.png", _png(np.kron(STROKE, np.ones((10, 10), np.uint8))), 1),  # 280x280, resized
    ("a.zip", _zip({"x/1.png": _png(STROKE), "x/2.PNG": _png(STROKE), "x/.DS_Store": b""}), 2),
])
def test_accepted_formats_load_to_28x28_uint8(name, raw, n):
    images = images_from_bytes(name, raw)
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    # the stroke survives in the right place at the right brightness
    assert images[0, 14, 13:15].min() > 200 and images[0, 1, 1] < 30


def test_dark_strokes_on_white_are_inverted_unless_overridden():
    paper = 255 - STROKE
    images = images_from_bytes("drawing.png", _png(paper))
    assert fix_polarity(images)[0, 14, 14] > 200 and fix_polarity(images)[0, 0, 0] < 30
    assert np.array_equal(fix_polarity(images, invert=False), images)
    assert np.array_equal(fix_polarity(fix_polarity(images), invert=True), images)


def test_paths_folders_and_idx(tmp_path):
    (tmp_path / "pics").mkdir()
    for i in range(3):
        (tmp_path / "pics" / f"{i}.png").write_bytes(_png(255 - STROKE))
    ds = data.load(str(tmp_path / "pics"))
    assert ds.images.shape == (3, 28, 28) and ds.images[0, 14, 14] > 200  # auto-inverted
    assert data.load(str(tmp_path / "pics"), invert=False).images[0, 14, 14] < 30
    raw = struct.pack(">IIII", 0x803, 2, 28, 28) + np.tile(STROKE, (2, 1, 1)).tobytes()
    (tmp_path / "train-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    assert data.load(str(tmp_path / "train-idx3-ubyte.gz")).images.shape == (2, 28, 28)


def _bomb() -> bytes:
    """A small PNG whose header claims more pixels than the limit."""
    side = int(MAX_IMAGE_PIXELS ** 0.5) + 1
    buf = io.BytesIO()
    Image.new("1", (side, side)).save(buf, format="PNG")
    return buf.getvalue()


BAD = [
    ("x.npy", b"", "the file is empty"),
    ("x.npy", _npy(np.array([{"a": 1}], dtype=object), allow_pickle=True), "holds Python objects (pickle)"),
    ("x.npy", _npy(np.zeros((3, 10), np.uint8)), "not a stack of 28x28 images"),
    ("x.npy", _npy(np.zeros((0, 784), np.uint8)), "holds no images"),
    ("x.npy", _npy(np.full((2, 28, 28), np.nan, np.float32)), "NaN or infinite"),
    ("x.npy", _npy(np.full((2, 28, 28), 300.0)), "values run from 300 to 300"),
    ("x.npy", _npy(np.zeros((2, 28, 28), np.complex64)), "is not numeric pixels"),
    ("x.npy", _npy(np.zeros((5, 784), np.uint8))[:-100], "not a readable .npy file"),  # truncated
    ("x.npz", b"PK\x03\x04garbage", "not a readable .npz file"),
    ("x.npz", (lambda b: (np.savez(b, a=np.zeros(1), b=np.zeros(1)), b.getvalue())[1])(io.BytesIO()), "name the images"),
    ("x.png", b"\x89PNG\r\n\x1a\nnot really", "not a readable PNG or JPEG"),
    ("x.png", _png(STROKE, "GIF"), "accepted: PNG or JPEG"),
    ("x.png", _bomb(), "more than the limit"),
    ("x.zip", b"PK nonsense", "not a readable zip file"),
    ("x.zip", _zip({"a.png": _png(STROKE), "run.py": b"print(1)"}), "not PNG/JPEG images (run.py)"),
    ("x.zip", _zip({"readme.txt": b"hi"}), "not PNG/JPEG images"),
    ("x.zip", _zip({"../../escape.png": b"not png"}), "not a readable PNG or JPEG"),
    ("x.exe", b"MZ", "unknown kind of file '.exe'"),
]


@pytest.mark.parametrize("name, raw, message", BAD, ids=[m for _, _, m in BAD])
def test_bad_files_are_refused_with_a_clear_message(name, raw, message):
    with pytest.raises(DataError) as exc:
        images_from_bytes(name, raw)
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_a_zip_never_writes_outside(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images = images_from_bytes("x.zip", _zip({"../../../tmp/evil.png": _png(STROKE)}))
    assert images.shape == (1, 28, 28) and list(tmp_path.iterdir()) == []


@settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.binary(max_size=4096), suffix=st.sampled_from([".npy", ".npz", ".png", ".jpg", ".zip", ".bin"]))
def test_arbitrary_bytes_never_crash_the_loader(raw, suffix):
    try:
        images = images_from_bytes("upload" + suffix, raw)
    except DataError as exc:
        assert str(exc)
    else:
        assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(prefix=st.binary(min_size=1, max_size=64), keep=st.integers(0, 200))
def test_damaged_real_files_never_crash_the_loader(prefix, keep):
    for name, good in (("a.npy", _npy(np.zeros((3, 784), np.uint8))), ("a.png", _png(STROKE)),
                       ("a.zip", _zip({"a.png": _png(STROKE)}))):
        raw = good[:keep] + prefix + good[keep + len(prefix):]
        try:
            images = images_from_bytes(name, raw)
        except DataError as exc:
            assert str(exc)
        else:
            assert images.dtype == np.uint8 and images.shape[1:] == (28, 28)
