"""ganviz: see what the way a generator doubles a feature map (UpSampling2D + Conv2D,
Conv2DTranspose and the fixes) does to the book's first GAN.

Data flow, one folder a step, each importing only from those before it: operators/ (one spec
each) -> data/ -> store/ (bundles) -> gan/ (models, training; the only TensorFlow) -> view/
(NumPy) -> measures/ -> present/ -> dashboard / CLI / report.
"""
__version__ = "0.3.0"

__all__ = ["nearest_l1", "__version__"]


def __getattr__(name: str) -> object:
    # The one public search, importable without TensorFlow; loaded on first use, so that a
    # training process, which never searches, does not pay for Numba's compiler.
    if name == "nearest_l1":
        from ganviz.view.neighbours import nearest_l1
        return nearest_l1
    raise AttributeError(f"module 'ganviz' has no attribute {name!r}")
