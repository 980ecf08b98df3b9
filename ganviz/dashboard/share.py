"""The sidebar's sharing widgets: the public link to this view, and a bundle upload. The
link is made by `state.share_link`; the upload is checked by `runs.import_bundle_zip`."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from ganviz.dashboard.runs import import_bundle_zip
from ganviz.errors import UserError
from ganviz.present import texts


def share_panel(link: str, uploads: Path, show: Callable[[Path], None]) -> None:
    """`link`: this view's public address. An uploaded bundle goes under `uploads` (the owner's);
    `show(its folder)` makes it the page's run, and the page runs again to list and show it."""
    st.header("Share")
    with st.popover("Share this view", width="stretch"):
        st.code(link, language=None)
        st.caption(texts.SHARE)
    uploaded = st.file_uploader("Upload a bundle (.zip)", type=["zip"])
    if uploaded is not None and st.session_state.get("imported") != uploaded.file_id:
        try:
            path = import_bundle_zip(uploaded.getvalue(), uploads)
        except UserError as exc:
            st.error(str(exc))
        else:
            st.session_state.imported = uploaded.file_id
            st.session_state.import_note = f"Loaded the {path.name} bundle: yours/uploads/{path.parent.name}, now shown."
            show(path)
            st.rerun()
    if note := st.session_state.pop("import_note", None):
        st.success(note)
