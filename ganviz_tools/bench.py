"""`python -m ganviz bench`: the project's benchmark. Every figure is a ratio taken in one run
on one machine; CI runs `--quick` to prove it works and never asserts speed.

1. training throughput per variant: the book's Keras loop (train_on_batch / predict, written
   faithfully below) versus ganviz's compiled loop, same models and batch, after warm-up, in
   float32 and in mixed bfloat16; and a profile of ganviz's step by kind of op;
2. efficiency: GFLOP/s against measured float32 and bfloat16 matrix-multiply peaks;
3. nearest training image by L1: NumPy one query at a time versus `ganviz.nearest_l1`;
4. dashboard cold start in headless Chromium, and the server's peak RSS.
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import keras
import numba
import numpy as np
import tensorflow as tf

from ganviz import data, operators
from ganviz.config import BASELINE, BOOK_PAIR, GANConfig
from ganviz.gan.blocks import UpsampleConv2D
from ganviz.gan.models import build_discriminator, build_generator
from ganviz.gan.training import GAN
from ganviz.noise import batch_stream
from ganviz.view.neighbours import L1Index, nearest_l1, nearest_l1_numpy, to_rows

ROOT = Path(__file__).parents[1]


# ---- FLOPs from layer shapes (multiply-add = 2 FLOPs) ----
def forward_flops(model: keras.Model) -> int:
    """Forward FLOPs per image of the literal layers: convolutions, transposed convolutions, dense."""
    total = 0
    for layer in model.layers if hasattr(model, "layers") else [model]:
        if isinstance(layer, UpsampleConv2D):  # what the fused layer executes: f*f phases of m x m taps
            _, h, w, cin = layer.input.shape
            f, m = layer.factor, layer._taps.shape[1]
            total += 2 * h * w * cin * layer.filters * f * f * m * m
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            _, h, w, cin = layer.input.shape
            total += 2 * h * w * cin * layer.filters * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Conv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            total += 2 * h * w * cin * cout * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return total


def layer_flops(model: keras.Model) -> dict[str, int]:
    """Forward FLOPs per image, layer by layer (where the time goes, to first order)."""
    return {layer.name: forward_flops(keras.Model(layer.input, layer.output)) for layer in model.layers
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.Conv2DTranspose, keras.layers.Dense))}


def step_flops(config: GANConfig, variant: str, fused: bool = False) -> int:
    """FLOPs of one book step: D real and D fake (forward + backward = 3x forward each), one
    generator forward for the fake batch, and the generator update through the frozen D (3x G;
    2x D, whose weight gradients are not needed). fused=False counts the book's literal layers
    (model FLOPs), True what ganviz executes."""
    f_d = forward_flops(build_discriminator(config))
    f_g = forward_flops(build_generator(config, variant, fused=fused))
    return config.batch_size * (3 * f_d + (f_g + 3 * f_d) + (3 * f_g + 2 * f_d))


# ---- the book's loop, as in models/GAN.py of the book's repository, in Keras 3 ----
class BookLoop:
    """train_on_batch on real, predict + train_on_batch on fake, train_on_batch of the combined model.

    Keras 3 reads `trainable` when a train function runs, not when the model is compiled, so
    the book's freezing is kept by switching the flag around each call, as Keras 3 requires.
    """

    def __init__(self, config: GANConfig, variant: str):
        self.config = config
        self.discriminator = build_discriminator(config)
        self.generator = build_generator(config, variant, fused=False)
        self.discriminator.compile(keras.optimizers.RMSprop(config.d_lr), "binary_crossentropy", metrics=["accuracy"])
        self.discriminator.trainable = False
        z = keras.Input((config.z_dim,))
        self.model = keras.Model(z, self.discriminator(self.generator(z)))
        self.model.compile(keras.optimizers.RMSprop(config.g_lr), "binary_crossentropy", metrics=["accuracy"])

    def step(self, real: np.ndarray, z_d: np.ndarray, z_g: np.ndarray) -> None:
        b = len(real)
        valid, fake = np.ones((b, 1)), np.zeros((b, 1))
        self.discriminator.trainable = True
        self.discriminator.train_on_batch(real, valid)
        self.discriminator.train_on_batch(self.generator.predict(z_d, verbose=0), fake)
        self.discriminator.trainable = False
        self.model.train_on_batch(z_g, valid)


def _on_batches(step, config: GANConfig, x: np.ndarray):
    """`step(real, z_d, z_g)` as a no-argument call that feeds it the training stream's next batch."""
    stream = batch_stream(config, len(x))

    def next_step():
        idx, z_d, z_g = next(stream)
        return step(x[idx], z_d, z_g)
    return next_step


