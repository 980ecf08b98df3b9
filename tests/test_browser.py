"""The real thing: streamlit run app.py, in headless Chromium, as a user would use it."""
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from ganviz.dashboard.runs import bundle_zip
from ganviz.dashboard.state import COOKIE, public_id
from ganviz.hostmem import rss_mb
from ganviz.store.bundle import load_bundle
from ganviz_tools.browser import IMAGES, chromium_browser, chromium_page, dashboard, train_now, wait_for_images

ROOT = Path(__file__).parents[1]


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

        # an uploaded bundle becomes the page's run at once
        page.locator("input[type='file']").set_input_files(files=[{
            "name": "shared.zip", "mimeType": "application/zip",
            "buffer": bundle_zip(ROOT / "pretrained" / "doodles-camel-s0" / "transpose")}])
        page.wait_for_selector("text=Loaded the transpose bundle", timeout=60_000)
        page.wait_for_url(re.compile(r"run=runs%2F[0-9a-f]{16}%2Fuploads%2Ftranspose-"), wait_until="commit",
                          timeout=60_000)
        wait_for_images(page, 1, timeout=120)
        chosen = page.get_by_role("combobox", name="Compare the generators of").input_value()
        assert chosen.startswith("yours/uploads/transpose-")  # the run selector shows it
        assert page.get_by_role("heading", name="UpSampling2D + Conv2D").count() == 0  # its one generator only

        page.get_by_role("radio", name="Training", exact=True).click()
        page.wait_for_selector("text=Replay: probe batch at step", timeout=60_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)

        train_now(page, 3, "doodles:camel:40")
        page.wait_for_selector("text=Saved 2 bundle(s)", timeout=180_000)
        assert page.locator(IMAGES).count() >= 2  # the live probe samples
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000


def _step(page) -> int:
    """The training step the page shows (heartbeat caption or progress bar)."""
    text = page.locator("text=/step \\d+\\/\\d+/").first.inner_text(timeout=60_000)
    return int(re.search(r"step (\d+)/", text).group(1))


def _owner(page) -> str:
    """The browser's owner key: in its cookie (set when the first script run ends), never in its URL."""
    deadline = time.time() + 60
    while not (keys := [c["value"] for c in page.context.cookies() if c["name"] == COOKIE]):
        assert time.time() < deadline, "no owner cookie"
        time.sleep(0.2)
    assert keys[0] not in page.url and "sid=" not in page.url
    return keys[0]


def _controls(page):
    """The training buttons of the page's main area (not Streamlit's own Stop in its header)."""
    main = page.get_by_test_id("stMainBlockContainer")
    return [main.get_by_role("button", name=n, exact=True) for n in ("Pause", "Resume", "Stop", "Train")]


