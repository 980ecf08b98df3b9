"""ganviz dashboard: UpSampling2D+Conv2D versus Conv2DTranspose in the book's first GAN.

This file only wires widgets to functions in `ganviz/`; everything it shows is computed there.
Run: streamlit run app.py
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import streamlit as st

from ganviz import data
from ganviz.config import PRECISIONS, VARIANT_LABELS, VARIANTS, GANConfig, fast_precision
from ganviz.dashboard import (MAX_TRAININGS, VIEWS, TrainingJob, ViewState, bundle_zip, bundles_on, compare_steps,
                              find_runs, import_bundle_zip, job_of, keep_keras_state_across_reruns, new_run_dir,
                              resumable_runs, save_uploads, session_key, set_job)
from ganviz.data.files import ACCEPTED
from ganviz.errors import DataError, UserError
from ganviz.measures.analysis import MEASURES
from ganviz.measures.study import N_SAMPLES, Study, run_study, study_table
from ganviz.present import explain, texts
from ganviz.present.charts import distance_histogram, heatmap, loss_figure, ratio_map_figure, study_figures
from ganviz.present.images import grid, interleave
from ganviz.present.report import build_report
from ganviz.spectrum import power_spectrum, ratio_map, real_spectrum
from ganviz.store.bundle import Bundle, load_bundle
from ganviz.view.compare import Comparison, compare, interpolation
from ganviz.view.inference import NumpyGenerator
from ganviz.view.neighbours import L1Index

ROOT = Path(__file__).parent
PRETRAINED = Path(os.environ.get("GANVIZ_PRETRAINED", ROOT / "pretrained"))
RUNS = Path(os.environ.get("GANVIZ_RUNS", ROOT / "runs"))
N_SHOWN, N_HIST, COLS = 16, 128, 8  # samples shown, samples in the distance histogram, grid columns
HIST_SEED = 0  # the histogram's z: fixed, so it is computed once per run and shared by every viewer
LIVE_POINTS = 200  # per curve in the live training chart: its message stays small however long the run

st.set_page_config(page_title="ganviz: upsampling vs transposed convolution", layout="wide")
keep_keras_state_across_reruns()  # trainings run in background threads of this server


# ---- cached loaders: once per process, shared read-only by every session ----
@st.cache_resource(show_spinner="Loading generator ...", max_entries=16)
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


@st.cache_data(show_spinner=False, ttl=30)
def cached_runs(pretrained: str, own: str):
    return find_runs({"pretrained": Path(pretrained), "yours": Path(own)})


@st.cache_data(show_spinner="Sampling and searching the training set ...", max_entries=64)
def cached_compare(bundle_paths: tuple[tuple[str, str, float], ...], spec: str, seed: int, n: int) -> Comparison:
    """Samples from the same z and, when the training set loads, their nearest training images."""
    _, index, _ = training_set(spec)
    return compare({v: cached_generator(p, m) for v, p, m in bundle_paths}, index, seed, n)


@st.cache_resource(show_spinner="Measuring every seed of this data set ...", max_entries=4)
def cached_study(paths: tuple[str, ...]) -> Study:
    keyed = {p: mtime(Path(p)) for p in paths}
    return run_study([cached_bundle(p, m) for p, m in keyed.items()],
                     generators={p: cached_generator(p, m) for p, m in keyed.items()})


def mtime(path: Path) -> float:
    return (path / "generator.weights.h5").stat().st_mtime


def training_set(spec: str) -> tuple[np.ndarray | None, L1Index | None, str]:
    """The run's training images and their search index, or (None, None, why) so samples still show."""
    try:
        return (*cached_training_set(spec), "")
    except DataError as exc:
        return None, None, f"Nearest-neighbour panel unavailable: {exc}"


# ---- session and URL state ----
if "sid" not in st.session_state:  # from the link, so a reload finds this session's runs and training
    st.session_state.sid = session_key(st.query_params.get("sid"))
sid: str = st.session_state.sid
session_runs = RUNS / sid
runs = cached_runs(str(PRETRAINED), str(session_runs))
run_names = [r.name for r in runs]