def _throughput(step, config: GANConfig, x: np.ndarray, warmup: int, steps: int) -> float:
    """Images per second of `step(real, z_d, z_g)` after warm-up."""
    step = _on_batches(step, config, x)
    for _ in range(warmup):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        out = step()
    if isinstance(out, dict):
        float(out["g_loss"])  # wait for the last step's result
    return steps * config.batch_size / (time.perf_counter() - t0)


def matmul_peak(n: int, repeats: int, dtype: tf.DType = tf.float32) -> float:
    """Best GFLOP/s of an n x n matrix product in TensorFlow on this machine."""
    a = tf.cast(np.random.default_rng(0).standard_normal((n, n), np.float32), dtype)
    mm = tf.function(lambda a: tf.matmul(a, a))
    mm(a).numpy()
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        mm(a).numpy()
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


# (name, loop, changes to the book's config, ganviz's fused layers): what the table compares.
# "book" is the reference; every other setup is reported as a speed-up over it.
SETUPS = (
    ("book", "book", {}, False),
    ("ganviz_literal_layers", "ganviz", {}, False),
    ("ganviz", "ganviz", {}, True),
    ("ganviz_fused_step", "ganviz", {"fused_step": True}, True),
    ("book_bf16", "book", {"precision": "mixed_bfloat16"}, False),
    ("ganviz_bf16", "ganviz", {"precision": "mixed_bfloat16"}, True),
)


def bench_training(config: GANConfig, x: np.ndarray, warmup: int, steps: int,
                   variants: tuple[str, ...] = BOOK_PAIR) -> list[dict]:
    rows = []
    for variant in variants:
        row = {"variant": variant}
        for name, loop, changes, fused_layer in SETUPS:
            setup = config.replace(**changes)
            if loop == "book":
                step = BookLoop(setup, variant).step
            else:
                step = GAN(setup, variant, fused_upsample=fused_layer).train_step
            row[f"{name}_images_per_s"] = _throughput(step, setup, x, warmup, steps)
            row[f"{name}_speedup"] = row[f"{name}_images_per_s"] / row["book_images_per_s"]
        row["model_gflop_per_step"] = step_flops(config, variant) / 1e9
        row["executed_gflop_per_step"] = step_flops(config, variant, fused=True) / 1e9
        for name in ("ganviz", "ganviz_bf16"):
            row[f"{name}_gflop_per_s"] = row["executed_gflop_per_step"] * row[f"{name}_images_per_s"] / config.batch_size
        rows.append(row)
    return rows


def bench_cli(config: GANConfig, x: np.ndarray, lengths: tuple[int, int], warmup: int, steps: int,
              variants: tuple[str, ...] = BOOK_PAIR) -> list[dict]:
    """Whole `ganviz train` runs of each variant alone, as a user starts them: seconds per step
    over the window between a short and a longer run, (t(long) - t(short)) / (long - short), so
    that start-up and saving cancel and the window keeps what a run does per step (its probe
    frames and checkpoints too); against the book's loop, timed in this process."""
    import subprocess
    import sys
    import tempfile
    rows = []
    for variant in variants:
        seconds = {}
        for n in lengths:
            with tempfile.TemporaryDirectory() as out:
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "ganviz", "train", "--variant", variant, "--steps", str(n),
                                "--batch", str(config.batch_size), "--dataset", config.dataset, "--out", out, "--quiet"],
                               check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
                seconds[n] = time.perf_counter() - t0
        short, long = lengths
        per_step = (seconds[long] - seconds[short]) / (long - short)  # at toy size, noise: maybe <= 0
        book = config.batch_size / _throughput(BookLoop(config, variant).step, config, x, warmup, steps)
        rows.append({"variant": variant, "run_s": seconds, "cli_s_per_step": per_step, "book_s_per_step": book,
                     "speedup": book / per_step if per_step > 0 else float("nan")})
    return rows


