"""How much memory this process may use, and how much a process uses: what the dashboard admits
trainings by, and what a study's `--parallel auto` fits. Linux's /proc and cgroup files only.

The limit is the tightest of: this process's cgroup and its parents (v2 `memory.max`, v1
`memory.limit_in_bytes`, found through /proc/self/cgroup, as a container or `systemd-run` sets
them), and the machine's physical memory.
"""
from __future__ import annotations

import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
UNLIMITED = 2**60  # what the kernel writes for "no limit" is around 2^63


def _cgroup_limits(proc_cgroup: str, root: Path) -> list[int]:
    """Every memory limit on the path from this process's cgroup up to the root, in bytes."""
    limits = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: one unified hierarchy
            base, name = root, "memory.max"
        elif "memory" in controllers.split(","):
            base, name = root / "memory", "memory.limit_in_bytes"
        else:
            continue
        folder = base / path.lstrip("/")
        while True:
            try:
                text = (folder / name).read_text().strip()
                if text.isdigit() and int(text) < UNLIMITED:
                    limits.append(int(text))
            except OSError:
                pass
            if folder == base or base not in folder.parents:
                break
            folder = folder.parent
    return limits


def limit_mb(root: Path = CGROUP_ROOT, proc_cgroup: str | None = None) -> float:
    """The memory this process may use, in MB (2^20 bytes)."""
    if proc_cgroup is None:
        try:
            proc_cgroup = Path("/proc/self/cgroup").read_text()
        except OSError:
            proc_cgroup = ""
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return min([physical, *_cgroup_limits(proc_cgroup, root)]) / 2**20


# Code pages a process keeps resident under memory pressure, beyond its anonymous memory: the
# kernel reclaims the rest of a library's mapped pages, which are clean (docs/PERFORMANCE.md).
CODE_MB = 64


def charge_mb(pid: int | str = "self") -> float:
    """What a process costs a memory-limited host: its anonymous memory and a working set of code."""
    anon = rss_mb(pid, "RssAnon")
    return anon + CODE_MB if anon else 0.0


def rss_mb(pid: int | str = "self", field: str = "VmRSS") -> float:
    """A process's resident memory now (VmRSS) or at its peak (VmHWM), in MB; 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split(f"{field}:")[1].split()[0]) / 1024
    except (OSError, IndexError, ValueError):
        return 0.0
