"""Storage contract, the crawl's state: frontier, claims, schedule, hosts, robots, sources, runs."""

from __future__ import annotations

import pytest

from scraper.archive import CrawlStore, DuePage, NewPage, RunRecord, Storage
from scraper.sitehealth import ExtractionCounts
from tests.contract.values import T1, T2, T3, article, result

HOST = "https://news.example"
OTHER_HOST = "https://wire.example"


def page(path: str, *, host: str = HOST, depth: int = 0, lastmod: str | None = None) -> NewPage:
    return NewPage(
        url=f"{host}{path}", site="news", host=host, depth=depth, source="link", lastmod=lastmod
    )


@pytest.fixture
def state(store: Storage) -> CrawlStore:
    return store.crawl_state()


def test_enqueue_returns_only_the_new_urls(state: CrawlStore) -> None:
    assert state.enqueue([page("/a"), page("/b")], now=T1) == [f"{HOST}/a", f"{HOST}/b"]
    assert state.enqueue([page("/b"), page("/c")], now=T1) == [f"{HOST}/c"]
    assert state.enqueue([], now=T1) == []
    assert state.page_count("news") == 3
    assert state.page_count("other") == 0


def test_claim_due_hands_out_due_pages_once_per_run(state: CrawlStore) -> None:
    state.enqueue([page("/a"), page("/b", depth=1)], now=T1)
    claimed = state.claim_due("news", now=T2, limit=10, run_id=1)
    assert all(isinstance(p, DuePage) for p in claimed)
    assert sorted((p.url, p.depth, p.fetched) for p in claimed) == [
        (f"{HOST}/a", 0, False),
        (f"{HOST}/b", 1, False),
    ]
    assert state.claim_due("news", now=T2, limit=10, run_id=1) == []  # the same run: no twice
    assert len(state.claim_due("news", now=T2, limit=10, run_id=2)) == 2  # a later run: due
    assert state.claim_due("other", now=T2, limit=10, run_id=3) == []
    assert state.claim_due("news", now=T2, limit=0, run_id=4) == []


def test_nothing_is_due_before_its_time(state: CrawlStore) -> None:
    state.enqueue([page("/a")], now=T2)
    assert state.claim_due("news", now=T1, limit=10, run_id=1) == []
    assert len(state.claim_due("news", now=T2, limit=10, run_id=1)) == 1


def test_released_pages_may_be_claimed_again_by_the_same_run(state: CrawlStore) -> None:
    state.enqueue([page("/a")], now=T1)
    (due,) = state.claim_due("news", now=T1, limit=10, run_id=1)
    state.release([due.id])
    assert [p.id for p in state.claim_due("news", now=T1, limit=10, run_id=1)] == [due.id]


def test_claims_are_fair_across_hosts(state: CrawlStore) -> None:
    state.enqueue([page(f"/{n}") for n in range(6)], now=T1)
    state.enqueue([page("/x", host=OTHER_HOST)], now=T2)  # due later than all of HOST's
    claimed = state.claim_due("news", now=T3, limit=2, run_id=1)
    assert {p.host for p in claimed} == {HOST, OTHER_HOST}


def test_reschedule_moves_the_due_time_and_keeps_the_revisit_state(state: CrawlStore) -> None:
    state.enqueue([page("/a")], now=T1)
    (due,) = state.claim_due("news", now=T1, limit=1, run_id=1)
    state.reschedule(
        due.id, crawled_at=T1, next_fetch_at=T3, revisit_seconds=3600.0, unchanged_count=2
    )
    assert state.claim_due("news", now=T2, limit=1, run_id=2) == []
    (again,) = state.claim_due("news", now=T3, limit=1, run_id=3)
    assert (again.revisit_seconds, again.unchanged_count, again.next_fetch_at) == (3600.0, 2, T3)
    # --revisit: crawled before the given moment counts as due whatever next_fetch_at says
    state.reschedule(
        due.id, crawled_at=T1, next_fetch_at=T3, revisit_seconds=3600.0, unchanged_count=2
    )
    assert len(state.claim_due("news", now=T1, limit=1, run_id=4, crawled_before=T2)) == 1


def test_a_newer_lastmod_makes_a_known_page_due_now(state: CrawlStore, store: Storage) -> None:
    state.enqueue([page("/a")], now=T1)
    (due,) = state.claim_due("news", now=T1, limit=1, run_id=1)
    store.save_fetch(
        due.url, fetched_at=T1, result=result(url=due.url), article=article(), site="news"
    )
    state.reschedule(
        due.id, crawled_at=T1, next_fetch_at=T3, revisit_seconds=None, unchanged_count=0
    )
    state.enqueue([page("/a", lastmod="2024-05-01T12:00:00+00:00")], now=T2)
    (now_due,) = state.claim_due("news", now=T2, limit=1, run_id=2)
    assert (now_due.url, now_due.fetched, now_due.etag) == (due.url, True, '"v1"')
    assert state.last_body_sha256(due.id) == store.fetches(due.url)[0].raw_sha256


