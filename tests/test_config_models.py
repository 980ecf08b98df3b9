import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from ganviz import operators
from ganviz.config import GANConfig, fast_precision
from ganviz.gan.models import FusedBatchNormalization, build_discriminator, build_generator
from ganviz.operators.taps import phase_taps


def test_defaults_are_the_books_values():
    c = GANConfig()
    assert (c.d_filters, c.d_kernels, c.d_strides, c.d_dropout) == ((64, 64, 128, 128), (5,) * 4, (2, 2, 2, 1), 0.4)
    assert (c.g_filters, c.g_kernels, c.g_upsample, c.g_initial_shape) == ((128, 64, 64, 1), (5,) * 4, (2, 2, 1, 1), (7, 7, 64))
    assert (c.z_dim, c.d_lr, c.g_lr, c.batch_size, c.steps, c.optimizer) == (100, 0.0008, 0.0004, 64, 2000, "rmsprop")
    assert (c.g_bn_momentum, c.weight_init_std) == (0.9, 0.02)


def test_config_json_round_trip():
    c = GANConfig(seed=7, steps=10)
    assert GANConfig.from_dict(json.loads(c.to_json())) == c
    assert json.loads(c.to_json())["g_filters"] == [128, 64, 64, 1]


@pytest.mark.parametrize("bad, says", [({"steps": 0}, "steps must be"), ({"measure_size": 0}, "measure_size must be"),
                                       ({"d_lr": 2.0}, "learning rates must be"), ({"optimizer": "sgd"}, "optimizer must be")])
def test_config_rejects_bad_values(bad, says):
    with pytest.raises(ValueError, match=says):
        GANConfig(**bad)


def test_a_smaller_measure_batch_is_the_first_z_of_the_default_one():
    """Tests record 8 z: the first 8 of the shipped runs' 256, not other ones."""
    from ganviz.noise import measure_z
    c = GANConfig(seed=3)
    assert measure_z(c).shape == (256, c.z_dim)
    np.testing.assert_array_equal(measure_z(c.replace(measure_size=8)), measure_z(c)[:8])


def test_config_rejects_unknown_keys():
    with pytest.raises(ValueError, match="unknown config keys: nope"):
        GANConfig.from_dict({"nope": 1})


def test_parameter_counts_match_the_book():
    c = GANConfig()
    assert build_discriminator(c).count_params() == 720_833
    up, tr = build_generator(c, "upsample"), build_generator(c, "transpose")
    assert up.count_params() == tr.count_params() == 844_161
    assert up.output_shape == tr.output_shape == (None, 28, 28, 1)


def test_variants_differ_only_in_the_upsampling_operator():
    c = GANConfig()
    kinds = {v: [type(l).__name__ for l in build_generator(c, v, fused=False).layers] for v in ("upsample", "transpose")}
    assert kinds["upsample"].count("UpSampling2D") == 2 and "Conv2DTranspose" not in kinds["upsample"]
    assert kinds["transpose"].count("Conv2DTranspose") == 4 and "UpSampling2D" not in kinds["transpose"]
    strip = lambda names: [n.replace("Conv2DTranspose", "Conv2D") for n in names if n != "UpSampling2D"]
    assert strip(kinds["upsample"]) == strip(kinds["transpose"])


def test_fused_upsample_layer_is_the_literal_upsampling2d_plus_conv2d():
    """Same weights, same outputs and same gradients as the book's literal layers (float32 round-off)."""
    keras.utils.set_random_seed(0)  # weights and z: the same draw in every process
    c = GANConfig()
    literal, fused = build_generator(c, "upsample", fused=False), build_generator(c, "upsample")
    assert literal.count_params() == fused.count_params()
    assert [type(l).__name__ for l in fused.layers].count("UpsampleConv2D") == 2
    for a, b in zip(literal.weights, fused.weights):
        b.assign(a)
    z = tf.random.normal((32, c.z_dim), seed=1)
    np.testing.assert_allclose(fused(z, training=True).numpy(), literal(z, training=True).numpy(), atol=2e-5)
    # In inference mode every weight has a real gradient (in training mode, biases that feed
    # batch norm have a true gradient of zero, leaving only round-off to compare). Round-off
    # that flips a ReLU near zero moves a gradient by ~1e-3 of its norm; a wrong layer moves it by ~1.
    grads = []
    for model in (literal, fused):
        with tf.GradientTape() as tape:
            out = model(z, training=False)
            loss = tf.reduce_mean(out * tf.linspace(-1.0, 1.0, 28)[None, :, None, None])
        grads.append(tape.gradient(loss, model.trainable_variables))
    for ga, gb in zip(*grads):
        assert np.linalg.norm(ga - gb) <= 5e-3 * np.linalg.norm(ga)


