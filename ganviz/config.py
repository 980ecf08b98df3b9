"""One place for every default: the book's GAN (Foster, *Generative Deep Learning*, ch. 4).

`GANConfig()` with no arguments *is* the book's recipe; every other module reads its
numbers from here. It round-trips through JSON so a run bundle records exactly what made it.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any

# The book's pair of doubling operators (ganviz/operators registers them and the rest): every
# paired verdict compares an operator with the book's own, UpSampling2D + Conv2D.
BOOK_PAIR = ("upsample", "transpose")
BASELINE = BOOK_PAIR[0]
# The largest batch the page and the CLI accept. The book's Keras loop has been run at 1024 on
# one H100 (20-22k images/s, through JAX); on a CPU one step of it takes seconds, and a batch
# far above it is a typo that would run for hours (images are drawn with replacement).
MAX_BATCH = 1024
MAX_SEED = 2**31 - 1  # seeds of runs and of z, as the page's inputs take them
DRAWN_SEEDS = 10_000  # "New samples" draws a seed below this: short enough to read out to a room
PRECISIONS = ("float32", "mixed_bfloat16")  # Keras dtype policies the models accept
STRATEGIES = ("default", "mirrored", "multiworker")  # tf.distribute placements (ganviz/gan/distribute.py)
# what the training loop records per step, per variant
METRICS = ("d_loss_real", "d_loss_fake", "d_loss", "d_acc_real", "d_acc_fake", "g_loss", "g_acc")
# What one training process of the book's GAN costs a memory-limited host (Train now's default
# run, docs/PERFORMANCE.md): its anonymous memory at its peak (506 MB: TensorFlow's runtime,
# the models, the compiled step) and the code pages it keeps touching (hostmem.CODE_MB). Its
# RSS is higher (950 MB) because TensorFlow's libraries are mapped, but a cgroup reclaims
# those clean pages: one ran to the end in a 650 MB cgroup (peak 549 MB). A server uses this
# until it has measured its own trainings; a study's `--parallel auto` fits runs by it.
TRAINING_MB = 570
# A run's checkpoint (on disk) and the trainer's snapshot for divergence (in memory) are taken
# every CHECKPOINT_EVERY steps; on disk also after CHECKPOINT_SECONDS, so a kill loses at most that.
CHECKPOINT_EVERY = 50
CHECKPOINT_SECONDS = 60.0
# The small classifier behind the quality measures (ganviz/gan/classifier.py trains it,
# ganviz/measures/quality.py runs it in NumPy): (name, in, out) 3x3 convolutions, each followed
# by 2x2 max pooling, then a feature layer of CLASSIFIER_FEATURES units.
CLASSIFIER_LAYERS = (("classifier_conv_0", 1, 32), ("classifier_conv_1", 32, 64))
CLASSIFIER_KERNEL, CLASSIFIER_FEATURES = 3, 128
CLASSIFIED = ("doodles", "fashion-mnist")  # the data set kinds a classifier is shipped for
# early steps shown beside the final generator (page, report, docs): where checkerboards are plain
EARLY_STEPS = (50, 200)


def _same_kind(value: Any, default: Any) -> bool:
    """Whether a config value has its default's type: bools are not numbers, floats are finite,
    tuples hold positive whole numbers."""
    whole = lambda x: isinstance(x, int) and not isinstance(x, bool)
    if isinstance(default, bool) or isinstance(default, str):
        return type(value) is type(default)
    if isinstance(default, int):
        return whole(value)
    if isinstance(default, float):
        try:
            return (whole(value) or isinstance(value, float)) and math.isfinite(value)
        except OverflowError:  # an integer too large for a float
            return False
    return isinstance(value, tuple) and all(whole(x) and x > 0 for x in value)


@dataclass(frozen=True)
class GANConfig:
    """Hyperparameters of one GAN run; defaults are the book's values. A run is (config,
    operators): the operators it trains in lockstep are not part of it."""

    # data
    dataset: str = "doodles:camel"
    image_shape: tuple[int, int, int] = (28, 28, 1)
    # discriminator
    d_filters: tuple[int, ...] = (64, 64, 128, 128)
    d_kernels: tuple[int, ...] = (5, 5, 5, 5)
    d_strides: tuple[int, ...] = (2, 2, 2, 1)
    d_dropout: float = 0.4
    # generator
    z_dim: int = 100
    g_initial_shape: tuple[int, int, int] = (7, 7, 64)
    g_filters: tuple[int, ...] = (128, 64, 64, 1)
    g_kernels: tuple[int, ...] = (5, 5, 5, 5)
    g_upsample: tuple[int, ...] = (2, 2, 1, 1)
    g_bn_momentum: float = 0.9
    weight_init_std: float = 0.02
    # training
    optimizer: str = "rmsprop"
    d_lr: float = 0.0008
    g_lr: float = 0.0004
    batch_size: int = 64
    steps: int = 2000
    seed: int = 0
    probe_size: int = 16
    measure_size: int = 256  # z whose images' mean power spectrum is recorded at every timeline frame
    # False: the book's three passes (G in inference mode for the D-fake batch, fresh z for G).
    # True: one generator forward pass serves both the D-fake and the G update (faster;
    # see docs/PERFORMANCE.md for what it changes).
    fused_step: bool = False
    # "float32": the book. "mixed_bfloat16": layers compute in bfloat16; weights, batch-norm
    # statistics, dropout masks, losses and the optimiser stay float32 (fast where the hardware
    # multiplies bfloat16 matrices, e.g. CPUs with AMX; docs/PERFORMANCE.md: what it changes).
    precision: str = "float32"

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):  # a config read from a file may hold anything
            value, default = getattr(self, f.name), f.default
            if not _same_kind(value, default):
                kind = "positive whole numbers" if isinstance(default, tuple) else type(default).__name__
                raise ValueError(f"{f.name} must be {kind} like {default!r}, got {repr(value)[:40]}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        for name in ("steps", "batch_size", "probe_size", "measure_size", "z_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if not (0 < self.d_lr < 1 and 0 < self.g_lr < 1):
            raise ValueError("learning rates must be in (0, 1)")
        if self.optimizer not in ("rmsprop", "adam"):
            raise ValueError(f"optimizer must be 'rmsprop' or 'adam', got {self.optimizer!r}")
        if len(self.image_shape) != 3 or len(self.g_initial_shape) != 3:
            raise ValueError("image_shape and g_initial_shape must be (height, width, channels)")
        if not (len(self.d_filters) == len(self.d_kernels) == len(self.d_strides)):
            raise ValueError("d_filters, d_kernels and d_strides must have the same length")
        if not (len(self.g_filters) == len(self.g_kernels) == len(self.g_upsample)):
            raise ValueError("g_filters, g_kernels and g_upsample must have the same length")

    def replace(self, **changes: Any) -> "GANConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "GANConfig":
        """Build from a dict, turning JSON lists back into tuples; unknown keys are an error."""
        names = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(names))
        if unknown:
            raise ValueError(f"unknown config keys: {', '.join(unknown)}")
        fixed = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
        return cls(**fixed)


BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # CPU flags of units that multiply bfloat16 in hardware


def fast_precision(cpuinfo: str = "/proc/cpuinfo") -> str:
    """The precision the dashboard offers first: mixed_bfloat16 where the CPU multiplies bfloat16
    in hardware, else the book's float32 (without such units bfloat16 is emulated, and slower).
    Measured (docs/PERFORMANCE.md): 3.0x / 2.4x float32's speed on a Xeon with AMX, 1.7x on an
    EPYC with AVX-512 bfloat16. Reads the CPU's flags, not TensorFlow, so the page stays light."""
    try:
        with open(cpuinfo) as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "float32"
    return "mixed_bfloat16" if any(flag in flags for flag in BF16_FLAGS) else "float32"