OP_KINDS = (("convolution", ("Conv2D",)), ("batch norm", ("_bn_", "BatchNorm")), ("dropout", ("dropout",)),
            ("optimiser", ("rm_sprop", "adam")), ("relu", ("Relu", "re_lu")), ("cast", ("Cast",)))


def _op_kind(name: str) -> str:
    return next((kind for kind, marks in OP_KINDS if any(m in name for m in marks)), "other")


def op_profile(config: GANConfig, variant: str, x: np.ndarray, steps: int) -> dict[str, float]:
    """Where a training step's time goes: milliseconds of TensorFlow worker-thread time per step,
    by kind of op, from TensorFlow's own profiler (summed over threads, so above the wall time)."""
    import tempfile
    from collections import Counter

    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    step = _on_batches(GAN(config, variant).train_step, config, x)
    float(step()["g_loss"])  # compile outside the profile
    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        for _ in range(steps):
            out = step()
        float(out["g_loss"])
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        space.ParseFromString(next(Path(logdir).rglob("*.xplane.pb")).read_bytes())
    ms = Counter()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_"):
                continue
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name not in ("ExecutorState::Process", "ParallelFor"):  # containers of the ops
                    ms[_op_kind(name)] += event.duration_ps / 1e9 / steps
    return dict(ms.most_common())


def _queries(kind: str, refs: np.ndarray, spec: str, n: int, rng: np.random.Generator) -> np.ndarray | None:
    if kind == "uniform noise":
        return rng.uniform(-1, 1, (n, 28, 28, 1)).astype(np.float32)
    if kind == "generated":  # samples of a pretrained generator trained on these references
        path = ROOT / "pretrained" / f"{spec}-s0" / BASELINE
        if (path / "config.json").is_file():
            from ganviz.noise import latent_batch
            from ganviz.store.bundle import load_bundle
            from ganviz.view.compare import generate
            from ganviz.view.inference import NumpyGenerator
            generator = NumpyGenerator.from_bundle(load_bundle(path))
            return generate(generator, latent_batch(0, n, generator.input_shape[-1]))
        return None
    noisy = data.to_model_scale(refs[rng.integers(0, len(refs), n)]) + rng.normal(0, 0.2, (n, 28, 28, 1))
    return np.clip(noisy, -1, 1).astype(np.float32)


