"""ganviz dashboard: how the book's first GAN grows a feature map, UpSampling2D + Conv2D against the rest.

This file only wires widgets to functions in `ganviz/`; everything it shows is computed there.
Trainings run in processes of their own: this server never imports TensorFlow. Run: streamlit run app.py
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from ganviz import data, operators
from ganviz.config import DRAWN_SEEDS, MAX_SEED, GANConfig
from ganviz.dashboard.analysis import show_analysis
from ganviz.dashboard.jobs import Trainings
from ganviz.dashboard.runs import (bundle_zip, bundles_on, check_spec, default_pair, find_runs, live_dir, run_label,
                                   runs_for, side_by_side)
from ganviz.dashboard.server import configure_server
from ganviz.dashboard.share import share_panel
from ganviz.dashboard.state import (COOKIE, MAX_SMOOTH, VIEWS, ViewState, compare_steps, owner_key, public_id,
                                    public_view, set_cookie_script, share_link)
from ganviz.dashboard.train_now import heartbeat, show_train_now, watched_training
from ganviz.dashboard.why import show_why
from ganviz.errors import DataError, UserError
from ganviz.measures.study import Study, checkerboard_at, final_spectrum, load_all_measures, run_study
from ganviz.present import texts
from ganviz.present.charts import distance_histogram, loss_figure, ratio_map_figure
from ganviz.present.images import grid, grid_table, interleave
from ganviz.present.report import run_report
from ganviz.spectrum import closer_maps, real_spectrum
from ganviz.store.bundle import GENERATOR, Bundle, load_bundle
from ganviz.view.compare import Comparison, compare
from ganviz.view.inference import NumpyGenerator
from ganviz.view.neighbours import L1Index

ROOT = Path(__file__).parent
PRETRAINED = Path(os.environ.get("GANVIZ_PRETRAINED", ROOT / "pretrained"))
RUNS = Path(os.environ.get("GANVIZ_RUNS", ROOT / "runs"))
N_SHOWN, N_HIST, HIST_SEED, COLS = 16, 128, 0, 8  # shown; in the histogram, of fixed z (once per run); columns

st.set_page_config(page_title="ganviz: upsampling vs transposed convolution", layout="wide")


# ---- cached loaders: once per process, shared read-only by every session ----
@st.cache_resource(show_spinner=False)
def trainings() -> Trainings:
    """The server's trainings, made at its first page view, with the process's settings (dashboard/server.py)."""
    configure_server()
    return Trainings()


@st.cache_resource(show_spinner="Loading generator ...", max_entries=8)  # ~12 MB kept, ~50 ms to reload
def cached_generator(path: str, mtime: float) -> NumpyGenerator:
    return NumpyGenerator.from_bundle(load_bundle(path))


@st.cache_resource(show_spinner=False, max_entries=32)
def cached_bundle(path: str, mtime: float) -> Bundle:
    return load_bundle(path)


@st.cache_resource(show_spinner="Loading training images ...", max_entries=3)
def cached_training_set(spec: str) -> tuple[np.ndarray, L1Index]:
    images = data.load(spec).images
    return images, L1Index.build(images)


@st.cache_resource(show_spinner=False, max_entries=3)
def cached_real_spectrum(spec: str) -> np.ndarray | None:
    images, _, why = training_set(spec)
    return None if why else real_spectrum(images)


# one listing per root, shared by every viewer (not copied: nothing changes a RunGroup): a page open
# lists pretrained/ once per 30 s, not once per viewer
cached_runs = st.cache_resource(show_spinner=False, ttl=30)(find_runs)


@st.cache_resource(show_spinner=False)
def compute_slots() -> threading.BoundedSemaphore:
    """One sampling per core (each on one thread): a room pressing "New samples" at once queues, no piling up."""
    return threading.BoundedSemaphore(os.cpu_count() or 1)


@st.cache_data(show_spinner="Sampling and searching the training set ...", max_entries=64)
def cached_compare(bundle_paths: tuple[tuple[str, str, float], ...], spec: str, seed: int, n: int) -> Comparison:
    """Samples from the same z and, when the training set loads, their nearest training images."""
    _, index, _ = training_set(spec)
    with compute_slots():
        return compare({v: cached_generator(p, m) for v, p, m in bundle_paths}, index, seed, n, threads=1)


@st.cache_resource(show_spinner=False, max_entries=16)
def cached_histogram(bundle_paths: tuple[tuple[str, str, float], ...], spec: str) -> go.Figure:
    """The run's nearest-neighbour histogram of fixed z: built once per run, not per rerun."""
    return distance_histogram(cached_compare(bundle_paths, spec, HIST_SEED, N_HIST).distances)


