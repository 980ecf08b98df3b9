"""A small host, for real: the dashboard runs in a memory-limited cgroup (v2, or v1), as a
container or a free hosting tier would enforce it, and its trainings inherit the limit. It
admits trainings by memory: two owners on a host with room for one train one after the other,
with no OOM kill; a host with room for none says so on Train now and keeps showing samples."""
import os
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

from ganviz_tools.browser import chromium_browser, dashboard, train_now, wait_for_images

ROOT = Path(__file__).parents[1]
V2, V1 = Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/memory")


def _kind() -> str | None:
    if os.geteuid() != 0:
        return None
    if (V2 / "cgroup.controllers").is_file() and "memory" in (V2 / "cgroup.controllers").read_text():
        return "v2"
    return "v1" if (V1 / "memory.limit_in_bytes").is_file() else None


@contextmanager
def cgroup(limit_mb: int):
    """A fresh memory cgroup of `limit_mb`, no swap; yields (folder, oom_kills()) and prints its peak."""
    kind = _kind()
    if kind is None:
        pytest.fail("these tests need root and the kernel's cgroup memory controller (v2, or v1 at "
                    "/sys/fs/cgroup/memory): run them as root, as .ci/run does")
    folder = (V2 if kind == "v2" else V1) / f"ganviz-test-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    limit = str(limit_mb * 2**20)
    if kind == "v2":
        (folder / "memory.max").write_text(limit)
        (folder / "memory.swap.max").write_text("0")
        events = lambda: (folder / "memory.events").read_text()
    else:
        (folder / "memory.limit_in_bytes").write_text(limit)
        swap = folder / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(limit)
        events = lambda: (folder / "memory.oom_control").read_text()

    def peak_mb() -> float:
        name = "memory.peak" if kind == "v2" else "memory.max_usage_in_bytes"
        try:
            return int((folder / name).read_text()) / 2**20
        except (OSError, ValueError):
            return float("nan")

    def oom_kills() -> int:
        return int(next((line.split()[1] for line in events().splitlines() if line.startswith("oom_kill ")), 0))
    try:
        yield folder, oom_kills
        print(f"cgroup {limit_mb} MB: peak {peak_mb():.0f} MB, OOM kills {oom_kills()}")  # docs/RELIABILITY.md
    finally:
        for pid in (folder / "cgroup.procs").read_text().split():
            try:
                os.kill(int(pid), 9)
            except ProcessLookupError:
                pass
        for _ in range(50):
            try:
                folder.rmdir()
                break
            except OSError:
                import time
                time.sleep(0.1)


def test_two_owners_on_a_host_with_room_for_one_train_in_turn(tmp_path):
    env = {"GANVIZ_RUNS": str(tmp_path / "runs"), "GANVIZ_MAX_TRAININGS": "2"}
    with cgroup(1000) as (folder, oom_kills), dashboard(ROOT, env, cgroup=folder) as (url, _), \
            chromium_browser() as browser:
        a, b = (browser.new_context(viewport={"width": 1400, "height": 1000}).new_page() for _ in range(2))
        for page in (a, b):
            page.goto(url)
            wait_for_images(page, 2, timeout=180)
        train_now(a, 30, "doodles:camel:64")
        a.wait_for_selector("text=/step [1-9]\\d*\\/30/", timeout=180_000)
        train_now(b, 30, "doodles:camel:64")
        b.wait_for_selector("text=waiting for memory: 1 training at a time on this 1.0 GB server", timeout=60_000)
        a.wait_for_selector("text=Saved 2 bundle(s)", timeout=300_000)
        b.wait_for_selector("text=Saved 2 bundle(s)", timeout=300_000)  # started by itself once A's ended
        assert oom_kills() == 0
        for page in (a, b):
            assert page.locator("[data-testid='stException']").count() == 0


def test_a_host_too_small_to_train_still_shows_samples(tmp_path):
    with cgroup(700) as (folder, oom_kills), dashboard(ROOT, {"GANVIZ_RUNS": str(tmp_path / "runs")},
                                                        cgroup=folder) as (url, _), chromium_browser() as browser:
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.goto(url)
        wait_for_images(page, 2, timeout=180)
        train_now(page, 30, "doodles:camel:64")
        page.wait_for_selector("text=this server cannot train: it has 0.7 GB", timeout=60_000)
        page.get_by_role("radio", name="Compare", exact=True).click()
        wait_for_images(page, 2, timeout=120)
        assert oom_kills() == 0 and page.locator("[data-testid='stException']").count() == 0
