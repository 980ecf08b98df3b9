"""Drive the real dashboard: `streamlit run app.py` on a free loopback port, seen through
headless Chromium (Debian's /usr/bin/chromium via Playwright; no browser download).
Used by the browser test and by the benchmark's cold-start measurement."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from ganviz.hostmem import rss_mb

CHROMIUM = os.environ.get("GANVIZ_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
IMAGES = "[data-testid='stImage'] img, [data-testid='stImageContainer'] img"


def free_ports(n: int) -> list[int]:
    """n distinct ports free now: each socket stays bound until all are chosen."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


@contextmanager
def dashboard(app_dir: Path, env: dict[str, str] | None = None, timeout: float = 90, cgroup: Path | None = None):
    """Start the dashboard (inside `cgroup`, whose limits its trainings inherit, if given); yield
    (url, process); stop it afterwards.

    The server's output goes to a temporary file: a pipe nobody reads fills up (TensorFlow
    logs a lot once a training starts) and then blocks every thread that writes to it."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=app_dir, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=None if cgroup is None else lambda: (cgroup / "cgroup.procs").write_text(str(os.getpid())))
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.time() + timeout
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"dashboard did not start: {log.read().decode(errors='replace')[-2000:]}")
                time.sleep(0.2)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def train_now(page, steps: int, dataset: str, batch: int = 8, measure: int = 16) -> None:
    """Fill in "Train now" and press Train (a small spectrum batch by default: tiny test runs
    would spend most of their time on their frames' 256 z)."""
    page.get_by_role("radio", name="Train now", exact=True).click()
    page.get_by_label("Data set", exact=True).fill(dataset)
    page.get_by_label("Steps", exact=True).fill(str(steps))
    page.get_by_label("Spectrum batch", exact=True).fill(str(measure))
    page.get_by_label("Batch size", exact=True).fill(str(batch))
    page.get_by_role("button", name="Train", exact=True).click()


@contextmanager
def chromium_browser():
    """Headless Chromium; each `browser.new_context()` is a separate user."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def chromium_page(width: int = 1400, height: int = 1000):
    with chromium_browser() as browser:
        yield browser.new_page(viewport={"width": width, "height": height})


def figure_png(fig, path: Path, width: int = 1000) -> None:
    """A Plotly figure drawn by plotly.js in headless Chromium, saved as a PNG (docs' pictures)."""
    html = Path(tempfile.mkdtemp()) / "figure.html"
    html.write_text(fig.to_html(include_plotlyjs=True, full_html=True, config={"displayModeBar": False}))
    with chromium_page(width, int(fig.layout.height or 500) + 40) as page:
        page.goto(html.as_uri())
        page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
        page.locator(".js-plotly-plot").first.screenshot(path=str(path))
    shutil.rmtree(html.parent, ignore_errors=True)


def wait_for_images(page, n: int, timeout: float) -> float:
    """Block until n images are on the page; return when (time.time())."""
    page.wait_for_function(f"document.querySelectorAll(\"{IMAGES}\").length >= {n}", timeout=timeout * 1000)
    return time.time()


def cold_start(app_dir: Path, env: dict[str, str] | None = None, timeout: float = 120) -> dict[str, float]:
    """Seconds from launching the server to both sample grids visible, and the server's peak RSS."""
    t0 = time.time()
    with dashboard(app_dir, env, timeout) as (url, proc), chromium_page() as page:
        page.goto(url)
        seconds = wait_for_images(page, 2, timeout) - t0
        page.wait_for_selector(".js-plotly-plot", timeout=timeout * 1000)
        return {"seconds_to_samples": seconds, "server_peak_rss_mb": rss_mb(proc.pid, "VmHWM")}
