"""The CrawlStore protocol on both backends: the same calls give the same answers on SQLite
and on PostgreSQL (whose claims go through the shared frontier), and the crawl's Frontier
runs on either unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from scraper.archive import open_archive
from scraper.archive.postgres.backend import migrate_archive
from scraper.archive.postgres.crawlstore import PgCrawlState
from scraper.archive.protocols import CrawlStore
from scraper.archive.records import NewPage
from scraper.config import Settings, Site
from scraper.crawl.frontier import Candidate, Frontier
from scraper.sitehealth import ExtractionCounts

T0 = "2026-03-01T12:00:00Z"
T1 = "2026-03-01T13:00:00Z"
LATER = "2026-03-02T12:00:00Z"


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, db_path: Path) -> Iterator[CrawlStore]:
    if request.param == "sqlite":
        with open_archive(db_path) as archive:
            yield archive.crawl_state()
        return
    url = request.getfixturevalue("pg_url")
    migrate_archive(url, now=T0)
    pg = PgCrawlState.open(url)
    try:
        yield pg
    finally:
        pg.close()


def _page(url: str, depth: int = 0, lastmod: str | None = None, site: str = "news") -> NewPage:
    host = url.split("/", 3)[:3]
    return NewPage(url=url, site=site, host="/".join(host), depth=depth, source="link",
                   lastmod=lastmod)  # fmt: skip


def test_enqueue_says_what_is_new_and_keeps_the_smaller_depth(state: CrawlStore) -> None:
    assert state.enqueue([_page("https://a.test/1", 2), _page("https://a.test/2", 1)], now=T0) == [
        "https://a.test/1",
        "https://a.test/2",
    ]
    assert state.enqueue([_page("https://a.test/1", 1), _page("https://a.test/3")], now=T1) == [
        "https://a.test/3"
    ]
    assert state.page_count("news") == 3
    [first, *_] = state.claim_due("news", now=T1, limit=10, run_id=1)
    assert (first.url, first.depth, first.next_fetch_at, first.fetched) == (
        "https://a.test/1",
        1,
        T0,
        False,
    )


def test_due_pages_are_claimed_once_per_run_and_released(state: CrawlStore) -> None:
    state.enqueue([_page(f"https://a.test/{n}") for n in range(3)], now=T0)
    state.enqueue([_page("https://b.test/late")], now=LATER)
    run = state.start_run(started_at=T0, pid=1, sites=["news"])
    got = state.claim_due("news", now=T1, limit=10, run_id=run)
    assert sorted(p.url for p in got) == [f"https://a.test/{n}" for n in range(3)]
    assert state.claim_due("news", now=T1, limit=10, run_id=run) == []  # not twice to one run
    state.release([got[0].id])
    assert [p.id for p in state.claim_due("news", now=T1, limit=10, run_id=run)] == [got[0].id]
    for page in got:
        state.reschedule(page.id, crawled_at=T1, next_fetch_at=LATER, revisit_seconds=3600.0,
                         unchanged_count=1)  # fmt: skip
    state.update_run(run, {"pages_fetched": 3}, ended_at=T1, exit_code=0)
    later_run = state.start_run(started_at=T1, pid=1, sites=["news"])
    assert state.claim_due("news", now=T1, limit=10, run_id=later_run) == []
    # --revisit: handled before the cut-off (or never) makes a page due again
    again = state.claim_due("news", now=T1, limit=10, run_id=later_run, crawled_before="9999")
    assert sorted(p.url for p in again) == [
        *(f"https://a.test/{n}" for n in range(3)),
        "https://b.test/late",
    ]
    again = [p for p in again if p.host == "https://a.test"]
    assert {p.revisit_seconds for p in again} == {3600.0}
    assert {p.unchanged_count for p in again} == {1}


def test_claims_are_fair_across_hosts(state: CrawlStore) -> None:
    state.enqueue([_page(f"https://a.test/{n}") for n in range(4)], now=T0)
    state.enqueue([_page(f"https://b.test/{n}") for n in range(4)], now=T0)
    got = state.claim_due("news", now=T1, limit=4, run_id=7)
    assert sorted(p.host for p in got) == ["https://a.test"] * 2 + ["https://b.test"] * 2


def test_hosts_keep_robots_failures_and_deferrals(state: CrawlStore) -> None:
    assert state.host("https://a.test") is None
    state.save_robots("https://a.test", body="User-agent: *\nCrawl-delay: 3", status=200,
                      fetched_at=T0, expires_at=LATER, crawl_delay_seconds=3.0)  # fmt: skip
    assert state.host_failed("https://a.test", error="timeout: slow") == 1
    assert state.host_failed("https://a.test", error="timeout: slower") == 2
    state.defer_host("https://a.test", until=LATER, error="429")
    state.defer_host("https://a.test", until=T1)  # an earlier deferral does not shorten it
    row = state.host("https://a.test")
    assert row is not None
    assert (row.robots_status, row.crawl_delay_seconds, row.next_allowed_at) == (200, 3.0, LATER)
    assert (row.failures, row.last_error) == (2, "429")
    state.host_ok("https://a.test")
    row = state.host("https://a.test")
    assert row is not None
    assert (row.failures, row.last_error, row.robots_txt) == (
        0,
        None,
        "User-agent: *\nCrawl-delay: 3",
    )


def test_sources_are_registered_once_and_read_when_due(state: CrawlStore) -> None:
    sources = [("https://a.test/sitemap.xml", "news", "sitemap"), ("https://a.test/f", "news",
               "feed")]  # fmt: skip
    assert state.add_sources(sources, now=T0, found_on="robots.txt") == 2
    assert state.add_sources(sources, now=T1) == 0
    due = state.due_sources("news", now=T1)
    assert [(s.url, s.kind, s.next_fetch_at) for s in due] == [
        ("https://a.test/f", "feed", T0),
        ("https://a.test/sitemap.xml", "sitemap", T0),
    ]
    state.source_read("https://a.test/f", fetched_at=T1, next_fetch_at=LATER, status=200,
                      error=None, etag='"v1"', entries=12)  # fmt: skip
    assert [s.url for s in state.due_sources("news", now=T1)] == ["https://a.test/sitemap.xml"]
    [feed] = [
        s for s in state.due_sources("news", now=T1, checked_before="9999") if s.kind == "feed"
    ]
    assert (feed.etag, feed.next_fetch_at) == ('"v1"', LATER)


def test_runs_and_their_extraction_health(state: CrawlStore) -> None:
    first = state.start_run(started_at=T0, pid=42, sites=["news", "blog"])
    state.update_run(first, {"pages_fetched": 5, "new": 2, "bytes": 1000})
    state.update_run(first, {"pages_fetched": 6, "new": 2, "bytes": 1200}, ended_at=T1,
                     seconds=3.5, exit_code=0)  # fmt: skip
    run = state.run(first)
    assert run is not None
    assert (run.started_at, run.ended_at, run.pid, run.sites) == (T0, T1, 42, ("news", "blog"))
    assert (run.pages_fetched, run.new, run.bytes, run.seconds, run.exit_code) == (
        6,
        2,
        1200,
        3.5,
        0,
    )
    assert state.run(first + 100) is None
    second = state.start_run(started_at=T1, pid=43, sites=["news"])
    assert second > first
    state.record_run_extraction(first, "news", ExtractionCounts(10, 1, 2))
    state.record_run_extraction(first, "news", ExtractionCounts(10, 2, 2))  # replaced
    assert state.earlier_extraction("news", second) == ExtractionCounts(10, 2, 2)
    assert state.earlier_extraction("news", first) == ExtractionCounts(0, 0, 0)


def test_the_crawls_frontier_runs_on_it(state: CrawlStore) -> None:
    site = Site(name="news", start_urls=("https://news.example/",), max_depth=2,
                settings=Settings())  # fmt: skip
    frontier = Frontier(state, site)  # type: ignore[arg-type]
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    new = frontier.enqueue_many(
        [Candidate("https://news.example/a?utm_source=x"), Candidate("https://news.example/b"),
         Candidate("https://elsewhere.example/c")], 1, "link", now=now,
    )  # fmt: skip
    assert new == ["https://news.example/a", "https://news.example/b"]
    due = frontier.due(10, now, run_id=1)
    assert sorted(p.url for p in due) == new


def test_two_runs_at_once_share_hosts_not_pages(pg_url: str) -> None:
    """PostgreSQL only: two crawl runs on one database get disjoint hosts (SQLite's lock
    keeps a second crawl out instead)."""
    migrate_archive(pg_url, now=T0)
    one = PgCrawlState.open(pg_url, max_hosts=1, worker_id="one")
    two = PgCrawlState.open(pg_url, max_hosts=1, worker_id="two")
    try:
        one.enqueue([_page(f"https://{h}.test/{n}") for h in "ab" for n in range(2)], now=T0)
        run1 = one.start_run(started_at=T0, pid=1, sites=["news"])
        run2 = two.start_run(started_at=T0, pid=2, sites=["news"])
        got1 = one.claim_due("news", now=T1, limit=10, run_id=run1)
        got2 = two.claim_due("news", now=T1, limit=10, run_id=run2)
        assert len(got1) == len(got2) == 2
        assert {p.host for p in got1}.isdisjoint({p.host for p in got2})
        with psycopg.connect(pg_url) as conn:
            workers = conn.execute("SELECT DISTINCT worker_id FROM page_claims").fetchall()
        assert sorted(workers) == [("one",), ("two",)]
        # a later run of the same worker takes up what an earlier one left unfinished
        run3 = one.start_run(started_at=T1, pid=1, sites=["news"])
        assert sorted(p.id for p in one.claim_due("news", now=T1, limit=10, run_id=run3)) == sorted(
            p.id for p in got1
        )
        assert two.claim_due("news", now=T1, limit=10, run_id=run2) == []
    finally:
        one.close()
        two.close()
