"""Files written whole or not at all: a temporary file beside the target, renamed over it.

A reader (the page, a resumed run, another process) sees the previous file or the new one, never
half of one; a writer killed midway leaves only its temporary, which the next write removes.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def replaced(path: str | os.PathLike, sync: bool = False) -> Iterator[BinaryIO]:
    """Yield a binary file to write `path`'s new content into; when the block ends without an
    error it replaces `path` (after an fsync with `sync`: a checkpoint survives a power cut).
    Temporaries of writers that died are removed first; those of live ones are theirs."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        pid = stale.name.removeprefix(f".{path.name}.").removesuffix(".tmp")
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w+b") as fh:  # readable too: h5py writes through a file object
            yield fh
            if sync:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
