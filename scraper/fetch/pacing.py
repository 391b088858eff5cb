"""Fetch, politeness: the one rule for the gap between two requests to a host.

The rule: with a delay of *d* seconds for a host (``delay_seconds``, raised by robots.txt's
``Crawl-delay``), a request to that host starts only when no other request to it is waiting for
its answer, and at least *d* seconds after the previous one was answered (its status line and
headers arrived) or failed. Measured from the answer rather than from the start, the gap holds
at the server whatever the latency: the server received the previous request before it
answered, so the next one cannot reach it less than *d* later, however late the previous one
went out or however long a busy machine took to send it. There is no schedule that a late
request could compress. With a delay of 0 nothing waits and ``concurrency_per_host`` alone
limits a host.

Every request obeys it because it sits in the HTTP client's transport (:class:`PacedTransport`):
robots.txt, sitemaps, feeds, pages, each retry and each redirect hop (keyed by the host the hop
goes to), in the crawl, in ``scraper fetch`` and in the crawl's fetch helper process, whose
transport asks the crawl process's :class:`Pacer` for each turn (fetch/worker.py). A pacer
shared by processes on several machines (crawl workers on one PostgreSQL archive) would keep
the same two numbers per host in a row leased with ``FOR UPDATE``: :class:`Pace` is the seam.

This module reads the monotonic clock and sleeps; it decides nothing about what to fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx


class Pace(Protocol):
    """Turns for requests to a host: ``acquire`` before a request is sent, ``release`` when it
    is answered or has failed."""

    async def acquire(self, origin: str) -> None: ...

    def release(self, origin: str) -> None: ...


def origin_key(scheme: str, netloc: str) -> str:
    """``scheme://host[:port]`` in lower case, the key of a host's turns (the crawl's origin)."""
    return f"{scheme.lower()}://{netloc.lower()}"


def request_origin(request: httpx.Request) -> str:
    """The origin a request is for: by its Host header, since a request to a checked address
    (fetch pins plain-http hosts to the address it checked) names the host only there."""
    host = request.headers.get("host") or request.url.netloc.decode("ascii", "replace")
    return origin_key(request.url.scheme, host)


@dataclass
class _Gap:
    delay_seconds: float = 0.0
    in_flight: int = 0  #: requests sent and not answered yet
    answered_at: float = float("-inf")  #: clock time the last request was answered
    waiters: list[asyncio.Future[None]] = field(default_factory=list)


class Pacer:
    """The turns of every host for one process (one event loop)."""

    def __init__(
        self, default_delay_seconds: float = 0.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        #: the gap of a host nobody set one for (a redirect to another host, say)
        self.default_delay_seconds = default_delay_seconds
        self.clock = clock
        self._gaps: dict[str, _Gap] = {}

    def _gap(self, origin: str) -> _Gap:
        gap = self._gaps.get(origin)
        if gap is None:
            gap = self._gaps[origin] = _Gap(self.default_delay_seconds)
        return gap

    def set_delay(self, origin: str, seconds: float) -> None:
        """Set the gap of ``origin`` (the caller has settled between delay_seconds and
        Crawl-delay); a request waiting for its turn sees the new gap at once."""
        self._gap(origin.lower()).delay_seconds = seconds

    def raise_delay(self, origin: str, seconds: float | None) -> None:
        """Make the gap of ``origin`` at least ``seconds`` (robots.txt ``Crawl-delay`` over
        ``delay_seconds``; None: robots.txt names none)."""
        if seconds is not None and seconds > self.delay(origin):
            self.set_delay(origin, seconds)

    def delay(self, origin: str) -> float:
        return self._gap(origin.lower()).delay_seconds

    def wait_seconds(self, origin: str) -> float:
        """How long a request to ``origin`` would wait now if nothing else were in flight."""
        gap = self._gap(origin.lower())
        if gap.delay_seconds <= 0:
            return 0.0
        return max(0.0, gap.answered_at + gap.delay_seconds - self.clock())

    async def ready(self, origin: str) -> None:
        """Wait until a request to ``origin`` could start, without taking the turn (so that a
        caller need not hold other resources while it waits)."""
        await self._wait(self._gap(origin.lower()))

    async def acquire(self, origin: str) -> None:
        gap = self._gap(origin.lower())
        await self._wait(gap)
        gap.in_flight += 1  # no await between the check and this: the turn is ours

    def release(self, origin: str) -> None:
        gap = self._gap(origin.lower())
        gap.in_flight = max(0, gap.in_flight - 1)
        gap.answered_at = max(gap.answered_at, self.clock())
        waiters, gap.waiters = gap.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def _wait(self, gap: _Gap) -> None:
        while gap.delay_seconds > 0:
            if gap.in_flight:
                waiter = asyncio.get_running_loop().create_future()
                gap.waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in gap.waiters:
                        gap.waiters.remove(waiter)
                continue
            wait = gap.answered_at + gap.delay_seconds - self.clock()
            if wait <= 0:
                return
            await asyncio.sleep(wait)


class PacedTransport(httpx.AsyncBaseTransport):
    """A transport that takes each request's turn from ``pace`` before handing it on."""

    def __init__(self, inner: httpx.AsyncBaseTransport, pace: Pace) -> None:
        self.inner = inner
        self.pace = pace

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        origin = request_origin(request)
        await self.pace.acquire(origin)
        try:
            return await self.inner.handle_async_request(request)
        finally:
            # the answer's headers are in (or the request failed): the gap starts now
            self.pace.release(origin)

    async def aclose(self) -> None:
        await self.inner.aclose()


def paced(transport: httpx.AsyncBaseTransport, pace: Pace | None) -> httpx.AsyncBaseTransport:
    """``transport`` taking its turns from ``pace`` (itself when there is no pace)."""
    return transport if pace is None else PacedTransport(transport, pace)
