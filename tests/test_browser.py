"""The real thing: streamlit run app.py, in headless Chromium, as a user would use it."""
from pathlib import Path

from ganviz.browser import IMAGES, chromium_page, dashboard, wait_for_images

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

        page.get_by_role("radio", name="Training", exact=True).click()
        page.wait_for_selector("text=Replay: probe batch at step", timeout=60_000)
        page.wait_for_selector(".js-plotly-plot", timeout=60_000)

        page.get_by_role("radio", name="Train now", exact=True).click()
        page.get_by_label("Data set", exact=True).fill("doodles:camel:40")
        page.get_by_label("Steps", exact=True).fill("3")
        page.get_by_label("Batch size", exact=True).fill("8")
        page.get_by_role("button", name="Train", exact=True).click()
        page.wait_for_selector("text=Saved 2 bundle(s)", timeout=180_000)
        assert page.locator(IMAGES).count() >= 2  # the live probe samples
        assert page.locator("[data-testid='stException']").count() == 0
        page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
        assert (tmp_path / "dashboard.png").stat().st_size > 10_000
