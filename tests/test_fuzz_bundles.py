"""Every byte of a bundle checked: each of its files (config.json, the weights, history,
timeline) replaced by random bytes, a truncation, deep nesting, huge or negative numbers, wrong
dtypes or shapes. Loading it through the CLI and through the page's upload either works or
refuses in one line (exit 2, a BundleError), never anything else; a refused upload leaves
nothing behind."""
import io
import json
import shutil
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ganviz.cli import main
from ganviz.dashboard.runs import bundle_zip, import_bundle_zip
from ganviz.errors import UserError

FILES = ("config.json", "generator.weights.h5", "history.npz", "timeline.npz")
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A real bundle of two steps (slim: what most uploads are)."""
    from ganviz.config import GANConfig
    from ganviz.data.doodles import make_doodles
    from ganviz.gan.training import Trainer
    from ganviz.store.bundle import DISCRIMINATOR, save_bundles
    images = make_doodles(32, "camel", seed=4).reshape(-1, 28, 28)
    out = tmp_path_factory.mktemp("good")
    (path,) = save_bundles(Trainer(GANConfig(steps=2, batch_size=8, measure_size=8), images, ("transpose",)).run(), out)
    (path / DISCRIMINATOR).unlink()
    return path


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


JSON_VALUES = st.one_of(st.integers(-10**400, 10**400), st.floats(allow_nan=True), st.text(max_size=8), st.booleans(),
                        st.none(), st.lists(st.integers(-5, 10**9), max_size=5), st.just(float("inf")))


def _raw(draw, original: bytes, kinds: list[str]) -> tuple[str, bytes | None]:
    """Random bytes, a truncation of the real file, or (None) one of the file's own `kinds`."""
    kind = draw(st.sampled_from(["bytes", "truncate", *kinds]))
    if kind == "bytes":
        return kind, draw(st.binary(max_size=200))
    if kind == "truncate":
        return kind, original[:draw(st.integers(0, len(original) - 1))]
    return kind, None


@st.composite
def damaged_config(draw, original: bytes) -> bytes:
    kind, raw = _raw(draw, original, ["nest", "field", "nested_field"])
    if raw is not None:
        return raw
    if kind == "nest":
        return _nested(draw(st.integers(500, 200_000))).encode()
    meta = json.loads(original)
    target = meta["config"] if kind == "nested_field" else meta
    key = draw(st.sampled_from(sorted(target)))
    target[key] = draw(JSON_VALUES)
    if kind == "nested_field" and draw(st.booleans()):
        return json.dumps(meta).replace(json.dumps(target[key]), _nested(50_000), 1).encode()
    return json.dumps(meta, allow_nan=True).encode()


ARRAYS = st.sampled_from([np.zeros((0,)), np.zeros((3, 2, 28, 28), np.float64), np.full((2,), 1e300),
                          np.array(["a", "b"]), np.zeros((2, 4, 28, 28), np.int64) - 5, np.zeros((10**6,), np.uint8),
                          np.array([np.nan, -np.inf], np.float32), np.zeros((2, 2, 2, 2, 2))])


def _npz(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@st.composite
def damaged_npz(draw, original: bytes) -> bytes:
    _, raw = _raw(draw, original, ["array"])
    if raw is not None:
        return raw
    with np.load(io.BytesIO(original), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays[draw(st.sampled_from(sorted(arrays)))] = draw(ARRAYS)
    return _npz(arrays)


@st.composite
def damaged_weights(draw, original: bytes) -> bytes:
    _, raw = _raw(draw, original, ["array"])
    if raw is not None:
        return raw
    buf = io.BytesIO(original)
    with h5py.File(buf, "r+") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
        name = draw(st.sampled_from(sorted(names)))
        del f[name]
        f[name] = draw(ARRAYS)
    return buf.getvalue()


STRATEGIES = {"config.json": damaged_config, "generator.weights.h5": damaged_weights,
              "history.npz": damaged_npz, "timeline.npz": damaged_npz}


def _check_both_ways(bundle, tmp_path, capsys) -> None:
    """The CLI's sample and the page's upload agree: both load it, or both refuse it in one line."""
    code = main(["sample", str(bundle), "--n", "2", "--out", str(tmp_path / "s.png")])
    err = capsys.readouterr().err.strip()
    assert code in (0, 2) and "Traceback" not in err
    if code == 2:
        assert err.startswith("error: ") and "\n" not in err
    uploads = tmp_path / "uploads"
    try:
        import_bundle_zip(bundle_zip(bundle), uploads)
        accepted = True
    except UserError as exc:
        assert "\n" not in str(exc)
        accepted = False
        assert not uploads.exists() or not any(uploads.iterdir())  # nothing left behind
    assert accepted == (code == 0)
    shutil.rmtree(uploads, ignore_errors=True)


@pytest.mark.parametrize("name", FILES)
def test_a_damaged_file_is_refused_in_one_line_or_loads(good, tmp_path, capsys, name):
    original = (good / name).read_bytes()

    @SETTINGS
    @given(data=st.data())
    def check(data):
        bundle = tmp_path / "b" / "transpose"
        shutil.rmtree(bundle.parent, ignore_errors=True)
        shutil.copytree(good, bundle)
        (bundle / name).write_bytes(data.draw(STRATEGIES[name](original)))
        _check_both_ways(bundle, tmp_path, capsys)
    check()


@pytest.mark.parametrize("key, value", [("d_lr", 10**400), ("g_initial_shape", [7, 7]), ("image_shape", [28, 28]),
                                        ("z_dim", True), ("g_filters", "128")])
def test_config_values_a_review_found(good, tmp_path, capsys, key, value):
    """Found by a review, beyond the fuzzer's reach then: a float too large for a float, a shape
    of the wrong length, a bool for a number, a string for a tuple."""
    bundle = tmp_path / "b" / "transpose"
    shutil.copytree(good, bundle)
    meta = json.loads((bundle / "config.json").read_text())
    meta["config"][key] = value
    (bundle / "config.json").write_text(json.dumps(meta))
    _check_both_ways(bundle, tmp_path, capsys)
    assert main(["sample", str(bundle), "--out", str(tmp_path / "s.png")]) == 2


def test_a_damaged_zip_is_refused_and_leaves_nothing(good, tmp_path):
    raw = bundle_zip(good)
    for cut in (len(raw) // 3, len(raw) - 30):
        with pytest.raises(UserError):
            import_bundle_zip(raw[:cut], tmp_path / "u")
    flipped = bytearray(raw)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        info = zf.getinfo(f"{good.name}/generator.weights.h5")
    flipped[info.header_offset + 200] ^= 0xFF  # inside the compressed data: a CRC or zlib error
    with pytest.raises(UserError):
        import_bundle_zip(bytes(flipped), tmp_path / "u")
    assert not (tmp_path / "u").exists() or not any((tmp_path / "u").iterdir())
