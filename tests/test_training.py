import numpy as np
import pytest
import tensorflow as tf

from ganviz.config import METRICS
from ganviz.gan.training import GAN, Diverged, Trainer, timeline_steps
from ganviz.noise import batch_stream, probe_z


def _weights(model):
    return [v.numpy().copy() for v in model.weights]


def _batch(config, images, step_seed=0):
    idx, z_d, z_g = next(batch_stream(config.replace(seed=step_seed), len(images)))
    return ((images[idx].astype(np.float32) - 127.5) / 127.5)[..., None], z_d, z_g


@pytest.mark.parametrize("fused", [False, True])
def test_generator_step_never_moves_discriminator_weights_and_vice_versa(tiny_config, tiny_images, fused):
    """Freezing: D's weights change only through D's optimiser, G's only through G's."""
    gan = GAN(tiny_config.replace(fused_step=fused), "upsample")
    real, z_d, z_g = _batch(tiny_config, tiny_images)
    # a generator update alone: apply only the G part by zeroing D's learning rate
    d_before, g_before = _weights(gan.discriminator), _weights(gan.generator)
    gan.d_opt.learning_rate.assign(0.0)
    gan.train_step(real, z_d, z_g)
    assert all(np.array_equal(a, b) for a, b in zip(d_before, _weights(gan.discriminator)))
    assert any(not np.array_equal(a, b) for a, b in zip(g_before, _weights(gan.generator)))
    # a discriminator update alone: G's trainable weights stay put
    gan.d_opt.learning_rate.assign(tiny_config.d_lr)
    gan.g_opt.learning_rate.assign(0.0)
    g_trainable = [v.numpy().copy() for v in gan.generator.trainable_variables]
    d_before = _weights(gan.discriminator)
    gan.train_step(real, z_d, z_g)
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(g_trainable, gan.generator.trainable_variables))
    assert any(not np.array_equal(a, b) for a, b in zip(d_before, _weights(gan.discriminator)))


def test_same_seed_same_losses(tiny_config, tiny_images):
    a = Trainer(tiny_config, tiny_images).run()
    b = Trainer(tiny_config, tiny_images).run()
    assert a.history == b.history
    c = Trainer(tiny_config.replace(seed=1), tiny_images).run()
    assert c.history != a.history


def test_variants_are_paired(tiny_config, tiny_images):
    """Both variants start from the same discriminator and see the same batches and probe z."""
    t = Trainer(tiny_config, tiny_images)
    d_up, d_tr = (t.gans[v].discriminator for v in ("upsample", "transpose"))
    assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(d_up.weights, d_tr.weights))
    s1, s2 = batch_stream(tiny_config, 64), batch_stream(tiny_config, 64)
    for _ in range(3):
        assert all(np.array_equal(a, b) for a, b in zip(next(s1), next(s2)))
    assert np.array_equal(probe_z(tiny_config), probe_z(tiny_config))
    # a run of one variant matches that variant inside a "both" run, step for step
    alone = Trainer(tiny_config, tiny_images, variants=("transpose",)).run()
    both = t.run()
    assert alone.history["transpose"] == both.history["transpose"]


def test_records_metrics_timeline_and_progress(tiny_config, tiny_images):
    seen = []
    t = Trainer(tiny_config, tiny_images, on_step=lambda tr: seen.append(tr.step)).run()
    assert seen == [1, 2, 3] and t.status == "finished"
    for v in ("upsample", "transpose"):
        assert set(t.history[v]) == set(METRICS) and all(len(x) == 3 for x in t.history[v].values())
        frames = np.stack(t.timeline[v])
        assert frames.shape == (len(t.recorded_steps), 4, 28, 28) and frames.dtype == np.uint8
    assert t.recorded_steps[0] == 0 and t.recorded_steps[-1] == 3
    assert t.images_per_s > 0


