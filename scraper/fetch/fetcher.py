"""The seam between the crawl and whatever gets a page's bytes.

``Fetcher`` is what the page pipeline calls for a page; ``HttpFetcher`` is today's one
implementation (the httpx client of a run, every safety limit of :func:`fetch`). A
JavaScript-rendering fetcher would be another implementation of the same protocol: it gets
the same URL, settings, validators and redirect check and returns the same ``FetchResult``.
robots.txt, sitemaps and feeds are read over plain HTTP whatever the page fetcher is.

Where to add a fetcher (a JavaScript-rendering one, say):

1. a class with ``async fetch_page(url, settings, *, etag, last_modified, before_redirect)``
   returning a ``FetchResult`` (``final_url``, ``redirects``, ``body``, ``text``, headers) and
   raising a ``FetchError`` subclass for every failure. It must keep what :func:`fetch`
   guarantees: call :func:`scraper.urls.check_url_target` (and refuse private addresses)
   for every URL it loads, ``before_redirect`` for every hop, ``max_bytes`` and
   ``deadline_seconds``; the crawl's politeness (pacing) applies only to requests sent
   through the run's client, so a fetcher with its own network stack must take turns itself;
2. its name and constructor in :data:`FETCHERS` (``(client) -> Fetcher``);
3. a setting that names it, declared once in ``Settings`` (config.py validates it from the
   annotation: ``Literal["http", "browser"]``), passed as ``name`` to :func:`make_fetcher`.

The HTTP transport under the client (``transport = "fast" | "httpx"``) is another, lower seam:
fetch/routing.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from scraper.fetch.client import RedirectCheck, fetch

if TYPE_CHECKING:
    import httpx

    from scraper.config import Settings
    from scraper.models import FetchResult


class Fetcher(Protocol):
    """Gets one page: a FetchResult for 2xx (or a 304 with ``not_modified``), a FetchError
    subclass otherwise."""

    async def fetch_page(
        self,
        url: str,
        settings: Settings,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        before_redirect: RedirectCheck | None = None,
    ) -> FetchResult: ...


class HttpFetcher:
    """Pages over HTTP(S) through one run's client (``make_client``)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def fetch_page(
        self,
        url: str,
        settings: Settings,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        before_redirect: RedirectCheck | None = None,
    ) -> FetchResult:
        return await fetch(
            self.client,
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            before_redirect=before_redirect,
        )


#: the page fetchers by name: ``(the run's client) -> Fetcher``
FETCHERS: dict[str, Callable[[httpx.AsyncClient], Fetcher]] = {"http": HttpFetcher}


def make_fetcher(settings: Settings, client: httpx.AsyncClient, *, name: str = "http") -> Fetcher:
    """The page fetcher ``name`` for a run whose client is ``client`` (``make_client``).

    ``settings`` are the run's (a fetcher may need them to start: a browser's pool size);
    each page still gets its own site's settings in ``fetch_page``. ValueError for a name that
    is not in :data:`FETCHERS`.
    """
    try:
        factory = FETCHERS[name]
    except KeyError:
        known = ", ".join(sorted(FETCHERS))
        raise ValueError(f"no fetcher named {name!r} (known: {known})") from None
    return factory(client)
