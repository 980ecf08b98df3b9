"""The sidebar's sharing widgets: the public link to this view, and a bundle upload. The
link is made by `state.share_link`; the upload is checked by `runs.import_bundle_zip`."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from ganviz.dashboard.runs import import_bundle_zip
from ganviz.errors import UserError
from ganviz.present import texts


def share_panel(link: str, uploads: Path, on_loaded: Callable[[], None]) -> None:
    """`link`: this view's public address. An uploaded bundle goes under `uploads` (the owner's)."""
    st.header("Share")
    with st.popover("Share this view", width="stretch"):
        st.code(link, language=None)
        st.caption(texts.SHARE)
    uploaded = st.file_uploader("Upload a bundle (.zip)", type=["zip"])
    if uploaded is not None and st.session_state.get("imported") != uploaded.file_id:
        try:
            path = import_bundle_zip(uploaded.getvalue(), uploads)
            st.session_state.imported = uploaded.file_id
            on_loaded()
            st.success(f"Loaded {path.parent.name}; pick yours/uploads/{path.parent.name} under Run.")
        except UserError as exc:
            st.error(str(exc))
