"""SQLite archive, the crawl's schedule: the frontier (``pages`` scheduling columns) and claims.

Enqueue newly found URLs, claim the pages that are due (oldest first, fair across hosts, once
per run), hand them back, reschedule them. It never fetches, parses or reads the clock: every
timestamp is passed in (UTC ISO 8601 text from ``models.iso_utc``, which compares correctly as
text). Each method is one short transaction, so a killed crawl leaves the schedule as of its
last finished page.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scraper.archive.records import DuePage, NewPage
from scraper.archive.sql.crawlstate import enqueue_merge
from scraper.archive.sql.dialect import SQLITE
from scraper.archive.sql.rows import DUE_COLUMNS, due_page

if TYPE_CHECKING:
    from scraper.archive.sqlite.store import Archive

#: how many due rows the host-fair ranking looks at per claimed row
_FAIRNESS_WINDOW = 8
#: DUE_COLUMNS of the claimed pages, ``p`` being ``pages``
_CHOSEN_COLUMNS = ", ".join(f"p.{name.strip()}" for name in DUE_COLUMNS.split(","))


class Schedule:
    """The frontier half of :class:`~scraper.archive.sqlite.crawlstate.CrawlState`."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self.archive._rows(sql, tuple(params))

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """The open transaction if there is one (no savepoint needed), else a new one."""
        conn = self.archive.db.conn
        if conn.in_transaction:
            with self.archive._errors():
                yield conn
            return
        with self.archive.transaction() as conn:
            yield conn

    # --- frontier --------------------------------------------------------------------------
    def enqueue(self, pages: Iterable[NewPage], *, now: str) -> list[str]:
        """Add pages to the frontier, due at ``now``; return the URLs that were new.

        A known URL keeps its schedule, except that it takes the smaller depth, adopts the site
        when it had none (a one-off fetch), becomes due when it was never scheduled, and becomes
        due now when a sitemap or feed gives a ``lastmod`` newer than its last fetch.
        """
        batch = {p.url: p for p in pages}
        if not batch:
            return []
        with self.archive.transaction() as conn:
            known: set[str] = set()
            urls = list(batch)
            for start in range(0, len(urls), 500):
                chunk = urls[start : start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(
                    row[0]
                    for row in conn.execute(f"SELECT url FROM pages WHERE url IN ({marks})", chunk)
                )
            conn.executemany(
                """
                INSERT INTO pages (url, site, host, first_seen, next_fetch_at, depth, source,
                    found_on, lastmod)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
                + enqueue_merge(SQLITE),
                [
                    (
                        p.url,
                        p.site,
                        p.host,
                        now,
                        now,
                        p.depth,
                        p.source,
                        p.found_on,
                        p.lastmod,
                    )
                    for p in batch.values()
                ],
            )
        return [url for url in batch if url not in known]

    def claim_due(
        self,
        site: str,
        *,
        now: str,
        limit: int,
        run_id: int,
        crawled_before: str | None = None,
    ) -> list[DuePage]:
        """Up to ``limit`` due pages of ``site``, oldest due first and fair across hosts.

        A page is due when ``next_fetch_at <= now``, or (``--revisit``) when the crawl last
        handled it before ``crawled_before``. Claimed pages are marked with ``run_id`` so the
        same run never hands them out twice; a later run sees them due again until the crawl
        reschedules them.
        """
        if limit <= 0:
            return []
        with self.archive.transaction() as conn:
            # the ranking sorts only the keys it ranks by (the window holds 8 rows a claimed
            # page); the claimed pages' columns are read once they are chosen
            cursor = conn.execute(
                f"""
                WITH due AS (
                    SELECT id, host, next_fetch_at, lastmod
                    FROM pages
                    WHERE site = :site AND host IS NOT NULL
                        AND (run_id IS NULL OR run_id != :run)
                        AND (next_fetch_at <= :now
                            OR (:before IS NOT NULL AND COALESCE(crawled_at, '') < :before))
                    ORDER BY next_fetch_at, lastmod DESC, id
                    LIMIT :window
                ), ranked AS (
                    SELECT id, next_fetch_at, lastmod, ROW_NUMBER() OVER (
                        PARTITION BY host ORDER BY next_fetch_at, lastmod DESC, id) AS turn
                    FROM due
                ), chosen AS (
                    SELECT id, turn FROM ranked
                    ORDER BY turn, next_fetch_at, lastmod DESC, id LIMIT :limit
                )
                SELECT {_CHOSEN_COLUMNS}
                FROM chosen JOIN pages p ON p.id = chosen.id
                ORDER BY chosen.turn, p.next_fetch_at, p.lastmod DESC, p.id
                """,
                {
                    "site": site,
                    "run": run_id,
                    "now": now,
                    "before": crawled_before,
                    "window": limit * _FAIRNESS_WINDOW,
                    "limit": limit,
                },
            )
            rows = cursor.fetchall()
            ids = [row[0] for row in rows]
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                conn.execute(f"UPDATE pages SET run_id = ? WHERE id IN ({marks})", [run_id, *chunk])
        return [due_page(row) for row in rows]

    def release(self, page_ids: Sequence[int]) -> None:
        """Hand claimed pages back (they were not attempted), so this run may claim them again."""
        with self.archive.transaction() as conn:
            conn.executemany(
                "UPDATE pages SET run_id = NULL WHERE id = ?", [(i,) for i in page_ids]
            )

    def reschedule(
        self,
        page_id: int,
        *,
        crawled_at: str,
        next_fetch_at: str,
        revisit_seconds: float | None,
        unchanged_count: int,
    ) -> None:
        """Record when the crawl handled a page and when it is due again (idempotent).

        Inside an open transaction (the one that saved the fetch) it joins that transaction.
        """
        with self._write() as conn:
            conn.execute(
                "UPDATE pages SET crawled_at = ?, next_fetch_at = ?, revisit_seconds = ?, "
                "unchanged_count = ? WHERE id = ?",
                (crawled_at, next_fetch_at, revisit_seconds, unchanged_count, page_id),
            )
