"""What the fast transport's own connection pool (fetch/transport.py) must keep, against a raw
server on 127.0.0.1 that writes each answer byte for byte: conditional GETs and their cookies,
redirects, odd header bytes, keep-alive (reused, closed by the server, spoiled by stray bytes),
chunked bodies, answers cut short, the pool's limit, and a fetch cancelled halfway. Every test
runs with both transports (the ``transport_name`` fixture) and expects the same outcome."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pytest

from scraper import errors
from scraper.config import Settings, Transport
from scraper.fetch import fetch, make_client
from scraper.fetch.client import _Client
from scraper.fetch.routing import Proxies, RoutingTransport
from scraper.models import FetchResult

#: budgets far above what any exchange here needs, on a slow and busy machine too
SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=30.0, concurrency=4)
PAGE = b"<html><head><title>t</title></head><body><p>" + b"words " * 400 + b"</p></body></html>"
#: the transport of the test being run (set by _each_transport)
TRANSPORT: Transport = "fast"


@pytest.fixture(autouse=True)
def _each_transport(transport_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(f"{__name__}.TRANSPORT", transport_name)


@dataclass
class Seen:
    """One request as the raw server read it."""

    connection: int  #: the number of the connection it came on (0, 1, ...)
    head: bytes  #: request line and headers

    @property
    def path(self) -> str:
        return self.head.split(b" ", 2)[1].decode()

    def header(self, name: str) -> str | None:
        for line in self.head.split(b"\r\n")[1:]:
            key, _, value = line.partition(b":")
            if key.strip().lower() == name.lower().encode():
                return value.strip().decode("latin-1")
        return None


#: ``answer(request) -> (bytes to write, close the connection after)``
Answer = Callable[[Seen], tuple[bytes, bool]]


@dataclass
class RawServer:
    port: int
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0


@contextmanager
def raw_server(answer: Answer) -> Iterator[RawServer]:
    """A server on 127.0.0.1 writing ``answer``'s bytes as they are, one thread a connection."""
    listener = socket.create_server(("127.0.0.1", 0))
    server = RawServer(listener.getsockname()[1])
    lock = threading.Lock()
    stop = threading.Event()

    def handle(conn: socket.socket, number: int) -> None:
        buffer = b""
        with conn:
            while not stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    try:
                        data = conn.recv(65536)
                    except OSError:  # the client reset the connection
                        data = b""
                    if not data:
                        break
                    buffer += data
                if b"\r\n\r\n" not in buffer:
                    break
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                seen = Seen(number, head)
                with lock:
                    server.seen.append(seen)
                data, close = answer(seen)
                try:
                    conn.sendall(data)
                except OSError:
                    break
                if close:
                    break

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with lock:
                number = server.connections
                server.connections += 1
            threading.Thread(target=handle, args=(conn, number), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            listener.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not)
        listener.close()
        thread.join(10)


def _fetch_all(
    urls: list[str], settings: Settings = SETTINGS, *, in_flight: int = 1, **kwargs: object
) -> list[FetchResult | errors.FetchError]:
    """Fetch ``urls`` through one client, ``in_flight`` at a time; errors are returned."""
    settings = dataclasses.replace(settings, transport=TRANSPORT)

    async def run() -> list[FetchResult | errors.FetchError]:
        results: list[FetchResult | errors.FetchError] = [None] * len(urls)  # type: ignore[list-item]
        async with make_client(settings) as client:
            slots = asyncio.Semaphore(in_flight)

            async def one(i: int) -> None:
                async with slots:
                    try:
                        results[i] = await fetch(client, urls[i], settings, **kwargs)  # type: ignore[arg-type]
                    except errors.FetchError as exc:
                        results[i] = exc

            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(len(urls)))), 120)
        return results

    return asyncio.run(run())


def _page(status: str = "200 OK", extra: bytes = b"", body: bytes = PAGE) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\n".encode()
        + extra
        + b"Content-Length: %d\r\n\r\n" % len(body)
        + body
    )


NOT_MODIFIED = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'


def _conditional(seen: Seen) -> tuple[bytes, bool]:
    if seen.header("If-None-Match") == '"v1"':
        return NOT_MODIFIED, False
    return _page(extra=b'ETag: "v1"\r\n'), False


