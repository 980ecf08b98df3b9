"""Dashboard logic without Streamlit: runs, view state, bundle zips, the report, the explainer."""
import io
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ganviz.config import GANConfig
from ganviz.dashboard.runs import bundle_zip, find_runs, import_bundle_zip
from ganviz.dashboard.state import MAX_SMOOTH, VIEWS, ViewState
from ganviz.gan.training import Trainer
from ganviz.present import explain
from ganviz.present.charts import smooth
from ganviz.present.images import grid_table, interleave
from ganviz.present.report import build_report
from ganviz.store.bundle import BundleError, find_bundles, load_bundle, save_bundles
from ganviz.view.compare import compare


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from ganviz.data.doodles import make_doodles
    images = make_doodles(48, "camel", seed=4).reshape(-1, 28, 28)
    trainer = Trainer(GANConfig(steps=2, batch_size=8, measure_size=8, probe_size=4), images).run()
    root = tmp_path_factory.mktemp("pre")
    save_bundles(trainer, root / "camel-s0")
    return root, trainer, images


def test_find_runs_groups_variants(run_dir, tmp_path):
    root, _, _ = run_dir
    runs = find_runs("pretrained", root) + find_runs("yours", tmp_path / "none")
    assert [r.name for r in runs] == ["pretrained/camel-s0"]
    assert list(runs[0].bundles) == ["upsample", "transpose"]


def test_view_state_round_trip_and_validation():
    s = ViewState(run="a", pair=("subpixel", "transpose4"), seed=3, step=10, view="Training", smooth=0.25)
    back, problems = ViewState.from_query(s.to_query(), ["a", "b"])
    assert back == s and problems == [] and s.to_query()["pair"] == "subpixel,transpose4"
    assert "pair" not in ViewState(run="a").to_query()  # the run's default pair: nothing to say
    for pair in ("subpixel,nope", "upsample,transpose,subpixel", "upsample,upsample", ""):
        other, problems = ViewState.from_query({"pair": pair}, ["a"])
        assert other.pair == () and len(problems) == 1 and "accepted: upsample, transpose" in problems[0]
    bad, problems = ViewState.from_query({"seed": "x", "smooth": "2", "view": "Zzz", "run": "c"}, ["a"])
    assert bad == ViewState(run="a") and len(problems) == 4
    # the slider's own top is the most a link may ask: beyond it the page would raise
    top, problems = ViewState.from_query({"smooth": str(MAX_SMOOTH)}, ["a"])
    assert top.smooth == MAX_SMOOTH and problems == []
    above, problems = ViewState.from_query({"smooth": "0.995"}, ["a"])
    assert above.smooth == ViewState().smooth and problems == [
        "URL parameter smooth='0.995' is not a number from 0.0 to 0.99; using 0.6"]
    assert ViewState().view == VIEWS[0]


def test_bundle_zip_round_trip(run_dir, tmp_path):
    root, _, _ = run_dir
    src = root / "camel-s0" / "transpose"
    path = import_bundle_zip(bundle_zip(src), tmp_path)
    assert path.name == "transpose" and load_bundle(path).meta == load_bundle(src).meta
    assert find_bundles(tmp_path) == [path]


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_hostile_zips_are_refused_and_never_escape(run_dir, tmp_path):
    root, _, _ = run_dir
    src = root / "camel-s0" / "upsample"
    good = {f"b/{p.name}": p.read_bytes() for p in src.iterdir()}
    cases = {
        b"not a zip": "not a zip file",
        _zip({"b/config.json": b"{}"}): "missing",
        _zip({**good, "b/config.json": b"{broken"}): "config.json: invalid",
        _zip({**good, "b/generator.weights.h5": b"HDF5 lies"}): "unreadable weights file",
    }
    for data, message in cases.items():
        with pytest.raises(BundleError, match=message):
            import_bundle_zip(data, tmp_path / "in")
    # names that climb out of the folder are used only for their last part
    slip = _zip({f"../../{p.name}": p.read_bytes() for p in src.iterdir()})
    path = import_bundle_zip(slip, tmp_path / "in")
    assert path.is_relative_to(tmp_path / "in") and not (tmp_path.parent / "config.json").exists()
    assert list((tmp_path / "in").iterdir()) == [path.parent]  # refused uploads left nothing behind, not a folder