if "state" not in st.session_state:  # first run of this session: restore the view from the link
    state, problems = ViewState.from_query(dict(st.query_params), run_names)
    st.session_state.state = state
    for key in ("run", "seed", "view", "smooth", "step"):
        st.session_state[f"w_{key}"] = getattr(state, key)
    for p in problems:
        st.toast(p)
state: ViewState = st.session_state.state

st.title("Upsampling vs transposed convolution in a GAN")
st.caption("The first GAN of Foster's *Generative Deep Learning* (ch. 4), trained twice with the same "
           "discriminator, data order and noise: the generators differ only in how they double a feature map.")

# ---- sidebar: which run, which samples ----
with st.sidebar:
    st.header("Run")
    if not runs:
        st.error("No trained runs found in pretrained/ . Train one in 'Train now' or run `python -m ganviz pretrain`.")
    elif st.session_state.get("w_run") not in run_names:
        st.session_state.w_run = run_names[0]
    state.run = st.selectbox("Compare the generators of", run_names, key="w_run") if runs else ""
    st.number_input("Sample seed (latent z)", 0, 2**31 - 1, key="w_seed")
    st.button("New samples", help="Draw a fresh batch of z, the same for every generator",
              on_click=lambda: st.session_state.update(w_seed=int(np.random.default_rng().integers(0, 2**31 - 1))))
    state.seed = int(st.session_state.w_seed)

    st.header("Share")
    uploaded = st.file_uploader("Upload a bundle (.zip)", type=["zip"])
    if uploaded is not None and st.session_state.get("imported") != uploaded.file_id:
        try:
            path = import_bundle_zip(uploaded.getvalue(), session_runs / "uploads")
            st.session_state.imported = uploaded.file_id
            cached_runs.clear()
            st.success(f"Loaded {path.parent.name}; pick yours/uploads/{path.parent.name} under Run.")
        except UserError as exc:
            st.error(str(exc))

run = next((r for r in runs if r.name == state.run), None)
if st.session_state.get("w_view") is None:  # the active section clicked again, or lost in a rerun a fragment asked for
    st.session_state.w_view = state.view
state.view = st.segmented_control("Section", VIEWS, key="w_view", label_visibility="collapsed") or state.view

bundles = {v: cached_bundle(str(p), mtime(p)) for v, p in run.bundles.items()} if run else {}
bundle_key = tuple((v, str(p), mtime(p)) for v, p in run.bundles.items()) if run else ()
config: GANConfig | None = next(iter(bundles.values())).config if bundles else None


def variant_header(col, variant: str) -> None:
    col.subheader(VARIANT_LABELS[variant])
    col.caption(f"`{variant}` generator")


# ---- sections ----
def show_compare() -> None:
    images, _, why = training_set(config.dataset)
    steps = compare_steps(next(iter(bundles.values())).timeline_steps)
    if st.session_state.get("w_cstep") not in steps:  # a new run, or a step from the link it lacks
        st.session_state.w_cstep = state.step if state.step in steps else -1
    state.step = st.segmented_control("Generators at step", steps, key="w_cstep", help=texts.COMPARE_STEP_HELP,
                                      format_func=lambda s: "final" if s == -1 else f"step {s}")
    if state.step not in (None, -1):
        show_probe_at(state.step)
        return
    if why:
        st.warning(why)
    state.step = -1
    comp = cached_compare(bundle_key, config.dataset, state.seed, N_SHOWN)
    st.markdown(texts.compare_intro(N_SHOWN, state.seed, None if images is None else len(images)))
    for col, variant in zip(st.columns(len(comp.samples)), comp.samples):
        variant_header(col, variant)
        if images is None:
            col.image(grid(comp.samples[variant], cols=COLS, scale=4), caption="samples")
            continue
        col.image(grid(interleave(comp.samples[variant], images[comp.nearest[variant]], COLS), cols=COLS, scale=4),
                  caption="rows: samples / their nearest training images")
        col.dataframe({f"#{i + 1}": [f"{d:.3f}"] for i, d in enumerate(comp.distances[variant])},
                      hide_index=True)
    look_closer({v: comp.samples[v] for v in comp.samples}, "sample")
    if images is not None:
        many = cached_compare(bundle_key, config.dataset, HIST_SEED, N_HIST)  # describes the generator: once per run
        st.markdown(texts.histogram_intro(N_HIST))
        st.plotly_chart(distance_histogram(many.distances), width="stretch")


