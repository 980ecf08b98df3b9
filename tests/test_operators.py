"""The registered operators: every one builds, counts its parameters and FLOPs, runs the same
in NumPy as in Keras, trains in lockstep with the rest, and shows its taps in the explainer."""
import numpy as np
import pytest

from ganviz import operators
from ganviz.config import BOOK_PAIR, GANConfig
from ganviz.gan.models import build_generator
from ganviz.operators.numerics import bilinear_upsample
from ganviz.view.inference import NumpyGenerator
from ganviz.view.weights import generator_flops, weight_shapes

PARAMETERS = {"upsample": 844_161, "transpose": 844_161, "bilinear": 844_161, "transpose_blur": 844_161,
              "subpixel": 844_161 + 3 * (5 * 5 * 64 * 128 + 128) + 3 * (5 * 5 * 128 * 64 + 64),  # 4x the doubling convs
              "transpose4": 844_161 - 9 * 64 * 128 - 9 * 128 * 64}  # 4x4 instead of 5x5 doubling kernels


def _keras_weights(model) -> dict[str, np.ndarray]:
    return {f"{l.name}/{w.name}": np.array(w.numpy()) for l in model.layers for w in l.weights}


@pytest.mark.parametrize("variant", operators.names())
def test_every_operator_matches_keras_in_numpy(variant):
    import keras
    keras.utils.set_random_seed(1)
    c = GANConfig()
    model = build_generator(c, variant)
    assert model.count_params() == sum(np.prod(s) for s in weight_shapes(c, variant).values()) == PARAMETERS[variant]
    assert model.output_shape == (None, 28, 28, 1)
    rng = np.random.default_rng(2)
    for layer in model.layers:  # batch norm away from its initial state, so folding it is tested
        for w in layer.weights:
            if any(k in w.name for k in ("gamma", "beta", "moving_mean", "moving_variance")):
                w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    assert {k: v.shape for k, v in _keras_weights(model).items()} == weight_shapes(c, variant)
    z = rng.standard_normal((6, c.z_dim)).astype(np.float32)
    np.testing.assert_allclose(NumpyGenerator(c, variant, _keras_weights(model))(z), model(z, training=False).numpy(),
                               atol=1e-4)


def test_operator_flops_against_the_book():
    c = GANConfig()
    flops = {v: generator_flops(c, v) for v in operators.names()}
    # the book's literal UpSampling2D + Conv2D convolves the enlarged map: 4x a transposed conv's work there
    assert flops["upsample"] == flops["bilinear"] == flops["subpixel"] > flops["transpose"] > flops["transpose4"]
    blur = 2 * (14 * 14 * 128 + 28 * 28 * 64) * 9  # the fixed 3x3 filter on every channel of both grown maps
    assert flops["transpose_blur"] == flops["transpose"] + blur
    dense = 2 * 100 * 7 * 7 * 64
    tail = 2 * 28 * 28 * 25 * 64 * (64 + 1)  # the two size-keeping layers
    assert flops["transpose"] == dense + 2 * (7 * 7 + 14 * 14) * 25 * 64 * 128 + tail


@pytest.mark.parametrize("shape", [(2, 5, 6, 3), (1, 1, 2, 4)])
def test_bilinear_upsampling_is_keras(shape):
    import keras
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    ref = keras.layers.UpSampling2D(2, interpolation="bilinear")(x).numpy()
    np.testing.assert_allclose(bilinear_upsample(x), ref, atol=1e-6)
    plain = x  # the same arithmetic from an edge-padded copy, axis by axis: the same bits
    for axis in (1, 2):
        e, n = np.moveaxis(np.pad(plain, [(1, 1) if a == axis else (0, 0) for a in range(4)], mode="edge"), axis, 0), \
            plain.shape[axis]
        own = 0.75 * e[1:n + 1]
        halves = (own + 0.25 * e[:n], own + 0.25 * e[2:])  # even outputs lean on the previous pixel, odd on the next
        plain = np.moveaxis(np.stack(halves, axis=1).reshape(2 * n, *e.shape[1:]), 0, axis)
    np.testing.assert_array_equal(bilinear_upsample(x), plain)


