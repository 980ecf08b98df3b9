"""The operators a generator layer can grow a feature map with: one registered spec each
(spec.py), the built-in six (builtin.py), and the NumPy arithmetic they share (taps.py,
numerics.py). `import ganviz.operators` registers the built-in ones."""
from ganviz.operators import builtin  # noqa: F401  (registers the built-in operators)
from ganviz.operators.spec import (REGISTRY, Operator, PhaseLayer, check_factors, colour, get, label, names, order,
                                   register, tap_pattern)

__all__ = ["REGISTRY", "Operator", "PhaseLayer", "check_factors", "colour", "get", "label", "names", "order", "register",
           "tap_pattern"]
