"""fetch/fetcher.py: the Fetcher seam, its registry, and the HTTP fetcher over both transports."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from scraper.config import Settings
from scraper.errors import BlockedAddressError
from scraper.fetch import make_client
from scraper.fetch.fetcher import FETCHERS, Fetcher, HttpFetcher, make_fetcher
from scraper.models import FetchResult
from tests.server import LocalServer

PAGE = "<html><head><title>T</title></head><body><p>fetched by the seam</p></body></html>"


def test_the_http_fetcher_gets_a_page_with_each_transport(
    server: LocalServer, transport_name: str
) -> None:
    server.route("/a", status=301, headers={"Location": "/b"})
    server.route("/b", PAGE, headers={"ETag": '"v1"'})
    settings = Settings(allow_private=True, retries=0, transport=transport_name)  # type: ignore[arg-type]
    hops: list[str] = []

    async def check(target: str) -> None:
        hops.append(target)

    async def run() -> tuple[FetchResult, FetchResult]:
        async with make_client(settings) as client:
            fetcher = make_fetcher(settings, client)
            assert isinstance(fetcher, HttpFetcher)
            first = await fetcher.fetch_page(server.url("/a"), settings, before_redirect=check)
            again = await fetcher.fetch_page(server.url("/b"), settings, etag='"v1"')
            return first, again

    first, again = asyncio.run(run())
    assert first.final_url == server.url("/b")
    assert "fetched by the seam" in first.text
    assert hops == [server.url("/b")]
    assert server.requests_to("/b")[1].headers["If-None-Match"] == '"v1"'
    assert again.status_code == 200  # the test server ignores validators: a full answer


def test_the_fetcher_keeps_the_address_guard() -> None:
    settings = Settings(retries=0)

    async def run() -> None:
        async with make_client(settings) as client:
            await make_fetcher(settings, client).fetch_page("http://127.0.0.1:9/", settings)

    with pytest.raises(BlockedAddressError):
        asyncio.run(run())


class _Canned:
    """A stand-in for another fetcher (a rendering one): same protocol, no network."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def fetch_page(
        self,
        url: str,
        settings: Settings,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        before_redirect: object = None,
    ) -> FetchResult:
        return FetchResult(
            url=url,
            final_url=url,
            status_code=200,
            fetched_at="2026-01-01T00:00:00Z",
            elapsed_ms=0,
            text="<html><body><p>rendered</p></body></html>",
        )


def test_a_registered_fetcher_is_made_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(FETCHERS, "canned", _Canned)
    settings = Settings()

    async def run() -> FetchResult:
        async with make_client(settings) as client:
            fetcher: Fetcher = make_fetcher(settings, client, name="canned")
            return await fetcher.fetch_page("https://example.org/", settings)

    assert asyncio.run(run()).text.endswith("rendered</p></body></html>")
    with pytest.raises(ValueError, match="no fetcher named 'browser' \\(known: canned, http\\)"):
        asyncio.run(_make(settings, "browser"))


async def _make(settings: Settings, name: str) -> Fetcher:
    async with make_client(settings) as client:
        return make_fetcher(settings, client, name=name)
