"""Fetch, robots.txt: fetched size-capped with a short deadline, interpreted with protego.

:class:`Robots` is a plain value (origin, status, body) so the crawl can store it and rebuild
it; the parser is built on first use and kept.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from urllib.parse import urldefrag, urljoin

import httpx
from protego import Protego

from scraper.config import Settings
from scraper.errors import (
    BadStatusError,
    BlockedAddressError,
    FetchError,
    RobotsDisallowedError,
    RobotsUncheckedError,
    TooManyRedirectsError,
    UsageError,
)
from scraper.fetch.client import FetchOptions, Resolver, fetch_with_options, utc_now
from scraper.urls import normalise_url, origin_of

#: robots.txt: parsed up to this size (RFC 9309 asks for at least 500 KiB), then cut
ROBOTS_MAX_BYTES = 512 * 1024
#: robots.txt: total time allowed, whatever the page deadline
ROBOTS_DEADLINE_SECONDS = 10.0


def robots_token(user_agent: str) -> str:
    """Our name in robots.txt: the first word of the User-Agent, before any ``/``."""
    words = user_agent.split()
    return words[0].split("/", 1)[0] if words else "*"


@dataclass(frozen=True, slots=True)
class Robots:
    """A host's robots.txt as fetched: body (empty when absent), status, and what it means.

    ``Robots(origin, status, body)`` is all there is to store: the parser is built on first use
    and kept. Status 2xx: the rules in ``body``. 4xx but 429, or 0 (no usable answer: a redirect
    loop, or a host the private-address policy refuses): everything allowed. 429, 5xx, or None
    (timeout, connection failure): nothing allowed for now ("not now", and the crawl backs off
    from the host), as the big crawlers do.
    """

    origin: str  #: scheme://host[:port]
    status: int | None  #: HTTP status, None when the fetch failed (timeout, connection)
    body: str
    #: why robots.txt could not be had ("connection refused", "HTTP 503 ..."), for messages
    error: str | None = field(default=None, compare=False)
    #: the server's Retry-After on a 429 or 503, seconds
    retry_after_seconds: float | None = field(default=None, compare=False)
    _parser: list[Protego] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def unreachable(self) -> bool:
        """True when robots.txt could not be had (429, 5xx or no answer): crawl nothing now."""
        return self.status is None or self.status >= 500 or self.status == 429

    def refusal(self, url: str, user_agent: str) -> RobotsDisallowedError | None:
        """The error that keeps ``url`` from being fetched now, or None when it may be."""
        if self.allowed(url, user_agent):
            return None
        if self.unreachable:
            cause = self.error or f"HTTP {self.status}"
            return RobotsDisallowedError(
                url, f"robots.txt could not be fetched ({cause}), so not now"
            )
        return RobotsDisallowedError(url, "disallowed by robots.txt")

    def bare(self) -> Robots:
        """The same robots.txt without its parser (to send to another process)."""
        return Robots(self.origin, self.status, self.body, self.error, self.retry_after_seconds)

    def _rules(self) -> Protego | None:
        if self.status is None or not 200 <= self.status < 300:
            return None
        if not self._parser:
            self._parser.append(Protego.parse(self.body))
        return self._parser[0]

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.unreachable:
            return False
        rules = self._rules()
        return True if rules is None else bool(rules.can_fetch(url, robots_token(user_agent)))

    def crawl_delay(self, user_agent: str) -> float | None:
        rules = self._rules()
        if rules is None:
            return None
        delay = rules.crawl_delay(robots_token(user_agent))
        return None if delay is None else float(delay)

    def sitemaps(self) -> tuple[str, ...]:
        """The ``Sitemap:`` lines as absolute http(s) URLs, each resolved against the robots.txt
        URL (RFC 9309 asks for absolute ones; ``Sitemap: /sitemap.xml`` is common all the same).
        Lines that are no http(s) URL once resolved are dropped; scope is the crawl's to judge."""
        rules = self._rules()
        if rules is None:
            return ()
        base = self.origin.rstrip("/") + "/robots.txt"
        found: dict[str, None] = {}
        for line in rules.sitemaps:
            try:
                url = urldefrag(urljoin(base, str(line).strip()))[0]
            except ValueError:  # an invalid IPv6 literal, a bad port
                continue
            if url.lower().startswith(("http://", "https://")):
                found.setdefault(url, None)
        return tuple(found)


async def fetch_robots(
    client: httpx.AsyncClient,
    origin: str,
    settings: Settings,
    *,
    resolver: Resolver | None = None,
) -> Robots:
    """GET origin/robots.txt (size-capped, short deadline): 4xx -> allow all; 5xx or no answer
    -> status 5xx or None, and ``allowed`` answers False ("not now").

    A robots.txt larger than 512 KB is cut there and the first part is used, as RFC 9309 allows.
    Too many redirects, or a host the private-address policy refuses, give status 0: nothing
    could be read, everything is allowed, and fetch() refuses an off-limits page by itself.
    """
    robots_settings = dataclasses.replace(
        settings,
        max_bytes=ROBOTS_MAX_BYTES,
        deadline_seconds=min(settings.deadline_seconds, ROBOTS_DEADLINE_SECONDS),
        retries=0,
        max_redirects=min(settings.max_redirects, 5),
    )
    opts = FetchOptions(
        accept=(), max_bytes=ROBOTS_MAX_BYTES, truncate=True, clock=utc_now, block_pages=False
    )
    url = origin.rstrip("/") + "/robots.txt"
    try:
        result = await fetch_with_options(
            client, url, robots_settings, opts, None, None, resolver, "", time.monotonic()
        )
    except BadStatusError as exc:
        return Robots(origin, exc.status_code, "", exc.message, exc.retry_after_seconds)
    except (TooManyRedirectsError, BlockedAddressError) as exc:
        # no usable robots.txt; a page on an off-limits host is refused by fetch() itself
        return Robots(origin, 0, "", exc.message)
    except FetchError as exc:
        return Robots(origin, None, "", exc.message)
    except UsageError as exc:
        return Robots(origin, None, "", str(exc))
    body = result.body.decode("utf-8", errors="replace").lstrip("\ufeff")
    return Robots(origin, result.status_code, body)


@dataclass(frozen=True, slots=True)
class HopRules:
    """robots.txt as a ``before_redirect`` check for a process that cannot fetch robots.txt
    itself (the crawl's fetch helper): a hop to a host in ``rules`` is checked against it; a hop
    to any other host raises RobotsUncheckedError, and the crawl fetches that page itself."""

    rules: tuple[Robots, ...]
    user_agent: str

    async def __call__(self, target: str) -> None:
        try:
            origin = origin_of(normalise_url(target))
        except UsageError:
            return  # not a URL: fetch's own check of the hop refuses it
        for robots in self.rules:
            if robots.origin == origin:
                refusal = robots.refusal(target, self.user_agent)
                if refusal is not None:
                    raise refusal
                return
        raise RobotsUncheckedError(target, f"robots.txt of {origin} not read in this process")
