"""The NumPy viewer's generator equals the Keras generator it was saved from."""
import numpy as np
import pytest

from conftest import keras_generator
from ganviz.config import GANConfig
from ganviz.gan.training import Trainer
from ganviz.noise import latent_batch
from ganviz.store.bundle import load_bundle, save_bundles
from ganviz import operators
from ganviz.operators.numerics import CHUNK_IMAGES, Scratch, conv_valid, conv_way, winograd_kernel, winograd_matrices
from ganviz.view.inference import NumpyGenerator
from ganviz.view.weights import initial_weights


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    from ganviz.data.doodles import make_doodles
    images = make_doodles(48, "camel", seed=2).reshape(-1, 28, 28)
    trainer = Trainer(GANConfig(steps=3, batch_size=8, measure_size=8), images).run()  # BN statistics have moved
    return save_bundles(trainer, tmp_path_factory.mktemp("b"))


@pytest.mark.parametrize("which", [0, 1])
def test_numpy_generator_matches_keras(bundles, which):
    bundle = load_bundle(bundles[which])
    z = latent_batch(5, CHUNK_IMAGES + 3, 100)  # a whole chunk of images through every layer, and a part
    keras_out = keras_generator(bundle)(z, training=False).numpy()
    numpy_out = NumpyGenerator.from_bundle(bundle)(z)
    assert numpy_out.shape == (CHUNK_IMAGES + 3, 28, 28, 1)
    np.testing.assert_allclose(numpy_out, keras_out, atol=1e-4)


@pytest.mark.parametrize("k, c, o, way", [(3, 4, 16, "im2col"), (5, 6, 6, "row taps"), (5, 16, 1, "shift-add"),
                                          (3, 64, 72, "winograd"), (5, 80, 64, "winograd")])
def test_each_way_of_conv_valid_is_the_convolution(k, c, o, way):
    """Outputs of odd and even sides (9 - k + 1 rows, 10 - k + 1 columns), padded or not."""
    assert conv_way(k, c, o) == way
    rng = np.random.default_rng(k * c * o)
    x = rng.normal(size=(CHUNK_IMAGES + 2, 9, 10, c)).astype(np.float32)
    kernel = rng.normal(size=(k, k, c, o)).astype(np.float32)
    h, w = 9 - k + 1, 10 - k + 1
    expected = sum(np.einsum("nhwc,co->nhwo", x[:, u:u + h, v:v + w].astype(np.float64), kernel[u, v].astype(np.float64))
                   for u in range(k) for v in range(k))
    got = conv_valid(x, kernel)
    assert got.shape == expected.shape and got.dtype == np.float32
    # float32's rounding: ~2e-7 of the outputs' scale for the direct ways, up to ~8e-6 through Winograd's 5x5 transforms
    assert np.abs(got - expected).max() <= 2e-5 * np.abs(expected).max()
    padded = np.pad(x, ((0, 0), (1, 2), (1, 2), (0, 0)))
    twice = [conv_valid(x, kernel, (1, 2)) for _ in range(2)]  # the second reuses the first's scratch arrays
    np.testing.assert_array_equal(twice[0], twice[1])
    np.testing.assert_allclose(twice[0], conv_valid(padded, kernel), rtol=1e-6, atol=1e-5)
    if way == "winograd":  # the caller's transformed kernel is the one convolved with
        np.testing.assert_allclose(conv_valid(x, kernel, (1, 2), winograd_kernel(2 * kernel)), 2 * twice[0],
                                   rtol=1e-6, atol=1e-4)
        with pytest.raises(ValueError, match="not winograd_kernel's"):
            conv_valid(x, kernel, (1, 2), winograd_kernel(kernel[:, :, :, :-1]))


@pytest.mark.parametrize("k, height, width, pad", [(3, 10, 10, (0, 0)), (5, 9, 9, (1, 1)), (3, 9, 10, (0, 1)),
                                                  (5, 10, 9, (1, 0))])
def test_winograd_is_the_convolution_for_even_and_odd_outputs(k, height, width, pad):
    """Outputs 8 x 8 unpadded, 7 x 7 padded, 8 x 9 and 7 x 6 (one extra column or row of zeros)."""
    rng = np.random.default_rng(height * width * k)
    x = rng.normal(size=(3, height, width, 64)).astype(np.float32)
    kernel = rng.normal(size=(k, k, 64, 64)).astype(np.float32)
    padded = np.pad(x, ((0, 0), pad, pad, (0, 0))).astype(np.float64)
    h, w = padded.shape[1] - k + 1, padded.shape[2] - k + 1
    expected = sum(np.einsum("nhwc,co->nhwo", padded[:, u:u + h, v:v + w], kernel[u, v].astype(np.float64))
                   for u in range(k) for v in range(k))
    got = conv_valid(x, kernel, pad)
    assert conv_way(k, 64, 64) == "winograd" and got.shape == expected.shape
    assert np.abs(got - expected).max() <= 2e-5 * np.abs(expected).max()