def test_host_state_failures_backoff_and_robots(state: CrawlStore) -> None:
    assert state.host(HOST) is None
    assert state.host_failed(HOST, error="timeout: read") == 1
    assert state.host_failed(HOST, error="timeout: again") == 2
    row = state.host(HOST)
    assert row is not None
    assert (row.failures, row.last_error) == (2, "timeout: again")
    state.host_ok(HOST)
    row = state.host(HOST)
    assert row is not None
    assert (row.failures, row.last_error) == (0, None)
    state.defer_host(HOST, until=T3, error="429: Retry-After")
    state.defer_host(HOST, until=T2)  # an earlier time never shortens a deferral
    row = state.host(HOST)
    assert row is not None
    assert (row.next_allowed_at, row.last_error) == (T3, "429: Retry-After")
    state.save_robots(
        HOST,
        body="User-agent: *\nDisallow: /private\n",
        status=200,
        fetched_at=T1,
        expires_at=T2,
        crawl_delay_seconds=2.5,
    )
    row = state.host(HOST)
    assert row is not None
    assert (row.robots_txt, row.robots_status) == ("User-agent: *\nDisallow: /private\n", 200)
    assert (row.robots_fetched_at, row.robots_expires_at, row.crawl_delay_seconds) == (T1, T2, 2.5)
    assert row.next_allowed_at == T3  # the robots cache leaves the backoff alone


def test_sources_are_registered_once_and_rescheduled_after_a_read(state: CrawlStore) -> None:
    sitemap, feed = f"{HOST}/sitemap.xml", f"{HOST}/feed.xml"
    assert state.add_sources([(sitemap, "news", "sitemap"), (feed, "news", "feed")], now=T1) == 2
    assert state.add_sources([(sitemap, "news", "sitemap")], now=T2) == 0
    due = state.due_sources("news", now=T1)
    assert sorted((s.url, s.kind) for s in due) == [(feed, "feed"), (sitemap, "sitemap")]
    state.source_read(
        sitemap, fetched_at=T1, next_fetch_at=T3, status=200, error=None, etag='"s1"', entries=5
    )
    assert [s.url for s in state.due_sources("news", now=T2)] == [feed]
    (again,) = state.due_sources("news", now=T3, limit=1)
    assert again.url in (feed, sitemap)
    read = [s for s in state.due_sources("news", now=T3) if s.url == sitemap]
    assert read
    assert (read[0].etag, read[0].next_fetch_at) == ('"s1"', T3)
    assert {s.url for s in state.due_sources("news", now=T2, checked_before=T2)} == {sitemap, feed}


def test_runs_are_recorded_with_their_counts(state: CrawlStore) -> None:
    run_id = state.start_run(started_at=T1, pid=4242, sites=["news", "wire"])
    run = state.run(run_id)
    assert isinstance(run, RunRecord)
    assert (run.started_at, run.pid, run.sites, run.ended_at) == (T1, 4242, ("news", "wire"), None)
    state.update_run(run_id, {"pages_fetched": 3, "new": 2, "failed": 1})
    state.update_run(
        run_id, {"pages_fetched": 5, "new": 2, "failed": 1}, ended_at=T2, seconds=1.5, exit_code=0
    )
    run = state.run(run_id)
    assert run is not None
    assert (run.pages_fetched, run.new, run.failed, run.changed) == (5, 2, 1, 0)
    assert (run.ended_at, run.seconds, run.exit_code) == (T2, 1.5, 0)
    assert state.run(run_id + 100) is None
    assert state.start_run(started_at=T2, pid=1, sites=[]) > run_id


def test_extraction_health_adds_up_the_earlier_runs(state: CrawlStore) -> None:
    runs = [state.start_run(started_at=T1, pid=1, sites=["news"]) for _ in range(3)]
    state.record_run_extraction(runs[0], "news", ExtractionCounts(10, 1, 2))
    state.record_run_extraction(runs[1], "news", ExtractionCounts(20, 0, 1))
    state.record_run_extraction(runs[1], "wire", ExtractionCounts(7, 7, 7))
    assert state.earlier_extraction("news", runs[2]) == ExtractionCounts(30, 1, 3)
    assert state.earlier_extraction("news", runs[1]) == ExtractionCounts(10, 1, 2)
    assert state.earlier_extraction("news", runs[0]) == ExtractionCounts(0, 0, 0)