def show_probe_at(step: int) -> None:
    """Both generators' fixed probe batch as recorded at `step` of training."""
    st.markdown(texts.probe_intro(step))
    frames = {v: b.timeline[b.timeline_steps.tolist().index(step)] for v, b in bundles.items()}
    for col, (variant, frame) in zip(st.columns(len(frames)), frames.items()):
        variant_header(col, variant)
        col.image(grid(frame, cols=COLS, scale=5), caption=f"probe z at step {step}")
    look_closer(frames, f"probe image (step {step})")


def look_closer(images: dict[str, np.ndarray], what: str) -> None:
    """One image of each generator, large, with its own spectrum-ratio map against real images."""
    real = cached_real_spectrum(config.dataset)
    if not st.toggle(f"Look closer: one {what} large, with where its power sits", key=f"closer-on-{what}"):
        return
    with st.container(border=True):
        i = st.number_input("Image #", 1, len(next(iter(images.values()))), 1, key=f"closer-{what}") - 1
        if real is None:
            st.info("The training images are unavailable, so there is no real spectrum to compare with.")
        maps = {f"{VARIANT_LABELS[v]} #{i + 1}": ratio_map(power_spectrum(x[i:i + 1]), real)
                for v, x in images.items()} if real is not None else {}
        for col, (variant, x) in zip(st.columns(len(images)), images.items()):
            col.image(grid(x[i:i + 1], scale=10), caption=f"{VARIANT_LABELS[variant]} #{i + 1}")
        if maps:
            st.plotly_chart(ratio_map_figure(maps), width="stretch", key=f"closer-map-{what}")
            st.caption(texts.CLOSER_CAPTION)


def show_training() -> None:
    steps = next(iter(bundles.values())).timeline_steps.tolist()
    if st.session_state.get("w_step") not in steps:  # a new run, or a step from the link it lacks
        st.session_state.w_step = state.step if state.step in steps else steps[-1]
    state.smooth = st.slider("Smoothing", 0.0, 0.99, key="w_smooth", help="Exponential moving average of the curves")
    state.step = st.select_slider("Replay: probe batch at step", steps, key="w_step")
    for col, (variant, b) in zip(st.columns(len(bundles)), bundles.items()):
        variant_header(col, variant)
        frame = b.timeline[b.timeline_steps.tolist().index(state.step)]
        col.image(grid(frame, cols=COLS, scale=4), caption=f"fixed probe z at step {state.step}")
    st.plotly_chart(loss_figure({v: b.history for v, b in bundles.items()}, state.smooth, state.step),
                    width="stretch")
    meta = {v: b.meta for v, b in bundles.items()}
    st.caption(" · ".join(f"{v}: {m['steps_done']} steps, {m['wall_time_s']:.0f} s, {m['steps_per_s']:.2f} steps/s "
                          f"(trained with {'+'.join(m['trained_together'])})" for v, m in meta.items()))


@st.fragment(run_every=2.0)
def training_heartbeat() -> None:
    """Shown on every section: tells the job this page is still open, and how it is doing."""
    job = job_of(sid)
    if job is None:
        return
    job.touch()
    t = job.trainer
    if t is None:
        st.caption(f"Training queued: place {job.position}" if not job.done else f"Training: {job.error}")
        return
    st.caption(f"Training: step {t.step}/{t.config.steps} ({t.status})" if not job.done else
               f"Training finished: {t.status}")


