"""crawl.extract_page and ExtractPool: links from extraction's bounded parse, and a page's
budget that starts when a worker takes it."""

from __future__ import annotations

import asyncio
import time

from scraper.crawl import Extracted, ExtractPool, extract_page
from scraper.extract import MAX_DEPTH

#: What each slow page costs a worker: well inside its budget, but two of them are not.
SLOW_SECONDS = 3.0
BUDGET_SECONDS = 4.0
GRACE_SECONDS = 1.0


def test_links_come_from_the_bounded_tree() -> None:
    depth = 20_000  # far past MAX_DEPTH: the bound flattens what lies below it
    assert depth > MAX_DEPTH
    html = (
        '<html><body><nav><a href="/top">Top</a></nav>'
        + "<div>" * depth
        + '<a href="/deep">Deep</a>'
        + "</div>" * depth
        + "<article><p>"
        + "The harbour master said the new pier would open in spring. " * 5
        + "</p></article></body></html>"
    )
    done = extract_page(html, "http://news.example/story", (), frozenset(), 30.0)
    assert done.links.links == ("http://news.example/top",)
    assert done.article.found
    assert "harbour master" in done.article.text


def test_links_canonical_and_robots_meta_are_read_before_cleaning() -> None:
    html = (
        '<html><head><link rel="canonical" href="/c"><meta name="robots" content="nofollow">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
        '<body><header><a href="/home">Home</a></header><article><p>'
        + "A long enough paragraph about the pier and the harbour and the town. " * 3
        + "</p></article></body></html>"
    )
    done = extract_page(html, "http://news.example/a/b", (), frozenset(), 30.0)
    assert done.links.canonical == "http://news.example/c"
    assert done.links.feeds == ("http://news.example/feed.xml",)
    assert done.links.nofollow
    assert done.links.links == ()  # nofollow: none listed


def slow_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page that takes its worker SLOW_SECONDS when it asks for it (runs in the worker)."""
    if "SLOW" in html:
        time.sleep(SLOW_SECONDS)
    return extract_page(html, url, strip, boilerplate, timeout)


PAGE = (
    "<html><body><article><p>{word}: a fine page about the harbour and its pier, "
    "and the town that grew around them.</p></article></body></html>"
)


def test_time_queued_behind_another_page_does_not_count_against_the_budget() -> None:
    pool = ExtractPool(1, job=slow_page, grace_seconds=GRACE_SECONDS)

    async def run() -> list[str]:
        # the worker's start-up is paid here, with a budget far above it
        await pool.extract(
            PAGE.format(word="warm"),
            "http://x.example/0",
            strip=(),
            boilerplate=(),
            timeout_seconds=120,
        )
        pages = [
            pool.extract(
                PAGE.format(word="SLOW"),
                f"http://x.example/{n}",
                strip=(),
                boilerplate=(),
                timeout_seconds=BUDGET_SECONDS,
            )
            for n in (1, 2)
        ]
        done = await asyncio.gather(*pages)
        return [d.article.url or "" for d in done]

    # two slow pages on one worker: the second waits SLOW_SECONDS in the queue, and
    # queue + its own time exceed BUDGET_SECONDS + GRACE_SECONDS, its own time alone does not
    assert 2 * SLOW_SECONDS > BUDGET_SECONDS + GRACE_SECONDS > SLOW_SECONDS
    try:
        urls = asyncio.run(run())
    finally:
        pool.close()
    assert urls == ["http://x.example/1", "http://x.example/2"]
