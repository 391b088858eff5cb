"""Hosts: per-host politeness of a run, and the one robots.txt cache (crawl and fetch alike).

A :class:`Host` is one host's state in a run (its slots, its pacing turn, its robots.txt, whether
it backs off); :class:`Hosts` makes them, reads and caches robots.txt (in the archive's ``hosts``
table until ``robots_ttl``, when there is an archive), checks every redirect hop against its
host's robots.txt, and backs off from a host that fails: repeated failures, ``Retry-After``, an
unreadable robots.txt. Politeness that must outlive a run is kept in the archive. The rule for a
robots.txt that cannot be read (429, 5xx, no answer) is here and only here: "not now" for the
whole host (no page of it is fetched), and neither ``crawl`` nor ``fetch`` asks the host again
before a backoff that doubles with each failure in a row; how a command reports the page is
its own (the crawl leaves it due for a later run, ``fetch`` records and reports a failed URL).
Time is read from the clock it is given; this module fetches robots.txt and nothing else.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scraper.errors import FetchError, RobotsDisallowedError, UsageError
from scraper.fetch import Robots, fetch_robots
from scraper.models import iso_utc
from scraper.urls import normalise_url, origin_of

if TYPE_CHECKING:
    import httpx

    from scraper.archive import CrawlStore
    from scraper.config import Settings
    from scraper.fetch.client import RedirectCheck
    from scraper.fetch.pacing import Pacer

#: consecutive failures of a host before every run keeps away from it for a while
HOST_FAILURES_BEFORE_BACKOFF = 3
HOST_BACKOFF_SECONDS = 60.0
HOST_BACKOFF_MAX_SECONDS = 6 * 3600.0
#: robots.txt unavailable (429, 5xx, no answer): the first wait before asking the host again;
#: it doubles with each failure in a row, up to HOST_BACKOFF_MAX_SECONDS
ROBOTS_BACKOFF_SECONDS = 300.0
#: a page whose host turn is further away than this waits for the next run instead
MAX_HOST_WAIT_SECONDS = 120.0


@dataclass
class Host:
    """One host's politeness during a run."""

    origin: str
    slots: asyncio.Semaphore
    pacer: Pacer  #: the gaps between requests, for every request to the host (fetch/pacing.py)
    robots: Robots | None = None
    robots_checked: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deferred: bool = False  #: keep away for the rest of this run
    #: it backs off because its robots.txt could not be read (the one rule of both commands)
    robots_down: bool = False
    deferred_until: str | None = None  #: when the persisted backoff ends, if it was persisted
    failures: int = 0  #: consecutive failures, as persisted
    not_fetched: int = 0  #: due pages of this host left for a later run
    answered: int = 0  #: requests for pages of this host answered in this run
    failed: int = 0  #: requests for pages of this host that failed in this run
    last_failure: str = ""  #: why the last of them failed

    async def turn(self) -> bool:
        """Wait until this host's gap allows a request; False if that is too far away.

        The request itself takes its turn from the pacer in the client's transport, as every
        request does (retries, redirect hops): waiting here first means a page does not hold
        one of the run's fetch slots while its host's gap runs.
        """
        if self.pacer.wait_seconds(self.origin) > MAX_HOST_WAIT_SECONDS:
            return False
        await self.pacer.ready(self.origin)
        return True

    def robots_refusal(self, url: str) -> RobotsDisallowedError | None:
        """The "not now" of a host whose robots.txt could not be read, when it backs off."""
        if not (self.deferred and self.robots_down):
            return None
        until = f" until {self.deferred_until}" if self.deferred_until else ""
        return RobotsDisallowedError(
            url, f"robots.txt could not be fetched, so not now (the host is left alone{until})"
        )