def test_304s_and_pages_share_one_keep_alive_connection() -> None:
    with raw_server(_conditional) as server:
        urls = [f"http://127.0.0.1:{server.port}/p{i}" for i in range(6)]
        plain = _fetch_all(urls[:3])
        conditional = _fetch_all(urls, etag='"v1"')
    assert all(isinstance(r, FetchResult) and r.text.count("words") == 400 for r in plain)
    assert all(isinstance(r, FetchResult) and r.not_modified for r in conditional)
    results = [r for r in conditional if isinstance(r, FetchResult)]
    assert [r.status_code for r in results] == [304] * 6
    assert results[0].etag == '"v1"'
    assert results[0].ip_address == "127.0.0.1"
    # one connection per client: the first client's 3 requests on one, the second's 6 on another
    assert [s.connection for s in server.seen] == [0] * 3 + [1] * 6


def test_a_304_that_sets_a_cookie_sends_it_next_time() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        if seen.path == "/first":
            return b"HTTP/1.1 304 Not Modified\r\nSet-Cookie: session=abc; Path=/\r\n\r\n", False
        return NOT_MODIFIED, False

    with raw_server(answer) as server:
        base = f"http://127.0.0.1:{server.port}"
        results = _fetch_all([f"{base}/first", f"{base}/second"], etag='"v1"')
    assert all(isinstance(r, FetchResult) and r.not_modified for r in results)
    assert server.seen[0].header("Cookie") is None
    assert server.seen[1].header("Cookie") == "session=abc"
    assert server.seen[1].connection == 0


def test_a_conditional_get_redirected_ends_with_the_304_of_the_target() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        if seen.path == "/old":
            return (
                b"HTTP/1.1 301 Moved Permanently\r\nLocation: /new\r\nContent-Length: 0\r\n\r\n",
                False,
            )
        return _conditional(seen)

    with raw_server(answer) as server:
        base = f"http://127.0.0.1:{server.port}"
        (result,) = _fetch_all([f"{base}/old"], etag='"v1"')
    assert isinstance(result, FetchResult)
    assert result.not_modified
    assert result.final_url == f"{base}/new"
    assert result.redirects == (f"{base}/old",)
    assert [s.path for s in server.seen] == ["/old", "/new"]
    assert [s.connection for s in server.seen] == [0, 0]


def test_header_values_with_high_bytes_arrive_as_latin1() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        return _page(extra=b"X-Name: caf\xe9 \xff\r\nX-Empty:\r\nX-Spaced:   a  b   \r\n"), False

    with raw_server(answer) as server:
        (result,) = _fetch_all([f"http://127.0.0.1:{server.port}/"])
    assert isinstance(result, FetchResult)
    assert result.header("x-name") == "caf\xe9 \xff"
    assert result.header("x-empty") == ""
    assert result.header("x-spaced") == "a  b"


@pytest.mark.parametrize(
    "bad",
    [b"X-Bad: a\x00b\r\n", b"X Bad: a\r\n", b"X-Bad: a\x0cb\r\n", b"Bad-Line\r\n"],
    ids=["nul", "space-in-name", "form-feed", "no-colon"],
)
def test_a_header_line_that_is_not_http_is_an_invalid_response(bad: bytes) -> None:
    with raw_server(lambda seen: (_page(extra=bad), False)) as server:
        (result,) = _fetch_all([f"http://127.0.0.1:{server.port}/"])
    assert isinstance(result, errors.FetchError)
    assert "invalid HTTP response" in result.message


def test_an_informational_answer_before_the_304_is_skipped() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        return b"HTTP/1.1 100 Continue\r\n\r\n" + NOT_MODIFIED, False

    with raw_server(answer) as server:
        results = _fetch_all([f"http://127.0.0.1:{server.port}/{i}" for i in range(2)], etag='"v1"')
    assert all(isinstance(r, FetchResult) and r.not_modified for r in results)
    assert [s.connection for s in server.seen] == [0, 0]


def test_connection_close_and_http_1_0_answers_are_not_reused() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        if seen.path.startswith("/close"):
            return _page(extra=b"Connection: close\r\n"), True
        if seen.path.startswith("/old"):
            return b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + PAGE, True
        return _page(), False

    with raw_server(answer) as server:
        base = f"http://127.0.0.1:{server.port}"
        paths = ["/close1", "/close2", "/old1", "/old2", "/keep1", "/keep2"]
        results = _fetch_all([base + p for p in paths])
    assert all(isinstance(r, FetchResult) and r.text.count("words") == 400 for r in results)
    assert [s.connection for s in server.seen] == [0, 1, 2, 3, 4, 4]