def bench_neighbours(images: np.ndarray, spec: str, n_queries: int) -> dict:
    """Both searches get the references already on the [-1, 1] scale; ganviz's index (pixel
    order) is built once per training set, timed separately."""
    rng = np.random.default_rng(0)
    refs = to_rows(images)
    nearest_l1(refs[:2], refs[:300])  # compile the kernel outside the timing
    t0 = time.perf_counter()
    index = L1Index.build(refs)
    result = {"n_references": len(refs), "index_build_s": time.perf_counter() - t0, "rows": []}
    nearest_l1(refs[:2], index)  # start the thread pool outside the timing
    for kind in ("generated", "noisy real", "uniform noise"):
        q = _queries(kind, images, spec.replace(":", "-"), n_queries, rng)
        if q is None:
            continue
        t0 = time.perf_counter()
        i0, d0 = nearest_l1_numpy(q, refs)
        t_numpy = time.perf_counter() - t0
        t0 = time.perf_counter()
        i1, d1 = nearest_l1(q, index)
        t_fast = time.perf_counter() - t0
        result["rows"].append({"queries": kind, "n_queries": len(q), "numpy_s": t_numpy, "ganviz_s": t_fast,
                               "speedup": t_numpy / t_fast, "same_indices": bool(np.array_equal(i0, i1)),
                               "max_distance_diff": float(np.abs(d0 - d1).max())})
    # scale: the camel file's 121,000 drawings (here: the references repeated, slightly shifted)
    n_big = 121_000 if len(images) >= 10_000 else 4 * len(images)
    big = np.concatenate([np.roll(images, k, axis=2) for k in range(-(-n_big // len(images)))])[:n_big]
    t0 = time.perf_counter()
    big_index = L1Index.build(big)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    nearest_l1(_queries("noisy real", images, spec, n_queries, rng), big_index)
    result["scale"] = {"n_references": n_big, "index_build_s": build, "search_s": time.perf_counter() - t0,
                       "index_mb": (big_index.rows.nbytes + big_index.tiles.nbytes) / 2**20}
    return result


def numpy_matmul_peak(side: int = 2048) -> float:
    """GFLOP/s of NumPy's float32 matrix product at side x side: about the most the viewer's
    BLAS gives on this machine, since its forward pass is matrix products."""
    a = np.random.default_rng(0).random((side, side), dtype=np.float32)
    a @ a
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t0)
    return 2 * side**3 / best / 1e9


def book_viewers() -> dict:
    """The dashboard's NumPy generators of the pretrained seed-0 camels, per variant."""
    from ganviz.store.bundle import load_bundle
    from ganviz.view.inference import NumpyGenerator
    return {v: NumpyGenerator.from_bundle(load_bundle(ROOT / "pretrained" / "doodles-camel-s0" / v)) for v in BOOK_PAIR}


def bench_viewer(n: int, generators: dict, repeats: int = 1) -> dict[str, float]:
    """Images/s of NumPy forward passes on one core, as the dashboard samples (one BLAS thread,
    one sampling per core), keyed like `generators`: the best of `repeats` rounds, each round
    timing every generator once (interleaved, so a busy moment hits all alike)."""
    from threadpoolctl import threadpool_limits
    from ganviz.noise import latent_batch
    from ganviz.view.compare import generate
    best = dict.fromkeys(generators, 0.0)
    with threadpool_limits(1, user_api="blas"):
        for _ in range(repeats):
            for key, gen in generators.items():
                z = latent_batch(0, n, gen.config.z_dim)
                generate(gen, z[:2])  # first call outside the timing
                t0 = time.perf_counter()
                generate(gen, z)
                best[key] = max(best[key], n / (time.perf_counter() - t0))
    return best


def viewer_efficiency(n: int, repeats: int = 5) -> dict:
    """The viewer's images/s and executed GFLOP/s per variant against NumPy's matmul peak on one
    core, in one run: how far a faster forward pass could go on this machine at the same FLOPs."""
    from threadpoolctl import threadpool_limits
    generators = book_viewers()
    with threadpool_limits(1, user_api="blas"):  # the peak on one core, before and after: the better of the two
        first = numpy_matmul_peak()
    speed = bench_viewer(n, generators, repeats)
    with threadpool_limits(1, user_api="blas"):
        peak = max(first, numpy_matmul_peak())
    flops = {v: g.flops() for v, g in generators.items()}
    return {"numpy_matmul_peak_gflop_per_s": peak,
            "variants": {v: {"images_per_s": speed[v], "executed_mflop_per_image": flops[v] / 1e6,
                             "gflop_per_s": speed[v] * flops[v] / 1e9} for v in generators}}


def viewer_table(result: dict) -> str:
    peak = result["numpy_matmul_peak_gflop_per_s"]
    lines = [f"dashboard viewer (NumPy forward pass, one core); NumPy float32 matmul peak {peak:.0f} GFLOP/s"] + [
        f"  {v:<10} {r['images_per_s']:5.0f} images/s, {r['executed_mflop_per_image']:.0f} MFLOP executed per image: "
        f"{r['gflop_per_s']:.0f} GFLOP/s ({r['gflop_per_s'] / peak:.0%} of the peak)"
        for v, r in result["variants"].items()]
    return "\n".join(lines)


def bench_operators(config: GANConfig, x: np.ndarray, warmup: int, steps: int, n_view: int) -> list[dict]:
    """Every doubling operator side by side: parameters, FLOPs per image (literal layers),
    training images/s of ganviz's step (float32) and the NumPy viewer's images/s on one core, each
    variant alone, fresh weights."""
    from ganviz.view.inference import NumpyGenerator
    from ganviz.view.weights import generator_flops
    rows = []
    for variant in operators.names():  # every viewer first: TensorFlow's threads stay busy for a while after training
        model = build_generator(config, variant)
        gen = NumpyGenerator(config, variant, {f"{l.name}/{w.name}": np.array(w.numpy()) for l in model.layers
                                            for w in l.weights})
        rows.append({"variant": variant, "generator_parameters": model.count_params(),
                     "mflop_per_image": generator_flops(config, variant) / 1e6,
                     "viewer_images_per_s": bench_viewer(n_view, {variant: gen})[variant]})
    for row in rows:
        row["training_images_per_s"] = _throughput(GAN(config, row["variant"]).train_step, config, x, warmup, steps)
    return rows


def bench_layers(config: GANConfig, batch: int, repeats: int) -> list[dict]:
    """Each operator's doubling layer alone, where the generator spends most (14 x 14 x 128 ->
    28 x 28 x 64, kernel 5): milliseconds of a forward and backward pass (input and weight
    gradients), its registered block (fused where it has a fused path) and its literal Keras
    layers, best of `repeats` rounds of 10."""
    from ganviz.gan.blocks import doubling_block
    x = tf.constant(np.random.default_rng(0).normal(size=(batch, 14, 14, 128)).astype(np.float32))
    rows = []
    for variant in operators.names():
        row = {"variant": variant}
        for kind, fused in (("block", True), ("literal", False)):
            model = keras.Sequential(doubling_block(variant, config, 64, 5, 2, "layer", fused=fused))
            model.build(x.shape)

            @tf.function
            def step(x, model=model):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    y = model(x)
                    loss = tf.reduce_mean(y * y)
                return tape.gradient(loss, [x, *model.trainable_variables])
            step(x)[0].numpy()
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                for _ in range(10):
                    out = step(x)
                out[0].numpy()
                best = min(best, (time.perf_counter() - t0) / 10)
            row[f"{kind}_ms"] = best * 1e3
            row[f"{kind}_layers"] = [type(l).__name__ for l in model.layers]
        rows.append(row)
    return rows


def layers_table(rows: list[dict]) -> str:
    """Markdown: each operator's doubling layer, forward + backward."""
    base = next(r for r in rows if r["variant"] == BASELINE)["block_ms"]
    lines = ["| variant | block (layers) | ms | of upsample's block | literal layers, ms |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {' + '.join(r['block_layers'])} | {r['block_ms']:.0f} | "
                     f"{base / r['block_ms']:.2f}x | {r['literal_ms']:.0f} |")
    return "\n".join(lines)


def _cpu_name() -> str:
    try:
        return next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def _setup(quick: bool) -> tuple[GANConfig, np.ndarray]:
    """The book's config and camels (toy sizes with --quick), and the images in the model's scale."""
    config = GANConfig(batch_size=8, dataset="doodles:camel:256") if quick else GANConfig()
    return config, data.to_model_scale(data.load(config.dataset).images)


def run(quick: bool = False, browser: bool = True) -> dict:
    config, x = _setup(quick)
    spec = "fashion-mnist" if data.find_fashion_mnist() else "doodles:camel:60000"
    refs = data.load(spec).images[:2000 if quick else None]
    # The peaks are the best of many products before and after the training runs: a KVM
    # guest's clock drifts by 10-20% within a run, and a peak must not be caught low.
    def peak(dtype: tf.DType) -> float:
        return matmul_peak(256 if quick else 2048, 2 if quick else 10, dtype)

    peaks_before = {dtype: peak(dtype) for dtype in (tf.float32, tf.bfloat16)}
    # --quick proves the code runs: upsample alone takes every path (its fused layer too)
    variants = BOOK_PAIR[:1] if quick else BOOK_PAIR
    result = {
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "keras": keras.__version__, "numba": numba.__version__},
        "quick": quick,
        "training": bench_training(config, x, warmup=1 if quick else 3, steps=1 if quick else 15, variants=variants),
        "op_profile_ms_per_step": {f"{v}, {p}": op_profile(config.replace(precision=p), v, x, 1 if quick else 10)
                                   for p in ("float32", "mixed_bfloat16") for v in variants},
        "matmul_peak_gflop_per_s": max(peaks_before[tf.float32], peak(tf.float32)),
        "bf16_matmul_peak_gflop_per_s": max(peaks_before[tf.bfloat16], peak(tf.bfloat16)),
        "nearest_neighbour": bench_neighbours(refs, spec, 8 if quick else 64),
        "viewer": viewer_efficiency(8 if quick else 256, repeats=1 if quick else 5),
        "generator_mflop_per_image": {v: {k: f / 1e6 for k, f in layer_flops(build_generator(config, v, fused=False)).items()}
                                      for v in BOOK_PAIR},
        "operators": bench_operators(config, x, warmup=1 if quick else 3, steps=1 if quick else 15,
                                     n_view=8 if quick else 256),
        "layers": bench_layers(config, 8 if quick else 64, 1 if quick else 3),
        "cli": bench_cli(config, x, *CLI_RUNS[quick]),
    }
    for row in result["training"]:
        row["fraction_of_matmul_peak"] = row["ganviz_gflop_per_s"] / result["matmul_peak_gflop_per_s"]
        row["bf16_fraction_of_bf16_matmul_peak"] = row["ganviz_bf16_gflop_per_s"] / result["bf16_matmul_peak_gflop_per_s"]
    if browser:
        from ganviz_tools.browser import cold_start
        result["cold_start"] = cold_start(ROOT)
    return result


def operators_table(rows: list[dict]) -> str:
    """Markdown: every doubling operator against the book's upsample."""
    base = next(r for r in rows if r["variant"] == BASELINE)
    lines = ["| variant | generator parameters | MFLOP / image | training images/s | viewer images/s |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['generator_parameters']:,} ({r['generator_parameters'] - base['generator_parameters']:+,}) "
                     f"| {r['mflop_per_image']:.0f} | {r['training_images_per_s']:.0f} "
                     f"({r['training_images_per_s'] / base['training_images_per_s']:.2f}x) | {r['viewer_images_per_s']:.0f} |")
    return "\n".join(lines)


CLI_RUNS = {False: ((10, 60), 3, 15), True: ((2, 4), 1, 1, BOOK_PAIR[:1])}  # by quick: lengths, warm-up, steps[, variants]


def cli_table(rows: list[dict]) -> str:
    """Markdown: whole CLI runs' seconds per step against the book's loop."""
    lines = ["| variant | CLI runs (s) | CLI s/step over the window | book's loop s/step | speed-up |", "|---|---|---|---|---|"]
    for r in rows:
        runs = ", ".join(f"{n} steps {t:.1f}" for n, t in r["run_s"].items())
        lines.append(f"| {r['variant']} | {runs} | {r['cli_s_per_step']:.3f} | {r['book_s_per_step']:.3f} | "
                     f"{r['speedup']:.2f}x |")
    return "\n".join(lines)


def table(result: dict) -> str:
    rows = result["training"]
    lines = [f"machine: {result['machine']}", "",
             "training, images/s (speed-up over the book's loop)  " + "".join(f"{r['variant']:>20}" for r in rows)]
    for name, *_ in SETUPS:
        label = name.replace("_bf16", ", mixed bfloat16").replace("_", " ").replace("book", "book's loop")
        lines.append(f"  {label:<48}" + "".join(f"{r[f'{name}_images_per_s']:11.0f} ({r[f'{name}_speedup']:4.2f}x)"
                                               for r in rows))
    lines.append("  ganviz GFLOP/s* (of the matmul peak): " + ", ".join(
        f"{r['variant']} {r['ganviz_gflop_per_s']:.0f} ({r['fraction_of_matmul_peak']:.0%}) in float32, "
        f"{r['ganviz_bf16_gflop_per_s']:.0f} ({r['bf16_fraction_of_bf16_matmul_peak']:.0%}) in bfloat16" for r in rows))
    lines.append(f"  matmul peak: float32 {result['matmul_peak_gflop_per_s']:.0f} GFLOP/s, bfloat16 "
                 f"{result['bf16_matmul_peak_gflop_per_s']:.0f} GFLOP/s   "
                 "(* FLOPs ganviz executes: the fused upsampling layer does 36 of the literal 100 taps)")
    nn = result["nearest_neighbour"]
    lines += ["", f"nearest image by L1 over {nn['n_references']:,} references (index built once in "
                  f"{nn['index_build_s']:.2f} s)",
              "  queries                numpy s   ganviz s   speed-up   same indices   max |d diff|"]
    for r in nn["rows"]:
        lines.append(f"  {r['queries']:<20} {r['numpy_s']:8.3f}   {r['ganviz_s']:8.4f}   {r['speedup']:7.1f}x"
                     f"   {str(r['same_indices']):>12}   {r['max_distance_diff']:.1e}")
    sc = nn["scale"]
    lines.append(f"  scale: {sc['n_references']:,} references, index {sc['index_mb']:.0f} MB built in "
                 f"{sc['index_build_s']:.1f} s, {nn['rows'][0]['n_queries']} noisy queries in {sc['search_s']:.3f} s")
    lines += ["", viewer_table(result["viewer"])]
    lines += ["", operators_table(result["operators"])]
    lines += ["", "whole `ganviz train` runs, per step over the window between two lengths, against the book's loop",
              cli_table(result["cli"])]
    lines += ["", "each doubling layer alone (14 x 14 x 128 -> 28 x 28 x 64, forward + backward)", layers_table(result["layers"])]
    lines += ["", "where a ganviz training step's time goes (ms of TensorFlow thread time per step)"]
    for v, kinds in result["op_profile_ms_per_step"].items():
        total = sum(kinds.values())
        lines.append(f"  {v:<26} " + ", ".join(f"{k} {t:.0f} ({t / total:.0%})" for k, t in kinds.items()))
    lines += ["", "where a generator's forward FLOPs go (MFLOP per image, literal layers)"]
    for v, layers in result["generator_mflop_per_image"].items():
        lines.append(f"  {v:<10} " + ", ".join(f"{k.replace('generator_', '')} {f:.1f}" for k, f in layers.items()))
    if "cold_start" in result:
        c = result["cold_start"]
        lines += ["", f"dashboard cold start: {c['seconds_to_samples']:.1f} s to both sample grids, "
                      f"server peak RSS {c['server_peak_rss_mb']:.0f} MB"]
    return "\n".join(lines)


def main(quick: bool, json_path: str | None, browser: bool, operators_only: bool = False,
         viewer_only: bool = False, layers_only: bool = False, cli_only: bool = False) -> None:
    if cli_only:  # a few minutes: whole CLI runs against the book's loop
        config, x = _setup(quick)
        result = {"cli": bench_cli(config, x, *CLI_RUNS[quick])}
        print(cli_table(result["cli"]))
    elif layers_only:  # a minute: each doubling layer alone
        result = {"layers": bench_layers(GANConfig(), 8 if quick else 64, 1 if quick else 3)}
        print(layers_table(result["layers"]))
    elif viewer_only:  # seconds, no training
        result = {"viewer": viewer_efficiency(8 if quick else 256, 1 if quick else 5)}
        print(viewer_table(result["viewer"]))
    elif operators_only:  # the operators' table alone: a few minutes instead of the whole benchmark
        config, x = _setup(quick)
        result = {"operators": bench_operators(config, x, 1 if quick else 3, 1 if quick else 15, 8 if quick else 256)}
        print(operators_table(result["operators"]))
    else:
        result = run(quick, browser)
        print(table(result))
    if json_path:
        Path(json_path).write_text(json.dumps(result, indent=2))