@st.cache_resource(show_spinner=False)
def stored_measures() -> dict:
    """The measures `pretrain` keeps beside the shipped runs, per data set."""
    return load_all_measures(PRETRAINED)


@st.cache_resource(show_spinner="Measuring the final generator (256 z, once per run) ...", max_entries=32)
def cached_final_spectrum(path: str, mtime: float) -> np.ndarray:
    """A final generator's spectrum as Analysis has it: stored beside the shipped runs, else measured once."""
    b = cached_bundle(path, mtime)
    with compute_slots():
        return final_spectrum(b, stored_measures().get(b.config.dataset), cached_generator(path, mtime))


@st.cache_resource(show_spinner="Measuring the generators whose measures are not stored (about 1 s each) ...",
                   max_entries=4)
def cached_study(paths: tuple[str, ...]) -> Study:
    keyed = {p: mtime(Path(p)) for p in paths}
    bundles = [cached_bundle(p, m) for p, m in keyed.items()]
    return run_study(bundles, generators={p: cached_generator(p, m) for p, m in keyed.items()},
                     stored=stored_measures().get(bundles[0].config.dataset))


def mtime(path: Path) -> float:
    return (path / GENERATOR).stat().st_mtime


def training_set(spec: str) -> tuple[np.ndarray | None, L1Index | None, str]:
    """The run's training images and their search index, or (None, None, why) so samples still show."""
    try:
        check_spec(spec, RUNS)  # an uploaded bundle's config must not name a file elsewhere on the server
        return (*cached_training_set(spec), "")
    except DataError as exc:
        return None, None, f"Nearest-neighbour panel unavailable: {exc}"


# ---- the owner (a cookie: control) and the view (the URL: shared by links) ----
if "owner" not in st.session_state:
    st.session_state.owner, st.session_state.new_owner = owner_key(st.context.cookies.get(COOKIE))
owner: str = st.session_state.owner
own = public_id(owner)
mine = RUNS / own
pool = trainings()
if "linked" not in st.session_state:  # what the link named: another browser's run or live training, to view
    st.session_state.linked = {k: st.query_params.get(k, "") for k in ("run", "live")}
linked: dict[str, str] = st.session_state.linked
runs = runs_for(PRETRAINED, RUNS, own, linked["run"], find=cached_runs)
run_names = [r.name for r in runs]

if "state" not in st.session_state:  # first run of this session: restore the view from the link
    state, problems = ViewState.from_query(dict(st.query_params), run_names)
    st.session_state.state = state
    for key in ("run", "seed", "view", "smooth", "step"):
        st.session_state[f"w_{key}"] = getattr(state, key)
    for p in problems:
        st.toast(p)
state: ViewState = st.session_state.state


def show_upload(bundle: Path) -> None:
    """An uploaded bundle's run becomes the page's (its name as runs_for lists it), listed afresh."""
    cached_runs.clear()
    st.session_state.show_run = f"runs/{own}/{bundle.parent.relative_to(mine).as_posix()}"


def public_query() -> dict[str, str]:
    job = pool.job_of(owner)
    return public_view(state, own, job.out_dir.name if job is not None and not job.done else None, linked["live"])


st.title(texts.TITLE)
st.caption(texts.SUBTITLE)

