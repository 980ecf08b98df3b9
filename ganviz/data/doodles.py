"""`doodles`: the embedded data set, Quick Draw-style drawings made from randomised strokes.

Why: the dashboard must work offline on a fresh machine, and the book's camel file is a
download. Each drawing is a few wobbly pen strokes on a 256x256 canvas, fitted to its
bounding box and box-filtered down to 28x28 -- the same recipe as Quick Draw's "numpy
bitmap" files: white strokes on black, uint8, one flattened row of 784 per drawing.
Same seed, same drawings.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

Stroke = np.ndarray  # (k, 2) points, x right, y down, in arbitrary units
CANVAS = 256


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 12) -> Stroke:
    t = np.linspace(a0, a1, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def _camel(rng: np.random.Generator) -> list[Stroke]:
    """Body with one or two humps, four legs, a neck, a head and a tail."""
    length = rng.uniform(1.6, 2.4)
    height = rng.uniform(0.45, 0.7)
    humps = int(rng.integers(1, 3))
    hump_h = rng.uniform(0.35, 0.75)
    # back line: from tail end to shoulder, rising over each hump
    xs = np.linspace(0.0, length, 9 * humps + 1)
    phase = np.pi * humps * xs / length
    back = -height - hump_h * np.abs(np.sin(phase)) ** rng.uniform(0.8, 1.5)
    top = np.stack([xs, back], axis=1)
    belly_y = rng.uniform(-0.1, 0.05)
    belly = np.array([[length, -height * 0.6], [length * 0.8, belly_y], [length * 0.2, belly_y], [0.0, -height * 0.5]])
    leg_len = rng.uniform(0.8, 1.3)
    legs = []
    for x0 in (0.12, 0.3, length - 0.35, length - 0.15):
        x = x0 * rng.uniform(0.9, 1.1)
        bend = rng.uniform(-0.12, 0.12)
        legs.append(np.array([[x, belly_y], [x + bend, belly_y + leg_len * 0.5], [x, belly_y + leg_len]]))
    neck_x = length
    head_up = rng.uniform(0.6, 1.1)
    neck = np.array([[neck_x, -height * 0.6], [neck_x + 0.35, -height * 0.4 - head_up * 0.4],
                     [neck_x + 0.45, -height - head_up]])
    hx, hy = neck_x + 0.45, -height - head_up
    head = np.array([[hx, hy], [hx + 0.15, hy - 0.12], [hx + 0.45, hy - 0.05], [hx + 0.5, hy + 0.08], [hx + 0.15, hy + 0.12]])
    tail = np.array([[0.0, -height * 0.8], [-0.15, -height * 0.4], [-0.12, -height * 0.1]])
    return [top, belly, neck, head, tail, *legs]


def _house(rng: np.random.Generator) -> list[Stroke]:
    w, h = rng.uniform(0.8, 1.4), rng.uniform(0.6, 1.1)
    roof = rng.uniform(0.3, 0.7)
    body = np.array([[0, 0], [w, 0], [w, h], [0, h], [0, 0]])
    top = np.array([[-0.1, 0], [w / 2 + rng.uniform(-0.1, 0.1), -roof], [w + 0.1, 0]])
    dx = rng.uniform(0.2, w - 0.3)
    door = np.array([[dx, h], [dx, h * 0.5], [dx + 0.2, h * 0.5], [dx + 0.2, h]])
    return [body, top, door]


def _fish(rng: np.random.Generator) -> list[Stroke]:
    rx, ry = rng.uniform(0.8, 1.2), rng.uniform(0.35, 0.6)
    body = _arc(0, 0, rx, ry, 0.15 * np.pi, 1.85 * np.pi, 16)
    t = rng.uniform(0.3, 0.6)
    tail = np.array([[rx * 0.9, -ry * 0.3], [rx + t, -ry * 0.8], [rx + t, ry * 0.8], [rx * 0.9, ry * 0.3]])
    eye = _arc(-rx * 0.55, -ry * 0.2, 0.06, 0.06, 0, 2 * np.pi, 6)
    return [body, tail, eye]


CLASSES: dict[str, Callable[[np.random.Generator], list[Stroke]]] = {
    "camel": _camel,
    "house": _house,
    "fish": _fish,
}


def _wobble(stroke: Stroke, rng: np.random.Generator, amount: float) -> Stroke:
    """Resample a stroke densely and add smooth hand jitter."""
    seg = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.linspace(0, s[-1], max(4, int(s[-1] * 8)))
    pts = np.stack([np.interp(t, s, stroke[:, 0]), np.interp(t, s, stroke[:, 1])], axis=1)
    noise = rng.normal(0, amount, pts.shape)
    kernel = np.ones(3) / 3
    noise = np.stack([np.convolve(noise[:, i], kernel, mode="same") for i in range(2)], axis=1)
    return pts + noise


def draw(strokes: list[Stroke], width: int, out_size: int = 28) -> np.ndarray:
    """Fit strokes to the canvas (keeping aspect ratio), render, box-filter to out_size."""
    allp = np.concatenate(strokes)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    scale = (CANVAS - 2 * width - 8) / max(hi - lo)
    offset = (CANVAS - (hi - lo) * scale) / 2
    img = Image.new("L", (CANVAS, CANVAS), 0)
    pen = ImageDraw.Draw(img)
    for s in strokes:
        pts = (s - lo) * scale + offset
        pen.line([tuple(p) for p in pts], fill=255, width=width)
    return np.asarray(img.resize((out_size, out_size), Image.Resampling.BOX), dtype=np.uint8)


def make_doodles(n: int, category: str = "camel", seed: int = 0) -> np.ndarray:
    """`n` drawings of `category` as a (n, 784) uint8 array (Quick Draw numpy-bitmap layout)."""
    if category not in CLASSES:
        raise ValueError(f"unknown doodles class {category!r}; available: {', '.join(CLASSES)}")
    maker = CLASSES[category]
    out = np.empty((n, 784), dtype=np.uint8)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        strokes = [_wobble(s, rng, 0.02) for s in maker(rng)]
        if rng.random() < 0.5:
            strokes = [s * np.array([-1.0, 1.0]) for s in strokes]
        angle = rng.normal(0, 0.08)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        strokes = [s @ rot.T for s in strokes]
        out[i] = draw(strokes, width=int(rng.integers(9, 17))).reshape(-1)
    return out
