"""The crawl's state on PostgreSQL: the :class:`~scraper.archive.protocols.CrawlStore` protocol.

Frontier, hosts and robots.txt cache, discovery sources, runs and their extraction health, with
the SQLite archive's meanings (``scraper.archive.sqlite.crawlstate``). The difference is how due
pages are handed out: ``claim_due`` claims them through :class:`SharedFrontier`, each instance
one worker, so crawls that run at once against one database, on one machine or several, never
get one host or one page at the same time. It never fetches, parses or reads
the clock; each method is one transaction.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.postgres.frontier import SharedFrontier
from scraper.archive.records import DuePage, HostRow, NewPage, RunRecord, SourceRow
from scraper.sitehealth import EARLIER_RUNS, ExtractionCounts

if TYPE_CHECKING:
    import psycopg

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


class PgHostState:
    """The crawl's hosts, robots.txt cache and discovery sources on PostgreSQL, on one
    connection (autocommit between calls): the base of :class:`PgCrawlState`.

    :param max_hosts: how many hosts this worker holds at a time (the rest are for others).
    :param worker_id: unique among the workers; by default host name, process id and a token.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        location: str,
        max_hosts: int = 8,
        worker_id: str | None = None,
    ) -> None:
        self.conn = conn
        self.location = location
        self.max_hosts = max_hosts
        worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.shared = SharedFrontier(conn, location=location, worker_id=worker_id)

    @classmethod
    def open(cls, url: str, **options: Any) -> Self:
        """On a new connection to the (migrated) archive at ``url``."""
        url = normalise_url(url)
        return cls(connect(url, autocommit=True), location=display_url(url), **options)

    def close(self) -> None:
        self.conn.close()

    def _one(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> Any:
        with translated(self.location):
            return self.conn.execute(sql, params).fetchone()

    # --- hosts -----------------------------------------------------------------------------
    def host(self, host: str) -> HostRow | None:
        """The persisted state of ``host`` (scheme://host[:port]), or None."""
        row = self._one(f"SELECT {_HOST_COLUMNS} FROM hosts WHERE host = %s", (host,))
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
        every worker: ``SharedFrontier.request_done`` reads it)."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                """
                INSERT INTO hosts (host, robots_txt, robots_status, robots_fetched_at,
                    robots_expires_at, crawl_delay_seconds)
                VALUES (%s, %s, %s, %s, %s, %s)
                ON CONFLICT (host) DO UPDATE SET robots_txt = EXCLUDED.robots_txt,
                    robots_status = EXCLUDED.robots_status,
                    robots_fetched_at = EXCLUDED.robots_fetched_at,
                    robots_expires_at = EXCLUDED.robots_expires_at,
                    crawl_delay_seconds = EXCLUDED.crawl_delay_seconds
                """,
                (host, body, status, fetched_at, expires_at, crawl_delay_seconds),
            )

    def host_failed(self, host: str, *, error: str) -> int:
        """Count one more consecutive failure of ``host``; return the count."""
        with translated(self.location), self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO hosts (host, failures, last_error) VALUES (%s, 1, %s) "
                "ON CONFLICT (host) DO UPDATE SET failures = hosts.failures + 1, "
                "last_error = EXCLUDED.last_error RETURNING failures",
                (host, error),
            ).fetchone()
        return int(row[0]) if row else 0

    def host_ok(self, host: str) -> None:
        """Reset a host's consecutive failures after a good answer."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                "UPDATE hosts SET failures = 0, last_error = NULL WHERE host = %s AND failures > 0",
                (host,),
            )

    def defer_host(self, host: str, *, until: str, error: str | None = None) -> None:
        """Keep every run away from ``host`` until ``until`` (Retry-After, repeated failures)."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                "INSERT INTO hosts (host, next_allowed_at, last_error) VALUES (%s, %s, %s) "
                "ON CONFLICT (host) DO UPDATE SET next_allowed_at = GREATEST("
                "COALESCE(hosts.next_allowed_at, ''), EXCLUDED.next_allowed_at), "
                "last_error = COALESCE(EXCLUDED.last_error, hosts.last_error)",
                (host, until, error),
            )

    # --- discovery sources -----------------------------------------------------------------
    def add_sources(
        self, sources: Iterable[tuple[str, str, str]], *, now: str, found_on: str | None = None
    ) -> int:
        """Register (url, site, kind) sitemaps/feeds, due at ``now`` when new; return how many."""
        rows = list(sources)
        if not rows:
            return 0
        with translated(self.location), self.conn.transaction():
            added = self.conn.execute(
                """
                INSERT INTO crawl_sources (url, site, kind, next_fetch_at, found_on)
                SELECT u, s, k, %s, %s FROM unnest(%s::text[], %s::text[], %s::text[])
                    AS t(u, s, k)
                ON CONFLICT (url) DO NOTHING RETURNING url
                """,
                (now, found_on, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]),
            ).fetchall()
        return len(added)

    def due_sources(
        self, site: str, *, now: str, checked_before: str | None = None, limit: int = 100
    ) -> list[SourceRow]:
        """Sitemaps and feeds of ``site`` due for a read (``checked_before``: ``--revisit``)."""
        with translated(self.location):
            rows = self.conn.execute(
                """
                SELECT url, site, kind, etag, last_modified, next_fetch_at FROM crawl_sources
                WHERE site = %(site)s AND (next_fetch_at <= %(now)s
                    OR (%(before)s::text IS NOT NULL AND COALESCE(fetched_at, '') < %(before)s))
                ORDER BY next_fetch_at, url LIMIT %(limit)s
                """,
                {"site": site, "now": now, "before": checked_before, "limit": limit},
            ).fetchall()
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
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                """
                UPDATE crawl_sources SET fetched_at = %s, next_fetch_at = %s, status = %s,
                    error = %s, etag = COALESCE(%s, etag),
                    last_modified = COALESCE(%s, last_modified), entries = COALESCE(%s, entries)
                WHERE url = %s
                """,
                (fetched_at, next_fetch_at, status, error, etag, last_modified, entries, url),
            )


class PgCrawlState(PgHostState):
    """The crawl's view of a PostgreSQL archive: the CrawlStore protocol.

    One instance is one worker of the shared frontier (a crawl process: its runs follow one
    another, so a later run takes up what an earlier one left); other instances, in this
    process or on other machines, are other workers. Hosts and sources: :class:`PgHostState`.
    """

    # --- frontier --------------------------------------------------------------------------
    def enqueue(self, pages: Iterable[NewPage], *, now: str) -> list[str]:
        """Add pages to the frontier, due at ``now``; return the URLs that were new.

        A known URL keeps its schedule, except that it takes the smaller depth, adopts the site
        when it had none, becomes due when it was never scheduled, and becomes due now when a
        sitemap or feed gives a ``lastmod`` newer than its last fetch (as for SQLite).
        """
        batch = {p.url: p for p in pages}
        if not batch:
            return []
        values = list(batch.values())
        with translated(self.location), self.conn.transaction():
            known = {
                row[0]
                for row in self.conn.execute(
                    "SELECT url FROM pages WHERE url = ANY(%s)", (list(batch),)
                )
            }
            self.conn.execute(
                """
                INSERT INTO pages (url, site, host, first_seen, next_fetch_at, depth, source,
                    found_on, lastmod)
                SELECT u, s, h, %(now)s, %(now)s, d, src, f, l
                FROM unnest(%(u)s::text[], %(s)s::text[], %(h)s::text[], %(d)s::int[],
                    %(src)s::text[], %(f)s::text[], %(l)s::text[]) AS t(u, s, h, d, src, f, l)
                ORDER BY u
                ON CONFLICT (url) DO UPDATE SET
                    site = COALESCE(pages.site, EXCLUDED.site),
                    host = COALESCE(pages.host, EXCLUDED.host),
                    depth = LEAST(pages.depth, EXCLUDED.depth),
                    source = COALESCE(pages.source, EXCLUDED.source),
                    next_fetch_at = CASE
                        WHEN pages.next_fetch_at IS NULL THEN EXCLUDED.next_fetch_at
                        WHEN EXCLUDED.lastmod IS NOT NULL
                            AND EXCLUDED.lastmod > COALESCE(pages.lastmod, '')
                            AND EXCLUDED.lastmod > COALESCE(pages.last_fetched, '')
                            THEN LEAST(pages.next_fetch_at, EXCLUDED.next_fetch_at)
                        ELSE pages.next_fetch_at END,
                    lastmod = CASE WHEN EXCLUDED.lastmod > COALESCE(pages.lastmod, '')
                        THEN EXCLUDED.lastmod ELSE pages.lastmod END
                """,
                {
                    "now": now,
                    "u": [p.url for p in values],
                    "s": [p.site for p in values],
                    "h": [p.host for p in values],
                    "d": [p.depth for p in values],
                    "src": [p.source for p in values],
                    "f": [p.found_on for p in values],
                    "l": [p.lastmod for p in values],
                },
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
        """Up to ``limit`` due pages of ``site``, fair across the hosts this run holds.

        The run takes leases of free hosts with due pages (``max_hosts`` at most) and claims
        their pages: another run at the same time gets other hosts, and no page twice.
        """
        return self.shared.claim(
            now=now,
            limit=limit,
            sites=[site],
            max_hosts=self.max_hosts,
            crawled_before=crawled_before,
            run_id=run_id,
        )

    def release(self, page_ids: Sequence[int]) -> None:
        """Hand claimed pages back (not attempted): due again for their host's holder."""
        with translated(self.location), self.conn.transaction():
            ids = list(page_ids)
            self.conn.execute("DELETE FROM page_claims WHERE page_id = ANY(%s)", (ids,))
            self.conn.execute("UPDATE pages SET run_id = NULL WHERE id = ANY(%s)", (ids,))

    def reschedule(
        self,
        page_id: int,
        *,
        crawled_at: str,
        next_fetch_at: str,
        revisit_seconds: float | None,
        unchanged_count: int,
    ) -> None:
        """Record when the crawl handled a page and when it is due again, and drop its claim
        (idempotent)."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                "UPDATE pages SET crawled_at = %s, next_fetch_at = %s, revisit_seconds = %s, "
                "unchanged_count = %s WHERE id = %s",
                (crawled_at, next_fetch_at, revisit_seconds, unchanged_count, page_id),
            )
            self.conn.execute("DELETE FROM page_claims WHERE page_id = %s", (page_id,))

    def last_body_sha256(self, page_id: int) -> str | None:
        """sha256 of the body of the page's last successful, non-304 fetch."""
        row = self._one(
            "SELECT raw_sha256 FROM fetches WHERE page_id = %s AND raw_sha256 IS NOT NULL "
            "AND error IS NULL ORDER BY id DESC LIMIT 1",
            (page_id,),
        )
        return row[0] if row else None

    def page_count(self, site: str) -> int:
        """How many pages of ``site`` the frontier knows."""
        return int(self._one("SELECT count(*) FROM pages WHERE site = %s", (site,))[0])

    # --- runs ------------------------------------------------------------------------------
    def start_run(self, *, started_at: str, pid: int, sites: Sequence[str]) -> int:
        """Insert the ``runs`` row of a crawl that is starting; return its id."""
        with translated(self.location), self.conn.transaction():
            row = self.conn.execute(
                "INSERT INTO runs (started_at, pid, sites) VALUES (%s, %s, %s) RETURNING id",
                (started_at, pid, json.dumps(list(sites))),
            ).fetchone()
        return int(row[0]) if row else 0

    def update_run(
        self,
        run_id: int,
        counts: Mapping[str, int],
        *,
        ended_at: str | None = None,
        seconds: float | None = None,
        exit_code: int | None = None,
    ) -> None:
        """Store a run's counts (and, at the end, its end time, duration and exit code).

        At the end (``ended_at``) the run gives up its host leases and unfinished claims too,
        so other runs need not wait for the leases to expire."""
        values = {key: int(counts.get(key, 0)) for key in _RUN_COUNTS}
        sets = ", ".join(f'"{key}" = %({key})s' for key in values)
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                f"UPDATE runs SET {sets}, ended_at = COALESCE(%(ended_at)s, ended_at), "
                "seconds = COALESCE(%(seconds)s, seconds), "
                "exit_code = COALESCE(%(exit_code)s, exit_code) WHERE id = %(id)s",
                {
                    **values,
                    "ended_at": ended_at,
                    "seconds": seconds,
                    "exit_code": exit_code,
                    "id": run_id,
                },
            )
        if ended_at is not None:
            self.shared.release_hosts()

    def run(self, run_id: int) -> RunRecord | None:
        """The run with this id, or None."""
        with translated(self.location):
            cursor = self.conn.execute("SELECT * FROM runs WHERE id = %s", (run_id,))
            row = cursor.fetchone()
            names = [d.name for d in cursor.description or ()]
        if row is None:
            return None
        fields = dict(zip(names, row, strict=True))
        fields["sites"] = tuple(json.loads(fields["sites"] or "[]"))
        return RunRecord(**fields)

    # --- extraction health -------------------------------------------------------------------
    def record_run_extraction(self, run_id: int, site: str, counts: ExtractionCounts) -> None:
        """Store (or replace) the extraction counts of ``site`` in crawl run ``run_id``."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                """
                INSERT INTO run_extraction (run_id, site, extracted, no_article, low_confidence)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (run_id, site) DO UPDATE SET extracted = EXCLUDED.extracted,
                    no_article = EXCLUDED.no_article, low_confidence = EXCLUDED.low_confidence
                """,
                (run_id, site, counts.extracted, counts.no_article, counts.low_confidence),
            )

    def earlier_extraction(self, site: str, before_run_id: int) -> ExtractionCounts:
        """The site's counts of the last runs before ``before_run_id``, added up."""
        row = self._one(
            """
            SELECT COALESCE(SUM(extracted), 0), COALESCE(SUM(no_article), 0),
                COALESCE(SUM(low_confidence), 0)
            FROM (
                SELECT extracted, no_article, low_confidence FROM run_extraction
                WHERE site = %s AND run_id < %s AND extracted > 0
                ORDER BY run_id DESC LIMIT %s
            ) AS recent
            """,
            (site, before_run_id, EARLIER_RUNS),
        )
        return ExtractionCounts(int(row[0]), int(row[1]), int(row[2]))


if TYPE_CHECKING:  # mypy proves here that PgCrawlState implements the protocol
    from scraper.archive.protocols import CrawlStore

    def _conforms(state: PgCrawlState) -> CrawlStore:
        return state