def test_chunked_bodies_arrive_whole_and_keep_the_connection() -> None:
    pieces = [PAGE[i : i + 700] for i in range(0, len(PAGE), 700)]
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\nX-T: 1\r\n\r\n"

    def answer(seen: Seen) -> tuple[bytes, bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head + chunked, False

    with raw_server(answer) as server:
        results = _fetch_all([f"http://127.0.0.1:{server.port}/{i}" for i in range(3)])
    assert all(isinstance(r, FetchResult) and r.body == PAGE for r in results)
    assert [s.connection for s in server.seen] == [0, 0, 0]


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        (b"", "closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Type: te", "closed the connection without answering"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + PAGE[:100], "truncated"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n" + PAGE[:50], "truncated"),
        (b"HTTP/1.1 2OO OK\r\n\r\n", "invalid HTTP response"),
    ],
    ids=["nothing", "mid-headers", "mid-body", "mid-chunk", "bad-status-line"],
)
def test_an_answer_cut_short_is_its_error_and_the_next_request_still_works(
    sent: bytes, expected: str
) -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        return (sent, True) if seen.path == "/cut" else (_page(), False)

    with raw_server(answer) as server:
        base = f"http://127.0.0.1:{server.port}"
        cut, after = _fetch_all([f"{base}/cut", f"{base}/fine"])
    assert isinstance(cut, errors.FetchError), cut
    assert expected in cut.message
    assert isinstance(after, FetchResult)
    assert after.text.count("words") == 400


def test_the_pool_opens_no_more_connections_than_the_limit_and_queues_the_rest() -> None:
    settings = dataclasses.replace(SETTINGS, concurrency=2)
    with raw_server(_conditional) as server:
        urls = [f"http://127.0.0.1:{server.port}/{i}" for i in range(40)]
        results = _fetch_all(urls, settings, in_flight=8, etag='"v1"')
    assert all(isinstance(r, FetchResult) and r.not_modified for r in results)
    assert server.connections == 2
    assert len(server.seen) == 40


def test_a_fetch_cancelled_mid_body_leaves_the_pool_working() -> None:
    """A fetch given up halfway (its deadline, the crawl stopping) must not hand its connection,
    with the rest of its answer still to come, to the next request."""

    def answer(seen: Seen) -> tuple[bytes, bool]:
        if seen.path == "/slow":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
            return head + PAGE[:200], False  # and the rest never comes
        return _page(), False

    settings = dataclasses.replace(SETTINGS, transport=TRANSPORT, concurrency=1)

    async def run() -> tuple[BaseException | None, FetchResult]:
        async with make_client(settings) as client:
            base = f"http://127.0.0.1:{port}"
            task = asyncio.create_task(fetch(client, f"{base}/slow", settings))
            while not any(s.path == "/slow" for s in server.seen):
                await asyncio.sleep(0.01)  # until the server has the request (an event)
            await asyncio.sleep(0)
            task.cancel()
            outcome = await asyncio.gather(task, return_exceptions=True)
            after = await asyncio.wait_for(fetch(client, f"{base}/fine", settings), 60)
            return outcome[0] if isinstance(outcome[0], BaseException) else None, after

    with raw_server(answer) as server:
        port = server.port
        cancelled, after = asyncio.run(run())
    assert isinstance(cancelled, asyncio.CancelledError)
    assert after.text.count("words") == 400
    assert [s.connection for s in server.seen] == [0, 1]


