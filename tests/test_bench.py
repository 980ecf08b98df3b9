"""The benchmark runs end to end at toy size (CI proves it works; it never asserts speed)."""
import json

from ganviz.cli import main


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
    layers = {r["variant"]: r for r in result["layers"]}  # every operator's doubling layer, block and literal
    assert set(layers) >= {"upsample", "transpose"} and layers["upsample"]["block_layers"] == ["UpsampleConv2D"]
    assert all(r["block_ms"] > 0 and r["literal_ms"] > 0 for r in layers.values())
    (cli,) = result["cli"]  # whole CLI runs of two lengths (their difference is noise at toy size)
    assert set(cli["run_s"]) == {"2", "4"} and min(cli["run_s"].values()) > 0 and cli["book_s_per_step"] > 0
    assert "training, images/s" in capsys.readouterr().out
