"""The frontier: scope rules, deduplication, due order, host fairness and the revisit policy."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scraper.archive import Archive
from scraper.archive.sqlite.crawlstate import CrawlState
from scraper.config import Settings, Site
from scraper.crawl.frontier import Candidate, Frontier, failure_delay, next_interval

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
HOUR = 3600.0


@pytest.fixture
def state(db_path: Path) -> Iterator[CrawlState]:
    with Archive(db_path) as archive:
        yield CrawlState(archive)


def make_site(**changes: object) -> Site:
    values: dict[str, object] = {
        "name": "news",
        "start_urls": ("https://news.example/",),
        "max_depth": 2,
        "settings": Settings(),
    }
    values.update(changes)
    return Site(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://NEWS.example:443/a?utm_source=x&id=3#top", "https://news.example/a?id=3"),
        ("https://news.example/a/../b", "https://news.example/b"),
        ("https://other.example/a", None),  # another host, and no allow rule
        ("ftp://news.example/a", None),
        ("https://news.example/tag/x", None),  # deny
        ("http://127.0.0.1/admin", None),  # private address, not allowed for this site
    ],
)
def test_scope(state: CrawlState, url: str, expected: str | None) -> None:
    frontier = Frontier(state, make_site(deny=(re.compile("/tag/"),)))
    assert frontier.scope(url, depth=1) == expected


def test_allow_rules_open_other_hosts_and_seeds_skip_them(state: CrawlState) -> None:
    site = make_site(allow=(re.compile(r"^https://(news|cdn)\.example/post/"),))
    frontier = Frontier(state, site)
    assert frontier.scope("https://cdn.example/post/1", 1) == "https://cdn.example/post/1"
    assert frontier.scope("https://news.example/about", 1) is None
    assert frontier.scope("https://news.example/", 0, seed=True) == "https://news.example/"


def test_depth_limit(state: CrawlState) -> None:
    frontier = Frontier(state, make_site(max_depth=1))
    assert frontier.enqueue("https://news.example/one", 1, "link", now=T0)
    assert not frontier.enqueue("https://news.example/two", 2, "link", now=T0)


def test_enqueue_deduplicates_normalised_urls(state: CrawlState) -> None:
    frontier = Frontier(state, make_site())
    assert frontier.enqueue("https://news.example/a", 1, "link", now=T0)
    assert not frontier.enqueue("https://NEWS.example/a#comments", 1, "link", now=T0)
    assert not frontier.enqueue("https://news.example/a?utm_campaign=spring", 1, "link", now=T0)
    new = frontier.enqueue_many(
        [Candidate("https://news.example/a"), Candidate("https://news.example/b")],
        1,
        "link",
        now=T0,
    )
    assert new == ["https://news.example/b"]
    assert state.page_count("news") == 2


def test_private_addresses_need_the_site_to_opt_in(state: CrawlState) -> None:
    local = make_site(start_urls=("http://127.0.0.1:8000/",), settings=Settings(allow_private=True))
    frontier = Frontier(state, local)
    assert frontier.scope("http://127.0.0.1:8000/x", 1) == "http://127.0.0.1:8000/x"
    closed = Frontier(state, make_site(start_urls=("http://127.0.0.1:8000/",)))
    assert closed.scope("http://127.0.0.1:8000/x", 1) is None


def test_due_is_oldest_first_and_fair_across_hosts(state: CrawlState) -> None:
    site = make_site(allow=(re.compile(r"^https://(a|b)\.example/"),))
    frontier = Frontier(state, site)
    for minute, url in enumerate(
        ["https://a.example/1", "https://a.example/2", "https://a.example/3", "https://b.example/1"]
    ):
        frontier.enqueue(url, 1, "link", now=T0 + timedelta(minutes=minute))
    run = state.start_run(started_at="2026-03-01T12:00:00Z", pid=1, sites=["news"])
    first = frontier.due(2, T0 + timedelta(hours=1), run_id=run)
    assert [p.url for p in first] == ["https://a.example/1", "https://b.example/1"]
    rest = frontier.due(10, T0 + timedelta(hours=1), run_id=run)
    assert [p.url for p in rest] == ["https://a.example/2", "https://a.example/3"]
    assert frontier.due(10, T0 + timedelta(hours=1), run_id=run) == []


def test_nothing_is_due_before_its_time(state: CrawlState) -> None:
    frontier = Frontier(state, make_site())
    frontier.enqueue("https://news.example/later", 1, "link", now=T0)
    run = state.start_run(started_at="2026-03-01T11:00:00Z", pid=1, sites=["news"])
    assert frontier.due(10, T0 - timedelta(minutes=1), run_id=run) == []
    assert len(frontier.due(10, T0, run_id=run)) == 1


def test_revisit_override_makes_crawled_pages_due(state: CrawlState) -> None:
    frontier = Frontier(state, make_site())
    frontier.enqueue("https://news.example/a", 1, "link", now=T0)
    run1 = state.start_run(started_at="2026-03-01T12:00:00Z", pid=1, sites=["news"])
    (page,) = frontier.due(10, T0, run_id=run1)
    state.reschedule(
        page.id,
        crawled_at="2026-03-01T12:00:00Z",
        next_fetch_at="2026-03-01T18:00:00Z",
        revisit_seconds=6 * HOUR,
        unchanged_count=0,
    )
    run2 = state.start_run(started_at="2026-03-01T13:00:00Z", pid=1, sites=["news"])
    later = T0 + timedelta(hours=1)
    assert frontier.due(10, later, run_id=run2) == []
    assert frontier.due(10, later, run_id=run2, revisit_override=2 * HOUR) == []
    assert len(frontier.due(10, later, run_id=run2, revisit_override=30 * 60)) == 1
    run3 = state.start_run(started_at="2026-03-01T13:00:00Z", pid=1, sites=["news"])
    assert len(frontier.due(10, later, run_id=run3, revisit_override=0)) == 1


def test_newer_sitemap_lastmod_makes_a_known_page_due(state: CrawlState) -> None:
    frontier = Frontier(state, make_site())
    frontier.enqueue("https://news.example/a", 0, "sitemap", now=T0, lastmod="2026-03-01T00:00:00Z")
    run = state.start_run(started_at="2026-03-01T12:00:00Z", pid=1, sites=["news"])
    (page,) = frontier.due(10, T0, run_id=run)
    state.reschedule(
        page.id,
        crawled_at="2026-03-01T12:00:00Z",
        next_fetch_at="2026-03-02T12:00:00Z",
        revisit_seconds=24 * HOUR,
        unchanged_count=0,
    )
    state.archive.db.execute("UPDATE pages SET last_fetched = '2026-03-01T12:00:00Z'")
    later = T0 + timedelta(hours=2)
    run2 = state.start_run(started_at="2026-03-01T14:00:00Z", pid=1, sites=["news"])
    frontier.enqueue(
        "https://news.example/a", 0, "sitemap", now=later, lastmod="2026-03-01T11:00:00Z"
    )
    assert frontier.due(10, later, run_id=run2) == []  # lastmod older than the last fetch
    frontier.enqueue(
        "https://news.example/a", 0, "sitemap", now=later, lastmod="2026-03-01T13:00:00Z"
    )
    assert [p.url for p in frontier.due(10, later, run_id=run2)] == ["https://news.example/a"]


def test_adaptive_interval() -> None:
    settings = Settings(revisit=6 * HOUR, revisit_min=1 * HOUR, revisit_max=24 * HOUR)
    assert next_interval(None, "new", settings) == 6 * HOUR
    assert next_interval(6 * HOUR, "unchanged", settings) == 9 * HOUR
    assert next_interval(6 * HOUR, "not_modified", settings) == 9 * HOUR
    assert next_interval(20 * HOUR, "unchanged", settings) == 24 * HOUR  # the cap
    assert next_interval(6 * HOUR, "changed", settings) == 3 * HOUR
    assert next_interval(1.5 * HOUR, "changed", settings) == 1 * HOUR  # the floor


def test_failures_back_off() -> None:
    settings = Settings(revisit_min=1 * HOUR, revisit_max=24 * HOUR)
    assert failure_delay(1, settings) == 1 * HOUR
    assert failure_delay(2, settings) == 2 * HOUR
    assert failure_delay(3, settings) == 4 * HOUR
    assert failure_delay(30, settings) == 24 * HOUR