def test_fused_batch_norm_is_keras_batch_norm():
    """Same outputs, gradients and moving statistics as Keras' layer, in both modes."""
    tf.random.set_seed(0)  # with the op's seed: the same x in every process
    x = tf.random.normal((16, 7, 7, 8), seed=2) * 3.0 + 1.0
    keras_bn = keras.layers.BatchNormalization(momentum=0.9)
    fused_bn = FusedBatchNormalization(momentum=0.9)
    for bn in (keras_bn, fused_bn):
        bn.build(x.shape)
        bn.gamma.assign(tf.linspace(0.5, 2.0, 8))
        bn.beta.assign(tf.linspace(-1.0, 1.0, 8))
    outs, grads = [], []
    for bn in (keras_bn, fused_bn):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = bn(x, training=True)
            loss = tf.reduce_sum(y * tf.sin(tf.reshape(tf.range(16 * 7 * 7 * 8, dtype=tf.float32), x.shape)))
        outs.append(y.numpy())
        grads.append([g.numpy() for g in tape.gradient(loss, [x, bn.gamma, bn.beta])])
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5)
    for ga, gb in zip(*grads):
        np.testing.assert_allclose(gb, ga, atol=1e-4)
    # the moving variance averages the biased batch variance, as Keras does
    np.testing.assert_allclose(fused_bn.moving_mean.numpy(), keras_bn.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused_bn.moving_variance.numpy(), keras_bn.moving_variance.numpy(), rtol=1e-5)
    assert not np.allclose(keras_bn.moving_variance.numpy(), 1.0)  # the update really happened
    np.testing.assert_allclose(fused_bn(x, training=False).numpy(), keras_bn(x, training=False).numpy(), atol=1e-5)


def test_phase_taps_cover_every_kernel_tap_once():
    taps, lo, hi = phase_taps(5, 2)
    assert (lo, hi) == (-1, 1) and taps.shape == (2, 3, 5)
    assert np.array_equal(taps.sum(axis=1), np.ones((2, 5)))  # each tap reads exactly one input offset
    assert taps[0].sum(axis=1).tolist() == [2, 2, 1] and taps[1].sum(axis=1).tolist() == [1, 2, 2]


@pytest.mark.parametrize("variant", operators.names())
def test_mixed_bfloat16_models_compute_the_float32_function_to_bfloat16_precision(variant):
    """Same variables (float32, loadable both ways), bfloat16 inside, float32 images and probabilities."""
    keras.utils.set_random_seed(0)  # weights and inputs: the same draw in every process
    c = GANConfig()
    mixed = c.replace(precision="mixed_bfloat16")
    for build, inputs in ((lambda cfg: build_generator(cfg, variant), tf.random.normal((16, c.z_dim), seed=3)),
                          (build_discriminator, tf.random.uniform((16, 28, 28, 1), -1, 1, seed=4))):
        full, half = build(c), build(mixed)
        assert [w.shape for w in full.weights] == [w.shape for w in half.weights]
        assert {w.dtype for w in half.weights} == {"float32"}
        assert any(l.compute_dtype == "bfloat16" for l in half.layers)
        half.set_weights(full.get_weights())
        a, b = full(inputs, training=False).numpy(), half(inputs, training=False).numpy()
        assert b.dtype == np.float32
        # bfloat16 keeps 8 significant bits, and an untrained generator's small output is a sum of
        # cancelling terms: over 12 random draws the largest error was 1.0-1.4% (upsample, subpixel,
        # bilinear) and 3.2% (both transposes) of the output's largest value. A wrong dtype is ~100%.
        assert np.abs(a - b).max() <= 0.06 * np.abs(a).max() and not np.array_equal(a, b)


def test_fast_precision_follows_the_cpus_bfloat16_units(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile amx_bf16\n")
    assert fast_precision(str(cpuinfo)) == "mixed_bfloat16"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16\n")  # AMD EPYC (Zen 4)
    assert fast_precision(str(cpuinfo)) == "mixed_bfloat16"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512f\n")
    assert fast_precision(str(cpuinfo)) == "float32"
    assert fast_precision(str(tmp_path / "missing")) == "float32"


def test_mixed_bfloat16_discriminator_keeps_the_books_dropout_rate():
    """Dropout draws its masks in float32: in bfloat16 Keras' Dropout(0.4) drops 40.6%."""
    d = build_discriminator(GANConfig(precision="mixed_bfloat16"))
    drops = [l for l in d.layers if isinstance(l, keras.layers.Dropout)]
    assert len(drops) == 4 and all(l.compute_dtype == "float32" for l in drops)
    kept = drops[0](tf.ones((1000, 1000)), training=True).numpy() != 0
    assert abs(1 - kept.mean() - 0.4) < 0.003