# ---- sidebar: which run, which samples ----
with st.sidebar:
    st.header("Run")
    if not runs:
        st.error("No trained runs found in pretrained/ . Train one in 'Train now' or run `python -m ganviz pretrain`.")
    elif (upload := st.session_state.pop("show_run", None)) in run_names:
        st.session_state.w_run = upload
    elif st.session_state.get("w_run") not in run_names:
        st.session_state.w_run = run_names[0]
    state.run = st.selectbox("Compare the generators of", run_names, key="w_run",
                             format_func=lambda name: run_label(name, own)) if runs else ""
    run = next((r for r in runs if r.name == state.run), None)
    if run is not None and len(run.bundles) > 2:  # a run of more operators: any two side by side
        default = default_pair(run.bundles)
        if st.session_state.get("w_pair_of") != run.name:  # another run: the link's pair where it has it
            st.session_state.w_pair = [v for v in state.pair if v in run.bundles] or default
            st.session_state.w_pair_of = run.name
        elif not st.session_state.get("w_pair"):  # cleared: the default pair, shown in the widget too
            st.session_state.w_pair = default
        run = side_by_side(run, st.multiselect("Side by side", list(run.bundles), key="w_pair", max_selections=2,
                                               format_func=operators.label))
        state.pair = () if list(run.bundles) == default else tuple(run.bundles)  # the default needs no word
    else:  # Streamlit forgets an undrawn widget's value: the next run of many operators starts afresh
        st.session_state.pop("w_pair_of", None)
        state.pair = ()
    # Compare at a recorded step shows fixed z; the step is its widget's, or before that widget is drawn the link's
    probe_shown = state.view == "Compare" and st.session_state.get("w_cstep", state.step) not in (None, -1)
    st.number_input("Sample seed (latent z)", 0, MAX_SEED, key="w_seed", disabled=probe_shown,
                    help=texts.PROBE_SEED if probe_shown else None)
    st.button("New samples", help=texts.PROBE_SEED if probe_shown else texts.NEW_SAMPLES, disabled=probe_shown,
              on_click=lambda: st.session_state.update(w_seed=int(np.random.default_rng().integers(0, DRAWN_SEEDS))))
    state.seed = int(st.session_state.w_seed)

    share_panel(share_link(st.context.url, public_query()), mine / "uploads", show_upload)

if st.session_state.get("w_view") is None:  # the active section clicked again, or lost in a rerun a fragment asked for
    st.session_state.w_view = state.view
state.view = st.segmented_control("Section", VIEWS, key="w_view", label_visibility="collapsed") or state.view

bundle_key = tuple((v, str(p), mtime(p)) for v, p in run.bundles.items()) if run else ()
bundles = {v: cached_bundle(p, m) for v, p, m in bundle_key}
config: GANConfig | None = next(iter(bundles.values())).config if bundles else None


def variant_columns(variants) -> list:
    """One column per variant, headed by its operator's name."""
    cols = st.columns(len(variants))
    for col, variant in zip(cols, variants):
        col.subheader(operators.label(variant))
        col.caption(f"`{variant}` generator")
    return cols


# ---- sections ----
def show_compare() -> None:
    images, _, why = training_set(config.dataset)
    steps = compare_steps(next(iter(bundles.values())).timeline_steps)
    if st.session_state.get("w_cstep") not in steps:  # a new run, or a step from the link it lacks
        st.session_state.w_cstep = state.step if state.step in steps else -1
    state.step = st.segmented_control("Generators at step", steps, key="w_cstep", help=texts.COMPARE_STEP_HELP,
                                      format_func=lambda s: "final" if s == -1 else f"step {s}")
    if state.step not in (None, -1):
        st.markdown(texts.probe_intro(state.step))
        frames = {v: b.frame(state.step) for v, b in bundles.items()}
        for col, (variant, frame) in zip(variant_columns(frames), frames.items()):
            col.image(grid(frame, cols=COLS, scale=5), caption=f"probe z at step {state.step}")
        if sentence := texts.what_you_see(state.step, *checkerboard_at(bundles, state.step)):
            st.markdown(sentence)
        return look_closer(frames, f"probe image (step {state.step})")
    if why:
        st.warning(why)
    state.step = -1
    comp = cached_compare(bundle_key, config.dataset, state.seed, N_SHOWN)
    st.markdown(texts.compare_intro(N_SHOWN, state.seed, None if images is None else len(images), config.dataset))
    for col, variant in zip(variant_columns(comp.samples), comp.samples):
        if images is None:
            col.image(grid(comp.samples[variant], cols=COLS, scale=4), caption="samples")
            continue
        col.image(grid(interleave(comp.samples[variant], images[comp.nearest[variant]], COLS), cols=COLS, scale=4),
                  caption="rows: samples / their nearest training images")
        col.caption("L1 distance of each sample to its nearest training image, in the grid's places:")
        col.dataframe(grid_table(comp.distances[variant], COLS), hide_index=True)
    if len(bundles) > 1:  # a sentence compares operators
        final = {v: cached_final_spectrum(p, m) for v, p, m in bundle_key}
        st.markdown(texts.what_you_see(-1, *checkerboard_at(bundles, -1, final)))
    look_closer(comp.samples, "sample")
    if images is not None:
        st.markdown(texts.histogram_intro(N_HIST))
        st.plotly_chart(cached_histogram(bundle_key, config.dataset), width="stretch")


