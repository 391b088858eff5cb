"""crawl/processes.py: the extraction pool and the fetch helper.

The pool (``ExtractPool``, ``extract_page``): links come from extraction's bounded parse, read
before cleaning; the next page is handed to a worker while it is still busy; a page's budget
starts when a worker takes it, not while it waits in the queue.

The fetch helper as a Fetcher (``WorkerFetcher``): pages go to the helper while it runs; the
inner fetcher takes over when the helper is not started, is gone, or a redirect leads to a host
whose robots.txt the helper does not have.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Awaitable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from scraper.config import Settings
from scraper.crawl.processes import (
    QUEUE_DEPTH,
    Extracted,
    ExtractPool,
    WorkerFetcher,
    extract_page,
)
from scraper.extract import MAX_DEPTH
from scraper.fetch import fetch_robots, make_client
from scraper.fetch.fetcher import HttpFetcher
from scraper.fetch.pacing import Pacer
from scraper.fetch.robots import Robots
from scraper.fetch.worker import FetchWorker
from scraper.models import FetchResult
from tests.server import LocalServer, respond

# -- the extraction pool --------------------------------------------------------------------

#: far above what handing a page to a worker takes, even on a busy machine
WAIT_SECONDS = 60.0
#: What each slow page costs a worker: well inside its budget, but two of them are not.
SLOW_SECONDS = 3.0
BUDGET_SECONDS = 4.0
GRACE_SECONDS = 1.0
POOL_PAGE = (
    "<html><body><article><p>{word}: a fine page about the harbour and its pier, "
    "and the town that grew around them.</p></article></body></html>"
)

#: set in this (the test's) process when a page's HTML is pickled to go to a worker
handed: dict[str, threading.Event] = {}


class Traced(str):
    """A page's HTML that says when it is pickled for a worker (the pool's feeder thread)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[object, tuple[str]]:
        for word, event in handed.items():
            if word in self:
                event.set()
        return (str, (str(self),))


def held_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page marked HOLD:path| waits in its worker until that file exists (runs in the worker)."""
    if "HOLD:" in html:
        path = Path(html.split("HOLD:", 1)[1].split("|", 1)[0])
        deadline = time.monotonic() + WAIT_SECONDS
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return extract_page(html, url, strip, boilerplate, timeout)


def slow_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page that takes its worker SLOW_SECONDS when it asks for it (runs in the worker)."""
    if "SLOW" in html:
        time.sleep(SLOW_SECONDS)
    return extract_page(html, url, strip, boilerplate, timeout)


def _extract(
    pool: ExtractPool, html: str, page: int, timeout_seconds: float = 120
) -> Awaitable[Extracted]:
    """``pool.extract`` of ``html`` as page ``page`` of x.example, no strip or boilerplate."""
    return pool.extract(
        html,
        f"http://x.example/{page}",
        strip=(),
        boilerplate=(),
        timeout_seconds=timeout_seconds,
    )


def test_links_come_from_the_bounded_tree() -> None:
    depth = 20_000  # far past MAX_DEPTH: the bound flattens what lies below it
    assert depth > MAX_DEPTH
    html = (
        '<html><body><nav><a href="/top">Top</a></nav>'
        + "<div>" * depth
        + '<a href="/deep">Deep</a>'
        + "</div>" * depth
        + "<article><p>"
        + "The harbour master said the new pier would open in spring. " * 5
        + "</p></article></body></html>"
    )
    done = extract_page(html, "http://news.example/story", (), frozenset(), 30.0)
    assert done.links.links == ("http://news.example/top",)
    assert done.article.found
    assert "harbour master" in done.article.text


def test_links_canonical_and_robots_meta_are_read_before_cleaning() -> None:
    html = (
        '<html><head><link rel="canonical" href="/c"><meta name="robots" content="nofollow">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml"></head>'
        '<body><header><a href="/home">Home</a></header><article><p>'
        + "A long enough paragraph about the pier and the harbour and the town. " * 3
        + "</p></article></body></html>"
    )
    done = extract_page(html, "http://news.example/a/b", (), frozenset(), 30.0)
    assert done.links.canonical == "http://news.example/c"
    assert done.links.feeds == ("http://news.example/feed.xml",)
    assert done.links.nofollow
    assert done.links.links == ()  # nofollow: none listed


