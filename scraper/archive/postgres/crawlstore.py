"""The crawl's state on PostgreSQL: the :class:`~scraper.archive.protocols.CrawlStore` protocol.

Hosts and robots.txt cache, discovery sources, runs and their extraction health are the archive
core's (``scraper.archive.sql.crawlstate``, shared with SQLite). The frontier is this backend's
own, and so is how due pages are handed out: ``claim_due`` claims them through
:class:`SharedFrontier`, each instance one worker, so crawls that run at once against one
database, on one machine or several, never get one host or one page at the same time. It never
fetches, parses or reads the clock; each method is one transaction.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Self

from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.postgres.frontier import SharedFrontier
from scraper.archive.records import DuePage, NewPage
from scraper.archive.sql.crawlstate import CrawlStateCore, enqueue_merge
from scraper.archive.sql.dialect import POSTGRESQL, Db

if TYPE_CHECKING:
    import psycopg


class PgHostState(CrawlStateCore):
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
        #: pages this worker claimed and has not recorded yet: rescheduled only while the
        #: claim is still this worker's (see :meth:`PgCrawlState.reschedule`)
        self.claimed: set[int] = set()

    @classmethod
    def open(cls, url: str, **options: Any) -> Self:
        """On a new connection to the (migrated) archive at ``url``."""
        url = normalise_url(url)
        return cls(connect(url, autocommit=True), location=display_url(url), **options)

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def session(self) -> Iterator[Db]:
        """One write transaction on this connection."""
        with translated(self.location), self.conn.transaction():
            yield Db(self.conn, POSTGRESQL)

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """This connection to read with (autocommit: each statement on its own)."""
        with translated(self.location):
            yield Db(self.conn, POSTGRESQL)


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
                """
                + enqueue_merge(POSTGRESQL),
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
        pages = self.shared.claim(
            now=now,
            limit=limit,
            sites=[site],
            max_hosts=self.max_hosts,
            crawled_before=crawled_before,
            run_id=run_id,
        )
        self.claimed.update(page.id for page in pages)
        return pages

    def release(self, page_ids: Sequence[int]) -> None:
        """Hand this worker's claimed pages back (not attempted): due again for their host's
        holder, this run included. Another worker's claims are left alone."""
        with translated(self.location), self.conn.transaction():
            ids = list(page_ids)
            released = self.conn.execute(
                "DELETE FROM page_claims WHERE page_id = ANY(%s) AND worker_id = %s "
                "RETURNING page_id",
                (ids, self.shared.worker_id),
            ).fetchall()
            self.conn.execute(
                "UPDATE pages SET run_id = NULL WHERE id = ANY(%s)", ([r[0] for r in released],)
            )
        self.claimed.difference_update(ids)

    def reschedule(
        self,
        page_id: int,
        *,
        crawled_at: str,
        next_fetch_at: str,
        revisit_seconds: float | None,
        unchanged_count: int,
    ) -> None:
        """Record when the crawl handled a page and when it is due again, and drop its claim.

        A page this worker claimed is recorded only while its claim and its host's lease are
        still this worker's (:meth:`SharedFrontier.done`); else LeaseLostError, and nothing is
        written: inside the transaction of the page's fetch, that is rolled back too. A page
        nobody claimed (``scraper fetch``) is simply rescheduled.

        :raises LeaseLostError: another worker may have the page now.
        """
        if page_id in self.claimed:
            self.claimed.discard(page_id)
            self.shared.done(
                page_id,
                crawled_at=crawled_at,
                next_fetch_at=next_fetch_at,
                revisit_seconds=revisit_seconds,
                unchanged_count=unchanged_count,
            )
            return
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                "UPDATE pages SET crawled_at = %s, next_fetch_at = %s, revisit_seconds = %s, "
                "unchanged_count = %s WHERE id = %s",
                (crawled_at, next_fetch_at, revisit_seconds, unchanged_count, page_id),
            )
            self.conn.execute("DELETE FROM page_claims WHERE page_id = %s", (page_id,))

    # --- runs ------------------------------------------------------------------------------
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
        super().update_run(run_id, counts, ended_at=ended_at, seconds=seconds, exit_code=exit_code)
        if ended_at is not None:
            self.shared.release_hosts()


if TYPE_CHECKING:  # mypy proves here that PgCrawlState implements the protocol
    from scraper.archive.protocols import CrawlStore

    def _conforms(state: PgCrawlState) -> CrawlStore:
        return state
