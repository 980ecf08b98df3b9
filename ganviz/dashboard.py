"""Everything the Streamlit page does that is not a widget: finding runs, the view state in
the URL, background training jobs, bundle zips. Plain functions, tested without Streamlit."""
from __future__ import annotations

import io
import os
import re
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from ganviz.config import VARIANTS, GANConfig
from ganviz.data.files import IMAGE_SUFFIXES, images_from_bytes
from ganviz.errors import BundleError, DataError
from ganviz.store.bundle import CHECKPOINT, DISCRIMINATOR, FILES, checkpoint_progress, find_bundles, load_bundle
from ganviz.view.inference import check_weights

if TYPE_CHECKING:  # the page imports TensorFlow only when it trains
    from ganviz.gan.training import Trainer

VIEWS = ("Compare", "Training", "Analysis", "Why they differ", "Train now")
MAX_TRAININGS = int(os.environ.get("GANVIZ_MAX_TRAININGS", "2"))  # at once, on the whole server
ORPHAN_AFTER_S = float(os.environ.get("GANVIZ_ORPHAN_AFTER_S", "20"))  # no page polling for this long: stop
TRAINING_NICE = int(os.environ.get("GANVIZ_TRAINING_NICE", "10"))  # CPU priority of trainings below the pages
_slots = threading.BoundedSemaphore(MAX_TRAININGS)
_queue: list["TrainingJob"] = []  # jobs waiting for a slot, first come first served
_queue_lock = threading.Lock()
MAX_ZIP_BYTES = 64 * 2**20  # a bundle is ~6.5 MB; this leaves room and refuses bombs


@dataclass(frozen=True)
class RunGroup:
    """A trained run: one bundle per variant, found together in one folder."""
    name: str
    bundles: dict[str, Path]


def find_runs(roots: dict[str, Path]) -> list[RunGroup]:
    """Group the bundles under each labelled root by folder: `label/folder`, variants in canonical order."""
    groups: dict[str, dict[str, Path]] = {}
    for label, root in roots.items():
        for path in find_bundles(root):
            try:
                variant = load_bundle(path).variant
            except BundleError:
                continue  # a damaged folder is not offered
            name = "/".join((label, *path.parent.relative_to(root).parts))
            groups.setdefault(name, {})[variant] = path
    return [RunGroup(name, {v: b[v] for v in VARIANTS if v in b}) for name, b in groups.items()]


def new_run_dir(session_runs: Path, spec: str, seed: int, uploaded: bool) -> Path:
    """A fresh folder for a session's next run, named after its data set and seed."""
    name = Path(spec).name if uploaded else spec.replace(":", "-").replace("/", "_")[-40:]
    taken = len(list(session_runs.glob("*"))) if session_runs.is_dir() else 0
    return session_runs / f"{name}-s{seed}-{taken}"


def bundles_on(runs: list[RunGroup], dataset: str, dataset_of: Callable[[Path], str]) -> tuple[str, ...]:
    """Every bundle of these runs trained on `dataset`: what the Analysis section measures."""
    return tuple(sorted(str(p) for r in runs for p in r.bundles.values() if dataset_of(p) == dataset))


def keep_keras_state_across_reruns() -> None:
    """Stop Streamlit from calling keras.backend.clear_session() after every script run.

    Streamlit does that to free models built by a script; here it would reset Keras' global
    state and TensorFlow's kernel cache under the trainings running in background threads,
    and with a few sessions polling, those trainings stall before their first step (found by
    the four-session browser test). The page builds no Keras models of its own to free.
    """
    from streamlit.runtime.scriptrunner import script_runner
    script_runner._clean_problem_modules = lambda: None


def session_key(value: str | None) -> str:
    """The key to a browser session's own runs. It travels in the page's link, so a reload or
    a reconnect finds the same runs and the same live training; a bad or missing one gets a new key."""
    return value if value and re.fullmatch(r"[0-9a-f]{12}", value) else uuid.uuid4().hex[:12]


@dataclass
class ViewState:
    """What a shared link restores: run, sample seed, replay step, section, smoothing."""
    run: str = ""
    seed: int = 0
    step: int = -1  # -1: the last recorded step
    view: str = VIEWS[0]
    smooth: float = 0.6

    @classmethod
    def from_query(cls, params: dict[str, str], runs: list[str]) -> tuple["ViewState", list[str]]:
        """Parse URL parameters; bad values fall back to defaults with a message each."""
        state, problems = cls(run=runs[0] if runs else ""), []
        if "run" in params:
            if params["run"] in runs:
                state.run = params["run"]
            else:
                problems.append(f"run {params['run']!r} is not available; showing {state.run!r}")
        for key, cast, ok in (("seed", int, lambda v: 0 <= v < 2**31), ("step", int, lambda v: v >= -1),
                              ("smooth", float, lambda v: 0 <= v < 1)):
            if key in params:
                try:
                    value = cast(params[key])
                    if not ok(value):
                        raise ValueError
                    setattr(state, key, value)
                except ValueError:
                    problems.append(f"URL parameter {key}={params[key]!r} is out of range; using {getattr(state, key)}")
        if "view" in params:
            if params["view"] in VIEWS:
                state.view = params["view"]
            else:
                problems.append(f"view {params['view']!r} is unknown; accepted: {', '.join(VIEWS)}")
        return state, problems

    def to_query(self) -> dict[str, str]:
        return {"run": self.run, "seed": str(self.seed), "step": str(self.step), "view": self.view,
                "smooth": f"{self.smooth:g}"}


