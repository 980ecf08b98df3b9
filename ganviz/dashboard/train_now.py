"""The "Train now" section's widgets: the form, this browser's training with its controls, and
a training watched from a shared link. The page's one section with state of its own (a live
process), so it lives beside app.py rather than in it; what it computes is in jobs, runs and
store.live, tested without Streamlit."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import streamlit as st

from ganviz import operators
from ganviz import data
from ganviz.config import BOOK_PAIR, MAX_BATCH, MAX_SEED, PRECISIONS, GANConfig, fast_precision
from ganviz.dashboard.jobs import Trainings, check_resumable
from ganviz.dashboard.runs import check_spec, new_run, resumable_runs, save_uploads
from ganviz.data.files import ACCEPTED
from ganviz.errors import UserError
from ganviz.present import texts
from ganviz.present.charts import loss_figure
from ganviz.present.images import grid
from ganviz.store.live import Live, read_live

COLS = 8  # probe images per grid row
LIVE_POINTS = 200  # per curve in the live chart: its message stays small however long the run
POLL_S = 2.0  # how often an open page polls its training (and so keeps it from being orphaned)


def show_live(live: Live, key: str) -> None:
    """A training's progress as its process last wrote it: the same for its owner and its viewers."""
    st.progress(min(live.step / live.steps, 1.0), text=f"step {live.step}/{live.steps} · {live.images_per_s:.0f} "
                f"images/s ({live.precision}) · ETA {live.eta_s:.0f} s · {live.status}" if live.step else
                "compiling the training step ...")
    for col, v in zip(st.columns(len(live.variants)), live.variants):
        col.image(grid(live.frames[v], cols=COLS, scale=3), caption=f"{v}: probe z at step {live.recorded_step}")
    if live.step:
        st.plotly_chart(loss_figure(live.history, 0.6, max_points=LIVE_POINTS), width="stretch", key=f"live-{key}")


@st.fragment(run_every=POLL_S)
def my_training(pool: Trainings, owner: str, owner_runs: Path, on_saved: Callable[[], None]) -> None:
    """This browser's training, with its controls; polling it tells the server the page is open."""
    job = pool.job_of(owner)
    if job is None:
        return
    job.touch()
    if job.state == "queued":
        st.info(texts.queued(pool.position(job), pool.waiting_for()))
        st.button("Leave the queue", on_click=pool.cancel, args=(job,))
        return
    live = job.live()
    if live is None and not job.done:
        st.info("Starting the training process (it loads TensorFlow) ...")
    elif live is not None:
        show_live(live, "mine")
    if not job.done:
        c1, c2 = st.columns(2)
        paused = live is not None and live.paused
        c1.button("Resume" if paused else "Pause", on_click=job.resume if paused else job.pause)
        c2.button("Stop", on_click=job.stop)
        return
    if job.error:
        st.error(job.error)
    if job.saved:
        st.success(f"Saved {len(job.saved)} bundle(s): pick **yours/{job.out_dir.relative_to(owner_runs.resolve())}** "
                   "under Run.")
    if not st.session_state.get("job_announced"):  # once: the page shows the new run, or the run to resume
        st.session_state.job_announced = True
        on_saved()
        st.rerun(scope="app")


@st.fragment(run_every=POLL_S)
def heartbeat(pool: Trainings, owner: str) -> None:
    """On every section: tells the server this page is still open, and how its training is doing."""
    if (job := pool.job_of(owner)) is not None:
        job.touch()
        st.caption(texts.job_status(job.state, job.error, job.live(), pool.position(job)))


@st.fragment(run_every=POLL_S)
def watched_training(folder: Path) -> None:
    """Another browser's training, from a shared link: progress only, no controls."""
    if (live := read_live(folder)) is not None:
        st.info(texts.WATCHING)
        show_live(live, "watched")


def _resume(pool: Trainings, owner: str, path: Path) -> None:
    """Button callback: continue a run from its checkpoint; a refusal is shown on the page."""
    try:
        check_resumable(path)
        pool.submit(owner, path)
        st.session_state.job_announced = False
    except UserError as exc:
        st.session_state.job_refused = str(exc)


def show_train_now(pool: Trainings, owner: str, owner_runs: Path, on_saved: Callable[[], None]) -> None:
    """Runs to resume, the training form, and this browser's training."""
    job = pool.job_of(owner)
    running = job is not None and not job.done
    for path, step, steps in [] if running else resumable_runs(owner_runs):
        c1, c2 = st.columns([4, 1])
        c1.info(f"Run **{path.relative_to(owner_runs)}** stopped at step {step} of {steps}; its checkpoint continues "
                "it exactly.")
        c2.button("Resume", key=f"resume-{path.name}", on_click=_resume, args=(pool, owner, path))
    if refused := st.session_state.pop("job_refused", None):
        st.error(refused)
    d = GANConfig()
    with st.form("train"):
        c1, c2, c3 = st.columns(3)
        spec = c1.text_input("Data set", "doodles:camel:2000", help=data.SPECS)
        steps = c1.number_input("Steps", 1, 20_000, 200)
        measure = c1.number_input("Spectrum batch", 8, 1024, d.measure_size,
                                  help="latent vectors whose images' mean power spectrum each timeline frame records "
                                  "(a frame costs about one step of 256 images' generator work at the default): "
                                  "fewer train faster, with a noisier spectrum (and, over a few z, a biased "
                                  "log power at (pi, pi))")
        batch = c2.number_input("Batch size", 1, MAX_BATCH, d.batch_size)
        seed = c2.number_input("Seed", 0, MAX_SEED, 0)
        d_lr = c3.number_input("Discriminator learning rate", 1e-6, 0.5, d.d_lr, format="%.5f")
        g_lr = c3.number_input("Generator learning rate", 1e-6, 0.5, d.g_lr, format="%.5f")
        variants = st.multiselect("Variants (trained in lockstep on the same batches and noise)", operators.names(), BOOK_PAIR,
                                  format_func=lambda v: f"{v}: {operators.label(v)}")
        precision = st.radio("Precision", PRECISIONS, PRECISIONS.index(fast_precision()), horizontal=True,
                             help=texts.PRECISION_HELP)
        uploads = st.file_uploader("... or train on your own images (replaces the data set above): " + ACCEPTED,
                                   type=["npy", "npz", "png", "jpg", "jpeg", "zip"], accept_multiple_files=True)
        polarity = st.radio("Dark strokes on light paper", list(data.INVERT), horizontal=True,
                            format_func=texts.POLARITY.get, help="The model draws white strokes on black, like Quick Draw")
        start = st.form_submit_button("Train", disabled=running, type="primary")
    if start:
        try:
            if not variants:
                raise ValueError("pick at least one variant")
            if uploads:
                spec = save_uploads([(u.name, u.getvalue()) for u in uploads], owner_runs / "data")
            check_spec(spec, owner_runs)
            bar = st.progress(0.0, text="loading data ...")
            ds = data.load(spec, invert=data.INVERT[polarity], progress=lambda done, total: bar.progress(
                done / total if total else 0.0, text=f"downloading {done / 2**20:.1f} MB"))
            bar.empty()
            cfg = d.replace(dataset=spec, steps=int(steps), batch_size=int(batch), seed=int(seed),
                            d_lr=float(d_lr), g_lr=float(g_lr), precision=precision, measure_size=int(measure))
            pool.submit(owner, new_run(owner_runs, cfg, tuple(variants), ds.fingerprint, bool(uploads)))
            st.session_state.job_announced = False
        except (ValueError, UserError) as exc:
            st.error(str(exc))
    my_training(pool, owner, owner_runs, on_saved)
