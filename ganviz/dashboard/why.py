"""The "Why they differ" section's widgets: the overlap of a transposed convolution for any
kernel and stride, both operators on one small map, and what the trained weights paint. The
numbers come from `present.explain` and the NumPy generators."""
from __future__ import annotations

import numpy as np
import streamlit as st

from ganviz import operators
from ganviz.config import GANConfig
from ganviz.present import explain, texts
from ganviz.present.charts import heatmap


@st.cache_data(show_spinner=False)
def _untrained() -> dict[str, np.ndarray]:
    return explain.untrained_responses(GANConfig())


def _in_rows(items: list, per_row: int = 3):
    """(column, item) pairs, `per_row` columns a row: six operators side by side cut their titles
    short. Each column's content sits at its bottom, so a label on two lines moves no chart."""
    for start in range(0, len(items), per_row):
        yield from zip(st.columns(per_row, vertical_alignment="bottom"), items[start:start + per_row])


def show_why(run_name: str, flat_responses: dict[str, np.ndarray]) -> None:
    """`flat_responses`: each trained generator's first upsampling layer given a flat input."""
    st.markdown(texts.WHY)
    c1, c2 = st.columns(2)
    k, s = c1.slider("Kernel size", 1, 7, 5), c2.slider("Stride", 1, 4, 2)
    c1, c2 = st.columns([2, 1])
    c1.plotly_chart(heatmap(explain.overlap_map(k, s, 6), f"Taps per output pixel: transpose conv, kernel {k}, stride {s}",
                            "Blues", text=True), width="stretch")
    pattern = explain.overlap_pattern(k, s)
    c2.plotly_chart(heatmap(pattern, "One period of the interior", "Blues", text=True), width="stretch")
    c2.markdown(texts.overlap_verdict(pattern.max(), pattern.min(), s))
    st.markdown(texts.SAME_MAP)
    demo = explain.operator_demo(np.eye(4), 5)
    for col, (name, arr) in zip(st.columns(len(demo)), demo.items()):
        col.plotly_chart(heatmap(arr.round(2), name), width="stretch")
    st.markdown(texts.trained_weights(run_name))
    for col, (variant, response) in zip(st.columns(len(flat_responses)), flat_responses.items()):
        col.plotly_chart(heatmap(response.round(4), operators.label(variant), "RdBu"), width="stretch")
    st.markdown(texts.EVERY_OPERATOR)
    responses = _untrained()
    limit = max(float(np.abs(r).max()) for r in responses.values())  # one colour scale: sizes compare
    for col, (variant, response) in _in_rows(list(responses.items())):
        col.caption(f"**{operators.label(variant)}**")
        col.plotly_chart(heatmap(operators.tap_pattern(variant), "taps per output pixel", "Blues", text=True),
                         width="stretch", key=f"taps-{variant}")
        col.plotly_chart(heatmap(response.round(4), "untrained, flat input", "RdBu", limit=limit), width="stretch",
                         key=f"untrained-{variant}")