def test_the_cheaper_request_is_the_request_build_request_makes() -> None:
    """fetch's requests come from a header template per set of headers: the same headers, in
    the same order and letter case, the same URL and extensions as httpx's build_request."""
    settings = Settings(user_agent="wbot/1.0 (+https://example.org/bot)")
    client = make_client(settings)
    assert isinstance(client, _Client)
    html = {"Accept": "text/html;q=0.9,*/*;q=0.1", "User-Agent": settings.user_agent}
    cases: list[tuple[str | httpx.URL, dict[str, str]]] = [
        ("http://example.org/a?b=c", html),
        ("http://example.org:8080/a", {**html, "If-None-Match": '"v1"'}),
        ("https://example.org/", {**html, "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        ("http://example.org/x", {"Accept": "*/*", "User-Agent": "other", "If-None-Match": "w"}),
        (
            httpx.URL("http://93.184.216.34/p"),
            {**html, "If-None-Match": '"v2"', "Host": "example.org"},
        ),
    ]
    compared = 0
    for _ in range(2):  # the first time builds each template, the second uses it
        for url, headers in cases:
            extensions = {"scraper.transport": "fast"}
            ours = client.get_request(url, dict(headers), dict(extensions))
            theirs = client.build_request("GET", url, headers=headers, extensions=extensions)
            assert ours.headers.raw == theirs.headers.raw
            assert (ours.method, ours.url, ours.extensions) == (
                theirs.method,
                theirs.url,
                theirs.extensions,
            )
            compared += 1
        client.headers["X-Later"] = "1"  # a header the client is given later counts too
    client.cookies.set("session", "abc", domain="example.org")
    ours = client.get_request("http://example.org/a", dict(html), {})
    assert ours.headers["Cookie"] == "session=abc"
    assert (
        ours.headers.raw
        == client.build_request("GET", "http://example.org/a", headers=html).headers.raw
    )
    assert compared == 10


def test_a_full_pool_closes_an_idle_connection_of_another_host_to_make_room() -> None:
    settings = dataclasses.replace(SETTINGS, concurrency=1)
    with raw_server(_conditional) as one, raw_server(_conditional) as two:
        urls = [f"http://127.0.0.1:{s.port}/{i}" for i in range(3) for s in (one, two)]
        results = _fetch_all(urls, settings, etag='"v1"')
    assert all(isinstance(r, FetchResult) and r.not_modified for r in results)
    assert (one.connections, two.connections) == (3, 3)  # one open at a time, in turn


def test_a_request_that_finds_no_free_connection_in_time_is_a_pool_timeout() -> None:
    """The pool's limit holds while a response is being read: a second request waits for the
    connection, and gives up after its pool timeout (httpx's PoolTimeout, either transport)."""

    def answer(seen: Seen) -> tuple[bytes, bool]:
        head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
        return head + PAGE[:100], False  # the rest never comes: the connection stays busy

    async def run(port: int) -> None:
        routes = RoutingTransport(TRANSPORT, httpx.Limits(max_connections=1), proxies=Proxies())
        timeout = httpx.Timeout(30.0, pool=0.3)  # a request that cannot end waits it out
        async with httpx.AsyncClient(transport=routes, timeout=timeout) as client:
            busy = await client.send(
                client.build_request("GET", f"http://127.0.0.1:{port}/a"), stream=True
            )
            try:
                with pytest.raises(httpx.PoolTimeout):
                    await client.get(f"http://127.0.0.1:{port}/b")
            finally:
                await busy.aclose()
            # the first response closed unread: its connection is dropped, the pool has room
            with pytest.raises(httpx.ReadTimeout):
                await client.get(
                    f"http://127.0.0.1:{port}/c", timeout=httpx.Timeout(30.0, read=0.3)
                )

    with raw_server(answer) as server:
        asyncio.run(asyncio.wait_for(run(server.port), 120))
    assert [s.path for s in server.seen] == ["/a", "/c"]
    assert server.connections == 2


def test_a_status_line_and_headers_too_long_are_refused() -> None:
    huge = b"X-Big: " + b"a" * (200 * 1024) + b"\r\n"
    with raw_server(lambda seen: (_page(extra=huge), False)) as server:
        (result,) = _fetch_all([f"http://127.0.0.1:{server.port}/"])
    assert isinstance(result, errors.FetchError)
    assert "invalid HTTP response" in result.message


def test_a_101_nobody_asked_for_is_an_invalid_response_and_its_connection_is_not_reused() -> None:
    def answer(seen: Seen) -> tuple[bytes, bool]:
        if seen.path == "/switch":
            return b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\n\r\n", False
        return _page(), False

    with raw_server(answer) as server:
        base = f"http://127.0.0.1:{server.port}"
        switched, after = _fetch_all([f"{base}/switch", f"{base}/fine"])
    assert isinstance(switched, errors.FetchError)
    assert "invalid HTTP response" in switched.message  # h11 refuses a switch not proposed
    assert isinstance(after, FetchResult)
    assert [s.connection for s in server.seen] == [0, 1]
