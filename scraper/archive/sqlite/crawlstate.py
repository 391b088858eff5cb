"""SQLite archive, the crawl's state: its schedule (:mod:`.schedule`), hosts, sources, runs.

All SQL the crawl needs beyond :meth:`Archive.save_fetch` lives here and in :mod:`.schedule`.
It never fetches, parses or reads the clock: every timestamp is passed in (UTC ISO 8601 text
from ``models.iso_utc``, which compares correctly as text). Each method is one short
transaction, so a killed crawl leaves the state as of its last finished page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from scraper.archive.records import HostRow, RunRecord, SourceRow
from scraper.archive.sql.rows import record_from_row
from scraper.archive.sqlite import runhealth
from scraper.archive.sqlite.schedule import Schedule

if TYPE_CHECKING:
    from scraper.sitehealth import ExtractionCounts

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


class CrawlState(Schedule):
    """The crawl's view of an :class:`Archive`: frontier, hosts, sources and runs."""

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
