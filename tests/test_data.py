import gzip
import struct

import numpy as np
import pytest

from ganviz import data
from ganviz.data import DataError
from ganviz.data.doodles import CLASSES, make_doodles


def test_doodles_look_like_quickdraw_bitmaps():
    x = make_doodles(50, "camel", seed=0)
    assert x.shape == (50, 784) and x.dtype == np.uint8
    assert x.max() == 255 and x.min() == 0  # white strokes on black, full range
    ink = (x > 0).mean(axis=1)
    assert 0.05 < ink.mean() < 0.5  # line drawings, not blobs
    assert np.array_equal(x, make_doodles(50, "camel", seed=0))
    assert not np.array_equal(x, make_doodles(50, "camel", seed=1))
    assert len({row.tobytes() for row in x}) == 50  # all different


@pytest.mark.parametrize("category", sorted(CLASSES))
def test_every_doodle_class_draws(category):
    x = make_doodles(3, category)
    assert x.shape == (3, 784) and 0.05 < (x > 0).mean() < 0.5  # strokes, not an empty or a filled canvas
    assert len({row.tobytes() for row in x}) == 3
    other = next(c for c in sorted(CLASSES) if c != category)
    assert not np.array_equal(x, make_doodles(3, other))  # its own drawing, not another class's


def test_spec_strings_and_normalisation():
    ds = data.load("doodles:house:20")
    assert ds.images.shape == (20, 28, 28) and len(ds.fingerprint) == 16
    x = data.to_model_scale(ds.images)
    assert x.shape == (20, 28, 28, 1) and x.dtype == np.float32
    assert x.min() == -1.0 and x.max() == 1.0
    assert np.array_equal(data.to_uint8(x), ds.images)
    assert np.array_equal(data.load("doodles:house:20").images, ds.images)  # cached copy is identical


def test_every_spec_says_what_its_images_are():
    """The page and the report say whether a run's images are real drawings or made by code."""
    assert data.describe("doodles:camel:2000").startswith("camel doodles made by code")
    assert "not Quick Draw's own" in data.describe("doodles")
    assert data.describe("quickdraw:camel:80000") == "Quick Draw's camel drawings, the book's data"
    assert data.describe("fashion-mnist") == "Fashion-MNIST's training images"
    assert data.describe("/home/me/sketches.npz") == "images from sketches.npz"


def test_quickdraw_npy_file(tmp_path):
    arr = make_doodles(10)
    np.save(tmp_path / "camel.npy", arr)
    assert data.load(str(tmp_path / "camel.npy")).images.shape == (10, 28, 28)


def test_idx_file_raw_and_gz(tmp_path):
    imgs = make_doodles(5).reshape(5, 28, 28)
    raw = struct.pack(">IIII", 0x803, 5, 28, 28) + imgs.tobytes()
    (tmp_path / "a-idx3-ubyte").write_bytes(raw)
    (tmp_path / "a-idx3-ubyte.gz").write_bytes(gzip.compress(raw))
    for name in ("a-idx3-ubyte", "a-idx3-ubyte.gz"):
        assert np.array_equal(data.load(str(tmp_path / name)).images, imgs)


def test_fashion_mnist_from_the_debian_package():
    ds = data.load("fashion-mnist")
    assert ds.images.shape == (60_000, 28, 28) and ds.images.dtype == np.uint8


@pytest.mark.parametrize("spec, message", [
    ("doodles:unicorn", "unknown doodles class 'unicorn'"),
    ("doodles:camel:abc", "not a whole number"),
    ("doodles:camel:0", "between 1 and"),
    ("quickdraw:camel:-1", "quickdraw count must be between 1 and"),  # before any download is tried
    ("/no/such/file.npy", "not found; accepted"),
])
def test_bad_specs_have_clear_messages(spec, message):
    with pytest.raises(DataError, match=message):
        data.load(spec)


def test_truncated_idx_is_refused(tmp_path):
    raw = struct.pack(">IIII", 0x803, 5, 28, 28) + b"\0" * 100
    (tmp_path / "t-idx").write_bytes(raw)
    with pytest.raises(DataError, match="header promises"):
        data.load(str(tmp_path / "t-idx"))
