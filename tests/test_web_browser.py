"""``scraper serve`` as a person uses it: Debian's headless Chromium, driven by Playwright, opens a
page's timeline, opens a diff, reads the highlighted words, and takes the screenshot the README
shows (``SCRAPER_UPDATE_DOCS=1`` writes it to docs/diff-view.png). Without JavaScript, and at a
phone's width. Expected words are written by hand from the fixture's versions.json."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest

from tests.fixtures.archive_site.build import build_archive
from tests.test_web import BUDGET, add_long_page, snapshot_ids
from tests.tools import CHROMIUM, CHROMIUM_ARGS, free_port, missing, running

if TYPE_CHECKING:
    from playwright.sync_api import Browser

DOCS = Path(__file__).resolve().parents[1] / "docs"
#: how long Playwright waits for an element or a navigation on a slow, busy machine (a budget)
BUDGET_MS = 120_000


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``scraper serve`` on the fixture archive: (base URL, archive path)."""
    folder = tmp_path_factory.mktemp("browser")
    db = build_archive(folder / "archive.db")
    add_long_page(db)
    port = free_port()
    args = [sys.executable, "-m", "scraper", "serve", "--db", str(db), "--port", str(port)]
    with running(args, cwd=folder, port=port, log=folder / "serve.log"):
        yield f"http://127.0.0.1:{port}", db


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        missing("playwright (Python)")
    if not CHROMIUM.exists():
        missing(f"chromium at {CHROMIUM}")
    with sync_playwright() as playwright:
        try:
            chromium = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
        except Error as exc:  # says why; a failure, never a skip, once chromium is there
            pytest.fail(f"{CHROMIUM} cannot start: {str(exc).splitlines()[0]}")
        yield chromium
        chromium.close()


def test_timeline_then_diff_in_chromium(
    served: tuple[str, Path], browser: Browser, tmp_path: Path
) -> None:
    base, db = served
    v1, v2, _v3 = snapshot_ids(db, BUDGET)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    page.set_default_timeout(BUDGET_MS)
    page.goto(f"{base}/archive/latest_snapshots")
    page.locator("tr", has_text=BUDGET).get_by_role("link", name="history").click()
    page.get_by_role("heading", name="History of a page").wait_for(state="visible")
    assert page.locator("table.scraper-versions tbody tr").count() == 3
    assert page.locator("table.scraper-captures tbody tr").count() == 5
    row = page.locator("table.scraper-versions tbody tr", has_text=f"#{v2}")
    row.get_by_role("link", name="diff with previous").click()
    page.wait_for_url(f"**/-/scraper/diff?from={v1}&to={v2}&db=archive")

    # budget.v1 -> budget.v2: the highlighted words, as a reader sees them
    assert page.locator(".scraper-old del").all_inner_texts() == ["the", "Monday."]
    assert page.locator(".scraper-new ins").all_inner_texts() == [
        "a record",
        "late",
        "Monday night.",
    ]
    inserted = page.locator(".scraper-new ins").first
    assert inserted.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(204, 255, 216)"
    deleted = page.locator(".scraper-old del").first
    assert deleted.evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 215, 213)"
    old_box = page.locator(".scraper-old").bounding_box()
    new_box = page.locator(".scraper-new").bounding_box()
    assert old_box is not None
    assert new_box is not None
    assert old_box["x"] < new_box["x"]  # side by side
    assert old_box["y"] == new_box["y"]

    shot = DOCS / "diff-view.png" if os.environ.get("SCRAPER_UPDATE_DOCS") else tmp_path / "d.png"
    shot.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes().startswith(b"\x89PNG")

    page.get_by_role("link", name="inline").click()
    inline = page.locator(".scraper-inline")
    assert inline.locator("ins").all_inner_texts() == ["a record", "late", "Monday night."]
    assert inline.locator("del").all_inner_texts() == ["the", "Monday."]
    context.close()
    assert requested
    assert all(url.startswith(base + "/") for url in requested), requested  # nothing else


def test_compare_form_and_as_of_work_without_javascript(
    served: tuple[str, Path], browser: Browser
) -> None:
    base, db = served
    v1, _v2, v3 = snapshot_ids(db, BUDGET)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.set_default_timeout(BUDGET_MS)
    page.goto(f"{base}/-/scraper/page?url={quote(BUDGET)}")
    form = page.locator("form.scraper-compare")
    form.locator("select[name=from]").select_option(str(v1))
    form.locator("select[name=to]").select_option(str(v3))
    form.locator("select[name=view]").select_option("inline")
    form.get_by_role("button", name="Compare").click()
    page.wait_for_url("**/-/scraper/diff?**")
    assert f"from={v1}" in page.url
    assert "view=inline" in page.url
    assert "a record" in page.locator(".scraper-inline ins").all_inner_texts()

    page.goto(f"{base}/-/scraper/page?url={quote(BUDGET)}")
    page.locator("form.scraper-asof input[name=at]").fill("2026-05-03")
    page.locator("form.scraper-asof").get_by_role("button", name="Show").click()
    page.get_by_text("The city council approved the budget on Monday.").wait_for(state="visible")
    page.get_by_text(f"version #{v1}").first.wait_for(state="visible")
    context.close()


def test_diff_is_readable_at_phone_width(served: tuple[str, Path], browser: Browser) -> None:
    base, db = served
    v1, v2, _v3 = snapshot_ids(db, BUDGET)
    context = browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True)
    page = context.new_page()
    page.set_default_timeout(BUDGET_MS)
    for path in (
        f"/-/scraper/diff?from={v1}&to={v2}",
        f"/-/scraper/page?url={quote(BUDGET)}",
        f"/-/scraper/version/{v2}",
    ):
        page.goto(base + path)
        overflow = page.evaluate(
            "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)  # no sideways scrolling
    page.goto(f"{base}/-/scraper/diff?from={v1}&to={v2}")
    old_box = page.locator(".scraper-old").bounding_box()
    new_box = page.locator(".scraper-new").bounding_box()
    assert old_box is not None
    assert new_box is not None
    assert new_box["y"] > old_box["y"]  # stacked: old above new
    context.close()


def test_table_pages_stay_short_with_long_articles(
    served: tuple[str, Path], browser: Browser
) -> None:
    """The long article (61 paragraphs, in text and markdown) keeps its row a few lines tall on
    the table pages; its row page shows all of it."""
    base, _db = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(BUDGET_MS)
    for table in ("snapshots", "latest_snapshots"):
        page.goto(f"{base}/archive/{table}")
        heights = page.locator("table.rows-and-columns tbody tr").evaluate_all(
            "rows => rows.map(r => r.getBoundingClientRect().height)"
        )
        assert len(heights) >= 6
        assert max(heights) < 300, (table, heights)  # a few clipped lines and a link, not pages
        row = page.locator("table.rows-and-columns tbody tr", has_text="A station of copper domes")
        row.get_by_role("link", name=re.compile(r"^all \d+ words$")).first.click()
        page.get_by_text("Paragraph 59 describes the platforms").first.wait_for(state="visible")
    context.close()