COMPARE_STEPS = (50, 200)  # early steps offered beside the final generator: where checkerboards are plain


def compare_steps(timeline_steps: np.ndarray) -> list[int]:
    """The recorded steps nearest COMPARE_STEPS, then -1 for the final generator."""
    steps = np.asarray(timeline_steps)[:-1]
    chosen = sorted({int(steps[np.abs(steps - s).argmin()]) for s in COMPARE_STEPS if len(steps)} - {0})
    return [*chosen, -1]


def yield_cpu_to_pages() -> None:
    """Lower the CPU priority (nice) of the calling thread and TensorFlow's worker threads, so
    that while trainings fill every core, page interactions still get the CPU at once.
    Linux names threads in /proc/self/task; elsewhere this does nothing."""
    tasks = Path("/proc/self/task")
    for task in tasks.iterdir() if tasks.is_dir() else []:
        try:
            if int(task.name) == threading.get_native_id() or (task / "comm").read_text().startswith("tf_"):
                os.setpriority(os.PRIO_PROCESS, int(task.name), TRAINING_NICE)
        except OSError:
            continue  # a thread that just ended


@dataclass
class TrainingJob:
    """A run of the one orchestrator (`ganviz.gan.run`) in a background thread; the page polls it,
    never blocks on it.

    The page calls `touch()` whenever it polls; when no page has polled for ORPHAN_AFTER_S
    (the browser tab closed), the job stops and saves what it trained. The orchestrator
    checkpoints as it goes, so a stopped or crashed run can be resumed. At most MAX_TRAININGS
    jobs run on a server at once; more wait in a first-come queue (`position`) and start when a
    slot frees up. A queued job whose page goes away, or that is cancelled, leaves the queue.
    """
    out_dir: Path
    trainer: Trainer | None = None
    error: str = ""
    saved: list[Path] = field(default_factory=list)
    last_seen: float = field(default_factory=time.time)
    _niced: bool = field(default=False, init=False, repr=False)
    _cancelled: bool = field(default=False, init=False, repr=False)

    @classmethod
    def start(cls, config: GANConfig, variants: tuple[str, ...], out_dir: Path, images: np.ndarray) -> "TrainingJob":
        """Train a new run in the background."""
        from ganviz.gan import run
        return cls(out_dir)._launch(lambda hook: run.start(config, variants, images, out_dir, hook))

    @classmethod
    def resume(cls, out_dir: Path) -> "TrainingJob":
        """Continue a stopped or interrupted run from its checkpoint, exactly where it was."""
        from ganviz.gan import run
        return cls(out_dir)._launch(lambda hook: run.resume(out_dir, on_step=hook))

    def _launch(self, make: Callable[[Callable], Trainer]) -> "TrainingJob":
        """Start at once if a slot is free (a bad run is refused here, on the page), else queue."""
        if _slots.acquire(blocking=False):
            try:
                self._build(make)
            except BaseException:
                _slots.release()
                raise
            self._thread = threading.Thread(target=self._run, daemon=True, name="ganviz-train")
            self._thread.start()
            threading.Thread(target=self._watch, daemon=True, name="ganviz-watch").start()
            return self
        with _queue_lock:
            _queue.append(self)
        self._thread = threading.Thread(target=self._wait_for_slot, args=(make,), daemon=True, name="ganviz-queued")
        self._thread.start()
        return self

    def _build(self, make: Callable[[Callable], Trainer]) -> None:
        self.trainer = make(self._on_step)
        self.touch()  # building the models took a while; the orphan clock starts now

    def _wait_for_slot(self, make: Callable[[Callable], Trainer]) -> None:
        """Queued: wait for a slot in turn, then train in this thread. Leave the queue when the
        page goes away or the job is cancelled."""
        while True:
            if self._cancelled or time.time() - self.last_seen > ORPHAN_AFTER_S:
                with _queue_lock:
                    _queue.remove(self)
                self.error = "left the queue" + ("" if self._cancelled else ": the browser session went away")
                return
            with _queue_lock:
                first = _queue[0] is self
            if first and _slots.acquire(timeout=0.2):
                with _queue_lock:
                    _queue.remove(self)
                try:
                    self._build(make)
                except Exception as exc:  # e.g. a checkpoint that no longer loads: said on the page
                    _slots.release()
                    self.error = str(exc)
                    return
                threading.Thread(target=self._watch, daemon=True, name="ganviz-watch").start()
                self._run()
                return
            if not first:
                time.sleep(0.2)

    def cancel(self) -> None:
        """Leave the queue (a job that already trains is stopped with its trainer's `stop`)."""
        self._cancelled = True

    @property
    def position(self) -> int:
        """1 for the next job to start, 2 after it, ...; 0 once it is not queued."""
        with _queue_lock:
            return _queue.index(self) + 1 if self in _queue else 0

    def touch(self) -> None:
        self.last_seen = time.time()

    def _on_step(self, trainer: Trainer) -> None:
        if not self._niced:  # TensorFlow's worker threads exist once a step has run
            yield_cpu_to_pages()
            self._niced = True

    def _watch(self) -> None:
        """Stop a job nobody looks at any more (paused or not): no orphan threads burning CPU."""
        while self._thread.is_alive():
            if time.time() - self.last_seen > ORPHAN_AFTER_S:
                self.error = "stopped: the browser session went away; the run so far was saved"
                self.trainer.stop()
                return
            time.sleep(0.5)

    def _run(self) -> None:
        from ganviz.gan import run
        try:
            self.saved = run.train(self.trainer, self.out_dir)
        except Exception as exc:  # divergence or anything else: say it on the page, keep what was trained
            self.error = str(exc)
            self.saved = find_bundles(self.out_dir)
        finally:
            _slots.release()

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()


