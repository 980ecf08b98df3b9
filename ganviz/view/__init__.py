"""Viewing a trained generator in NumPy: its forward pass from a bundle's weights, the
exact nearest-neighbour search, the side-by-side comparison. No TensorFlow."""
