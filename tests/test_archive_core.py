"""The archive core (scraper.archive.sql): one copy of the logic for both backends.

A fix to the write path, the reads, the queue or the crawl's hosts and runs must reach SQLite
and PostgreSQL alike: both backends' classes run the same functions, and the dialect turns the
one SQL text into each backend's.
"""

from __future__ import annotations

import pytest

from scraper.archive.postgres.crawlstore import PgCrawlState
from scraper.archive.postgres.store import PgArchive
from scraper.archive.sql.dialect import POSTGRESQL, SQLITE
from scraper.archive.sqlite.crawlstate import CrawlState
from scraper.archive.sqlite.store import Archive

SHARED_STORE = [
    "save_fetch",
    "save_reextracted",
    "set_boilerplate",
    "known",
    "page",
    "snapshots",
    "snapshot",
    "fetches",
    "raw",
    "latest_captures",
    "changes",
    "snapshot_records",
    "exchanges",
    "feed_entries",
    "queue_notifications",
    "unsent",
    "gone_pages",
    "edits_since",
]
SHARED_STATE = [
    "host",
    "save_robots",
    "host_failed",
    "defer_host",
    "add_sources",
    "due_sources",
    "source_read",
    "start_run",
    "run",
    "record_run_extraction",
    "earlier_extraction",
    "last_body_sha256",
    "page_count",
]


@pytest.mark.parametrize("name", SHARED_STORE)
def test_both_archives_run_one_copy(name: str) -> None:
    assert getattr(Archive, name) is getattr(PgArchive, name)


@pytest.mark.parametrize("name", SHARED_STATE)
def test_both_crawl_states_run_one_copy(name: str) -> None:
    assert getattr(CrawlState, name) is getattr(PgCrawlState, name)


def test_postgresql_placeholders_and_literal_percent() -> None:
    sql = "SELECT 1 FROM f WHERE error LIKE 'suspect:%' AND id = ? AND page_id = ?"
    assert POSTGRESQL.sql(sql) == (
        "SELECT 1 FROM f WHERE error LIKE 'suspect:%%' AND id = %s AND page_id = %s"
    )
    assert SQLITE.sql(sql) == sql


def test_upsert_keeps_every_key_column_out_of_the_update() -> None:
    upsert = POSTGRESQL.upsert("run_extraction", ("run_id", "site", "extracted"), "run_id, site")
    update = "ON CONFLICT (run_id, site) DO UPDATE SET extracted = EXCLUDED.extracted"
    assert upsert.endswith(update)
    assert SQLITE.upsert("t", ("a", "b"), "a") == "INSERT OR REPLACE INTO t (a, b) VALUES (?, ?)"
