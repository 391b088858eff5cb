"""Crawl state in the archive: the frontier (``pages`` scheduling columns), hosts, sources, runs.

All SQL the crawl needs beyond :meth:`Archive.save_fetch` lives here. It never fetches, parses
or reads the clock: every timestamp is passed in (UTC ISO 8601 text from ``models.iso_utc``,
which compares correctly as text). Each method is one short transaction, so a killed crawl
leaves the state as of its last finished page.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scraper.archive.records import DuePage, HostRow, NewPage, RunRecord, SourceRow
from scraper.archive.sqlite import runhealth
from scraper.archive.sqlite.versions import record_from_row

if TYPE_CHECKING:
    from scraper.archive.sqlite.store import Archive
    from scraper.sitehealth import ExtractionCounts

#: how many due rows the host-fair ranking looks at per claimed row
_FAIRNESS_WINDOW = 8
_RUN_COUNTS = (
    "pages_fetched",
    "new",
    "changed",
    "unchanged",
    "not_modified",
    "failed",
    "robots_blocked",
    "discovered",
    "bytes",
)


class CrawlState:
    """The crawl's view of an :class:`Archive`: frontier, hosts, sources and runs."""

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
                ON CONFLICT (url) DO UPDATE SET
                    site = COALESCE(pages.site, excluded.site),
                    host = COALESCE(pages.host, excluded.host),
                    depth = MIN(pages.depth, excluded.depth),
                    source = COALESCE(pages.source, excluded.source),
                    next_fetch_at = CASE
                        WHEN pages.next_fetch_at IS NULL THEN excluded.next_fetch_at
                        WHEN excluded.lastmod IS NOT NULL
                            AND excluded.lastmod > COALESCE(pages.lastmod, '')
                            AND excluded.lastmod > COALESCE(pages.last_fetched, '')
                            THEN MIN(pages.next_fetch_at, excluded.next_fetch_at)
                        ELSE pages.next_fetch_at END,
                    lastmod = CASE WHEN excluded.lastmod > COALESCE(pages.lastmod, '')
                        THEN excluded.lastmod ELSE pages.lastmod END
                """,
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
            cursor = conn.execute(
                """
                WITH due AS (
                    SELECT id, url, site, host, depth, next_fetch_at, lastmod, revisit_seconds,
                        unchanged_count, failures, last_fetched, etag, last_modified
                    FROM pages
                    WHERE site = :site AND host IS NOT NULL
                        AND (run_id IS NULL OR run_id != :run)
                        AND (next_fetch_at <= :now
                            OR (:before IS NOT NULL AND COALESCE(crawled_at, '') < :before))
                    ORDER BY next_fetch_at, lastmod DESC, id
                    LIMIT :window
                ), ranked AS (
                    SELECT *, ROW_NUMBER() OVER (
                        PARTITION BY host ORDER BY next_fetch_at, lastmod DESC, id) AS turn
                    FROM due
                )
                SELECT id, url, site, host, depth, next_fetch_at, lastmod, revisit_seconds,
                    unchanged_count, failures, last_fetched, etag, last_modified
                FROM ranked ORDER BY turn, next_fetch_at, lastmod DESC, id LIMIT :limit
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
        return [
            DuePage(
                id=row[0],
                url=row[1],
                site=row[2],
                host=row[3],
                depth=row[4],
                next_fetch_at=row[5],
                lastmod=row[6],
                revisit_seconds=row[7],
                unchanged_count=row[8],
                failures=row[9],
                fetched=row[10] is not None,
                etag=row[11],
                last_modified=row[12],
            )
            for row in rows
        ]

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

    def last_body_sha256(self, page_id: int) -> str | None:
        """sha256 of the body of the page's last successful, non-304 fetch."""
        rows = self._rows(
            "SELECT raw_sha256 FROM fetches WHERE page_id = ? AND raw_sha256 IS NOT NULL "
            "AND error IS NULL ORDER BY id DESC LIMIT 1",
            (page_id,),
        )
        return rows[0]["raw_sha256"] if rows else None

    def page_count(self, site: str) -> int:
        """How many pages of ``site`` the frontier knows."""
        rows = self._rows("SELECT COUNT(*) AS n FROM pages WHERE site = ?", (site,))
        return int(rows[0]["n"])

    # --- hosts -----------------------------------------------------------------------------
    def host(self, host: str) -> HostRow | None:
        """The persisted state of ``host`` (scheme://host[:port]), or None."""
        rows = self._rows(
            "SELECT host, robots_txt, robots_status, robots_fetched_at, robots_expires_at, "
            "crawl_delay_seconds, next_allowed_at, failures, last_error FROM hosts WHERE host = ?",
            (host,),
        )
        return HostRow(**rows[0]) if rows else None

    def save_robots(
        self,
        host: str,
        *,
        body: str,
        status: int | None,
        fetched_at: str,
        expires_at: str,
        crawl_delay_seconds: float | None,
    ) -> None:
        """Cache a host's robots.txt until ``expires_at``."""
        with self.archive.transaction() as conn:
            conn.execute(
                """
                INSERT INTO hosts (host, robots_txt, robots_status, robots_fetched_at,
                    robots_expires_at, crawl_delay_seconds)
                VALUES (?, ?, ?, ?, ?, ?)
                ON CONFLICT (host) DO UPDATE SET robots_txt = excluded.robots_txt,
                    robots_status = excluded.robots_status,
                    robots_fetched_at = excluded.robots_fetched_at,
                    robots_expires_at = excluded.robots_expires_at,
                    crawl_delay_seconds = excluded.crawl_delay_seconds
                """,
                (host, body, status, fetched_at, expires_at, crawl_delay_seconds),
            )

    def host_failed(self, host: str, *, error: str) -> int:
        """Count one more consecutive failure of ``host``; return the count."""
        with self.archive.transaction() as conn:
            conn.execute(
                "INSERT INTO hosts (host, failures, last_error) VALUES (?, 1, ?) "
                "ON CONFLICT (host) DO UPDATE SET failures = failures + 1, "
                "last_error = excluded.last_error",
                (host, error),
            )
            row = conn.execute("SELECT failures FROM hosts WHERE host = ?", (host,)).fetchone()
        return int(row[0])

    def host_ok(self, host: str) -> None:
        """Reset a host's consecutive failures after a good answer."""
        with self.archive.transaction() as conn:
            conn.execute(
                "UPDATE hosts SET failures = 0, last_error = NULL WHERE host = ? AND failures > 0",
                (host,),
            )

    def defer_host(self, host: str, *, until: str, error: str | None = None) -> None:
        """Keep every run away from ``host`` until ``until`` (Retry-After, repeated failures)."""
        with self.archive.transaction() as conn:
            conn.execute(
                "INSERT INTO hosts (host, next_allowed_at, last_error) VALUES (?, ?, ?) "
                "ON CONFLICT (host) DO UPDATE SET next_allowed_at = MAX("
                "COALESCE(hosts.next_allowed_at, ''), excluded.next_allowed_at), "
                "last_error = COALESCE(excluded.last_error, hosts.last_error)",
                (host, until, error),
            )

    # --- discovery sources -----------------------------------------------------------------
    def add_sources(
        self, sources: Iterable[tuple[str, str, str]], *, now: str, found_on: str | None = None
    ) -> int:
        """Register (url, site, kind) sitemaps/feeds, due at ``now`` when new; return how many."""
        rows = [(url, site, kind, now, found_on) for url, site, kind in sources]
        if not rows:
            return 0
        with self.archive.transaction() as conn:
            before = conn.total_changes
            conn.executemany(
                "INSERT OR IGNORE INTO crawl_sources (url, site, kind, next_fetch_at, found_on) "
                "VALUES (?, ?, ?, ?, ?)",
                rows,
            )
            return conn.total_changes - before

    def due_sources(
        self, site: str, *, now: str, checked_before: str | None = None, limit: int = 100
    ) -> list[SourceRow]:
        """Sitemaps and feeds of ``site`` due for a read (``checked_before``: ``--revisit``)."""
        rows = self._rows(
            """
            SELECT url, site, kind, etag, last_modified, next_fetch_at FROM crawl_sources
            WHERE site = ? AND (next_fetch_at <= ? OR (? IS NOT NULL AND
                COALESCE(fetched_at, '') < ?))
            ORDER BY next_fetch_at, url LIMIT ?
            """,
            (site, now, checked_before, checked_before, limit),
        )
        return [SourceRow(**row) for row in rows]

    def source_read(
        self,
        url: str,
        *,
        fetched_at: str,
        next_fetch_at: str,
        status: int | None,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        entries: int | None = None,
    ) -> None:
        """Record a read of a sitemap or feed and when it is due again."""
        with self.archive.transaction() as conn:
            conn.execute(
                """
                UPDATE crawl_sources SET fetched_at = ?, next_fetch_at = ?, status = ?,
                    error = ?, etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified),
                    entries = COALESCE(?, entries)
                WHERE url = ?
                """,
                (fetched_at, next_fetch_at, status, error, etag, last_modified, entries, url),
            )

    # --- runs ------------------------------------------------------------------------------
    def start_run(self, *, started_at: str, pid: int, sites: Sequence[str]) -> int:
        """Insert the ``runs`` row of a crawl that is starting; return its id."""
        with self.archive.transaction() as conn:
            cursor = conn.execute(
                "INSERT INTO runs (started_at, pid, sites) VALUES (?, ?, ?)",
                (started_at, pid, json.dumps(list(sites))),
            )
            return int(cursor.lastrowid or 0)

    def update_run(
        self,
        run_id: int,
        counts: Mapping[str, int],
        *,
        ended_at: str | None = None,
        seconds: float | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Store a run's counts (and, at the end, its end time, duration and exit code)."""
        values = {key: int(counts.get(key, 0)) for key in _RUN_COUNTS}
        sets = ", ".join(f'"{key}" = :{key}' for key in values)
        with self.archive.transaction() as conn:
            conn.execute(
                f"UPDATE runs SET {sets}, ended_at = COALESCE(:ended_at, ended_at), "
                "seconds = COALESCE(:seconds, seconds), "
                "exit_code = COALESCE(:exit_code, exit_code) WHERE id = :id",
                {
                    **values,
                    "ended_at": ended_at,
                    "seconds": seconds,
                    "exit_code": exit_code,
                    "id": run_id,
                },
            )

    def run(self, run_id: int) -> RunRecord | None:
        """The run with this id, or None."""
        rows = self._rows("SELECT * FROM runs WHERE id = ?", (run_id,))
        return record_from_row(RunRecord, rows[0]) if rows else None

    # --- extraction health -------------------------------------------------------------------
    def record_run_extraction(self, run_id: int, site: str, counts: ExtractionCounts) -> None:
        """Store (or replace) the extraction counts of ``site`` in crawl run ``run_id``."""
        runhealth.record_run_extraction(self.archive, run_id, site, counts)

    def earlier_extraction(self, site: str, before_run_id: int) -> ExtractionCounts:
        """The site's counts of the last runs before ``before_run_id``, added up."""
        return runhealth.earlier_extraction(self.archive, site, before_run_id)
