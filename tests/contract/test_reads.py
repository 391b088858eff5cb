"""Storage contract, reading: changes, full-text search, read-only SQL, export rows, the feed."""

from __future__ import annotations

import datetime as dt

import pytest

from scraper.archive import PageChange, Storage
from scraper.errors import ArchiveError
from tests.contract.values import (
    BODY_V2,
    EDITED,
    OTHER,
    T1,
    T2,
    T3,
    URL,
    article,
    result,
)


@pytest.fixture
def filled(store: Storage) -> Storage:
    """Two pages of site news: URL in two versions (T1, T2), OTHER in one (T3)."""
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    store.save_fetch(
        URL,
        fetched_at=T2,
        result=result(BODY_V2, fetched_at=T2),
        article=article(EDITED, title="Red foxes"),
        site="news",
    )
    store.save_fetch(
        OTHER,
        fetched_at=T3,
        result=result(url=OTHER, fetched_at=T3),
        article=article(
            "Budget of the city council for the coming year", url=OTHER, title="City budget"
        ),
        site="wire",
    )
    return store


def test_changes_lists_new_versions_beside_the_one_before(filled: Storage) -> None:
    (change,) = filled.changes()
    assert isinstance(change, PageChange)
    assert (change.url, change.site, change.fetched_at, change.previous_fetched_at) == (
        URL,
        "news",
        T2,
        T1,
    )
    assert (change.title, change.previous_title, change.title_changed) == (
        "Red foxes",
        "Foxes",
        True,
    )
    assert change.words_added > 0
    assert change.cause == "fetch"
    assert filled.changes(site="wire") == []
    assert filled.changes(since=dt.datetime(2024, 5, 3, tzinfo=dt.UTC)) == []
    assert len(filled.changes(since=dt.datetime(2024, 5, 2, tzinfo=dt.UTC), limit=1)) == 1


def test_search_finds_words_of_titles_and_text(filled: Storage) -> None:
    hits = filled.search("council")
    assert [(h.url, h.site, h.latest) for h in hits] == [(OTHER, "wire", True)]
    assert "**council**" in hits[0].snippet
    assert [h.url for h in filled.search("foxes")] == [URL]  # a title word; once per page
    assert filled.search("elephant") == []
    assert filled.search("council", site="news") == []


def test_search_finds_an_older_version_that_had_the_word(filled: Storage) -> None:
    (hit,) = filled.search("brown")  # only the first version of URL says brown
    assert (hit.url, hit.latest, hit.fetched_at) == (URL, False, T1)
    assert len(filled.search("fox", all_versions=True)) == 2
    (marked,) = filled.search("council", highlight=("[", "]"))
    assert "[council]" in marked.snippet


def test_run_sql_reads_and_refuses_to_write(filled: Storage) -> None:
    out = filled.run_sql("SELECT url, site FROM pages ORDER BY url")
    assert out.columns == ("url", "site")
    assert out.rows == [(URL, "news"), (OTHER, "wire")]
    assert not out.truncated
    capped = filled.run_sql("SELECT id FROM fetches", max_rows=2)
    assert (len(capped.rows), capped.truncated) == (2, True)
    by_name = filled.run_sql("SELECT count(*) AS n FROM pages WHERE site = :site", {"site": "news"})
    assert by_name.rows == [(1,)]
    with pytest.raises(ArchiveError, match="^sql: "):
        filled.run_sql("DELETE FROM pages")
    with pytest.raises(ArchiveError, match="^sql: "):
        filled.run_sql("SELECT * FROM no_such_table")
    assert len(filled.run_sql("SELECT * FROM pages").rows) == 2


def test_the_contract_views_answer(filled: Storage) -> None:
    latest = filled.run_sql("SELECT url, title FROM latest_snapshots ORDER BY url")
    assert latest.rows == [(URL, "Red foxes"), (OTHER, "City budget")]
    changes = filled.run_sql("SELECT url FROM snapshot_changes WHERE previous_id IS NOT NULL")
    assert changes.rows == [(URL,)]


def test_snapshot_records_are_the_export_rows_oldest_first(filled: Storage) -> None:
    records = list(filled.snapshot_records())
    assert [(r["url"], r["title"], r["site"]) for r in records] == [
        (URL, "Foxes", "news"),
        (URL, "Red foxes", "news"),
        (OTHER, "City budget", "wire"),
    ]
    assert {"text", "markdown", "snapshot_id", "content_hash", "fetched_at"} <= set(records[0])
    assert [r["url"] for r in filled.snapshot_records(site="wire")] == [OTHER]
    since = dt.datetime(2024, 5, 2, tzinfo=dt.UTC)
    assert [r["fetched_at"] for r in filled.snapshot_records(since=since)] == [T2, T3]


def test_exchanges_are_the_stored_http_captures(filled: Storage) -> None:
    exchanges = list(filled.exchanges())
    assert [(e.url, e.fetched_at, e.status_code) for e in exchanges] == [
        (URL, T1, 200),
        (URL, T2, 200),
        (OTHER, T3, 200),
    ]
    first = exchanges[0]
    assert first.headers_sha256 is not None
    assert first.body_sha256 is not None
    assert filled.raw(first.headers_sha256).startswith(b"HTTP/1.1 200 OK\r\n")
    assert filled.raw(first.body_sha256).startswith(b"<html>")
    assert [e.url for e in filled.exchanges(site="wire")] == [OTHER]


def test_feed_entries_are_the_newest_versions(filled: Storage) -> None:
    entries = filled.feed_entries(None, since=None, limit=10)
    assert [(e.url, e.fetched_at) for e in entries] == [(OTHER, T3), (URL, T2), (URL, T1)]
    assert entries[1].previous_id == entries[2].snapshot_id
    assert [e.url for e in filled.feed_entries(["news"], since=T2, limit=10)] == [URL]
    assert len(filled.feed_entries(None, since=None, limit=1)) == 1


def test_schema_version_counts_the_applied_migrations(store: Storage) -> None:
    assert store.schema_version() >= 7