def test_stop_and_pause_between_steps(tiny_config, tiny_images):
    def stop_after_two(tr):
        if tr.step == 2:
            tr.stop()
    t = Trainer(tiny_config.replace(steps=10), tiny_images, on_step=stop_after_two).run()
    assert t.step == 2 and t.status == "stopped" and t.recorded_steps[-1] == 2

    import threading
    t2 = Trainer(tiny_config.replace(steps=50), tiny_images)
    t2.pause()
    worker = threading.Thread(target=t2.run)
    worker.start()
    worker.join(1.0)
    assert t2.step == 0 and t2.paused  # paused before the first step
    t2.stop()
    worker.join(10)
    assert not worker.is_alive() and t2.status == "stopped"
    assert t2.step == 0  # a trainer that ignored the pause would have finished the step in flight


def test_divergence_is_caught(tiny_config, tiny_images):
    t = Trainer(tiny_config.replace(steps=5), tiny_images, variants=("upsample",))
    t.gans["upsample"].generator.weights[0].assign(tf.fill(t.gans["upsample"].generator.weights[0].shape, np.nan))
    with pytest.raises(Diverged, match="NaN/inf"):
        t.run()
    assert "diverged" in t.status


def test_timeline_steps_are_log_spaced():
    s = timeline_steps(2000)
    assert s[0] == 0 and s[-1] == 2000 and s == sorted(set(s)) and 18 <= len(s) <= 24
    assert timeline_steps(1) == [0, 1]


def test_divergence_restores_the_last_good_weights(tiny_config, tiny_images):
    def poison(tr):  # after step 2, as if an update had blown up
        if tr.step == 2:
            w = tr.gans["upsample"].generator.weights[0]
            w.assign(tf.fill(w.shape, np.nan))
    t = Trainer(tiny_config.replace(steps=5), tiny_images, variants=("upsample",), on_step=poison)
    state = t.gans["upsample"].state_variables  # both models' weights and both optimisers' slots
    before = [v.numpy().copy() for v in state]
    with pytest.raises(Diverged, match="diverged at step 3 .* weights restored to step 0"):
        t.run()
    assert all(np.array_equal(v.numpy(), b) for v, b in zip(state, before))


def test_the_books_typo_learning_rate_is_caught_or_trains(tiny_images):
    """The notes' D learning rate 0.008 (10x the book's): training either survives or stops cleanly."""
    from ganviz.config import GANConfig
    t = Trainer(GANConfig(steps=6, batch_size=8, measure_size=8, d_lr=0.008), tiny_images, variants=("transpose",))
    try:
        t.run()
    except Diverged:
        assert "diverged" in t.status
    assert all(np.isfinite(w.numpy()).all() for w in t.gans["transpose"].generator.weights)


def test_mixed_bfloat16_step_tracks_the_float32_step(tiny_config, tiny_images):
    """A first step from the same weights agrees to bfloat16 precision; weights and optimiser
    stay float32. (Later steps drift apart as any round-off does: RMSprop's first updates are
    close to sign(gradient). Whether whole runs differ is docs/PERFORMANCE.md's recipe study.)"""
    real, z_d, z_g = _batch(tiny_config, tiny_images)
    first = {}
    for precision in ("float32", "mixed_bfloat16"):
        gan = GAN(tiny_config.replace(precision=precision), "transpose")
        first[precision] = gan.train_step(real, z_d, z_g)
        assert {v.dtype for v in gan.state_variables if v.dtype.startswith("float")} == {"float32"}
        assert all(float(gan.train_step(real, z_d, z_g)["nonfinite"]) == 0.0 for _ in range(3))
    for metric in ("d_loss_real", "d_loss_fake", "g_loss"):
        full, half = float(first["float32"][metric]), float(first["mixed_bfloat16"][metric])
        assert abs(full - half) <= 0.01 * full
    assert float(first["float32"]["g_loss"]) != float(first["mixed_bfloat16"]["g_loss"])  # it did compute in bfloat16