def test_report_is_self_contained(run_dir):
    root, trainer, images = run_dir
    comp = compare({v: g.generator for v, g in trainer.gans.items()}, images, seed=1, n=8)
    html = build_report("r", comp, {v: {k: np.array(x) for k, x in h.items()} for v, h in trainer.history.items()},
                        images, ["note"])
    assert len(re.findall(r"<img alt=\"[^\"]*\" src=\"data:image/png;base64,", html)) == 4  # samples + nearest, per variant
    assert "Plotly.newPlot" in html and html.count("<script") >= 2
    external = re.findall(r'<script[^>]+src="(http[^"]+)"', html)
    assert external == []  # plotly.js is inlined, nothing to fetch


def test_a_report_draws_the_same_whoever_imported_streamlit(monkeypatch):
    """Importing Streamlit makes its plotly template the default (fixed margins that clip the
    forest plot's labels); the report's figures are drawn with plotly's own either way, and the
    figure the page may have cached is left as it was."""
    import plotly.graph_objects as go
    import plotly.io as pio
    import streamlit  # noqa: F401  registers its template
    from ganviz.present.report import _figures
    drawn = {}
    for default in ("plotly", "streamlit"):
        monkeypatch.setattr(pio.templates, "default", default)
        fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))  # takes the default template as it is made
        before = fig.to_plotly_json()
        drawn[default] = re.sub(r'id="[^"]+"|"[0-9a-f-]{36}"', "", _figures([fig])[0])  # divs' random ids
    assert drawn["plotly"] == drawn["streamlit"]
    assert fig.to_plotly_json() == before  # not restyled in place


def test_compare_uses_the_same_z_for_every_variant(run_dir):
    _, trainer, images = run_dir
    generators = {v: g.generator for v, g in trainer.gans.items()}
    a = compare(generators, images, seed=3, n=4)
    b = compare({"transpose": generators["transpose"]}, images, seed=3, n=4)
    assert np.array_equal(a.samples["transpose"], b.samples["transpose"])
    assert a.distances["upsample"].shape == (4,) and (a.distances["upsample"] > 0).all()
    c = compare(generators, images, seed=3, n=130)  # more than one generation batch
    assert np.array_equal(c.samples["transpose"][:4], a.samples["transpose"])


def test_overlap_map_for_kernel_5_stride_2_matches_the_analytic_pattern():
    m = explain.overlap_map(5, 2, size=8)
    interior = m[4:-4, 4:-4]
    # per axis, output pixels alternate between ceil(5/2)=3 and floor(5/2)=2 taps: 9, 6, 4 in 2D
    assert set(np.unique(interior)) == {4, 6, 9}
    assert np.array_equal(explain.overlap_pattern(5, 2), np.array([[9, 6], [6, 4]]))
    assert np.unique(explain.overlap_map(4, 2, 8)[4:-4, 4:-4]).tolist() == [4]  # divisible: even
    assert m.sum() == 8 * 8 * 25  # every tap lands somewhere


def test_operator_demo_shapes_and_zero_insertion():
    d = explain.operator_demo(np.eye(3))
    assert d["nearest upsample"].shape == (6, 6) and (d["nearest upsample"][:2, :2] == 1).all()
    assert d["zero insertion"][1::2].sum() == 0 and d["zero insertion"][::2, ::2].sum() == 3


def test_smoothing():
    x = np.array([0.0, 10.0, 10.0])
    assert np.array_equal(smooth(x, 0), x)
    s = smooth(x, 0.5)
    assert s[0] == 0 and 0 < s[1] < 10 and s[1] < s[2] < 10


def test_save_uploads_checks_first_and_returns_a_spec(tmp_path):
    from test_files import STROKE, _npy, _png

    from ganviz import data
    from ganviz.dashboard.runs import save_uploads
    from ganviz.errors import DataError

    spec = save_uploads([("camels.npy", _npy(np.tile(STROKE, (4, 1, 1))))], tmp_path)
    assert data.load(spec).images.shape == (4, 28, 28)
    spec = save_uploads([("a.png", _png(255 - STROKE)), ("../../b.JPG", _png(255 - STROKE, "JPEG"))], tmp_path)
    images = data.load(spec).images
    assert images.shape == (2, 28, 28) and images[0, 14, 14] > 200  # dark-on-white detected and inverted
    assert all(p.is_relative_to(tmp_path) for p in tmp_path.rglob("*"))
    kept = set(tmp_path.rglob("*"))
    with pytest.raises(DataError, match="bad.npy: the file is empty"):
        save_uploads([("a.png", _png(STROKE)), ("bad.npy", b"")], tmp_path)
    with pytest.raises(DataError, match="several files can only be PNG/JPEG"):
        save_uploads([("a.png", _png(STROKE)), ("b.npy", _npy(np.zeros((1, 784), np.uint8)))], tmp_path)
    assert set(tmp_path.rglob("*")) == kept  # refused uploads leave nothing behind
    # uploads in the same millisecond (a class uploading at once) each get their own folder
    specs = {save_uploads([("camels.npy", _npy(STROKE[None]))], tmp_path) for _ in range(20)}
    assert len(specs) == 20


