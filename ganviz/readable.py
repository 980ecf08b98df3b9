"""Numbers as a person reads them: two or three significant digits, thousands separators, never
e-notation (1,550 not 1.55e+03; 28,000x not 2.8e+04x). Every page, report, doc and CLI line
that shows a measured number formats it here."""
from __future__ import annotations

import math


def number(x: float, digits: int = 3, sign: bool = False) -> str:
    """`x` to `digits` significant digits, thousands separators, no trailing zeros: 1,550; 0.0412; 0.5."""
    if not math.isfinite(x):
        return "n/a" if math.isnan(x) else ("+inf" if x > 0 and sign else "inf" if x > 0 else "-inf")
    if x == 0:
        return "+0" if sign else "0"
    rounded = float(f"{x:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    text = f"{rounded:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"+{text}" if sign and rounded > 0 else text


def times(log_ratio: float) -> str:
    """A natural-log ratio as 'N x', two significant digits: 0.026x, 2.4x, 28,000x."""
    if not math.isfinite(log_ratio):
        return "n/a"
    return f"{number(math.exp(min(log_ratio, 700.0)), 2)}x"  # beyond e^700 a float overflows
