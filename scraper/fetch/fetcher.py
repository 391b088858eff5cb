"""The seam between the crawl and whatever gets a page's bytes.

``Fetcher`` is what the page pipeline calls for a page; ``HttpFetcher`` is today's one
implementation (the httpx client of a run, every safety limit of :func:`fetch`). A
JavaScript-rendering fetcher would be another implementation of the same protocol: it gets
the same URL, settings, validators and redirect check and returns the same ``FetchResult``.
robots.txt, sitemaps and feeds are read over plain HTTP whatever the page fetcher is.
"""

from __future__ import annotations

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
