"""One place per operator: a toy operator registered here, at test time, reaches every path
(training from the CLI, the NumPy viewer, the explainer, the charts and the report) without any
of them naming it."""
import numpy as np
import pytest

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.operators import Operator
from ganviz.operators.builtin import BINOMIAL
from ganviz.operators.taps import phase_taps
from ganviz.operators.spec import PhaseLayer
from ganviz.errors import UserError

TOY = "toy_nearest3"


def _shapes(k, cin, cout, factor):  # a 3 x 3 kernel wherever the map grows
    k = 3 if factor > 1 else k
    return {"kernel": (k, k, cin, cout), "bias": (cout,)}


def _layer(kernel, bias, factor):
    table, lo, hi = phase_taps(kernel.shape[0], factor)
    from ganviz.operators.taps import phase_kernel
    return PhaseLayer(phase_kernel(kernel, table).astype(np.float32), np.tile(bias, factor**2).astype(np.float32),
                      (-lo, hi), factor)


@pytest.fixture
def toy():
    """Nearest upsampling and a 3 x 3 convolution, in the registry and in Keras' blocks."""
    from keras import layers

    from ganviz.gan.blocks import KERAS_BLOCKS, keras_block
    operators.register(Operator(
        name=TOY, label="Toy: nearest + 3x3 Conv2D", colour="#123456", citation="this test",
        how="repeats each pixel, then a 3 x 3 convolution", shapes=_shapes, layer=_layer,
        macs=lambda h, w, k, cin, cout, f: h * f * w * f * 9 * cin * cout))

    @keras_block(TOY)
    def _toy(b):
        conv = b.conv()
        return [conv] if b.factor == 1 else [layers.UpSampling2D(b.factor, name=f"{b.name}_up", dtype=b.dtype), conv]
    yield TOY
    operators.REGISTRY.pop(TOY)
    KERAS_BLOCKS.pop(TOY)


def test_a_toy_operator_reaches_every_path(toy, tmp_path):
    import keras

    from ganviz.cli import main
    from ganviz.gan.models import build_generator
    from ganviz.measures.study import run_study
    from ganviz.present.charts import study_figures
    from ganviz.present.explain import untrained_responses
    from ganviz.present.report import build_report
    from ganviz.store.bundle import load_bundle
    from ganviz.view.compare import compare
    from ganviz.view.inference import NumpyGenerator
    from ganviz.view.weights import weight_shapes

    # a 2-step training from the command line, paired with the book's operator
    for seed in (0, 1):
        assert main(["train", "--variant", toy, "--steps", "2", "--batch", "8", "--dataset", "doodles:camel:32",
                     "--measure-size", "8", "--seed", str(seed), "--out", str(tmp_path / f"s{seed}" / "t"),
                     "--quiet"]) == 0
        assert main(["train", "--variant", "upsample", "--steps", "2", "--batch", "8", "--dataset", "doodles:camel:32",
                     "--measure-size", "8", "--seed", str(seed), "--out", str(tmp_path / f"s{seed}" / "u"),
                     "--quiet"]) == 0
    bundle = load_bundle(tmp_path / "s0" / "t" / toy)
    assert bundle.variant == toy and bundle.meta["steps_done"] == 2

    # the NumPy viewer against Keras, batch norm away from its start
    keras.utils.set_random_seed(1)
    c = GANConfig()
    model = build_generator(c, toy)
    rng = np.random.default_rng(2)
    for w in model.weights:
        if any(k in w.name for k in ("gamma", "beta", "moving_mean", "moving_variance")):
            w.assign(rng.uniform(0.5, 1.5, w.shape).astype(np.float32))
    weights = {f"{l.name}/{w.name}": np.array(w.numpy()) for l in model.layers for w in l.weights}
    assert {k: v.shape for k, v in weights.items()} == weight_shapes(c, toy)
    z = rng.standard_normal((4, c.z_dim)).astype(np.float32)
    np.testing.assert_allclose(NumpyGenerator(c, toy, weights)(z), model(z, training=False).numpy(), atol=1e-4)

    # the explainer: 3 x 3 taps everywhere, flat from a flat input
    assert operators.tap_pattern(toy).tolist() == [[9, 9], [9, 9]]
    flat = untrained_responses(GANConfig())[toy]
    assert np.ptp(flat) < 1e-4 * np.abs(flat).mean()

    # the charts' colour and the report's sections
    bundles = [load_bundle(p) for p in sorted(tmp_path.glob("s*/*/*")) if (p / "config.json").is_file()]
    study = run_study(bundles, n=16)
    figures = study_figures(study)
    assert any(getattr(t, "line", None) is not None and t.line.color == "#123456"
               for fig in figures.values() for t in fig.data)
    comp = compare({b.variant: NumpyGenerator.from_bundle(b) for b in bundles[:2]}, None, 0, 4)
    html = build_report("toy", comp, {}, None, [], study=study)
    assert "Toy: nearest + 3x3 Conv2D" in html


def test_an_operator_is_refused_by_name_where_it_is_not_registered_or_cannot_grow_a_map():
    with pytest.raises(UserError, match="unknown operator 'nearest'; choose from upsample, transpose"):
        operators.get("nearest")
    with pytest.raises(UserError, match="grows a map by 1, 2; g_upsample asks \\[3\\]"):
        operators.check_factors("bilinear", (3, 2, 1, 1))
    with pytest.raises(ValueError, match="lower case"):
        Operator(name="Bad-Name", label="", colour="", citation="", how="", shapes=_shapes, layer=_layer,
                 macs=lambda *a: 0)


def test_every_operator_has_a_keras_block_and_its_own_colour():
    from ganviz.gan.blocks import KERAS_BLOCKS
    assert set(operators.names()) <= set(KERAS_BLOCKS)
    assert len({operators.get(n).colour for n in operators.names()}) == len(operators.names())
    assert BINOMIAL.sum() == pytest.approx(1.0)
