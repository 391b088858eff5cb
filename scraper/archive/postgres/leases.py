"""Host leases and request slots of one crawl worker on PostgreSQL: the base of the shared
frontier (frontier.py), which adds the pages.

A worker fetches from a host only while it holds that host's lease (``host_leases``), and
waits for the host's stored ``next_request_at`` before each request; the lease and request
times are the database's clock (``clock_timestamp()``), the one clock all machines share.
Each call is one transaction; nothing here fetches or sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scraper.archive.postgres.connect import translated
from scraper.errors import LeaseLostError

__all__ = ["LeaseLostError", "HostSlots", "Slot"]

if TYPE_CHECKING:
    import psycopg

#: how long a lease lasts without a request or renew() from its holder
DEFAULT_LEASE_SECONDS = 60.0
#: a request may start only while this much of the lease is left (the holder's requests must
#: end before the lease can pass to another worker; keep it above the fetch timeout)
DEFAULT_LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Slot:
    """Leave to send one request to ``host``: after ``wait_seconds`` (0: at once)."""

    host: str
    wait_seconds: float


class HostSlots:
    """One worker's host leases and request slots, on its connection (the base of
    :class:`SharedFrontier`, which adds the pages).

    :param worker_id: unique among the workers (e.g. ``hostname:pid:random``).
    :param lease_seconds: how long a host stays this worker's without a request or renew().
    :param margin_seconds: how much of the lease must be left for a request to start.
    """

    def __init__(
        self,
        conn: psycopg.Connection,
        *,
        location: str,
        worker_id: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        margin_seconds: float = DEFAULT_LEASE_MARGIN_SECONDS,
    ) -> None:
        if not worker_id:
            raise ValueError("worker_id must not be empty")
        if margin_seconds >= lease_seconds:
            raise ValueError("margin_seconds must be shorter than lease_seconds")
        self.conn = conn
        self.location = location
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.margin_seconds = margin_seconds

    def slot(self, host: str) -> Slot:
        """Leave to send the next request to ``host``: how long to wait first, by the stored
        ``next_request_at`` and ``hosts.next_allowed_at`` (Retry-After, backoff). Renews the
        lease (and so the claims under it).

        :raises LeaseLostError: the lease is not this worker's, or too little of it is left
            for a request to finish before it can pass on.
        """
        with translated(self.location), self.conn.transaction():
            # the lease is renewed to last ``lease`` past the slot's start, so it cannot pass
            # to another worker while this one waits for the slot
            row = self.conn.execute(
                """
                WITH mine AS (
                    SELECT l.host, GREATEST(clock_timestamp(), l.next_request_at,
                        (SELECT h.next_allowed_at::timestamptz FROM hosts h
                         WHERE h.host = l.host)) AS start_at
                    FROM host_leases l
                    WHERE l.host = %(host)s AND l.worker_id = %(me)s
                        AND l.lease_until > clock_timestamp() + make_interval(secs => %(margin)s)
                    -- not FOR UPDATE: a page being recorded holds the lease FOR KEY SHARE
                    -- (done()) against takeovers, not against its holder's next turn
                    FOR NO KEY UPDATE
                )
                UPDATE host_leases l
                SET lease_until = mine.start_at + make_interval(secs => %(lease)s)
                FROM mine WHERE l.host = mine.host
                RETURNING EXTRACT(EPOCH FROM (mine.start_at - clock_timestamp()))
                """,
                {
                    "host": host,
                    "me": self.worker_id,
                    "lease": self.lease_seconds,
                    "margin": self.margin_seconds,
                },
            ).fetchone()
        if row is None:
            raise LeaseLostError(f"{host}: the lease is not held by {self.worker_id}")
        return Slot(host=host, wait_seconds=max(0.0, float(row[0] or 0.0)))

    def request_done(self, host: str, *, delay_seconds: float) -> None:
        """A request to ``host`` has ended: the next may start ``delay_seconds`` from now, or
        after the host's stored Crawl-delay if that is longer, or later if a deferral says so.
        Call it when the response (or the error) is in, so the gap counts from the request's
        real end whatever the transport did."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                """
                UPDATE host_leases l SET next_request_at = GREATEST(l.next_request_at,
                    clock_timestamp() + make_interval(secs => GREATEST(%(delay)s,
                        COALESCE((SELECT h.crawl_delay_seconds FROM hosts h
                                  WHERE h.host = l.host), 0))))
                WHERE l.host = %(host)s
                """,
                {"host": host, "delay": delay_seconds},
            )

    def defer(self, host: str, *, seconds: float) -> None:
        """No request to ``host`` for ``seconds`` from now, by any worker (Retry-After)."""
        with translated(self.location), self.conn.transaction():
            self.conn.execute(
                """
                INSERT INTO host_leases (host, next_request_at)
                VALUES (%(host)s, clock_timestamp() + make_interval(secs => %(s)s))
                ON CONFLICT (host) DO UPDATE SET next_request_at = GREATEST(
                    host_leases.next_request_at, EXCLUDED.next_request_at)
                """,
                {"host": host, "s": seconds},
            )

    def renew(self) -> int:
        """Extend every live lease of this worker (between requests that are far apart);
        return how many it renewed. A lease row locked by a transaction of this worker's
        other connection (a page being recorded) is left for the next renewal, never waited
        for: a crawl's renewer and its recording never wait on each other."""
        with translated(self.location), self.conn.transaction():
            rows = self.conn.execute(
                "UPDATE host_leases SET lease_until = GREATEST(lease_until, clock_timestamp() "
                "+ make_interval(secs => %s)) WHERE host IN (SELECT host FROM host_leases "
                "WHERE worker_id = %s AND lease_until > clock_timestamp() "
                "FOR NO KEY UPDATE SKIP LOCKED) RETURNING host",
                (self.lease_seconds, self.worker_id),
            ).fetchall()
        return len(rows)

    def take(self, host: str) -> bool:
        """Lease ``host`` for a request of this worker's own (a sitemap, a redirect hop)
        when no other worker's live lease holds it; whether this worker holds it now."""
        with translated(self.location), self.conn.transaction():
            row = self.conn.execute(
                """
                INSERT INTO host_leases AS l (host, worker_id, lease_until)
                VALUES (%(host)s, %(me)s, clock_timestamp() + make_interval(secs => %(lease)s))
                ON CONFLICT (host) DO UPDATE SET worker_id = EXCLUDED.worker_id,
                    lease_until = GREATEST(l.lease_until, EXCLUDED.lease_until)
                WHERE l.worker_id IS NULL OR l.worker_id = EXCLUDED.worker_id
                    OR l.lease_until <= clock_timestamp()
                RETURNING host
                """,
                {"host": host, "me": self.worker_id, "lease": self.lease_seconds},
            ).fetchone()
        return row is not None

    def hosts_held(self) -> list[str]:
        """The hosts whose live lease this worker holds, sorted."""
        with translated(self.location), self.conn.transaction():
            rows = self.conn.execute(
                "SELECT host FROM host_leases WHERE worker_id = %s "
                "AND lease_until > clock_timestamp() ORDER BY host",
                (self.worker_id,),
            ).fetchall()
        return [row[0] for row in rows]

    def release_hosts(self, hosts: Sequence[str] | None = None) -> None:
        """Give up leases (all of them by default), keeping each host's ``next_request_at``,
        and hand back this worker's unfinished claims on them."""
        with translated(self.location), self.conn.transaction():
            released = self.conn.execute(
                "UPDATE host_leases SET worker_id = NULL, lease_until = NULL "
                "WHERE worker_id = %s AND (%s::text[] IS NULL OR host = ANY(%s::text[])) "
                "RETURNING host",
                (self.worker_id, hosts and list(hosts), hosts and list(hosts)),
            ).fetchall()
            self.conn.execute(
                "DELETE FROM page_claims c USING pages p WHERE p.id = c.page_id "
                "AND c.worker_id = %s AND p.host = ANY(%s)",
                (self.worker_id, [row[0] for row in released]),
            )