def test_the_next_page_is_handed_over_while_the_worker_is_busy(tmp_path: Path) -> None:
    assert QUEUE_DEPTH >= 2
    release = tmp_path / "release"
    pool = ExtractPool(1, job=held_page)
    handed.clear()
    handed["second"] = threading.Event()

    async def run() -> tuple[bool, list[str]]:
        await _extract(pool, POOL_PAGE.format(word="warm"), 0)  # the worker's start-up
        first = asyncio.ensure_future(_extract(pool, POOL_PAGE.format(word=f"HOLD:{release}|"), 1))
        second = asyncio.ensure_future(_extract(pool, Traced(POOL_PAGE.format(word="second")), 2))
        # the one worker is held on the first page: the second is sent to it all the same
        was_handed = await asyncio.to_thread(handed["second"].wait, WAIT_SECONDS)
        release.touch()
        done = await asyncio.gather(first, second)
        return was_handed, [d.article.url or "" for d in done]

    try:
        was_handed, urls = asyncio.run(run())
    finally:
        release.touch()
        pool.close()
    assert was_handed, "the second page waited in the crawl's process, not in the pool's queue"
    assert urls == ["http://x.example/1", "http://x.example/2"]


def test_time_queued_behind_another_page_does_not_count_against_the_budget() -> None:
    pool = ExtractPool(1, job=slow_page, grace_seconds=GRACE_SECONDS)

    async def run() -> list[str]:
        # the worker's start-up is paid here, with a budget far above it
        await _extract(pool, POOL_PAGE.format(word="warm"), 0)
        slow = POOL_PAGE.format(word="SLOW")
        done = await asyncio.gather(*(_extract(pool, slow, n, BUDGET_SECONDS) for n in (1, 2)))
        return [d.article.url or "" for d in done]

    # two slow pages on one worker: the second waits SLOW_SECONDS in the queue, and
    # queue + its own time exceed BUDGET_SECONDS + GRACE_SECONDS, its own time alone does not
    assert 2 * SLOW_SECONDS > BUDGET_SECONDS + GRACE_SECONDS > SLOW_SECONDS
    try:
        urls = asyncio.run(run())
    finally:
        pool.close()
    assert urls == ["http://x.example/1", "http://x.example/2"]


# -- the fetch helper -----------------------------------------------------------------------

SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=10.0, user_agent="wbot/1.0")
HELPER_PAGE = "<html><head><title>T</title></head><body><p>Helper page.</p></body></html>"


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
    server.route("/a", HELPER_PAGE)

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
    assert bodies == [HELPER_PAGE.encode()] * 3
    assert len(server.requests_to("/a")) == 3


def test_a_redirect_to_a_host_the_helper_has_no_robots_for_is_fetched_by_the_inner_one(
    server: LocalServer,
) -> None:
    other = LocalServer().start()
    try:
        other.route("/robots.txt", "User-agent: *\nAllow: /\n")
        other.route("/b", HELPER_PAGE)
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
        assert result.body == HELPER_PAGE.encode()
        assert len(server.requests_to("/r")) == 2  # the helper's try, then the inner one's
    finally:
        other.stop()


def test_every_request_the_helper_held_is_fetched_again_when_it_dies(server: LocalServer) -> None:
    """Killed with 8 requests in flight (those it holds, and those the crawl's own fetcher took
    beside it): each is answered all the same, the helper's by the inner fetcher."""
    release = threading.Event()

    def held(request: BaseHTTPRequestHandler) -> None:
        release.wait(60)  # a liveness guard: the test sets it once the helper is dead
        respond(HELPER_PAGE.encode())(request)

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
            assert [r.body for r in results] == [HELPER_PAGE.encode()] * 8
            await fetcher.aclose()
            return inner.urls

    assert asyncio.run(run()) == [server.url("/held")] * 8


@pytest.mark.parametrize(
    "failure",
    [EOFError("unexpected EOF"), OSError(24, "Too many open files"), KeyError("forkserver")],
)
def test_a_helper_that_cannot_start_leaves_every_fetch_to_the_crawl(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, failure: Exception
) -> None:
    """Whatever stops the helper from starting (its forkserver dying while it forks it says
    EOFError; no processes or descriptors left, OSError; anything else), the crawl's own
    process fetches every page, and the start's failure goes nowhere else."""
    server.route("/a", "<html><body><p>one page</p></body></html>")

    async def cannot_start(self: FetchWorker) -> FetchWorker:
        raise failure

    monkeypatch.setattr(FetchWorker, "start", cannot_start)

    async def run() -> tuple[list[str], bytes]:
        async with make_client(SETTINGS) as client:
            inner = Counting(HttpFetcher(client))
            fetcher = WorkerFetcher(inner, Pacer(0.0), lambda url: None)
            fetcher.start_soon()
            await fetcher.start()  # the same start, awaited: it has failed, quietly
            assert fetcher.worker is None
            body = (await fetcher.fetch_page(server.url("/a"), SETTINGS)).body
            await fetcher.aclose()
            return inner.urls, body

    urls, body = asyncio.run(run())
    assert urls == [server.url("/a")]
    assert b"one page" in body
