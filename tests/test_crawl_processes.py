"""crawl/processes.py: the fetch helper as a Fetcher. Pages go to the helper while it runs;
the inner fetcher takes over when the helper is not started, is gone, or a redirect leads to a
host whose robots.txt the helper does not have."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from scraper.config import Settings
from scraper.crawl.processes import WorkerFetcher
from scraper.fetch import fetch_robots, make_client
from scraper.fetch.fetcher import HttpFetcher
from scraper.fetch.pacing import Pacer
from scraper.fetch.robots import Robots
from scraper.models import FetchResult
from tests.server import LocalServer, respond

SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=10.0, user_agent="wbot/1.0")
PAGE = "<html><head><title>T</title></head><body><p>Helper page.</p></body></html>"


class Counting:
    """An inner fetcher that counts the pages it was asked for."""

    def __init__(self, inner: HttpFetcher) -> None:
        self.inner = inner
        self.urls: list[str] = []

    async def fetch_page(self, url: str, settings: Settings, **kwargs: Any) -> FetchResult:
        self.urls.append(url)
        return await self.inner.fetch_page(url, settings, **kwargs)


def test_the_helper_fetches_and_the_inner_fetcher_takes_over_when_it_is_gone(
    server: LocalServer,
) -> None:
    server.route("/a", PAGE)

    async def run() -> tuple[list[str], list[bytes]]:
        async with make_client(SETTINGS) as client:
            inner = Counting(HttpFetcher(client))
            fetcher = WorkerFetcher(inner, Pacer(0.0), lambda url: None)
            url = server.url("/a")
            bodies = [(await fetcher.fetch_page(url, SETTINGS)).body]  # not started: inner
            await fetcher.start()
            assert fetcher.worker is not None
            bodies.append((await fetcher.fetch_page(url, SETTINGS)).body)  # the helper
            pid = fetcher.worker.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            bodies.append((await fetcher.fetch_page(url, SETTINGS)).body)  # gone: inner
            await fetcher.aclose()
            return inner.urls, bodies

    urls, bodies = asyncio.run(run())
    assert urls == [server.url("/a"), server.url("/a")]
    assert bodies == [PAGE.encode()] * 3
    assert len(server.requests_to("/a")) == 3


def test_a_redirect_to_a_host_the_helper_has_no_robots_for_is_fetched_by_the_inner_one(
    server: LocalServer,
) -> None:
    other = LocalServer().start()
    try:
        other.route("/robots.txt", "User-agent: *\nAllow: /\n")
        other.route("/b", PAGE)
        server.route("/robots.txt", "User-agent: *\nAllow: /\n")
        server.route("/r", b"", status=302, headers={"Location": other.url("/b")})

        async def run() -> tuple[list[str], FetchResult]:
            async with make_client(SETTINGS) as client:
                robots: Robots = await fetch_robots(client, server.base, SETTINGS)
                inner = Counting(HttpFetcher(client))
                fetcher = WorkerFetcher(inner, Pacer(0.0), lambda url: robots)
                await fetcher.start()
                result = await fetcher.fetch_page(server.url("/r"), SETTINGS)
                await fetcher.aclose()
                return inner.urls, result

        urls, result = asyncio.run(run())
        assert urls == [server.url("/r")]  # handed back by the helper, fetched by the inner one
        assert result.final_url == other.url("/b")
        assert result.body == PAGE.encode()
        assert len(server.requests_to("/r")) == 2  # the helper's try, then the inner one's
    finally:
        other.stop()


def test_every_request_the_helper_held_is_fetched_again_when_it_dies(server: LocalServer) -> None:
    """Killed with 8 requests in flight (those it holds, and those the crawl's own fetcher took
    beside it): each is answered all the same, the helper's by the inner fetcher."""
    release = threading.Event()

    def held(request: BaseHTTPRequestHandler) -> None:
        release.wait(60)  # a liveness guard: the test sets it once the helper is dead
        respond(PAGE.encode())(request)

    server.route("/held", handler=held)

    async def run() -> list[str]:
        async with make_client(SETTINGS) as client:
            inner = Counting(HttpFetcher(client))
            fetcher = WorkerFetcher(inner, Pacer(0.0), lambda url: None)
            await fetcher.start()
            assert fetcher.worker is not None
            assert fetcher.worker.pid is not None
            pages = [
                asyncio.ensure_future(fetcher.fetch_page(server.url("/held"), SETTINGS))
                for _ in range(8)
            ]
            deadline = time.monotonic() + 60  # a liveness guard, far above the need
            while len(server.requests_to("/held")) < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)  # until all 8 were sent
            os.kill(fetcher.worker.pid, signal.SIGKILL)
            release.set()
            results = await asyncio.gather(*pages)
            assert [r.body for r in results] == [PAGE.encode()] * 8
            await fetcher.aclose()
            return inner.urls

    assert asyncio.run(run()) == [server.url("/held")] * 8