_jobs: dict[str, TrainingJob] = {}  # session key -> its latest job, for the whole server


def job_of(session: str) -> TrainingJob | None:
    """The session's latest training job, also after a reload of its page."""
    return _jobs.get(session)


def set_job(session: str, job: TrainingJob) -> None:
    """Make `job` the session's job; forget finished jobs nobody has looked at for a while
    (their models are freed; what they trained is on disk)."""
    for key, old in list(_jobs.items()):
        if old.done and time.time() - old.last_seen > ORPHAN_AFTER_S:
            del _jobs[key]
    _jobs[session] = job


def resumable_runs(root: Path) -> list[tuple[Path, int, int]]:
    """(folder, step, steps) of every run under root whose checkpoint stopped short of its
    steps: runs stopped, or cut off by a crash."""
    found = []
    for path in sorted(root.rglob(CHECKPOINT)) if root.is_dir() else []:
        try:
            step, steps = checkpoint_progress(path.parent)
        except BundleError:
            continue  # a damaged checkpoint is not offered
        if step < steps:
            found.append((path.parent, step, steps))
    return found


def save_uploads(uploads: list[tuple[str, bytes]], dest_root: Path) -> str:
    """Check uploaded training files, keep them under dest_root, return their data set spec.

    Each file is decoded first, so a bad one is refused with its name before anything is kept.
    One file becomes a file spec; several images become a folder spec.
    """
    if not uploads:
        raise DataError("no files uploaded")
    for name, raw in uploads:
        images_from_bytes(name, raw)
    if len(uploads) > 1 and any(Path(n).suffix.lower() not in IMAGE_SUFFIXES for n, _ in uploads):
        raise DataError("several files can only be PNG/JPEG images; upload one .npy, .npz or .zip by itself")
    folder = dest_root / f"upload-{int(time.time() * 1000)}"
    folder.mkdir(parents=True)
    for i, (name, raw) in enumerate(uploads):  # our own file names: nothing from the upload is a path
        (folder / f"{i:05d}{Path(name).suffix.lower()}").write_bytes(raw)
    return str(folder if len(uploads) > 1 else next(folder.iterdir()))


def bundle_zip(path: Path) -> bytes:
    """A bundle folder as zip bytes (for download)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in (*FILES, DISCRIMINATOR):
            if (path / name).is_file():
                zf.write(path / name, f"{path.name}/{name}")
    return buf.getvalue()


def import_bundle_zip(data: bytes, dest_root: Path) -> Path:
    """Unpack an uploaded bundle zip under dest_root, reading only the expected files."""
    if len(data) > MAX_ZIP_BYTES:
        raise BundleError(f"upload is {len(data) / 2**20:.0f} MB; a bundle zip may be at most {MAX_ZIP_BYTES >> 20} MB")
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise BundleError("upload is not a zip file; accepted: a bundle zip from 'Download bundle'") from None
    with zf:
        members = {}
        for info in zf.infolist():
            name = Path(info.filename).name
            if name in (*FILES, DISCRIMINATOR):
                members[name] = info
        missing = [f for f in FILES if f not in members]
        if missing:
            raise BundleError(f"zip is not a ganviz bundle, missing {', '.join(missing)}")
        if sum(i.file_size for i in members.values()) > MAX_ZIP_BYTES:
            raise BundleError(f"zip unpacks to more than {MAX_ZIP_BYTES >> 20} MB")
        stem = Path(members["config.json"].filename).parent.name or "bundle"
        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", stem)[:40] or "bundle"
        target = dest_root / f"{stem}-{int(time.time() * 1000)}" / "bundle"
        target.mkdir(parents=True)
        for name, info in members.items():  # written by our names only: no path from the zip is used
            (target / name).write_bytes(zf.read(info))
    try:
        bundle = load_bundle(target)
        check_weights(bundle)  # weights must fit the config's models: checked in NumPy, no TensorFlow
    except BundleError:
        import shutil
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    final = target.parent / bundle.variant
    target.rename(final)
    return final