def test_the_owner_key_stays_out_of_links_and_folder_names(run_dir, tmp_path):
    from ganviz.dashboard.runs import live_dir, run_label, runs_for
    from ganviz.dashboard.state import owner_key, public_id, share_link
    key, new = owner_key(None)
    assert new and len(key) == 32 and owner_key(key) == (key, False)  # the cookie's key is kept ...
    for bad in ("", "../../etc", "ABCDEF012345" * 3, "0" * 33, None, 7):
        assert owner_key(bad)[0] != bad and owner_key(bad)[1]  # ... a bad one is replaced by a fresh one
    own, other = public_id(key), public_id(owner_key(None)[0])
    assert len(own) == 16 and own not in key and public_id(key) == own
    root, trainer, _ = run_dir
    save_bundles(trainer, tmp_path / own / "mine")
    save_bundles(trainer, tmp_path / other / "theirs")
    names = [r.name for r in runs_for(root, tmp_path, own)]
    assert names == ["pretrained/camel-s0", f"runs/{own}/mine"]  # another owner's runs are not listed ...
    linked = f"runs/{other}/theirs"
    assert [r.name for r in runs_for(root, tmp_path, own, linked)][-1] == linked  # ... unless a link names one
    assert [r.name for r in runs_for(root, tmp_path, own, f"runs/{other}/../{own}")] == names
    # a listing cached before a bundle left the disk offers that run no more
    listing = {label: find_runs(label, folder) for label, folder in (("pretrained", root), (f"runs/{own}", tmp_path / own))}
    shutil.rmtree(tmp_path / own / "mine" / "transpose")
    assert [r.name for r in runs_for(root, tmp_path, own, find=lambda label, _: listing[label])] == names[:1]
    assert run_label(f"runs/{own}/mine", own) == "yours/mine" and run_label(linked, own) == "shared/theirs"
    assert live_dir(tmp_path, linked, own) == tmp_path / other / "theirs"
    for bad in (f"runs/{own}/mine", f"runs/{other}/..", f"runs/{other}/theirs/x", "runs/zz/theirs", "/etc"):
        assert live_dir(tmp_path, bad, own) is None
    link = share_link("http://host:8501/?sid=abc&view=x", {"view": "Train now", "seed": "3"})
    assert link == "http://host:8501/?view=Train+now&seed=3"


def test_the_page_reads_built_in_data_and_files_under_its_own_folder_only(tmp_path):
    from ganviz.dashboard.runs import check_spec
    from ganviz.errors import DataError
    for spec in ("doodles:camel:40", "quickdraw:cat", "fashion-mnist"):
        check_spec(spec, tmp_path)
    check_spec(str(tmp_path / "data" / "upload-1" / "x.npy"), tmp_path)
    for spec in ("/etc/passwd", str(tmp_path / ".." / "other" / "x.npy"), "pretrained/x.npy"):
        with pytest.raises(DataError, match="not available on this page; accepted: doodles"):
            check_spec(spec, tmp_path)


SERVER_MEMORY = """
import json
import numpy as np
from threadpoolctl import threadpool_info
from ganviz.dashboard.server import configure_server
tuned = configure_server()
rss = lambda: int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) // 1024
big, small = [np.ones(2 << 20 >> 3)], []
del big[0]  # a freed 2 MB block: untuned glibc now serves 2 MB arrays from its heap, and keeps them
base = rss()
for _ in range(100):
    big.append(np.ones(2 << 20 >> 3))
    small.append(np.ones(1000))  # small blocks between them pin the heap
peak = rss()
del big
blas = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
print(json.dumps({"tuned": tuned, "blas_threads": blas, "mb": [base, peak, rss()]}))
"""


