"""The answer at a glance, in a real browser: Analysis on a cold server leads with the forest
plot, read from the measures stored beside the shipped runs; the exported report draws every
chart offline with no console error; the page and the report print no e-notation; Compare stays
legible on a phone."""
import re
import time
from pathlib import Path


from ganviz_tools.browser import IMAGES, chromium_page, dashboard, wait_for_images

ROOT = Path(__file__).parents[1]
E_NOTATION = re.compile(r"\b\d(?:\.\d+)?e[+-]?\d+\b", re.IGNORECASE)


def _errors(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda m: found.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: found.append(str(e)))
    return found


def test_analysis_opens_with_the_forest_plot_on_a_cold_server(tmp_path):
    t0 = time.time()
    with dashboard(ROOT, {"GANVIZ_RUNS": str(tmp_path / "runs")}) as (url, _), chromium_page(1400, 2400) as page:
        errors = _errors(page)
        page.goto(f"{url}/?view=Analysis")
        page.wait_for_selector("text=The answer at a glance", timeout=120_000)
        forest = page.locator(".js-plotly-plot").first
        forest.wait_for(timeout=120_000)
        seconds = time.time() - t0
        assert "no difference" in forest.inner_text() and "final generators" in forest.inner_text()
        assert page.locator("[data-testid='stException']").count() == 0
        text = page.locator("[data-testid='stMainBlockContainer']").inner_text()
        assert re.search(r"Conv2DTranspose \+ binomial blur against UpSampling2D \+ Conv2D, \d+ paired seeds", text)
        assert not E_NOTATION.search(text), E_NOTATION.search(text)
        assert not errors, errors
        print(f"forest plot {seconds:.1f} s after launch")  # the benchmark times it; this proves it draws


def test_the_exported_report_draws_every_chart_offline(tmp_path):
    from ganviz.cli import main
    report = tmp_path / "report.html"
    assert main(["report", str(ROOT / "pretrained"), "--out", str(report)]) == 0
    html = report.read_text()
    assert html.index("Plotly.newPlot") > html.index("</head>")  # the library first, then the figures
    with chromium_page() as page:
        errors = _errors(page)
        page.route("**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else
                   route.continue_())  # offline: nothing but the file itself
        page.goto(report.as_uri())
        divs = page.locator(".plotly-graph-div").count()
        assert divs >= 6
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {divs}",
                               timeout=60_000)  # every figure drawn by plotly.js
        text = page.locator("body").inner_text()
        assert "The answer at a glance" in text and text.index("The answer at a glance") < text.index("Every measure")
        assert not E_NOTATION.search(text), E_NOTATION.search(text)
        assert not errors, errors


def test_compare_on_a_phone(tmp_path):
    with dashboard(ROOT, {"GANVIZ_RUNS": str(tmp_path / "runs")}) as (url, _), chromium_page(390, 844) as page:
        errors = _errors(page)
        page.goto(url)
        wait_for_images(page, 2, timeout=120)
        assert page.locator("[data-testid='stException']").count() == 0
        page.wait_for_function(f"[...document.querySelectorAll(\"{IMAGES}\")].slice(0, 2)"
                               ".every(img => img.complete && img.getBoundingClientRect().width >= 300)",
                               timeout=30_000)  # each grid the screen's width: 28-px images drawn ~44 px wide
        first, second = (page.locator(IMAGES).nth(i).bounding_box() for i in range(2))
        assert second["y"] >= first["y"] + first["height"]  # stacked, not side by side
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
        assert (tmp_path / "phone.png").stat().st_size > 10_000
        assert not errors, errors
