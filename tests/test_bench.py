"""The benchmark runs end to end at toy size (CI proves it works; it never asserts speed)."""
import json

import numpy as np

from ganviz.cli import main
from ganviz.noise import latent_batch
from tools.bench import book_viewers, viewer_at


def test_quick_benchmark_runs_and_checks_exactness(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--no-browser", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert [r["variant"] for r in result["training"]] == ["upsample"]  # --quick: one variant takes every path
    for row in result["training"]:
        assert row["book_images_per_s"] > 0 and row["ganviz_images_per_s"] > 0 and row["ganviz_bf16_images_per_s"] > 0
        assert row["executed_gflop_per_step"] <= row["model_gflop_per_step"]
    assert all(r["same_indices"] and r["max_distance_diff"] < 1e-6 for r in result["nearest_neighbour"]["rows"])
    assert result["nearest_neighbour"]["scale"]["n_references"] > 0
    for kinds in result["op_profile_ms_per_step"].values():  # the profiler saw the step's convolutions
        assert kinds["convolution"] > 0  # (their share depends on the CPU's kernels, so it is not asserted)
    assert result["bf16_matmul_peak_gflop_per_s"] > 0
    viewer = result["viewer"]
    assert set(viewer["variants"]) == {"upsample", "transpose"} and viewer["numpy_matmul_peak_gflop_per_s"] > 0
    assert all(r["images_per_s"] > 0 and r["gflop_per_s"] > 0 for r in viewer["variants"].values())
    assert "training, images/s" in capsys.readouterr().out


def test_the_viewer_is_timed_against_an_earlier_revision_on_the_same_weights(tmp_path, capsys):
    out = tmp_path / "viewer.json"
    assert main(["bench", "--viewer", "--quick", "--against", "4d1b00e", "--json", str(out)]) == 0
    then = json.loads(out.read_text())["viewer"]["against"]
    assert then["revision"] == "4d1b00e" and set(then["images_per_s"]) == {"upsample", "transpose"}
    assert "at 4d1b00e" in capsys.readouterr().out
    # the round start's module paints the same images from the same weights
    now = book_viewers()
    z = latent_batch(3, 4, 100)
    for variant, old in viewer_at("4d1b00e", now).items():
        np.testing.assert_allclose(old(z), now[variant](z), atol=1e-5)
    assert main(["bench", "--viewer", "--against", "no-such-revision"]) == 2
    assert "no NumPy viewer at that revision" in capsys.readouterr().err
