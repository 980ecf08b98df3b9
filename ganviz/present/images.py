"""Pictures: sample grids enlarged with nearest neighbour (never blurred), PNG bytes."""
from __future__ import annotations

import io
import os

import numpy as np
from PIL import Image


def grid(images: np.ndarray, cols: int | None = None, scale: int = 4, pad: int = 1) -> np.ndarray:
    """uint8 (N, H, W) -> one uint8 picture, images in rows of `cols`, each enlarged `scale`x."""
    n, h, w = images.shape
    cols = cols or int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    canvas = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 80, np.uint8)
    for i, img in enumerate(images):
        r, c = divmod(i, cols)
        canvas[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = img
    return enlarge(canvas, scale)


def enlarge(image: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement: each pixel becomes a scale x scale block."""
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def save_png(image: np.ndarray, path: str | os.PathLike) -> None:
    with open(path, "wb") as fh:
        fh.write(png_bytes(image))


def interleave(samples: np.ndarray, nearest: np.ndarray, cols: int) -> np.ndarray:
    """A row of samples, then the row of their nearest training images, and so on: the
    book's side-by-side judgement of copying, laid out for `grid(..., cols=cols)`."""
    rows, side = len(samples) // cols, samples.shape[1]
    return np.stack([samples.reshape(rows, cols, side, side), nearest.reshape(rows, cols, side, side)],
                    axis=1).reshape(-1, side, side)


def grid_table(values: np.ndarray, cols: int) -> dict[str, list[str]]:
    """Each image's value in its place of `interleave`'s grid: table column j is grid column j,
    table row r the r-th row of samples, so a distance sits under its own sample."""
    rows = values.reshape(-1, cols)
    return {"samples": [f"{r * cols + 1}-{r * cols + cols}" for r in range(len(rows))]} | {
        str(j + 1): [f"{v:.3f}" for v in rows[:, j]] for j in range(cols)}