class Hosts:
    """The hosts of one command (a crawl run, a ``scraper fetch``), over the archive's state.

    ``state`` None (``fetch --no-store``): nothing is cached or remembered beyond the command.
    ``on_robots(robots, now)`` is told of each robots.txt as it is had (the crawl reads its
    ``Sitemap:`` lines). ``one_off`` (``scraper fetch``): the pacer's delays are the caller's,
    set beforehand; and a host the crawl backs off from for failing pages is still asked for
    its robots.txt (the user asked for the URL), one left alone for its robots.txt is not.
    """

    def __init__(
        self,
        state: CrawlStore | None,
        pacer: Pacer,
        clock: Callable[[], datetime],
        on_robots: Callable[[Robots, datetime], None] | None = None,
        *,
        one_off: bool = False,
    ) -> None:
        self.state = state
        self.pacer = pacer
        self.clock = clock
        self.on_robots = on_robots
        self.one_off = one_off
        self.by_origin: dict[str, Host] = {}
        #: origin -> why no page of it could be fetched now (down, backing off), for the summary
        self.problems: dict[str, str] = {}

    def get(self, origin: str, settings: Settings) -> Host:
        """The host of ``origin``, made on first use with its persisted state."""
        host = self.by_origin.get(origin)
        if host is None:
            host = Host(
                origin=origin,
                slots=asyncio.Semaphore(max(1, settings.concurrency_per_host)),
                pacer=self.pacer,
            )
            if not self.one_off:
                self.pacer.set_delay(origin, settings.delay_seconds)
            row = self.state.host(origin) if self.state is not None else None
            if row is not None:
                host.failures = row.failures
                if row.next_allowed_at and row.next_allowed_at > iso_utc(self.clock()):
                    host.deferred = True
                    host.deferred_until = row.next_allowed_at
                    host.robots_down = (
                        row.robots_txt is not None
                        and Robots(origin, row.robots_status, row.robots_txt).unreachable
                    )
                    cause = row.last_error or "asked to wait (Retry-After)"
                    self.problems[origin] = (
                        f"{cause}; the crawl keeps away until {row.next_allowed_at}"
                    )
            self.by_origin[origin] = host
        return host

    def cached(self, url: str) -> Robots | None:
        """The robots.txt held for ``url``'s host in this command, if it was read."""
        host = self.by_origin.get(origin_of(url))
        return host.robots if host is not None else None

    async def robots(
        self, client: httpx.AsyncClient, host: Host, settings: Settings
    ) -> Robots | None:
        """The host's robots.txt (cached in the archive until it expires); None: no robots, or
        the host backs off (``one_off``: only for its robots.txt)."""
        if not settings.respect_robots:
            return None
        if host.robots_checked:  # read already (every page after a host's first): no lock
            return host.robots
        async with host.lock:
            if host.robots_checked:
                return host.robots
            now = self.clock()
            row = self.state.host(host.origin) if self.state is not None else None
            robots: Robots | None = None
            if (
                row is not None
                and row.robots_expires_at
                and row.robots_expires_at > iso_utc(now)
                and row.robots_txt is not None
            ):
                robots = Robots(host.origin, row.robots_status, row.robots_txt)
            elif not host.deferred or (self.one_off and not host.robots_down):
                await host.turn()
                try:
                    robots = await fetch_robots(client, host.origin, settings)
                except FetchError:
                    robots = Robots(host.origin, None, "")
                unavailable = robots.unreachable
                if self.state is not None:
                    ttl = 0.0 if unavailable else settings.robots_ttl
                    delay = None if unavailable else robots.crawl_delay(settings.user_agent)
                    self.state.save_robots(
                        host.origin,
                        body=robots.body,
                        status=robots.status,
                        fetched_at=iso_utc(now),
                        expires_at=iso_utc(now + timedelta(seconds=ttl)),
                        crawl_delay_seconds=delay,
                    )
                if unavailable:
                    self._robots_unavailable(host, robots)
            if robots is not None:
                self.pacer.raise_delay(host.origin, robots.crawl_delay(settings.user_agent))
                if self.on_robots is not None:
                    self.on_robots(robots, now)
            host.robots, host.robots_checked = robots, True
            return robots

    def _robots_unavailable(self, host: Host, robots: Robots) -> None:
        """robots.txt answered 429 or 5xx, or not at all: "not now" for the host, and no
        request to it before a backoff that doubles with each failure in a row (at least the
        server's Retry-After), across runs."""
        # in the words of the cause ("connection refused"): the summary names the host with it
        error = _robots_trouble(robots)
        host.deferred = host.robots_down = True
        self.problems[host.origin] = error
        if self.state is None:
            return
        failures = host.failures = self.state.host_failed(host.origin, error=error)
        wait = min(
            HOST_BACKOFF_MAX_SECONDS,
            max(
                ROBOTS_BACKOFF_SECONDS * 2.0 ** min(failures - 1, 30),
                robots.retry_after_seconds or 0.0,
            ),
        )
        until = host.deferred_until = iso_utc(self.clock() + timedelta(seconds=wait))
        self.state.defer_host(host.origin, until=until, error=error)

    def trouble(self, host: Host, error: str, retry_after: float | None = None) -> None:
        """A host answered badly: back off from it, across runs when it keeps happening."""
        assert self.state is not None, "only a crawl backs off from failing pages"
        now = self.clock()
        if retry_after is not None and retry_after > 0:
            # capped: a hostile or broken Retry-After must not park a host for years
            wait = min(retry_after, HOST_BACKOFF_MAX_SECONDS)
            until = iso_utc(now + timedelta(seconds=wait))
            self.state.defer_host(host.origin, until=until, error=error)
            host.deferred = True
            self.problems[host.origin] = f"{error}; the crawl keeps away until {until}"
            return
        failures = host.failures = self.state.host_failed(host.origin, error=error)
        if failures >= HOST_FAILURES_BEFORE_BACKOFF:
            wait = min(
                HOST_BACKOFF_MAX_SECONDS,
                # the exponent is capped: a host failing for months must not overflow a float
                HOST_BACKOFF_SECONDS * 2.0 ** min(failures - HOST_FAILURES_BEFORE_BACKOFF, 30),
            )
            until = iso_utc(now + timedelta(seconds=wait))
            self.state.defer_host(host.origin, until=until, error=error)
            host.deferred = True
            self.problems[host.origin] = (
                f"{error} ({failures} times in a row); the crawl keeps away until {until}"
            )

    def answered(self, host: Host) -> None:
        """A request to the host was answered: its run of failures is over."""
        host.answered += 1
        if host.failures and self.state is not None:
            self.state.host_ok(host.origin)
            host.failures = 0

    async def check(self, client: httpx.AsyncClient, url: str, settings: Settings) -> None:
        """Raise RobotsDisallowedError unless robots.txt of ``url``'s host lets it be fetched
        now (``scraper fetch``): a robots.txt that cannot be read now, or could not when it was
        last asked and the host is still left alone for it, is "not now"."""
        if not settings.respect_robots:
            return
        host = self.get(origin_of(url), settings)
        refusal = None if host.robots_checked else host.robots_refusal(url)
        if refusal is None:
            robots = await self.robots(client, host, settings)
            if robots is None:
                return
            refusal = robots.refusal(url, settings.user_agent)
        if refusal is not None:
            raise refusal

    def redirect_check(self, client: httpx.AsyncClient, settings: Settings) -> RedirectCheck:
        """fetch()'s ``before_redirect``: the hop's host's robots.txt (read and cached as any
        host's) must allow the hop's URL; raises RobotsDisallowedError otherwise."""

        async def check(target: str) -> None:
            if not settings.respect_robots:
                return
            try:
                normal = normalise_url(target)
            except UsageError:
                return  # fetch's own check of the hop refuses it
            host = self.get(origin_of(normal), settings)
            robots = await self.robots(client, host, settings)
            if robots is None:
                if host.deferred:
                    raise RobotsDisallowedError(target, "its host is backing off; not now")
                return
            refusal = robots.refusal(target, settings.user_agent)
            if refusal is not None:
                raise refusal

        return check

    def lines(self) -> list[str]:
        """One line per host no page of which could be had in this run, with the cause."""
        lines = []
        problems = dict(self.problems)
        for origin, seen in self.by_origin.items():
            if origin not in problems and seen.failed and not seen.answered:
                # nothing of the host answered in this run: name it, with the cause
                problems[origin] = f"{seen.last_failure}; {_pages(seen.failed)} failed"
        for origin, cause in sorted(problems.items()):
            host = self.by_origin.get(origin)
            left = host.not_fetched if host is not None else 0
            if left:
                lines.append(f"{origin}: {cause}; {_pages(left)} not fetched")
            else:
                lines.append(f"{origin}: {cause}")
        return lines


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _robots_trouble(robots: Robots) -> str:
    """Why a host's robots.txt could not be had, in the words of the cause itself: "connection
    refused", "unknown host example.org", "timed out after 10s connecting", or the status."""
    if robots.status is None:
        return robots.error or "no answer to robots.txt"
    return f"robots.txt answered {robots.error or f'HTTP {robots.status}'}"
