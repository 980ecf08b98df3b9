"""Files replaced whole: the old content or the new, and no temporaries left by dead writers."""
import os
import subprocess
import sys

import pytest

from ganviz.atomic import replaced


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with replaced(path) as fh:
            fh.write(b"half of the ne")
            raise RuntimeError("killed midway")
    assert path.read_bytes() == b"old" and os.listdir(tmp_path) == ["f.bin"]
    with replaced(path, sync=True) as fh:
        fh.write(b"new")
    assert path.read_bytes() == b"new" and os.listdir(tmp_path) == ["f.bin"]


def test_only_dead_writers_temporaries_are_removed(tmp_path):
    path = tmp_path / "f.bin"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left = tmp_path / f".f.bin.{int(dead.stdout)}.tmp"  # a writer killed before its rename
    live = tmp_path / f".f.bin.{os.getppid()}.tmp"  # a writer still at work
    for p in (left, live):
        p.write_bytes(b"partial")
    with replaced(path) as fh:
        fh.write(b"new")
    assert sorted(os.listdir(tmp_path)) == sorted(["f.bin", live.name])