@pytest.mark.parametrize("k", [3, 5])
def test_winograd_matrices_give_the_correlation_exactly(k):
    """F(2, k): y_i = sum_u g_u d_(i+u) for i = 0, 1, from k + 1 products, to float64's rounding."""
    at, g_matrix, bt = winograd_matrices(k)
    assert at.shape == (2, k + 1) and g_matrix.shape == (k + 1, k) and bt.shape == (k + 1, k + 1)
    rng = np.random.default_rng(k)
    for _ in range(20):
        g, d = rng.normal(size=k), rng.normal(size=k + 1)
        np.testing.assert_allclose(at @ ((g_matrix @ g) * (bt @ d)), [g @ d[:k], g @ d[1:]], rtol=1e-12, atol=1e-12)


def test_two_threads_sampling_at_once_get_what_one_thread_gets(bundles):
    """The server samples on one thread per core at the same time, through one shared generator:
    no work array (scratch, tile transforms) is shared between two samplings."""
    from concurrent.futures import ThreadPoolExecutor
    generator = NumpyGenerator.from_bundle(load_bundle(bundles[0]))
    zs = [latent_batch(seed, 2 * CHUNK_IMAGES, 100) for seed in range(6)]
    alone = [generator(z) for z in zs]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(generator, zs))
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a, b)


def test_scratch_lends_each_array_to_one_caller_and_keeps_at_most_its_limit():
    scratch = Scratch(limit_mb=1)
    with scratch((4, 4)) as a, scratch((4, 4)) as b:
        assert a is not b  # two callers at once never share
    with scratch((4, 4)) as c:
        assert c is a or c is b  # returned arrays are lent again
    with scratch((300, 1024)) as big:  # 1.2 MB: over the limit, so not kept
        pass
    with scratch((300, 1024)) as again:
        assert again is not big
    with scratch((4, 4)) as c:  # ... and evicted nothing
        assert c is a or c is b
    with scratch((200, 1024)) as older:  # 0.8 MB: kept
        pass
    with scratch((100, 1024)) as newer:  # 0.4 MB: the arrays used longer ago make room
        pass
    with scratch((100, 1024)) as again, scratch((200, 1024)) as fresh, scratch((4, 4)) as tiny:
        assert again is newer and fresh is not older and tiny is not a and tiny is not b


@pytest.mark.parametrize("k, stride", [(5, 2), (4, 2), (3, 1), (5, 1)])
def test_transpose_conv_matches_tensorflow(k, stride):
    import tensorflow as tf
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 5, 3)).astype(np.float32)
    kernel = rng.normal(size=(k, k, 4, 3)).astype(np.float32)
    ref = tf.nn.conv2d_transpose(x, kernel, (2, 5 * stride, 5 * stride, 4), stride, padding="SAME").numpy()
    layer = operators.get("transpose").layer(kernel, np.zeros(4, np.float32), stride)
    np.testing.assert_allclose(layer(x), ref, atol=1e-4)


def test_constant_response_is_flat_for_upsampling_and_periodic_for_transpose():
    c = GANConfig()
    tr = NumpyGenerator(c, "transpose", initial_weights(c, "transpose", seed=0)).constant_response(0, size=9)
    interior = tr[4:-4, 4:-4]
    assert interior.shape[0] >= 4 and np.ptp(interior[::2, ::2]) < 1e-5  # one phase: constant
    assert abs(interior[0, 0] - interior[1, 1]) > 1e-4  # neighbouring phases differ
    up = NumpyGenerator(c, "upsample", initial_weights(c, "upsample", seed=1)).constant_response(0, size=9)
    assert np.ptp(up[4:-4, 4:-4]) < 1e-5  # flat away from the zero padding


def test_shared_generators_and_bundles_cannot_be_mutated(bundles):
    """The dashboard caches one of each per bundle for every session: writing to them fails loudly."""
    bundle = load_bundle(bundles[0])
    generator = NumpyGenerator.from_bundle(bundle)
    before = generator(latent_batch(0, 2, 100))
    with pytest.raises(ValueError, match="read-only"):
        generator.w["generator_dense/kernel"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        bundle.history["g_loss"][0] = 0.0
    with pytest.raises(ValueError, match="read-only"):
        bundle.timeline[0][0, 0, 0] = 0
    np.testing.assert_array_equal(generator(latent_batch(0, 2, 100)), before)
