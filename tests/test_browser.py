"""The real thing: streamlit run app.py, in headless Chromium, as a user would use it."""
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from tools.browser import IMAGES, chromium_browser, chromium_page, dashboard, peak_rss_mb, wait_for_images

ROOT = Path(__file__).parents[1]


def _train(page, steps: int, dataset: str = "doodles:camel:200") -> None:
    """Fill in "Train now" (batch 8) and press Train."""
    page.get_by_role("radio", name="Train now", exact=True).click()
    page.get_by_label("Data set", exact=True).fill(dataset)
    page.get_by_label("Steps", exact=True).fill(str(steps))
    page.get_by_label("Batch size", exact=True).fill("8")
    page.get_by_role("button", name="Train", exact=True).click()


def test_dashboard_in_a_real_browser(tmp_path):
    with dashboard(ROOT, {"GANVIZ_RUNS": str(tmp_path / "runs")}) as (url, _), chromium_page() as page:
        page.goto(url)
        wait_for_images(page, 2, timeout=120)  # both generators' sample grids
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)
        assert page.get_by_text("UpSampling2D + Conv2D").count() >= 1
        assert page.get_by_text("Conv2DTranspose").count() >= 1
        assert page.locator("[data-testid='stException']").count() == 0

        with page.expect_download(timeout=120_000) as download:
            page.get_by_role("button", name="Export report (.html)").click()
        report = Path(download.value.path()).read_text()
        assert report.startswith("<!doctype html>") and "Plotly.newPlot" in report and "<img alt=" in report

        page.get_by_role("radio", name="Training", exact=True).click()
        page.wait_for_selector("text=Replay: probe batch at step", timeout=60_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)

        _train(page, 3, "doodles:camel:40")
        page.wait_for_selector("text=Saved 2 bundle(s)", timeout=180_000)
        assert page.locator(IMAGES).count() >= 2  # the live probe samples
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def _step(page) -> int:
    """The training step the page shows (heartbeat caption or progress bar)."""
    text = page.locator("text=/step \\d+\\/\\d+/").first.inner_text(timeout=60_000)
    return int(re.search(r"step (\d+)/", text).group(1))


def _sid(page) -> str:
    page.wait_for_function("location.search.includes('sid=')", timeout=60_000)  # set when the script run ends
    return parse_qs(urlparse(page.url).query)["sid"][0]


def test_four_sessions_at_once_train_view_and_stay_apart(tmp_path):
    """Four browser sessions on one server with a limit of 2 trainings: two train, one waits
    in the queue, one keeps browsing; a reload re-attaches; a closed tab's training stops and keeps
    its checkpoint. Prints the response times quoted in docs/RELIABILITY.md."""
    runs = tmp_path / "runs"
    env = {"GANVIZ_RUNS": str(runs), "GANVIZ_MAX_TRAININGS": "2", "GANVIZ_ORPHAN_AFTER_S": "15"}
    with dashboard(ROOT, env) as (url, proc), chromium_browser() as browser:
        a, b, c, d = pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                              for _ in range(4)]
        for page in pages:
            page.goto(url)
        for page in pages:
            wait_for_images(page, 2, timeout=180)
        sids = [_sid(p) for p in pages]
        assert len(set(sids)) == 4  # four sessions, four keys

        def new_samples_latency(page) -> float:
            """Seconds from a click on "New samples" to different pictures on the page."""
            before = page.locator(IMAGES).first.get_attribute("src")
            t0 = time.time()
            page.get_by_role("button", name="New samples").click()
            page.wait_for_function(f"document.querySelector(\"{IMAGES}\").src != {before!r}", timeout=60_000)
            return time.time() - t0

        idle = [new_samples_latency(d) for _ in range(3)]
        _train(a, 20_000)
        _train(b, 20_000)
        a.wait_for_selector("text=/step [1-9]\\d*\\/20000/", timeout=180_000)
        b.wait_for_selector("text=/step [1-9]\\d*\\/20000/", timeout=180_000)
        _train(c, 10)
        c.wait_for_selector("text=Queued: place 1", timeout=60_000)  # the server's 2 slots are taken

        # D browses while A and B train: each click on "New samples" must change the pictures
        busy = [new_samples_latency(d) for _ in range(3)]

        # A switches section and reloads its page: the same training carries on
        step0 = _step(a)
        a.get_by_role("radio", name="Compare", exact=True).click()
        wait_for_images(a, 2, timeout=60)
        a.reload()
        wait_for_images(a, 2, timeout=60)
        assert _sid(a) == sids[0]
        a.get_by_role("radio", name="Train now", exact=True).click()
        stop = a.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")  # not Streamlit's own
        stop.wait_for(timeout=60_000)
        deadline = time.time() + 120
        while _step(a) <= step0 and time.time() < deadline:  # the page refreshes every 2 s
            time.sleep(1)
        assert _step(a) > step0  # not restarted: further along than before the reload

        # C leaves the queue (otherwise it would start training when A's slot frees up)
        c.get_by_role("button", name="Leave the queue").click()
        c.wait_for_selector("text=left the queue", timeout=60_000)

        # A stops: its run is saved under its own key, and D's link to it finds nothing
        stop.click()
        a.wait_for_selector("text=Saved 2 bundle(s)", timeout=240_000)  # a loaded machine saves slowly
        a_runs = [p.parent.name for p in (runs / sids[0]).glob("*/checkpoint.npz")]
        assert len(a_runs) == 1
        d.goto(f"{url}/?sid={sids[3]}&run=yours/{a_runs[0]}")
        d.wait_for_selector(f"text=run 'yours/{a_runs[0]}' is not available", timeout=60_000)

        # B's tab closes: its training stops within seconds and keeps what it trained
        t0 = time.time()
        b.context.close()
        deadline = time.time() + 60
        while not list((runs / sids[1]).glob("*/transpose/config.json")) and time.time() < deadline:
            time.sleep(0.2)
        stopped_after = time.time() - t0
        assert list((runs / sids[1]).glob("*/checkpoint.npz")) and stopped_after < 60
        assert all(p.locator("[data-testid='stException']").count() == 0 for p in (a, c, d))
        print(f"\nsessions held: 4; 'New samples' answered in {', '.join(f'{s:.2f}' for s in idle)} s idle, "
              f"{', '.join(f'{s:.2f}' for s in busy)} s while 2 trainings ran; closed tab's training stopped and saved {stopped_after:.1f} s after close "
              f"(orphan limit 15 s); server peak RSS {peak_rss_mb(proc.pid):.0f} MB")