def look_closer(images: dict[str, np.ndarray], what: str) -> None:
    """One image of each generator, large, with its own spectrum-ratio map against real images."""
    if not st.toggle(f"Look closer: one {what} large, with where its power sits", key=f"closer-on-{what}"):
        return
    with st.container(border=True):
        i = st.number_input("Image #", 1, len(next(iter(images.values()))), 1, key=f"closer-{what}") - 1
        for col, (variant, x) in zip(st.columns(len(images)), images.items()):
            col.image(grid(x[i:i + 1], scale=10), caption=f"{operators.label(variant)} #{i + 1}")
        real = cached_real_spectrum(config.dataset)
        if real is None:
            return st.info("The training images are unavailable, so there is no real spectrum to compare with.")
        st.plotly_chart(ratio_map_figure(closer_maps(images, i, real)), width="stretch", key=f"closer-map-{what}")
        st.caption(texts.CLOSER_CAPTION)


def show_training() -> None:
    steps = next(iter(bundles.values())).timeline_steps.tolist()
    if st.session_state.get("w_step") not in steps:  # a new run, or a step from the link it lacks
        st.session_state.w_step = state.step if state.step in steps else steps[-1]
    state.smooth = st.slider("Smoothing", 0.0, MAX_SMOOTH, key="w_smooth", help="Exponential moving average of the curves")
    state.step = st.select_slider("Replay: probe batch at step", steps, key="w_step")
    for col, b in zip(variant_columns(bundles), bundles.values()):
        col.image(grid(b.frame(state.step), cols=COLS, scale=4), caption=f"fixed probe z at step {state.step}")
    st.plotly_chart(loss_figure({v: b.history for v, b in bundles.items()}, state.smooth, state.step), width="stretch")
    st.caption(texts.run_timing({v: b.meta for v, b in bundles.items()}))


def study_for(dataset: str) -> Study | str:
    """The study over every run offered (pretrained and yours) trained on this data set, or why there is none."""
    try:
        check_spec(dataset, RUNS)  # an uploaded bundle's config must not name a file elsewhere on the server
    except UserError as exc:
        return str(exc)
    return cached_study(bundles_on(runs, dataset, lambda p: cached_bundle(str(p), mtime(p)).config.dataset))


def analysis() -> None:
    if isinstance(study := study_for(config.dataset), str):
        return st.error(study)
    show_analysis(study, {v: cached_generator(p, m) for v, p, m in bundle_key}, state.seed)


if state.view == "Train now":
    show_train_now(pool, owner, mine, cached_runs.clear)
    if (folder := live_dir(RUNS, linked["live"], own)) is not None:
        watched_training(folder)
elif run is None:
    st.info("Pick or train a run to compare.")
elif state.view == "Why they differ":
    show_why(run.name, {v: cached_generator(p, m).constant_response(0) for v, p, m in bundle_key})
else:
    {"Compare": show_compare, "Training": show_training, "Analysis": analysis}[state.view]()

# ---- downloads: bundles and a self-contained report ----
if run is not None:
    with st.sidebar:
        for v, p in run.bundles.items():
            st.download_button(f"Download {v} bundle (.zip)", lambda p=p: bundle_zip(p),
                               f"{run.name.replace('/', '-')}-{v}.zip", "application/zip", on_click="ignore")
        st.download_button("Export report (.html)", lambda: run_report(
            f"ganviz: {run.name}", bundles, cached_compare(bundle_key, config.dataset, state.seed, N_SHOWN),
            training_set(config.dataset)[0],
            [f"data set {config.dataset}: {data.describe(config.dataset)}",
             f"{config.steps} steps, batch {config.batch_size}, {config.precision}"],
            study if isinstance(study := study_for(config.dataset), Study) else None),
            f"ganviz-{run.name.replace('/', '-')}.html", "text/html", on_click="ignore")

with st.sidebar:
    heartbeat(pool, owner)
if st.session_state.pop("new_owner", False):  # a first visit: keep the key for reloads, in a cookie
    st.html(set_cookie_script(owner), unsafe_allow_javascript=True)
st.query_params.from_dict(public_query())