def test_the_server_samples_on_one_blas_thread_and_gives_freed_arrays_back():
    """configure_server in a process of its own: 200 MB of 2 MB arrays, freed between live small
    ones, leave the process (with glibc's defaults about 200 MB of them stays)."""
    out = json.loads(subprocess.run([sys.executable, "-c", SERVER_MEMORY], capture_output=True, text=True,
                                    check=True, cwd=Path(__file__).parents[1]).stdout)
    base, peak, after = out["mb"]
    assert out["tuned"] and out["blas_threads"] and set(out["blas_threads"]) == {1}
    assert peak - base > 150 and after - base < 30


def test_many_spectrum_ratio_maps_wrap_into_rows_and_keep_square():
    from ganviz.present.charts import MAP_COLUMNS, ratio_map_figure
    names = [f"an operator with a long name, number {i} (3 seeds)" for i in range(6)]
    fig = ratio_map_figure({n: np.zeros((28, 28)) for n in names})
    axes = [fig.layout[f"yaxis{i + 1 if i else ''}"] for i in range(len(names))]
    assert len({a.domain for a in axes}) == -(-len(names) // MAP_COLUMNS)  # two rows of three, not six in one
    assert [a.scaleanchor for a in axes] == [f"x{i + 1 if i else ''}" for i in range(len(names))]  # each square
    assert all(len(line) <= 26 for a in fig.layout.annotations for line in a.text.split("<br>"))
    pair = ratio_map_figure({n: np.zeros((28, 28)) for n in names[:2]})
    assert pair.layout.yaxis.domain == pair.layout.yaxis2.domain  # a pair: one row


def test_the_forest_axis_follows_the_means_not_a_two_seed_interval():
    from ganviz.present.charts import forest_figure

    def row(operator, mean, low, high):
        return {"operator": operator, "baseline": "upsample", "moment": "final", "measure": "corner",
                "mean": np.log(mean), "low": np.log(low), "high": np.log(high), "seeds": [0, 1], "agree": 2,
                "differs": low > 1}
    fig = forest_figure([row("transpose", 2.0, 1.2, 3.0), row("transpose4", 0.005, 4.6e-13, 6.3e7)])
    lo, hi = fig.layout.xaxis.range
    assert np.log10(0.005) - 3.5 <= lo < np.log10(0.005) and np.log10(3.0) < hi <= np.log10(3.0) + 3.5  # not 10^-13
    labels = " ".join(t.text[0] for t in fig.data)
    assert "<0.001, 63,000,000]" in labels and "e-" not in labels + " ".join(fig.layout.xaxis.ticktext)


def test_overlaid_histograms_share_one_set_of_bins():
    """Bars of overlaid histograms compare only on the same bins: a narrow spread and a wide one
    get the bins of both, and every value falls in one of them."""
    from ganviz.present.charts import copy_figure, distance_histogram, shared_bins
    narrow, wide = np.linspace(0.10, 0.12, 50), np.linspace(0.05, 0.40, 50)
    for fig in (distance_histogram({"upsample": narrow, "transpose": wide}),
                copy_figure({"upsample seed 0": narrow, "held-out real": wide})):
        bins = {(t.xbins.start, t.xbins.end, t.xbins.size) for t in fig.data}
        assert len(bins) == 1
        start, end, size = bins.pop()
        assert start <= 0.05 and end > 0.40 and size == pytest.approx(0.35 / 30)
        assert start + 30 * size == pytest.approx(end)  # 30 bins, the largest value in the last, none beyond
    one = shared_bins([np.full(5, 0.12)])
    assert one["start"] == 0.12 and 0 < one["size"] < 0.1  # one value: a narrow bar, not the whole axis
    assert shared_bins([]) == shared_bins([np.array([np.nan])]) == {"start": 0.0, "end": pytest.approx(1.0),
                                                                    "size": pytest.approx(1 / 30)}


def test_distances_sit_in_their_samples_grid_places():
    samples, nearest = np.arange(16)[:, None, None] * np.ones((1, 2, 2)), -np.ones((16, 2, 2))
    table = grid_table(np.arange(16) / 10, cols=8)
    assert table["samples"] == ["1-8", "9-16"]
    shown = interleave(samples, nearest, cols=8)
    for j in range(8):  # grid rows 0 and 2 are samples; their values are the table's rows 0 and 1
        assert [float(v) for v in table[str(j + 1)]] == [shown[j, 0, 0] / 10, shown[16 + j, 0, 0] / 10]
