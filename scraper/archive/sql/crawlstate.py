"""Archive core, the crawl's state: hosts and robots.txt cache, discovery sources, runs and
their extraction health, once for both backends.

The frontier (enqueue, claims) is each backend's own: SQLite's host-fair claims of one writer,
PostgreSQL's host leases shared by many. Both inherit :class:`CrawlStateCore`; each gives it
``session`` (a write transaction as a :class:`~.dialect.Db`) and ``reading``. It never fetches,
parses or reads the clock: every timestamp is passed in (UTC ISO 8601 text, which compares
correctly as text). Each method is one short transaction.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager

from scraper.archive.records import HostRow, RunRecord, SourceRow
from scraper.archive.sql.dialect import Db, Dialect
from scraper.archive.sql.rows import record_from_row
from scraper.sitehealth import EARLIER_RUNS, ExtractionCounts

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
_HOST_COLUMNS = (
    "host, robots_txt, robots_status, robots_fetched_at, robots_expires_at, "
    "crawl_delay_seconds, next_allowed_at, failures, last_error"
)
_EXTRACTION_COLUMNS = ("run_id", "site", "extracted", "no_article", "low_confidence")


class CrawlStateCore:
    """Hosts, sources and runs of the crawl, on whichever backend gives ``session``."""

    def session(self) -> AbstractContextManager[Db]:
        """One write transaction of the backend."""
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[Db]:
        """A :class:`Db` to read with (errors translated to ArchiveError)."""
        raise NotImplementedError

    # --- hosts -----------------------------------------------------------------------------
    def host(self, host: str) -> HostRow | None:
        """The persisted state of ``host`` (scheme://host[:port]), or None."""
        with self.reading() as db:
            row = db.one(f"SELECT {_HOST_COLUMNS} FROM hosts WHERE host = ?", (host,))
        return HostRow(*row) if row else None

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
        """Cache a host's robots.txt until ``expires_at`` (its Crawl-delay then holds for
        every run that reads it)."""
        with self.session() as db:
            db.run(
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
        with self.session() as db:
            db.run(
                "INSERT INTO hosts (host, failures, last_error) VALUES (?, 1, ?) "
                "ON CONFLICT (host) DO UPDATE SET failures = hosts.failures + 1, "
                "last_error = excluded.last_error",
                (host, error),
            )
            row = db.one("SELECT failures FROM hosts WHERE host = ?", (host,))
        return int(row[0]) if row else 0

    def host_ok(self, host: str) -> None:
        """Reset a host's consecutive failures after a good answer."""
        with self.session() as db:
            db.run(
                "UPDATE hosts SET failures = 0, last_error = NULL WHERE host = ? AND failures > 0",
                (host,),
            )

    def defer_host(self, host: str, *, until: str, error: str | None = None) -> None:
        """Keep every run away from ``host`` until ``until`` (Retry-After, repeated failures)."""
        with self.session() as db:
            db.run(
                "INSERT INTO hosts (host, next_allowed_at, last_error) VALUES (?, ?, ?) "
                f"ON CONFLICT (host) DO UPDATE SET next_allowed_at = {db.dialect.greatest}("
                "COALESCE(hosts.next_allowed_at, ''), excluded.next_allowed_at), "
                "last_error = COALESCE(excluded.last_error, hosts.last_error)",
                (host, until, error),
            )

    # --- pages ---------------------------------------------------------------------------
    def last_body_sha256(self, page_id: int) -> str | None:
        """sha256 of the body of the page's last successful, non-304 fetch."""
        with self.reading() as db:
            row = db.one(
                "SELECT raw_sha256 FROM fetches WHERE page_id = ? AND raw_sha256 IS NOT NULL "
                "AND error IS NULL ORDER BY id DESC LIMIT 1",
                (page_id,),
            )
        return row[0] if row else None

    def page_count(self, site: str) -> int:
        """How many pages of ``site`` the frontier knows."""
        with self.reading() as db:
            row = db.one("SELECT COUNT(*) FROM pages WHERE site = ?", (site,))
        return int(row[0]) if row else 0

    # --- discovery sources -----------------------------------------------------------------
    def add_sources(
        self, sources: Iterable[tuple[str, str, str]], *, now: str, found_on: str | None = None
    ) -> int:
        """Register (url, site, kind) sitemaps/feeds, due at ``now`` when new; return how many."""
        rows = [(url, site, kind, now, found_on) for url, site, kind in sources]
        if not rows:
            return 0
        added = 0
        with self.session() as db:
            insert = db.dialect.insert_ignore(
                "crawl_sources", ("url", "site", "kind", "next_fetch_at", "found_on"), "url"
            )
            for row in rows:
                added += db.run(insert, row)
        return added

    def due_sources(
        self, site: str, *, now: str, checked_before: str | None = None, limit: int = 100
    ) -> list[SourceRow]:
        """Sitemaps and feeds of ``site`` due for a read (``checked_before``: ``--revisit``)."""
        where = "next_fetch_at <= ?"
        params: list[object] = [site, now]
        if checked_before is not None:
            where = "(next_fetch_at <= ? OR COALESCE(fetched_at, '') < ?)"
            params.append(checked_before)
        params.append(limit)
        with self.reading() as db:
            rows = db.all(
                "SELECT url, site, kind, etag, last_modified, next_fetch_at FROM crawl_sources "
                f"WHERE site = ? AND {where} ORDER BY next_fetch_at, url LIMIT ?",
                params,
            )
        return [SourceRow(*row) for row in rows]

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
        with self.session() as db:
            db.run(
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
        with self.session() as db:
            return db.insert(
                "INSERT INTO runs (started_at, pid, sites) VALUES (?, ?, ?)",
                (started_at, pid, json.dumps(list(sites))),
            )

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
        values = [int(counts.get(key, 0)) for key in _RUN_COUNTS]
        sets = ", ".join(f'"{key}" = ?' for key in _RUN_COUNTS)
        with self.session() as db:
            db.run(
                f"UPDATE runs SET {sets}, ended_at = COALESCE(?, ended_at), "
                "seconds = COALESCE(?, seconds), exit_code = COALESCE(?, exit_code) WHERE id = ?",
                (*values, ended_at, seconds, exit_code, run_id),
            )

    def run(self, run_id: int) -> RunRecord | None:
        """The run with this id, or None."""
        with self.reading() as db:
            rows = db.mappings("SELECT * FROM runs WHERE id = ?", (run_id,))
        return record_from_row(RunRecord, rows[0]) if rows else None

    # --- extraction health -------------------------------------------------------------------
    def record_run_extraction(self, run_id: int, site: str, counts: ExtractionCounts) -> None:
        """Store (or replace) the extraction counts of ``site`` in crawl run ``run_id``."""
        with self.session() as db:
            db.run(
                db.dialect.upsert("run_extraction", _EXTRACTION_COLUMNS, "run_id, site"),
                (run_id, site, counts.extracted, counts.no_article, counts.low_confidence),
            )

    def earlier_extraction(
        self, site: str, before_run_id: int, *, runs: int = EARLIER_RUNS
    ) -> ExtractionCounts:
        """The counts of the last ``runs`` runs before ``before_run_id`` that extracted pages of
        ``site``, added up (zeros when there are none)."""
        with self.reading() as db:
            row = db.one(
                """
                SELECT COALESCE(SUM(extracted), 0), COALESCE(SUM(no_article), 0),
                    COALESCE(SUM(low_confidence), 0)
                FROM (
                    SELECT extracted, no_article, low_confidence FROM run_extraction
                    WHERE site = ? AND run_id < ? AND extracted > 0
                    ORDER BY run_id DESC LIMIT ?
                ) AS recent
                """,
                (site, before_run_id, runs),
            )
        assert row is not None  # an aggregate has one row
        return ExtractionCounts(int(row[0]), int(row[1]), int(row[2]))


def enqueue_merge(dialect: Dialect) -> str:
    """The ``ON CONFLICT`` clause of ``enqueue``, the one rule of both backends for a URL that
    is known already: it keeps its schedule, except that it takes the smaller depth, adopts the
    site, host and source when it had none, becomes due when it was never scheduled, and becomes
    due sooner when a sitemap or feed gives a ``lastmod`` newer than its last fetch."""
    least = dialect.least
    return f"""
                ON CONFLICT (url) DO UPDATE SET
                    site = COALESCE(pages.site, EXCLUDED.site),
                    host = COALESCE(pages.host, EXCLUDED.host),
                    depth = {least}(pages.depth, EXCLUDED.depth),
                    source = COALESCE(pages.source, EXCLUDED.source),
                    next_fetch_at = CASE
                        WHEN pages.next_fetch_at IS NULL THEN EXCLUDED.next_fetch_at
                        WHEN EXCLUDED.lastmod IS NOT NULL
                            AND EXCLUDED.lastmod > COALESCE(pages.lastmod, '')
                            AND EXCLUDED.lastmod > COALESCE(pages.last_fetched, '')
                            THEN {least}(pages.next_fetch_at, EXCLUDED.next_fetch_at)
                        ELSE pages.next_fetch_at END,
                    lastmod = CASE WHEN EXCLUDED.lastmod > COALESCE(pages.lastmod, '')
                        THEN EXCLUDED.lastmod ELSE pages.lastmod END
                """
