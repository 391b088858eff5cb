"""One frontier for many crawl workers: due pages claimed under per-host leases, on PostgreSQL.

A worker (a ``scraper crawl`` process on any machine) fetches from a host only while it holds
that host's lease (``host_leases``): leases are taken with ``SELECT ... FOR UPDATE SKIP LOCKED``
so two workers never take one host, and renewed by every request the holder makes. A worker
claims due pages (``page_claims``) only of hosts it holds, so no page is handed out twice for
one due time; a claim lives as long as the lease it was taken under, so when a worker dies
(SIGKILL, lost connection) its leases expire after ``lease_seconds`` and its pages are due
again for the others. Nothing is half-written: each call is one transaction.

Politeness across workers: every host's ``next_request_at`` (the time of its last request plus
the host's delay, Crawl-delay or Retry-After) is stored, and a new lease holder waits for it.
Lease and request times are the database's clock (``clock_timestamp()``), the one clock all
machines share; page due times stay the archive's ISO text, passed in as everywhere else.

This module never fetches and never sleeps: it tells the worker how long to wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scraper.archive.postgres.connect import translated
from scraper.archive.postgres.leases import (
    DEFAULT_LEASE_MARGIN_SECONDS,
    DEFAULT_LEASE_SECONDS,
    HostSlots,
    LeaseLostError,
    Slot,
)
from scraper.archive.records import DuePage, NewPage
from scraper.archive.sql.rows import DUE_COLUMNS, due_page

__all__ = [
    "DEFAULT_LEASE_MARGIN_SECONDS",
    "DEFAULT_LEASE_SECONDS",
    "HostSlots",
    "LeaseLostError",
    "SharedFrontier",
    "Slot",
]

#: a page is due at ``now``, or (``--revisit``) when last handled before ``before``; never
#: twice to one run (``run``: a crawl run's id, which ``pages.run_id`` records as for SQLite)
_DUE = (
    "(next_fetch_at <= %(now)s"
    " OR (%(before)s::text IS NOT NULL AND COALESCE(crawled_at, '') < %(before)s))"
    " AND (%(run)s::bigint IS NULL OR run_id IS DISTINCT FROM %(run)s::bigint)"
)
_DUE_P = (
    _DUE.replace("next_fetch_at", "p.next_fetch_at")
    .replace("crawled_at", "p.crawled_at")
    .replace(" run_id", " p.run_id")
)
_DUE_COLUMNS = ", ".join(f"p.{name.strip()}" for name in DUE_COLUMNS.split(","))


class SharedFrontier(HostSlots):
    """The frontier as one worker of many sees it, on one connection of its own: the pages
    it claims under the host leases of :class:`HostSlots`."""

    @classmethod
    def open(cls, url: str, *, worker_id: str, **options: float) -> SharedFrontier:
        """A frontier on a new connection of its own to the archive at ``url`` (migrated)."""
        from scraper.archive.postgres.connect import connect, display_url

        return cls(connect(url, autocommit=True), location=display_url(url), worker_id=worker_id,
                   **options)  # fmt: skip

    def close(self) -> None:
        """Close the connection (a worker's leases then expire; release_hosts() frees them
        at once)."""
        self.conn.close()

    def __enter__(self) -> SharedFrontier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def enqueue(self, pages: Iterable[NewPage], *, now: str) -> list[str]:
        """Add pages, due at ``now``; return the URLs that were new (known ones keep theirs)."""
        batch = {p.url: p for p in pages}
        if not batch:
            return []
        with translated(self.location), self.conn.transaction():
            rows = self.conn.execute(
                """
                INSERT INTO pages (url, site, host, first_seen, next_fetch_at, depth, source,
                    found_on, lastmod)
                SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[],
                    %s::int[], %s::text[], %s::text[], %s::text[])
                ON CONFLICT (url) DO NOTHING
                RETURNING url
                """,
                [
                    [p.url for p in batch.values()],
                    [p.site for p in batch.values()],
                    [p.host for p in batch.values()],
                    [now] * len(batch),
                    [now] * len(batch),
                    [p.depth for p in batch.values()],
                    [p.source for p in batch.values()],
                    [p.found_on for p in batch.values()],
                    [p.lastmod for p in batch.values()],
                ],
            ).fetchall()
        new = {row[0] for row in rows}
        return [url for url in batch if url in new]

    def claim(
        self,
        *,
        now: str,
        limit: int,
        sites: Sequence[str] | None = None,
        max_hosts: int = 8,
        crawled_before: str | None = None,
        run_id: int | None = None,
    ) -> list[DuePage]:
        """Up to ``limit`` due pages (``next_fetch_at <= now``, or with ``crawled_before``
        (``--revisit``) last handled before it), from hosts this worker holds. With
        ``run_id`` (a crawl run of this worker), pages claimed by that run before are left
        out, pages this worker claimed in an earlier run (which ended or died) are due
        again, and the claimed ones are marked with the run.

        First it takes leases of up to ``max_hosts`` hosts in all (keeping those it has) among
        the hosts with due pages that no live lease holds and no deferral keeps away for longer
        than the lease margin, skipping rows another worker has locked; then it claims due
        pages of its hosts that no live claim holds, oldest due first and fair across its
        hosts. One transaction.
        """
        if limit <= 0:
            return []
        site_list = list(sites) if sites is not None else None
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                f"""
                INSERT INTO host_leases (host)
                SELECT DISTINCT host FROM pages
                WHERE host IS NOT NULL AND {_DUE}
                    AND (%(sites)s::text[] IS NULL OR site = ANY(%(sites)s::text[]))
                ON CONFLICT (host) DO NOTHING
                """,
                {"now": now, "sites": site_list, "before": crawled_before, "run": run_id},
            )
            # hosts this worker is done with (nothing due, nothing claimed) go back to all
            self.conn.execute(
                f"""
                UPDATE host_leases l SET worker_id = NULL, lease_until = NULL
                WHERE l.worker_id = %(me)s
                    AND NOT EXISTS (
                        SELECT 1 FROM pages p WHERE p.host = l.host
                            AND {_DUE_P}
                            AND (%(sites)s::text[] IS NULL OR p.site = ANY(%(sites)s::text[])))
                    AND NOT EXISTS (
                        SELECT 1 FROM page_claims c JOIN pages p ON p.id = c.page_id
                        WHERE p.host = l.host AND c.worker_id = %(me)s)
                """,
                {
                    "me": self.worker_id,
                    "now": now,
                    "sites": site_list,
                    "before": crawled_before,
                    "run": run_id,
                },
            )
            held = self.conn.execute(
                "SELECT count(*) FROM host_leases WHERE worker_id = %s "
                "AND lease_until > clock_timestamp()",
                (self.worker_id,),
            ).fetchone()
            room = max(0, max_hosts - int(held[0] if held else 0))
            if room:
                self.conn.execute(
                    f"""
                    WITH free AS (
                        SELECT l.host FROM host_leases l
                        WHERE (l.worker_id IS NULL OR l.lease_until <= clock_timestamp())
                            -- a host deferred (Retry-After, backoff) is left until it is ready
                            AND COALESCE(l.next_request_at, '-infinity') <= clock_timestamp()
                                + make_interval(secs => %(margin)s)
                            AND NOT EXISTS (
                                SELECT 1 FROM hosts h WHERE h.host = l.host
                                    AND h.next_allowed_at::timestamptz > clock_timestamp()
                                        + make_interval(secs => %(margin)s))
                            AND EXISTS (
                                SELECT 1 FROM pages p
                                WHERE p.host = l.host AND {_DUE_P}
                                    AND (%(sites)s::text[] IS NULL
                                        OR p.site = ANY(%(sites)s::text[])))
                        ORDER BY l.next_request_at NULLS FIRST, l.host
                        LIMIT %(room)s
                        FOR UPDATE OF l SKIP LOCKED
                    )
                    UPDATE host_leases l SET worker_id = %(me)s,
                        lease_until = clock_timestamp() + make_interval(secs => %(lease)s)
                    FROM free WHERE l.host = free.host
                    """,
                    {
                        "now": now,
                        "sites": site_list,
                        "before": crawled_before,
                        "run": run_id,
                        "room": room,
                        "margin": self.margin_seconds,
                        "me": self.worker_id,
                        "lease": self.lease_seconds,
                    },
                )
            rows = self.conn.execute(
                f"""
                WITH mine AS (
                    SELECT host FROM host_leases
                    WHERE worker_id = %(me)s AND lease_until > clock_timestamp()
                ), due AS (
                    SELECT {_DUE_COLUMNS},
                        ROW_NUMBER() OVER (PARTITION BY p.host
                            ORDER BY p.next_fetch_at, p.lastmod DESC NULLS LAST, p.id) AS turn
                    FROM pages p
                    JOIN mine ON mine.host = p.host
                    LEFT JOIN page_claims c ON c.page_id = p.id
                    LEFT JOIN host_leases cl ON cl.host = p.host
                    WHERE {_DUE_P}
                        AND (%(sites)s::text[] IS NULL OR p.site = ANY(%(sites)s::text[]))
                        -- no live claim: none, or one taken under a lease that has passed on,
                        -- or this worker's own of an earlier run (_DUE_P leaves this run's)
                        AND (c.page_id IS NULL OR c.worker_id <> cl.worker_id
                            OR c.due_at IS DISTINCT FROM p.next_fetch_at
                            OR %(run)s::bigint IS NOT NULL)
                )
                SELECT id, url, site, host, depth, next_fetch_at, lastmod, revisit_seconds,
                    unchanged_count, failures, last_fetched, etag, last_modified
                FROM due ORDER BY turn, next_fetch_at, lastmod DESC NULLS LAST, id
                LIMIT %(limit)s
                """,
                {
                    "me": self.worker_id,
                    "now": now,
                    "sites": site_list,
                    "before": crawled_before,
                    "run": run_id,
                    "limit": limit,
                },
            ).fetchall()
            if rows:
                # lock the pages, and keep those still due once locked: a worker whose done()
                # for one of them was committing meanwhile has moved it on (the row lock
                # re-reads the WHERE on the newest version of the row)
                locked = self.conn.execute(
                    f"SELECT p.id FROM pages p WHERE p.id = ANY(%(ids)s) AND {_DUE_P} "
                    "ORDER BY p.id FOR UPDATE",
                    {"ids": [row[0] for row in rows], "now": now, "before": crawled_before,
                     "run": run_id},
                ).fetchall()  # fmt: skip
                still_due = {row[0] for row in locked}
                rows = [row for row in rows if row[0] in still_due]
                ids = [row[0] for row in rows]
                self.conn.execute(
                    """
                    INSERT INTO page_claims (page_id, worker_id, due_at, claimed_at)
                    SELECT id, %s, due, clock_timestamp()
                    FROM unnest(%s::bigint[], %s::text[]) AS t(id, due)
                    ON CONFLICT (page_id) DO UPDATE SET worker_id = EXCLUDED.worker_id,
                        due_at = EXCLUDED.due_at, claimed_at = EXCLUDED.claimed_at
                    """,
                    (self.worker_id, ids, [row[5] for row in rows]),
                )
                if run_id is not None:
                    self.conn.execute(
                        "UPDATE pages SET run_id = %s WHERE id = ANY(%s)", (run_id, ids)
                    )
        return [due_page(row) for row in rows]

    def done(
        self,
        page_id: int,
        *,
        crawled_at: str,
        next_fetch_at: str,
        revisit_seconds: float | None,
        unchanged_count: int,
    ) -> None:
        """The page was handled: schedule it again and drop this worker's claim, together.

        :raises LeaseLostError: the claim is no longer this worker's (its lease expired and
            another worker may have the page); nothing is written.
        """
        with translated(self.location), self.conn.transaction():
            # locks in the order claim() takes them (lease, page, claim): the lease FOR KEY
            # SHARE, so no worker takes the host over until this page is recorded (a takeover
            # locks it FOR UPDATE), while the holder's own turns (slot, request_done: FOR NO
            # KEY UPDATE) go on
            held = self.conn.execute(
                "SELECT p.id FROM pages p JOIN host_leases l ON l.host = p.host "
                "WHERE p.id = %s AND l.worker_id = %s FOR KEY SHARE OF l FOR UPDATE OF p",
                (page_id, self.worker_id),
            ).fetchone()
            owned = (
                held
                and self.conn.execute(
                    "DELETE FROM page_claims WHERE page_id = %s AND worker_id = %s "
                    "RETURNING page_id",
                    (page_id, self.worker_id),
                ).fetchone()
            )
            if not owned:
                raise LeaseLostError(f"page {page_id}: no longer claimed by {self.worker_id}")
            self.conn.execute(
                "UPDATE pages SET crawled_at = %s, next_fetch_at = %s, revisit_seconds = %s, "
                "unchanged_count = %s WHERE id = %s",
                (crawled_at, next_fetch_at, revisit_seconds, unchanged_count, page_id),
            )

    def due_elsewhere(
        self,
        *,
        now: str,
        sites: Sequence[str] | None = None,
        crawled_before: str | None = None,
        run_id: int | None = None,
    ) -> int:
        """How many pages due for this worker (as :meth:`claim` counts them) wait on a host
        another worker's live lease holds: they may come free (that worker ends, or dies and
        its lease expires), so a worker with nothing to do waits for them instead of ending."""
        site_list = list(sites) if sites is not None else None
        with translated(self.location), self.conn.transaction():
            row = self.conn.execute(
                f"""
                SELECT count(*) FROM pages p JOIN host_leases l ON l.host = p.host
                WHERE {_DUE_P} AND l.worker_id <> %(me)s
                    AND l.lease_until > clock_timestamp()
                    AND (%(sites)s::text[] IS NULL OR p.site = ANY(%(sites)s::text[]))
                """,
                {"me": self.worker_id, "now": now, "sites": site_list,
                 "before": crawled_before, "run": run_id},
            ).fetchone()  # fmt: skip
        return int(row[0]) if row else 0

    def release(self, page_ids: Sequence[int]) -> None:
        """Hand claimed pages back unattempted: due again for whoever holds their host."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                "DELETE FROM page_claims WHERE page_id = ANY(%s) AND worker_id = %s",
                (list(page_ids), self.worker_id),
            )
