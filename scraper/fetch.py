"""Fetch: one URL over HTTP(S) with every safety limit, politely. No parsing beyond charset, no storage.

INTERFACE STUB written by the lead: the fetch helper implements it. The signatures below are the
contract that cli.py and crawl.py are written against.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from scraper.config import Settings
from scraper.models import FetchResult

#: media types the article path accepts
HTML_TYPES = ("text/html", "application/xhtml+xml")


def make_client(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """The one AsyncClient of a run: timeouts, User-Agent, pool limits, TLS verified, no auto-redirects."""
    raise NotImplementedError


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: tuple[str, ...] = HTML_TYPES,
) -> FetchResult:
    """Fetch ``url``: redirects hop by hop (each checked against the private-address policy),
    retries, conditional GET, size cap after decompression, total deadline, charset decoding.

    Returns a FetchResult for 2xx (and 304 with ``not_modified``); raises a FetchError subclass
    otherwise (never an httpx error).
    """
    raise NotImplementedError


@dataclass(frozen=True, slots=True)
class Robots:
    """A host's robots.txt as fetched: body (empty when absent), status, and what it means."""

    origin: str  #: scheme://host[:port]
    status: int | None  #: HTTP status, None when the fetch failed (timeout, connection)
    body: str

    def allowed(self, url: str, user_agent: str) -> bool:
        raise NotImplementedError

    def crawl_delay(self, user_agent: str) -> float | None:
        raise NotImplementedError

    def sitemaps(self) -> tuple[str, ...]:
        raise NotImplementedError


async def fetch_robots(client: httpx.AsyncClient, origin: str, settings: Settings) -> Robots:
    """GET origin/robots.txt (size-capped, short deadline): 4xx -> allow all; 5xx/timeout -> status None or 5xx
    and ``allowed`` answers False ("not now")."""
    raise NotImplementedError