@st.fragment(run_every=2.0)
def training_progress() -> None:
    job = job_of(sid)
    if job is None:
        return
    job.touch()
    t = job.trainer
    if t is None:  # waiting for a training slot on this server
        if job.done:
            st.warning(job.error)
        else:
            st.info(f"Queued: place {job.position}. This server trains {MAX_TRAININGS} run(s) at once; yours "
                    "starts when a slot frees up, as long as this page stays open.")
            st.button("Leave the queue", on_click=job.cancel)
        return
    st.progress(t.step / t.config.steps, text=f"step {t.step}/{t.config.steps} · {t.images_per_s:.0f} images/s "
                f"({t.config.precision}) · ETA {t.eta_s:.0f} s" if t.step else "compiling the training step ...")
    c1, c2 = st.columns(2)
    if not job.done:
        if t.paused:
            c1.button("Resume", on_click=t.resume)
        else:
            c1.button("Pause", on_click=t.pause)
        c2.button("Stop", on_click=t.stop)
    cols = st.columns(len(t.variants))
    for col, v in zip(cols, t.variants):
        col.image(grid(t.timeline[v][-1], cols=COLS, scale=3), caption=f"{v}: probe z at step {t.recorded_steps[-1]}")
    if t.step:
        st.plotly_chart(loss_figure({v: t.history[v] for v in t.variants}, 0.6, max_points=LIVE_POINTS),
                        width="stretch", key="live")
    if job.done:
        if job.error:
            st.error(job.error)
        if job.saved and not st.session_state.get("job_announced"):
            st.session_state.job_announced = True
            cached_runs.clear()
            st.rerun(scope="app")
        if job.saved:
            st.success(f"Saved {len(job.saved)} bundle(s): pick **{runs_name(job)}** under Run.")


def runs_name(job: TrainingJob) -> str:
    return f"yours/{job.out_dir.relative_to(session_runs)}"


def resume_run(path: Path) -> None:
    """Button callback: continue a run from its checkpoint; a refusal is shown on the page."""
    try:
        set_job(sid, TrainingJob.resume(path))
        st.session_state.job_announced = False
    except UserError as exc:
        st.session_state.job_refused = str(exc)


def show_train_now() -> None:
    job = job_of(sid)
    running = job is not None and not job.done
    if not running:
        for path, step, steps in resumable_runs(session_runs):
            c1, c2 = st.columns([4, 1])
            c1.info(f"Run **{path.relative_to(session_runs)}** stopped at step {step} of {steps}; "
                    "its checkpoint continues it exactly.")
            c2.button("Resume", key=f"resume-{path.name}", on_click=resume_run, args=(path,))
    if refused := st.session_state.pop("job_refused", None):
        st.error(refused)
    d = GANConfig()
    with st.form("train"):
        c1, c2, c3 = st.columns(3)
        spec = c1.text_input("Data set", "doodles:camel:2000", help=data.SPECS)
        steps = c1.number_input("Steps", 1, 20_000, 200)
        batch = c2.number_input("Batch size", 1, 1024, d.batch_size)
        seed = c2.number_input("Seed", 0, 2**31 - 1, 0)
        d_lr = c3.number_input("Discriminator learning rate", 1e-6, 0.5, d.d_lr, format="%.5f")
        g_lr = c3.number_input("Generator learning rate", 1e-6, 0.5, d.g_lr, format="%.5f")
        variants = st.multiselect("Variants (trained in lockstep on the same batches and noise)", VARIANTS, VARIANTS)
        precision = st.radio("Precision", PRECISIONS, PRECISIONS.index(fast_precision()), horizontal=True,
                             help=texts.PRECISION_HELP)
        uploads = st.file_uploader("... or train on your own images (replaces the data set above): " + ACCEPTED,
                                   type=["npy", "npz", "png", "jpg", "jpeg", "zip"], accept_multiple_files=True)
        polarity = st.radio("Dark strokes on light paper", list(data.INVERT), horizontal=True,
                            format_func={"auto": "detect", "yes": "invert", "no": "keep as is"}.get,
                            help="The model draws white strokes on black, like Quick Draw")
        start = st.form_submit_button("Train", disabled=running, type="primary")
    if start:
        try:
            if not variants:
                raise ValueError("pick at least one variant")
            if uploads:
                spec = save_uploads([(u.name, u.getvalue()) for u in uploads], session_runs / "data")
            bar = st.progress(0.0, text="loading data ...")
            ds = data.load(spec, invert=data.INVERT[polarity],
                           progress=lambda done, total: bar.progress(done / total if total else 0.0,
                                                                     text=f"downloading {done / 2**20:.1f} MB"))
            bar.empty()
            cfg = d.replace(dataset=spec, steps=int(steps), batch_size=int(batch), seed=int(seed),
                            d_lr=float(d_lr), g_lr=float(g_lr), variant=variants[0], precision=precision)
            out = new_run_dir(session_runs, spec, int(seed), bool(uploads))
            set_job(sid, TrainingJob.start(cfg, tuple(variants), out, ds.images))
            st.session_state.job_announced = False
        except (ValueError, UserError) as exc:
            st.error(str(exc))
    training_progress()