def test_icnr_starts_the_sub_pixel_generator_without_a_checkerboard():
    """ICNR: all four phases of a fresh sub-pixel kernel are one kernel, so the layer starts as
    nearest upsampling + a convolution, and paints a flat map from a flat input (Aitken et al.)."""
    c = GANConfig()
    gen = NumpyGenerator(c, "subpixel", _keras_weights(build_generator(c, "subpixel")))
    kernel = gen.w["generator_conv_0/kernel"]
    phases = kernel.reshape(5, 5, 64, 4, 128)
    assert all(np.array_equal(phases[..., 0, :], phases[..., a, :]) for a in range(4))
    flat = gen.constant_response(0, size=9)[4:-4, 4:-4]  # away from the zero-padded border (2 input pixels)
    assert np.ptp(flat) < 1e-5 * np.abs(flat).max() + 1e-9
    tr = NumpyGenerator(c, "transpose", _keras_weights(build_generator(c, "transpose"))).constant_response(0, size=9)
    assert np.ptp(tr[4:-4, 4:-4]) > 10 * np.ptp(flat)  # the book's transpose: uneven overlap shows


def test_all_operators_train_in_lockstep_from_the_command_line(tmp_path):
    from ganviz.cli import main
    from ganviz.store.bundle import load_bundle
    assert main(["train", "--variant", "all", "--steps", "2", "--batch", "8", "--dataset", "doodles:camel:32",
                 "--measure-size", "8", "--out", str(tmp_path), "--quiet"]) == 0
    bundles = {v: load_bundle(tmp_path / v) for v in operators.names()}
    assert all(b.meta["trained_together"] == list(operators.names()) and b.meta["steps_done"] == 2
               for b in bundles.values())
    assert main(["train", "--variant", "both", "--steps", "1", "--batch", "8", "--dataset", "doodles:camel:32",
                 "--out", str(tmp_path / "pair"), "--quiet"]) == 0
    assert sorted(p.name for p in (tmp_path / "pair").iterdir() if (p / "config.json").exists()) == sorted(BOOK_PAIR)


def test_the_page_puts_two_operators_side_by_side_the_books_first():
    from ganviz.dashboard.runs import RunGroup, default_pair, side_by_side
    assert default_pair(operators.names()) == list(BOOK_PAIR)
    assert default_pair(["subpixel", "bilinear", "transpose4"]) == ["subpixel", "bilinear"]
    run = RunGroup("r", {v: v for v in operators.names()})
    assert list(side_by_side(run, ["transpose4", "subpixel"]).bundles) == ["subpixel", "transpose4"]
    assert list(side_by_side(run, []).bundles) == list(BOOK_PAIR)  # none chosen: the default pair


def test_the_explainer_shows_each_operators_taps_and_untrained_picture():
    from ganviz.present.explain import untrained_responses
    taps = {v: operators.tap_pattern(v).tolist() for v in operators.names()}
    assert taps["transpose"] == [[4, 6], [6, 9]]  # even output pixels get 2 x 2 taps, odd ones 3 x 3
    assert taps["transpose4"] == [[4, 4], [4, 4]]
    assert taps["transpose_blur"] == [[6.25, 6.25], [6.25, 6.25]]  # the blur averages 9, 6, 6 and 4
    assert all(taps[v] == [[25, 25], [25, 25]] for v in ("upsample", "subpixel", "bilinear"))
    spread = {v: np.ptp(r) / np.abs(r).mean() for v, r in untrained_responses(GANConfig()).items()}
    assert max(spread[v] for v in ("upsample", "subpixel", "bilinear")) < 1e-4  # flat from the start
    assert min(spread["transpose"], spread["transpose4"]) > 0.05  # a period-2 pattern: even counts, uneven weights
    assert spread["transpose_blur"] < 0.5 * spread["transpose"]  # the blur evens much of it out


def test_the_blur_is_the_binomial_filter_after_a_keras_transposed_convolution():
    """transpose_blur's Keras block is Conv2DTranspose, then [1, 2, 1] x [1, 2, 1] / 16 on every
    channel; the NumPy layer computes the same (literal layers, checked against a plain conv)."""
    import keras
    from ganviz.gan.blocks import doubling_block
    from ganviz.operators.builtin import BINOMIAL
    x = np.random.default_rng(4).standard_normal((2, 7, 7, 3)).astype(np.float32)
    conv, blur = doubling_block("transpose_blur", GANConfig(), 2, 5, 2, "generator_conv_0")
    y = blur(conv(x)).numpy()
    plain = conv(x).numpy()
    ref = np.stack([keras.ops.conv(plain[..., c:c + 1], BINOMIAL[:, :, None, None], padding="same").numpy()[..., 0]
                    for c in range(2)], axis=-1)
    np.testing.assert_allclose(y, ref, atol=1e-5)
    layer = operators.get("transpose_blur").layer(conv.kernel.numpy(), conv.bias.numpy(), 2)
    np.testing.assert_allclose(layer(x), y, atol=1e-5)
