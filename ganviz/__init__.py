"""ganviz: see what UpSampling2D+Conv2D versus Conv2DTranspose does to the book's first GAN.

Data flow, one folder a step: data/ -> gan/ (models, training; the only TensorFlow) -> store/
(bundles) -> view/ (NumPy) -> measures/ -> present/ -> dashboard / CLI / report.
"""
__version__ = "0.1.0"

from ganviz.view.neighbours import nearest_l1  # the one public search, importable without TensorFlow

__all__ = ["nearest_l1", "__version__"]
