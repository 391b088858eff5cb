"""Politeness at the server: two requests to one host never arrive closer together than the
host's delay, whatever kind of request they are (robots.txt, sitemap, page, retry, redirect
hop), whichever process sends them, in a crawl and in ``scraper fetch`` with several URLs.

Arrival times are logged by the test's own servers; each test checks a lower bound on the gaps,
so a slow or busy machine can only make the gaps longer, never fail the test.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import cli
from scraper.config import Settings
from scraper.fetch import fetch, make_client
from scraper.fetch.pacing import Pacer
from scraper.fetch.worker import FetchWorker
from tests.server import LocalServer

DELAY = 0.5
#: the servers log the arrival after the request is read and the client takes the gap from
#: the moment the answer is in, on the same clock: only float rounding is left to allow for
JITTER = 0.001


def page(title: str, links: Sequence[str] = ()) -> str:
    anchors = "".join(f'<p><a href="{href}">{href}</a></p>' for href in links)
    body = "".join(f"<p>{title} says sentence {i} of the article here.</p>" for i in range(6))
    head = f"<html><head><title>{title}</title></head>"
    return f"{head}<body><article><h1>{title}</h1>{body}{anchors}</article></body></html>"


def gaps(server: LocalServer) -> list[float]:
    with server._lock:
        times = sorted(r.at for r in server.requests)
    return [b - a for a, b in zip(times, times[1:], strict=False)]


def assert_gaps(server: LocalServer, delay: float, at_least: int) -> None:
    with server._lock:
        paths = [r.path for r in sorted(server.requests, key=lambda r: r.at)]
    assert len(paths) >= at_least, paths
    short = [round(g, 3) for g in gaps(server) if g < delay - JITTER]
    assert not short, f"{server.base}: gaps shorter than {delay}s: {short} in {paths}"


def fails_once(status: int = 503) -> object:
    """A handler answering ``status`` the first time and a page after that (a retry)."""
    calls = []

    def handler(request: BaseHTTPRequestHandler) -> None:
        calls.append(1)
        body = page("Flaky").encode() if len(calls) > 1 else b"busy"
        request.send_response(200 if len(calls) > 1 else status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    return handler


@pytest.fixture
def hosts() -> Iterator[list[LocalServer]]:
    servers = [LocalServer().start() for _ in range(3)]
    yield servers
    for server in servers:
        server.stop()


def test_a_crawl_keeps_the_delay_between_any_two_requests_to_a_host(
    hosts: list[LocalServer], tmp_path: Path
) -> None:
    a, b, c = hosts
    for server in hosts:
        server.route(
            "/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"}
        )
    b.route(
        "/sitemap.xml",
        f'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        f"<url><loc>{b.url('/b3')}</loc></url></urlset>",
        headers={"Content-Type": "application/xml"},
    )
    a.route(
        "/",
        page(
            "Home",
            [a.url("/a1"), a.url("/a2"), b.url("/b1"), b.url("/b2"), c.url("/c1"), c.url("/c2")],
        ),
    )
    a.route("/a1", status=301, headers={"Location": a.url("/a3")})  # a redirect hop
    a.route("/a2", page("A2"))
    a.route("/a3", page("A3"))
    for path in ("/b1", "/b2", "/b3"):
        b.route(path, page(path))
    c.route("/c1", handler=fails_once())  # a retry
    c.route("/c2", page("C2"))
    allow = ", ".join(f'"^{s.base}/"' for s in hosts)
    config = tmp_path / "sites.toml"
    config.write_text(
        f"[defaults]\ndelay_seconds = {DELAY}\nconcurrency_per_host = 2\nallow_private = true\n"
        f'retries = 2\nretry_max_wait_seconds = 0.1\n\n[[site]]\nname = "three"\n'
        f'start_urls = ["{a.url("/")}"]\nsitemaps = ["{b.url("/sitemap.xml")}"]\n'
        f"allow = [{allow}]\nmax_depth = 1\n"
    )
    result = CliRunner().invoke(
        cli,
        ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db")],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert "0 failed" in result.stderr
    # each host: robots.txt first, then everything else, never closer than the delay
    for server in hosts:
        with server._lock:
            first = min(server.requests, key=lambda r: r.at).path
        assert first == "/robots.txt"
    assert_gaps(a, DELAY, at_least=5)  # robots, /, /a1 (301), /a3, /a2
    assert_gaps(b, DELAY, at_least=5)  # robots, sitemap, b1, b2, b3
    assert_gaps(c, DELAY, at_least=4)  # robots, c1 (503), c1 again, c2


def test_fetch_with_several_urls_keeps_the_delay_and_crawl_delay(
    hosts: list[LocalServer], tmp_path: Path
) -> None:
    a, b, _ = hosts
    a.route("/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"})
    b.route(
        "/robots.txt", "User-agent: *\nCrawl-delay: 1\n", headers={"Content-Type": "text/plain"}
    )
    for path in ("/1", "/2", "/3"):
        a.route(path, page(f"A{path}"))
        b.route(path, page(f"B{path}"))
    a.route("/moved", status=302, headers={"Location": a.url("/1")})
    config = tmp_path / "sites.toml"
    config.write_text(f"[defaults]\ndelay_seconds = {DELAY}\n")
    urls = [a.url("/1"), b.url("/1"), a.url("/2"), b.url("/2"), a.url("/moved"), b.url("/3")]
    result = CliRunner().invoke(
        cli,
        ["fetch", "--allow-private", "--no-store", "--config", str(config), *urls],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    assert_gaps(a, DELAY, at_least=5)  # robots, /1, /2, /moved, /1 again
    assert_gaps(b, 1.0, at_least=4)  # robots (then its Crawl-delay), /1, /2, /3


def test_fetch_prints_each_result_as_it_comes(server: LocalServer, tmp_path: Path) -> None:
    """The second URL is answered only once the first one's article is on stdout: printed at
    the end, it would never be."""
    first_printed = threading.Event()
    answered_after_print: list[bool] = []

    def second(request: BaseHTTPRequestHandler) -> None:
        answered_after_print.append(first_printed.wait(120))
        body = page("Second").encode()
        request.send_response(200)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    server.route("/first", page("First"))
    server.route("/second", handler=second)
    config = tmp_path / "sites.toml"
    config.write_text("[defaults]\ndelay_seconds = 0\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scraper",
            "fetch",
            "--allow-private",
            "--ignore-robots",
            "--no-store",
            "--config",
            str(config),
            server.url("/first"),
            server.url("/second"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("First"):
                first_printed.set()
                break
        rest, err = proc.communicate(timeout=120)
    finally:
        first_printed.set()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert answered_after_print == [True]
    assert "Second" in rest


def test_the_fetch_helper_and_this_process_keep_one_gap_per_host(server: LocalServer) -> None:
    """Requests of the helper process (its retries and redirect hops too) and of the crawl's
    own process take their turns from the same pacer."""
    server.route("/robots.txt", "User-agent: *\n", headers={"Content-Type": "text/plain"})
    server.route("/p1", page("P1"))
    server.route("/p2", page("P2"))
    server.route("/hop", status=301, headers={"Location": server.url("/p3")})
    server.route("/p3", page("P3"))
    server.route("/flaky", handler=fails_once(503))
    settings = Settings(
        allow_private=True, retries=2, retry_max_wait_seconds=0.1, delay_seconds=0.3
    )

    async def run() -> None:
        pacer = Pacer(0.3)
        worker = await FetchWorker(pacer).start()
        try:
            async with make_client(settings, pace=pacer) as client:
                results = await asyncio.gather(
                    worker.fetch(server.url("/hop"), settings),
                    worker.fetch(server.url("/flaky"), settings),
                    worker.fetch(server.url("/p1"), settings),
                    fetch(client, server.url("/p2"), settings),
                    fetch(client, server.url("/robots.txt"), settings, accept=()),
                )
        finally:
            await worker.aclose()
        assert [r.status_code for r in results] == [200] * 5

    asyncio.run(run())
    assert_gaps(server, 0.3, at_least=7)  # hop + p3, flaky twice, p1, p2, robots


def test_a_turn_given_up_while_waiting_holds_nothing_up() -> None:
    """A request cancelled while it waits for its host's turn (its deadline passed) leaves no
    turn taken behind: the next request to the host gets one."""

    async def run() -> list[str]:
        pacer = Pacer(60.0)  # a gap no test would wait out
        order = []
        await pacer.acquire("http://a")
        waiting = asyncio.create_task(pacer.acquire("http://a"))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        pacer.release("http://a")
        pacer.set_delay("http://a", 0.0)  # the gap is gone: the next turn is free at once
        await asyncio.wait_for(pacer.acquire("http://a"), 60)
        order.append("acquired")
        # another host is never held up by this one, which has a request in flight and a gap
        pacer.set_delay("http://a", 60.0)
        await asyncio.wait_for(pacer.acquire("http://b"), 60)
        order.append("other host")
        return order

    assert asyncio.run(run()) == ["acquired", "other host"]


def test_without_a_delay_nothing_waits_for_anything() -> None:
    """delay 0: every request starts at once, however many are in flight (concurrency_per_host
    alone limits a host then)."""

    async def run() -> int:
        pacer = Pacer(0.0)
        for _ in range(50):
            await asyncio.wait_for(pacer.acquire("http://a"), 60)  # none released: no wait
        return pacer._gap("http://a").in_flight

    assert asyncio.run(run()) == 50


def test_a_later_request_waits_for_the_answer_of_the_one_in_flight() -> None:
    """With a delay, a request waits while another to the host has no answer yet, and is let go
    by the answer (then the gap) rather than by a clock that started without it."""

    async def run() -> list[str]:
        pacer = Pacer(0.01)
        events = []
        await pacer.acquire("http://a")

        async def second() -> None:
            await pacer.acquire("http://a")
            events.append("second started")

        task = asyncio.create_task(second())
        for _ in range(20):  # far more than the gap's worth of loop turns: still waiting
            await asyncio.sleep(0.01)
        events.append("first answered")
        pacer.release("http://a")
        await asyncio.wait_for(task, 60)
        return events

    assert asyncio.run(run()) == ["first answered", "second started"]
