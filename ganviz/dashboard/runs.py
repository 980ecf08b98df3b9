"""Runs on disk, for the page: finding them, naming new ones, what can be resumed, uploads of
training images and of bundles, bundle zips for download."""
from __future__ import annotations

import io
import re
import secrets
import shutil
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ganviz import operators
from ganviz.config import BOOK_PAIR, GANConfig
from ganviz.dashboard.state import is_public_id
from ganviz.data.files import IMAGE_SUFFIXES, images_from_bytes
from ganviz.errors import BundleError, DataError
from ganviz.store.bundle import (CHECKPOINT, DISCRIMINATOR, FILES, GENERATOR, RUN_FILE, checkpoint_progress, find_bundles,
                                 load_bundle, load_run_file, save_run_file)
from ganviz.view.weights import check_weights

MAX_ZIP_BYTES = 64 * 2**20  # a bundle is ~6.5 MB; this leaves room and refuses bombs


@dataclass(frozen=True)
class RunGroup:
    """A trained run: one bundle per variant, found together in one folder."""
    name: str
    bundles: dict[str, Path]


def find_runs(label: str, root: Path) -> list[RunGroup]:
    """Group the bundles under root by folder: `label/folder`, variants in canonical order."""
    groups: dict[str, dict[str, Path]] = {}
    for path in find_bundles(root):
        try:
            variant = load_bundle(path).variant
        except BundleError:
            continue  # a damaged folder is not offered
        name = "/".join((label, *path.parent.relative_to(root).parts))
        groups.setdefault(name, {})[variant] = path
    return [RunGroup(name, {v: b[v] for v in operators.names() if v in b}) for name, b in groups.items()]


def default_pair(variants) -> list[str]:
    """Which two of a run's operators the page puts side by side first: the book's pair where
    the run has it, else its first two."""
    variants = list(variants)
    return list(BOOK_PAIR) if set(BOOK_PAIR) <= set(variants) else variants[:2]


def side_by_side(run: RunGroup, chosen: list[str]) -> RunGroup:
    """The run with only the chosen operators; with none chosen, its default pair (all of them at
    once would not fit side by side)."""
    chosen = [v for v in chosen if v in run.bundles] or default_pair(run.bundles)
    return RunGroup(run.name, {v: p for v, p in run.bundles.items() if v in chosen})


def other_owners(name: str, own: str) -> tuple[str, list[str]] | None:
    """A link's `runs/<id>/<...>` that names another owner's runs: (their public id, the rest of
    the path), else None. The one reader of such names, for runs and live trainings alike."""
    parts = name.split("/")
    if len(parts) >= 3 and parts[0] == "runs" and is_public_id(parts[1]) and parts[1] != own:
        return parts[1], parts[2:]
    return None


def runs_for(pretrained: Path, runs_root: Path, own: str, linked: str = "",
             find: Callable[[str, Path], list[RunGroup]] = find_runs) -> list[RunGroup]:
    """The runs a page offers: the pretrained ones, its owner's (`runs/<own>/...`), and the one
    run of another owner that its link names. A link lets its reader view that run; control
    stays with the owner's key, which no link carries. `find(label, root)` lists one root's runs:
    the page passes a cached one, so that every viewer shares one listing of pretrained/. A run
    whose bundles left the disk since that listing (deleted, or being replaced) is not offered."""
    roots = {"pretrained": pretrained, f"runs/{own}": runs_root / own}
    if (other := other_owners(linked, own)) is not None:
        roots[f"runs/{other[0]}"] = runs_root / other[0]
    return [r for label, root in roots.items() for r in find(label, root)
            if (r.name.startswith(("pretrained/", f"runs/{own}/")) or r.name == linked)
            and all((p / GENERATOR).is_file() for p in r.bundles.values())]


def run_label(name: str, own: str) -> str:
    """How the run selector shows a run: `yours/...` for the owner's, `shared/...` for one from a link."""
    if name.startswith(f"runs/{own}/"):
        return "yours/" + name.removeprefix(f"runs/{own}/")
    return "shared/" + name.split("/", 2)[2] if name.startswith("runs/") else name


