"""Everything the Streamlit page does that is not a widget: finding runs, the view state in
the URL, background training jobs, bundle zips. Plain functions, tested without Streamlit."""
from __future__ import annotations

import io
import os
import re
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganviz.bundle import FILES, find_bundles, load_bundle, save_bundles
from ganviz.config import VARIANTS, GANConfig
from ganviz.errors import BundleError, DataError, UserError
from ganviz.files import IMAGE_SUFFIXES, images_from_bytes

VIEWS = ("Compare", "Training", "Analysis", "Why they differ", "Train now")
MAX_TRAININGS = int(os.environ.get("GANVIZ_MAX_TRAININGS", "2"))  # at once, on the whole server
ORPHAN_AFTER_S = float(os.environ.get("GANVIZ_ORPHAN_AFTER_S", "20"))  # no page polling for this long: stop
_slots = threading.BoundedSemaphore(MAX_TRAININGS)
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


@dataclass
class TrainingJob:
    """A Trainer running in a background thread; the page polls it, never blocks on it.

    The page calls `touch()` whenever it polls; when no page has polled for ORPHAN_AFTER_S
    (the browser tab closed), the job stops and saves what it trained. At most MAX_TRAININGS
    jobs run on a server at once; more are refused with a message.
    """
    config: GANConfig
    variants: tuple[str, ...]
    out_dir: Path
    trainer: object = None
    error: str = ""
    saved: list[Path] = field(default_factory=list)
    last_seen: float = field(default_factory=time.time)

    def start(self, images: np.ndarray, fingerprint: str) -> "TrainingJob":
        if not _slots.acquire(blocking=False):
            raise UserError(f"this server already runs its limit of {MAX_TRAININGS} training(s) at once; "
                            "try again when one finishes (GANVIZ_MAX_TRAININGS sets the limit)")
        try:
            from ganviz.training import Trainer
            self.trainer = Trainer(self.config, images, self.variants)
            self._thread = threading.Thread(target=self._run, args=(fingerprint,), daemon=True, name="ganviz-train")
            self._thread.start()
            threading.Thread(target=self._watch, daemon=True, name="ganviz-watch").start()
        except BaseException:
            _slots.release()
            raise
        return self

    def touch(self) -> None:
        self.last_seen = time.time()

    def _watch(self) -> None:
        """Stop a job nobody looks at any more (paused or not): no orphan threads burning CPU."""
        while self._thread.is_alive():
            if time.time() - self.last_seen > ORPHAN_AFTER_S:
                self.error = "stopped: the browser session went away; the run so far was saved"
                self.trainer.stop()
                return
            time.sleep(0.5)

    def _run(self, fingerprint: str) -> None:
        try:
            self.trainer.run()
        except Exception as exc:  # divergence or anything else: say it on the page, keep what was trained
            self.error = str(exc)
        finally:
            _slots.release()
        if self.trainer.step > 0:
            self.saved = save_bundles(self.trainer, self.out_dir, fingerprint)

    @property
    def done(self) -> bool:
        return not self._thread.is_alive()


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
        for name in FILES:
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
            if name in FILES:
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
        bundle.gan()  # weights must fit the config's models
    except BundleError:
        import shutil
        shutil.rmtree(target.parent, ignore_errors=True)
        raise
    final = target.parent / bundle.variant
    target.rename(final)
    return final
