"""Every picture the README and docs/ show exists and draws in a real browser, and every
relative link in them leads to a file."""
import re
from pathlib import Path

from ganviz_tools.browser import chromium_page

ROOT = Path(__file__).parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(!?)\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _targets(page: Path) -> list[tuple[bool, Path]]:
    return [(bang == "!", (page.parent / target).resolve()) for bang, target in LINK.findall(page.read_text())
            if "://" not in target]


def test_every_relative_link_leads_to_a_file():
    missing = [f"{page.name} -> {t}" for page in PAGES for _, t in _targets(page) if not t.exists()]
    assert not missing, missing


def _pictures() -> set[Path]:
    """Every picture a page shows or links to: either way a reader opens it."""
    return {t for page in PAGES for image, t in _targets(page) if image or t.suffix == ".png"}


def test_every_picture_in_docs_is_shown_somewhere():
    unshown = sorted(p.name for p in (ROOT / "docs").glob("*.png") if p.resolve() not in _pictures())
    assert not unshown, unshown


def test_every_picture_draws_in_a_browser(tmp_path):
    pictures = sorted(_pictures())
    assert len(pictures) >= 5
    html = tmp_path / "pictures.html"
    html.write_text("".join(f'<img src="{p.as_uri()}">' for p in pictures))
    with chromium_page() as page:
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(html.as_uri())
        page.wait_for_function("[...document.images].every(i => i.complete)", timeout=30_000)
        broken = page.evaluate("[...document.images].filter(i => !(i.naturalWidth > 0)).map(i => i.src)")
        assert not broken and not errors, (broken, errors)