def test_four_sessions_train_view_share_and_stay_apart(tmp_path):
    """Four browsers on one server with a limit of 2 trainings: two train, one waits in the queue,
    one browses and then opens the trainer's copied address bar; a reload keeps control, a shared
    link and a forged key get none; a closed tab's training stops and keeps its checkpoint; the
    server never loads TensorFlow. Prints the figures quoted in docs/RELIABILITY.md."""
    runs = tmp_path / "runs"
    env = {"GANVIZ_RUNS": str(runs), "GANVIZ_MAX_TRAININGS": "2", "GANVIZ_ORPHAN_AFTER_S": "15"}
    with dashboard(ROOT, env) as (url, proc), chromium_browser() as browser:
        a, b, c, d = pages = [browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                              for _ in range(4)]
        for page in pages:
            page.goto(url)
        for page in pages:
            wait_for_images(page, 2, timeout=180)
        keys = [_owner(p) for p in pages]
        assert len(set(keys)) == 4  # four browsers, four keys

        def new_samples_latency(page) -> float:
            """Seconds from a click on "New samples" to different pictures on the page."""
            before = page.locator(IMAGES).first.get_attribute("src")
            t0 = time.time()
            page.get_by_role("button", name="New samples").click()
            page.wait_for_function(f"document.querySelector(\"{IMAGES}\").src != {before!r}", timeout=60_000)
            return time.time() - t0

        idle = [new_samples_latency(d) for _ in range(3)]
        train_now(a, 20_000, "doodles:camel:200")
        train_now(b, 20_000, "doodles:camel:200")
        a.wait_for_selector("text=/step [1-9]\\d*\\/20000/", timeout=180_000)
        b.wait_for_selector("text=/step [1-9]\\d*\\/20000/", timeout=180_000)
        train_now(c, 10, "doodles:camel:200")
        c.wait_for_selector("text=Queued: place 1", timeout=60_000)  # the server's 2 slots are taken

        # D browses while A and B train: each click on "New samples" must change the pictures
        busy = [new_samples_latency(d) for _ in range(3)]

        # D opens A's address bar as it is: it watches A's training, with no control over it
        a.wait_for_function("location.search.includes('live=')", timeout=60_000)
        d.goto(a.url)
        d.wait_for_selector("text=You are watching a training from a shared link", timeout=120_000)
        d.wait_for_selector("text=/step [1-9]\\d*\\/20000/", timeout=60_000)
        pause, resume, stop_d, _ = _controls(d)
        assert pause.count() == resume.count() == stop_d.count() == 0

        # A switches section and reloads its page: the same training carries on, under A's control
        step0 = _step(a)
        a.get_by_role("radio", name="Compare", exact=True).click()
        wait_for_images(a, 2, timeout=60)
        a.reload()
        wait_for_images(a, 2, timeout=60)
        assert _owner(a) == keys[0]
        a.get_by_role("radio", name="Train now", exact=True).click()
        stop = _controls(a)[2]
        stop.wait_for(timeout=60_000)
        deadline = time.time() + 120
        while _step(a) <= step0 and time.time() < deadline:  # the page refreshes every 2 s
            time.sleep(1)
        assert _step(a) > step0  # not restarted: further along than before the reload

        # a forged key, even one built from the public id in A's links, owns nothing of A's
        own_a = public_id(keys[0])
        forged = browser.new_context()
        forged.add_cookies([{"name": COOKIE, "value": own_a * 2, "url": url}])
        e = forged.new_page()
        e.goto(a.url)
        e.wait_for_selector("text=You are watching a training from a shared link", timeout=120_000)
        assert all(button.count() == 0 for button in _controls(e)[:3]) and _owner(e) != keys[0]
        assert not any(p.name == "checkpoint.npz" for p in (runs / public_id(_owner(e))).rglob("*"))
        forged.close()

        # C leaves the queue (otherwise it would start training when A's slot frees up)
        c.get_by_role("button", name="Leave the queue").click()
        c.wait_for_selector("text=left the queue", timeout=60_000)

        # A stops: its run is saved under its public id; A's link to it shows D the run, read-only
        stop.click()
        a.wait_for_selector("text=Saved 2 bundle(s)", timeout=240_000)  # a loaded machine saves slowly
        a_runs = [p.parent.name for p in (runs / own_a).glob("*/checkpoint.npz")]
        assert len(a_runs) == 1
        d.goto(f"{url}/?run=runs/{own_a}/{a_runs[0]}&view=Compare")
        wait_for_images(d, 2, timeout=60)
        d.wait_for_function("location.search.includes('seed=')", timeout=60_000)  # the page wrote its view
        assert parse_qs(urlparse(d.url).query)["run"] == [f"runs/{own_a}/{a_runs[0]}"]  # not a fallback
        d.get_by_role("radio", name="Train now", exact=True).click()
        d.wait_for_selector("text=Data set", timeout=60_000)
        assert d.get_by_text("stopped at step").count() == 0  # A's run is not D's to resume

        # B's tab closes: its training stops within seconds and keeps what it trained
        t0 = time.time()
        b.context.close()
        deadline = time.time() + 60
        own_b = public_id(keys[1])
        while not list((runs / own_b).glob("*/transpose/config.json")) and time.time() < deadline:
            time.sleep(0.2)
        stopped_after = time.time() - t0
        assert list((runs / own_b).glob("*/checkpoint.npz")) and stopped_after < 60
        kept = load_bundle(next((runs / own_b).glob("*/transpose")))
        assert kept.meta["status"] == "stopped" and 0 < kept.meta["steps_done"] < kept.config.steps
        assert all(p.locator("[data-testid='stException']").count() == 0 for p in (a, c, d))
        assert "tensorflow" not in Path(f"/proc/{proc.pid}/maps").read_text()  # trainings ran elsewhere
        print(f"\nsessions held: 4; 'New samples' answered in {', '.join(f'{s:.2f}' for s in idle)} s idle, "
              f"{', '.join(f'{s:.2f}' for s in busy)} s while 2 trainings ran; closed tab's training stopped and "
              f"saved {stopped_after:.1f} s after close (orphan limit 15 s); server peak RSS "
              f"{rss_mb(proc.pid, 'VmHWM'):.0f} MB")
