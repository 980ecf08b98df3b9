"""Train the small classifier whose features the quality measures use (ganviz/measures/quality.py).

One per data set: the doodles' classes (camel, house, fish), or Fashion-MNIST's 10. Two 3x3
convolutions with max pooling, a 128-unit feature layer, a softmax; a few epochs of Adam. It
is judged on images it never saw, and written weights-only with its accuracy beside it.
"""
from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
from keras import layers

from ganviz import data
from ganviz.config import CLASSIFIED
from ganviz.config import CLASSIFIER_FEATURES as FEATURES
from ganviz.config import CLASSIFIER_KERNEL as KERNEL
from ganviz.config import CLASSIFIER_LAYERS as LAYERS
from ganviz.data.doodles import CLASSES, make_doodles
from ganviz.errors import DataError
from ganviz.store.bundle import save_weights

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]


def build_classifier(classes: int) -> keras.Model:
    x = inputs = keras.Input((28, 28, 1), name="classifier_input")
    for name, _, filters in LAYERS:
        x = layers.Conv2D(filters, KERNEL, padding="same", activation="relu", name=name)(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(FEATURES, activation="relu", name="classifier_features")(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax", name="classifier_output")(x))


def labelled(name: str, n_per_class: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """(train images, train labels, held-out images, held-out labels, class names)."""
    if name == "doodles":  # seed 0 draws the training set; seed 1 draws new drawings
        parts = [[make_doodles(n, c, seed=seed).reshape(-1, 28, 28) for c in CLASSES]
                 for n, seed in ((n_per_class, 0), (max(n_per_class // 5, 100), 1))]
        labels = [np.repeat(np.arange(len(CLASSES)), [len(p) for p in part]) for part in parts]
        return np.concatenate(parts[0]), labels[0], np.concatenate(parts[1]), labels[1], list(CLASSES)
    if name == "fashion-mnist":
        path = data.find_fashion_mnist()
        if path is None:
            raise DataError("fashion-mnist: no IDX files found; install Debian's dataset-fashion-mnist")
        read = lambda f: (data.read_idx((path.parent / f"{f}-images-idx3-ubyte.gz").read_bytes(), f),
                          data.read_idx_labels((path.parent / f"{f}-labels-idx1-ubyte.gz").read_bytes(), f))
        (x, y), (xt, yt) = read("train"), read("t10k")
        return x, y, xt, yt, FASHION_CLASSES
    raise DataError(f"no classifier recipe for {name!r}; accepted: {', '.join(CLASSIFIED)}")


def train_classifier(name: str, out: Path, epochs: int = 3, n_per_class: int = 6000, seed: int = 0) -> dict:
    """Train, measure held-out accuracy, write `name.weights.h5` and `name.json` under out."""
    x, y, xt, yt, classes = labelled(name, n_per_class)
    keras.utils.set_random_seed(seed)
    model = build_classifier(len(classes))
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.to_model_scale(x), y, batch_size=128, epochs=epochs, verbose=0, shuffle=True)
    accuracy = float((model.predict(data.to_model_scale(xt), verbose=0).argmax(1) == yt).mean())
    out.mkdir(parents=True, exist_ok=True)
    save_weights(model, out / f"{name}.weights.h5")
    meta = {"classes": classes, "accuracy": round(accuracy, 4), "held_out_images": int(len(xt)),
            "train_images": int(len(x)), "epochs": epochs}
    (out / f"{name}.json").write_text(json.dumps(meta, indent=2))
    return meta
