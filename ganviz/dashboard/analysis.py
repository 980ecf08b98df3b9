"""The Analysis section's widgets: the forest plot first, a headline per operator with every
measure a click away, then the pictures and the table. The numbers come from `measures.study`
(stored beside the shipped runs) and the words from `present`."""
from __future__ import annotations

import streamlit as st

from ganviz import operators
from ganviz.config import BOOK_PAIR
from ganviz.measures.study import N_SAMPLES, Study
from ganviz.present import texts, verdicts
from ganviz.present.charts import study_figures
from ganviz.present.images import grid
from ganviz.view.compare import interpolation


def show_analysis(study: Study, generators: dict, seed: int) -> None:
    st.markdown(texts.analysis_intro(study.dataset, len(study.runs), sorted({r.seed for r in study.runs}), N_SAMPLES,
                                     study.classifier))
    figures = study_figures(study)
    st.markdown(texts.FIGURES["forest"])
    st.plotly_chart(figures.pop("forest"), width="stretch", key="forest")
    for variant, headline, every_measure in verdicts.sections(study):
        st.markdown(headline)
        if every_measure:  # the book's pair open: it is the page's question
            with st.expander(f"Every measure: {operators.label(variant)}", expanded=variant in BOOK_PAIR):
                st.markdown(every_measure)
    for name, fig in figures.items():  # the pictures, each under what it shows
        st.markdown(texts.FIGURES[name])
        st.plotly_chart(fig, width="stretch")
    if not study.has_held_out:
        st.info(texts.NO_HELD_OUT)
    with st.expander("Every measure: means over seeds and paired differences"):
        st.dataframe(verdicts.study_table(study), hide_index=True, width="stretch")
    st.markdown(texts.interpolation_intro(seed))
    for variant, row in interpolation(generators, seed).items():
        st.image(grid(row, cols=10, scale=3), caption=operators.label(variant))