def live_dir(runs_root: Path, name: str, own: str) -> Path | None:
    """The folder of another owner's training named by a link's `live=runs/<id>/<folder>`, if it
    exists: its progress can be watched, never steered."""
    other = other_owners(name, own)
    if other is None or len(other[1]) != 1 or not re.fullmatch(r"[A-Za-z0-9_.-]+", other[1][0]) \
            or other[1][0].startswith("."):
        return None
    folder = runs_root / other[0] / other[1][0]
    return folder if folder.is_dir() else None


def new_run(owner_runs: Path, config: GANConfig, variants: tuple[str, ...], fingerprint: str,
            uploaded: bool) -> Path:
    """A fresh folder for the owner's next run, named after its data set and seed with a random
    suffix (so that one shared run's name does not lead to the owner's others), holding the
    run.json its training process starts from."""
    name = Path(config.dataset).name if uploaded else config.dataset.replace(":", "-").replace("/", "_")[-40:]
    owner_runs.mkdir(parents=True, exist_ok=True)
    while True:
        out = owner_runs / f"{name}-s{config.seed}-{secrets.token_hex(3)}"
        try:
            out.mkdir()  # exclusive: two starts at once never share a folder
            break
        except FileExistsError:
            continue
    save_run_file(out, config, variants, fingerprint)
    return out


BUILT_IN = ("doodles", "quickdraw", "fashion-mnist")


def check_spec(spec: str, allowed: Path) -> None:
    """The page reads the built-in data sets, and files only under `allowed` (the owner's folder
    to train, the runs folder to view): a spec naming any other path on the server is refused,
    from the training form or from an uploaded bundle's config (the command line takes any path)."""
    if spec.partition(":")[0] in BUILT_IN:
        return
    if not Path(spec).resolve().is_relative_to(allowed.resolve()):
        raise DataError(f"data set {spec!r} is not available on this page; accepted: doodles[:CLASS[:N]], "
                        "quickdraw:CATEGORY[:N], fashion-mnist, or your own uploads")


def bundles_on(runs: list[RunGroup], dataset: str, dataset_of: Callable[[Path], str]) -> tuple[str, ...]:
    """Every bundle of these runs trained on `dataset`: what the Analysis section measures."""
    return tuple(sorted(str(p) for r in runs for p in r.bundles.values() if dataset_of(p) == dataset))


def resumable_runs(root: Path) -> list[tuple[Path, int, int]]:
    """(folder, step, steps) of every run under root that stopped short of its steps: stopped,
    or cut off by a crash (before its first checkpoint, it starts again from step 0)."""
    found = []
    for folder in sorted({p.parent for name in (CHECKPOINT, RUN_FILE) for p in root.rglob(name)}) if root.is_dir() else []:
        try:
            step, steps = (checkpoint_progress(folder) if (folder / CHECKPOINT).is_file()
                           else (0, load_run_file(folder)[0].steps))
        except BundleError:
            continue  # a damaged checkpoint is not offered
        if step < steps:
            found.append((folder, step, steps))
    return found


def _new_folder(dest_root: Path, prefix: str) -> Path:
    """A folder no other upload has, even one in the same millisecond (another viewer's)."""
    dest_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=dest_root))


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
    folder = _new_folder(dest_root, "upload-")
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
        target = _new_folder(dest_root, f"{stem}-") / "bundle"
        target.mkdir()
        try:
            for name, info in members.items():  # written by our names only: no path from the zip is used
                (target / name).write_bytes(zf.read(info))
            bundle = load_bundle(target)
            check_weights(bundle)  # weights must fit the config's models: checked in NumPy, no TensorFlow
        except BaseException as exc:  # a refused upload leaves nothing behind
            shutil.rmtree(target.parent, ignore_errors=True)
            if isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError)):
                raise BundleError(f"the zip is damaged ({type(exc).__name__}: {exc})") from None
            raise
    final = target.parent / bundle.variant
    target.rename(final)
    return final
