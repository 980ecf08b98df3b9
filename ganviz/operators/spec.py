"""What an operator is, and the registry that holds one spec per operator.

An operator is a way for a generator layer to make its feature map `factor` times larger (or,
at factor 1, the book's size-keeping layer of the same family). Its spec holds everything the
rest of ganviz asks of it: name, label, colour and citation; its weights' shapes and initial
values; the viewer's NumPy pass (a `PhaseLayer`); the FLOPs of its literal layers. Its Keras
block registers by the same name in ganviz/gan/blocks.py (gan/ is the only folder that imports Keras).
Every other module looks a spec up; none branches on an operator's name (after stylegan2-ada's
`metric_main.register_metric`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Callable

import numpy as np

from ganviz.errors import UserError
from ganviz.operators.numerics import (bilinear_upsample, conv_macs, conv_valid, depth_to_space, depthwise_same,
                                      prepared_kernel)


@dataclass(frozen=True)
class PhaseLayer:
    """One generator layer as the viewer runs it: an optional bilinear resize, a 'valid'
    convolution whose output channels are the layer's `phases` x `phases` output phases
    (depth-to-space order) plus their bias, depth-to-space, an optional fixed filter on every
    channel, then a per-channel shift (where a batch norm's shift lands: after the filter)."""

    kernel: np.ndarray  # (P, P, C, phases * phases * O)
    bias: np.ndarray  # (phases * phases * O,): a bias per output channel and phase
    pad: tuple[int, int]  # rows and columns added before / after the input
    phases: int = 1
    resize: int = 1  # bilinear resize of the input first
    post: np.ndarray | None = None  # (k, k) filter on every channel of the grown map
    shift: np.ndarray | None = None  # (O,)

    def with_batch_norm(self, scale: np.ndarray, shift: np.ndarray) -> "PhaseLayer":
        """The layer followed by batch norm in inference mode (y * scale + shift per channel),
        folded in: the scale into its kernel and bias (every step before the shift is linear)."""
        tiled = np.tile(scale, self.phases**2)
        before = np.zeros_like(shift) if self.shift is None else self.shift
        return replace(self, kernel=(self.kernel * tiled).astype(np.float32), bias=(self.bias * tiled).astype(np.float32),
                       shift=(before * scale + shift).astype(np.float32))

    @cached_property
    def _prepared(self) -> np.ndarray | None:
        """`conv_valid`'s prepared kernel (its Winograd transform, where it takes that way): once per layer."""
        return prepared_kernel(self.kernel)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.resize > 1:
            x = bilinear_upsample(x, self.resize)
        y = conv_valid(x, self.kernel, self.pad, self._prepared)
        y += self.bias
        y = depth_to_space(y, self.phases)
        if self.post is not None:
            y = depthwise_same(y, self.post)
        if self.shift is not None:
            y += self.shift
        return y

    def macs(self, h: int, w: int) -> tuple[int, int, int]:
        """(multiply-adds per image, output height, output width) on an h x w input, as `conv_valid`
        runs them."""
        h, w = h * self.resize, w * self.resize
        total = conv_macs(h, w, self.kernel.shape)  # the padded 'valid' convolution's output is h x w
        h, w = h * self.phases, w * self.phases
        if self.post is not None:
            total += h * w * (len(self.bias) // self.phases**2) * int(np.count_nonzero(self.post))
        return total, h, w


def normal_init(rng: np.random.Generator, shapes: dict[str, tuple[int, ...]], std: float,
                factor: int) -> dict[str, np.ndarray]:
    """Keras' RandomNormal(0, std) kernel and a zero bias: the book's initialisation."""
    return {"kernel": rng.normal(0.0, std, shapes["kernel"]).astype(np.float32),
            "bias": np.zeros(shapes["bias"], np.float32)}


@dataclass(frozen=True)
class Operator:
    """One registered operator. The callables take a layer's kernel size k, its input and output
    channels (cin, cout) and its factor (2 doubles, 1 keeps the size)."""

    name: str  # an identifier: lower case, digits and underscores
    label: str  # how a person reads it
    colour: str  # its line and marker colour in every chart
    citation: str  # where it comes from
    how: str  # one sentence: how it fills the larger map
    shapes: Callable[[int, int, int, int], dict[str, tuple[int, ...]]]  # -> {"kernel": ..., "bias": ...}, as Keras stores them
    layer: Callable[[np.ndarray, np.ndarray, int], PhaseLayer]  # (kernel, bias, factor) -> the viewer's layer
    macs: Callable[[int, int, int, int, int, int], int]  # (h, w, k, cin, cout, factor): its literal layers' multiply-adds
    init: Callable[[np.random.Generator, dict, float, int], dict[str, np.ndarray]] = normal_init
    factors: tuple[int, ...] = (1, 2, 3, 4)  # the factors it implements

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise ValueError(f"operator name {self.name!r}: use lower case letters, digits and underscores")


REGISTRY: dict[str, Operator] = {}


def register(op: Operator) -> Operator:
    """Add an operator (a test's toy one, or a new fix); every path picks it up by its name."""
    if op.name in REGISTRY and REGISTRY[op.name] != op:
        raise ValueError(f"operator {op.name!r} is registered already")
    REGISTRY[op.name] = op
    return op


def names() -> tuple[str, ...]:
    """Every registered operator, in registration order (the book's pair first)."""
    return tuple(REGISTRY)


def order(name: str) -> int:
    """Sort key: registration order, names not registered last."""
    return list(REGISTRY).index(name) if name in REGISTRY else len(REGISTRY)


def get(name: str) -> Operator:
    """The spec of an operator; an unknown name is the user's error, in one line."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown operator {name!r}; choose from {', '.join(REGISTRY)}") from None


def label(name: str) -> str:
    """An operator's label, or the name itself where nothing is registered under it."""
    return REGISTRY[name].label if name in REGISTRY else name


def colour(name: str) -> str:
    """An operator's chart colour; grey for a name not registered."""
    return REGISTRY[name].colour if name in REGISTRY else "#777777"


def check_factors(name: str, factors: tuple[int, ...]) -> None:
    """Refuse a generator whose layers ask an operator for a factor it does not implement."""
    op = get(name)
    bad = sorted(set(factors) - set(op.factors))
    if bad:
        raise UserError(f"{op.label} grows a map by {', '.join(map(str, op.factors))}; g_upsample asks {bad}")


def tap_pattern(name: str, kernel: int = 5, stride: int = 2) -> np.ndarray:
    """One period of the kernel weight each output pixel of a doubling layer receives from a
    flat input, with every kernel tap 1: even for nearest, bilinear and sub-pixel (k x k taps),
    uneven for a transposed convolution whose kernel the stride does not divide."""
    op = get(name)
    weights = {k: np.ones(s, np.float32) for k, s in op.shapes(kernel, 1, 1, stride).items()}
    layer = op.layer(weights["kernel"], np.zeros(1, np.float32), stride)
    side = 4 * max(kernel, 3)
    flat = layer(np.ones((1, side, side, 1), np.float32))[0, :, :, 0]
    mid = (flat.shape[0] // 2) // stride * stride
    return flat[mid:mid + stride, mid:mid + stride]