def study_for(dataset: str) -> Study:
    """The study over every run (pretrained and yours) trained on this data set."""
    return cached_study(bundles_on(runs, dataset, lambda p: cached_bundle(str(p), mtime(p)).config.dataset))


def show_analysis() -> None:
    try:
        study = study_for(config.dataset)
    except UserError as exc:
        st.error(str(exc))
        return
    st.markdown(texts.analysis_intro(study.dataset, len(study.runs), sorted({r.seed for r in study.runs}), N_SAMPLES,
                                     study.classifier))
    st.markdown("\n".join(f"- **{MEASURES[v.measure][0].split(',')[0].split(' (')[0]}**: {v.sentence(named=False)}"
                           for v in study.verdicts))
    figs = study_figures(study)
    st.markdown(texts.RATIO_MAPS)
    st.plotly_chart(figs["ratio_maps"], width="stretch")
    c1, c2 = st.columns(2)
    c1.markdown(texts.CORNER_OVER_TRAINING)
    c1.plotly_chart(figs["corner_over_training"], width="stretch")
    if "kid_over_training" in figs:
        c2.markdown(texts.KID_OVER_TRAINING)
        c2.plotly_chart(figs["kid_over_training"], width="stretch")
    st.markdown(texts.PROFILES)
    st.plotly_chart(figs["profiles"], width="stretch")
    with st.expander("Every measure: means over seeds and paired differences"):
        st.dataframe(study_table(study), hide_index=True, width="stretch")
    if "copying" in figs:
        st.markdown(texts.COPYING)
        st.plotly_chart(figs["copying"], width="stretch")
    else:
        st.info(texts.NO_HELD_OUT)
    st.markdown(texts.interpolation_intro(state.seed))
    for variant, row in interpolation({v: cached_generator(p, m) for v, p, m in bundle_key}, state.seed).items():
        st.image(grid(row, cols=10, scale=3), caption=variant)


def show_why() -> None:
    st.markdown(texts.WHY)
    c1, c2 = st.columns(2)
    k = c1.slider("Kernel size", 1, 7, 5)
    s = c2.slider("Stride", 1, 4, 2)
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
    if bundle_key:
        st.markdown(texts.trained_weights(run.name))
        for col, (variant, path, m) in zip(st.columns(len(bundle_key)), bundle_key):
            col.plotly_chart(heatmap(cached_generator(path, m).constant_response(0).round(4), VARIANT_LABELS[variant],
                                     "RdBu"), width="stretch")


if run is None and state.view != "Train now":
    st.info("Pick or train a run to compare.")
elif state.view == "Compare":
    show_compare()
elif state.view == "Training":
    show_training()
elif state.view == "Train now":
    show_train_now()
elif state.view == "Analysis":
    show_analysis()
else:
    show_why()

# ---- downloads: bundles and a self-contained report ----
if run is not None:
    with st.sidebar:
        for v, p in run.bundles.items():
            st.download_button(f"Download {v} bundle (.zip)", lambda p=p: bundle_zip(p), f"{run.name.replace('/', '-')}-{v}.zip",
                               "application/zip", on_click="ignore")

        def report_html() -> str:
            images, _, _ = training_set(config.dataset)
            comp = cached_compare(bundle_key, config.dataset, state.seed, N_SHOWN)
            return build_report(f"ganviz: {run.name}", comp, {v: b.history for v, b in bundles.items()}, images,
                                [f"data set {config.dataset}",
                                 f"{config.steps} steps, batch {config.batch_size}, {config.precision}"],
                                study=study_for(config.dataset),
                                timelines={v: (b.timeline_steps, b.timeline) for v, b in bundles.items()})
        st.download_button("Export report (.html)", report_html, f"ganviz-{run.name.replace('/', '-')}.html",
                           "text/html", on_click="ignore")

with st.sidebar:
    training_heartbeat()

st.query_params.from_dict({**state.to_query(), "sid": sid})
