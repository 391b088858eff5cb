"""fetch/worker.py: fetches done by a helper process against a real server on 127.0.0.1 give
what the same fetch gives in-process, errors included; a dead or closed helper says so."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

import scraper.fetch.worker as worker_module
from scraper import errors
from scraper.config import Settings
from scraper.crawl import _process_alive
from scraper.fetch import fetch, make_client
from scraper.fetch.worker import FetchWorker, WorkerGone
from scraper.models import FetchResult
from tests.server import LocalServer

REPO = Path(__file__).resolve().parents[1]
SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=10.0, user_agent="wbot/1.0")
PAGE = "<html><head><title>T</title></head><body><p>Worker page.</p></body></html>"


def _comparable(result: FetchResult) -> tuple[object, ...]:
    """A result without what differs from one fetch to the next (time, Date header)."""
    headers = tuple((k, v) for k, v in result.headers if k.lower() != "date")
    return (
        result.url,
        result.final_url,
        result.status_code,
        result.body,
        result.text,
        result.content_type,
        result.not_modified,
        result.redirects,
        headers,
        result.request_headers,
        result.ip_address,
    )


def _conditional(handler: BaseHTTPRequestHandler) -> None:
    """200 with an ETag, or 304 when the client already has it."""
    fresh = handler.headers.get("If-None-Match") == '"v1"'
    body = b"" if fresh else PAGE.encode()
    handler.send_response(304 if fresh else 200)
    handler.send_header("ETag", '"v1"')
    handler.send_header("Content-Type", "text/html; charset=utf-8")
    if not fresh:
        handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def test_a_worker_fetch_is_the_same_fetch(server: LocalServer) -> None:
    server.route("/a", handler=_conditional)
    server.route("/old", "", status=301, headers={"Location": "/a"})

    async def run() -> tuple[list[FetchResult], list[FetchResult]]:
        worker = await FetchWorker().start()
        try:
            async with make_client(SETTINGS) as client:
                here = [
                    await fetch(client, server.url("/a"), SETTINGS),
                    await fetch(client, server.url("/a"), SETTINGS, etag='"v1"'),
                    await fetch(client, server.url("/old"), SETTINGS),
                ]
            there = [
                await worker.fetch(server.url("/a"), SETTINGS),
                await worker.fetch(server.url("/a"), SETTINGS, etag='"v1"'),
                await worker.fetch(server.url("/old"), SETTINGS),
            ]
        finally:
            await worker.aclose()
        return here, there

    here, there = asyncio.run(run())
    assert [_comparable(r) for r in there] == [_comparable(r) for r in here]
    assert there[1].not_modified
    assert there[2].final_url == server.url("/a")
    assert [r.ip_address for r in there] == ["127.0.0.1"] * 3  # the peer crosses the pipe
    sent = server.requests_to("/a")
    assert [r.headers.get("If-None-Match") for r in sent] == [None, '"v1"', None] * 2
    assert {r.headers["User-Agent"] for r in sent} == {"wbot/1.0"}


def test_errors_come_back_whole(server: LocalServer) -> None:
    server.route("/gone", "nope", status=503, headers={"Retry-After": "120"})
    private = dataclasses.replace(SETTINGS, allow_private=False)

    async def run() -> list[BaseException]:
        worker = await FetchWorker().start()
        caught: list[BaseException] = []
        try:
            for url, settings in ((server.url("/gone"), SETTINGS), (server.url("/"), private)):
                try:
                    await worker.fetch(url, settings)
                except errors.FetchError as exc:
                    caught.append(exc)
        finally:
            await worker.aclose()
        return caught

    status, blocked = asyncio.run(run())
    assert isinstance(status, errors.BadStatusError)
    assert (status.status_code, status.retry_after_seconds, status.url) == (
        503,
        120.0,
        server.url("/gone"),
    )
    assert status.kind == "status"
    assert "HTTP 503" in status.message
    assert isinstance(blocked, errors.BlockedAddressError)  # the guard runs in the helper too


def test_many_requests_in_flight_each_get_their_own_answer(server: LocalServer) -> None:
    for n in range(30):
        server.route(f"/p{n}", f"<html><body><p>page number {n}</p></body></html>")

    async def run() -> list[str]:
        worker = await FetchWorker().start()
        try:
            results = await asyncio.gather(
                *(worker.fetch(server.url(f"/p{n}"), SETTINGS) for n in range(30))
            )
        finally:
            await worker.aclose()
        return [r.text for r in results]

    assert asyncio.run(run()) == [
        f"<html><body><p>page number {n}</p></body></html>" for n in range(30)
    ]


def test_a_killed_worker_fails_what_it_was_doing_and_closes_cleanly(
    server: LocalServer,
) -> None:
    server.route("/a", PAGE)
    arrived = threading.Event()
    done = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> None:
        arrived.set()
        done.wait(60)  # answers only once the test is over
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.route("/slow", handler=slow)

    async def run() -> tuple[bool, int]:
        worker = await FetchWorker().start()
        await worker.fetch(server.url("/a"), SETTINGS)
        pid = worker.pid
        assert pid is not None
        in_flight = asyncio.create_task(worker.fetch(server.url("/slow"), SETTINGS))
        # the child has sent the request and waits for the server's answer
        assert await asyncio.get_running_loop().run_in_executor(None, arrived.wait, 60)
        os.kill(pid, signal.SIGKILL)
        with pytest.raises(WorkerGone):
            await in_flight
        with pytest.raises(WorkerGone):
            await worker.fetch(server.url("/a"), SETTINGS)
        available = worker.available
        await worker.aclose()
        return available, pid

    try:
        available, pid = asyncio.run(run())
    finally:
        done.set()
    assert not available
    assert not _process_alive(pid)


def test_closing_ends_the_child(server: LocalServer) -> None:
    server.route("/a", PAGE)

    async def run() -> int:
        worker = await FetchWorker().start()
        await worker.fetch(server.url("/a"), SETTINGS)
        pid = worker.pid
        assert pid is not None
        await worker.aclose()
        with pytest.raises(WorkerGone):
            await worker.fetch(server.url("/a"), SETTINGS)
        return pid

    pid = asyncio.run(run())
    assert not _process_alive(pid)


def test_the_child_leaves_when_its_parent_dies(tmp_path: Path) -> None:
    """A parent killed with SIGKILL closes nothing; the child sees its connection end."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import asyncio, os, sys, time\n"
        "from scraper.fetch.worker import FetchWorker\n"
        "async def main():\n"
        "    worker = await FetchWorker().start()\n"
        "    print(worker.pid, flush=True)\n"
        "    time.sleep(60)\n"
        "if __name__ == '__main__':\n"
        "    asyncio.run(main())\n"
    )
    parent = subprocess.Popen(
        [sys.executable, str(script)], cwd=REPO, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert _process_alive(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _process_alive(child):
            time.sleep(0.05)
        assert not _process_alive(child)
    finally:
        parent.kill()
        parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()


def _fetch_error_classes() -> list[type[errors.FetchError]]:
    found: list[type[errors.FetchError]] = [errors.FetchError]
    for cls in found:
        found.extend(c for c in cls.__subclasses__() if c not in found)
    return found


@pytest.mark.parametrize("cls", _fetch_error_classes(), ids=lambda c: c.__name__)
def test_every_fetch_error_survives_the_trip(cls: type[errors.FetchError]) -> None:
    sent = cls("http://example.org/x", "it went wrong", status_code=429, elapsed_ms=12)
    sent.retry_after_seconds = 30.0
    back = pickle.loads(pickle.dumps(sent))
    assert type(back) is cls
    assert (back.url, back.message, back.status_code, back.elapsed_ms) == (
        "http://example.org/x",
        "it went wrong",
        429,
        12,
    )
    assert back.retry_after_seconds == 30.0
    assert str(back) == str(sent)
    assert back.kind == cls.kind


def test_a_hung_worker_is_given_up_and_killed(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.route("/a", PAGE)
    monkeypatch.setattr(worker_module, "GRACE_SECONDS", 0.5)
    quick = dataclasses.replace(SETTINGS, deadline_seconds=0.5)

    async def run() -> tuple[str | None, int]:
        worker = await FetchWorker().start()
        await worker.fetch(server.url("/a"), SETTINGS)  # a budget far above what it needs
        pid = worker.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # alive, but answers nothing
        with pytest.raises(WorkerGone, match="did not answer within 1 s"):
            await worker.fetch(server.url("/a"), quick)
        failure = worker.failure
        await worker.aclose()
        return failure, pid

    failure, pid = asyncio.run(run())
    assert failure == "the fetch process did not answer within 1 s"
    assert not _process_alive(pid)  # killed, not left stopped


def test_the_helper_fetches_through_the_proxies_of_the_crawl_as_they_are_now(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The helper comes from a forkserver, whose environment is that of whenever it started:
    the helper takes the crawl's proxy variables of the moment it is started instead, set or
    unset, whatever the forkserver had."""
    server.route("/a", PAGE)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: a proxy that refuses
    dead_proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"

    async def fetched() -> str:
        worker = await FetchWorker().start()
        try:
            return (await worker.fetch(server.url("/a"), SETTINGS)).text
        except errors.FetchError as exc:
            return exc.message
        finally:
            await worker.aclose()

    try:
        for name in [n for n in os.environ if n.lower().endswith("_proxy")]:
            monkeypatch.delenv(name)
        monkeypatch.setenv("HTTP_PROXY", dead_proxy)
        assert "proxy error" in asyncio.run(fetched())
        monkeypatch.delenv("HTTP_PROXY")
        assert "Worker page." in asyncio.run(fetched())
        monkeypatch.setenv("http_proxy", dead_proxy)
        assert "proxy error" in asyncio.run(fetched())
    finally:
        closed.close()
