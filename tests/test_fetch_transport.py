"""fetch/transport.py against real servers on 127.0.0.1: keep-alive, connections the server
closed while idle, large bodies, TLS verified (and never downgraded), errors as httpx errors;
each test runs with both transports (the ``transport_name`` fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import trustme

from scraper import errors
from scraper.config import Settings
from scraper.fetch import fetch, make_client
from scraper.fetch.routing import TRANSPORT_EXTENSION, Proxies, RoutingTransport
from scraper.models import FetchResult
from tests.server import LocalServer

SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=10.0)
#: the transport of the test being run (set by _each_transport)
TRANSPORT = "fast"


@pytest.fixture(autouse=True)
def _each_transport(transport_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module runs with each transport."""
    monkeypatch.setattr(f"{__name__}.TRANSPORT", transport_name)


def _fetch_all(
    urls: list[str], *, after_each: threading.Event | None = None, **kwargs: object
) -> list[FetchResult]:
    """Fetch ``urls`` one after another through one client (one connection pool); with
    ``after_each``, wait for the server to set it after each answer (and clear it)."""

    settings = dataclasses.replace(SETTINGS, transport=TRANSPORT)

    async def run() -> list[FetchResult]:
        results = []
        loop = asyncio.get_running_loop()
        async with make_client(settings) as client:
            for url in urls:
                results.append(await fetch(client, url, settings, **kwargs))  # type: ignore[arg-type]
                if after_each is not None:
                    assert await loop.run_in_executor(None, after_each.wait, 60)
                    after_each.clear()
        return results

    return asyncio.run(run())


def test_keep_alive_reuses_one_connection(server: LocalServer) -> None:
    server.route("/p", "<html><body><p>same page</p></body></html>")
    results = _fetch_all([server.url("/p")] * 10)
    assert [r.status_code for r in results] == [200] * 10
    peers = {r.peer for r in server.requests_to("/p")}
    assert len(server.requests_to("/p")) == 10
    assert len(peers) == 1


def test_a_connection_the_server_closed_while_idle_is_not_reused(server: LocalServer) -> None:
    """The server drops each connection after answering (no "Connection: close" said): the
    pooled connection is seen to be closed and a new one opened, with no failed attempt
    (retries are off, so a request sent on the dead connection would fail the fetch)."""
    body = b"<html><body><p>then I hang up</p></body></html>"
    hung_up = threading.Event()

    def answer_then_hang_up(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.shutdown(socket.SHUT_WR)  # the FIN is on its way now
        hung_up.set()

    server.route("/bye", handler=answer_then_hang_up)
    # the next request goes out only once the server has hung up (an event, not a pause)
    results = _fetch_all([server.url("/bye")] * 5, after_each=hung_up)
    assert [r.body for r in results] == [body] * 5
    assert len({r.peer for r in server.requests_to("/bye")}) == 5


def test_a_large_body_arrives_whole(server: LocalServer) -> None:
    payload = os.urandom(3 * 1024 * 1024)
    server.route("/big", payload, headers={"Content-Type": "application/octet-stream"})
    settings = dataclasses.replace(SETTINGS, max_bytes=8 * 1024 * 1024, transport=TRANSPORT)

    async def run() -> FetchResult:
        async with make_client(settings) as client:
            return await fetch(client, server.url("/big"), settings, accept=())

    result = asyncio.run(run())
    assert hashlib.sha256(result.body).digest() == hashlib.sha256(payload).digest()


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalServer, Path]]:
    """A LocalServer speaking HTTPS with a certificate from a throwaway CA; yields the server
    and the CA's PEM file (which the machine's trust store does not know)."""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    srv = LocalServer()
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    srv.route("/secure", "<html><body><p>over TLS</p></body></html>")
    srv.start()
    yield srv, ca_file
    srv.stop()


def test_https_is_verified_and_never_downgraded(tls_server: tuple[LocalServer, Path]) -> None:
    srv, _ = tls_server
    url = f"https://127.0.0.1:{srv.port}/secure"
    with pytest.raises(errors.FetchError, match="TLS certificate verification failed"):
        _fetch_all([url])
    assert srv.requests_to("/secure") == []  # nothing was sent without a verified certificate


def test_https_with_a_trusted_certificate(
    tls_server: tuple[LocalServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, ca_file = tls_server
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # the trust store, as users set it
    results = _fetch_all([f"https://127.0.0.1:{srv.port}/secure"] * 3)
    assert [r.text for r in results] == ["<html><body><p>over TLS</p></body></html>"] * 3
    assert len({r.peer for r in srv.requests_to("/secure")}) == 1  # kept alive over TLS


# --- errors ------------------------------------------------------------------------------


def _get(port: int, timeout_seconds: float = 30.0) -> None:
    """GET http://127.0.0.1:<port>/ through the test's transport (no fetch() around it)."""

    async def run() -> None:
        transport = RoutingTransport(TRANSPORT, httpx.Limits(), proxies=Proxies())
        timeout = httpx.Timeout(timeout_seconds)
        async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
            url = f"http://127.0.0.1:{port}/"
            await client.get(url, extensions={TRANSPORT_EXTENSION: TRANSPORT})

    asyncio.run(run())


def test_a_refused_connection_is_an_httpx_connect_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: the connection is refused

        with pytest.raises(httpx.ConnectError):
            _get(port)


@contextmanager
def _one_connection(handle: Callable[[socket.socket], object]) -> Iterator[int]:
    """A raw server on 127.0.0.1 that takes one connection and hands it to ``handle``."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            handle(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        thread.join(5)
        listener.close()


def _say_nothing(conn: socket.socket) -> None:
    while conn.recv(65536):  # read the request and wait, answering nothing, until the client goes
        pass


def _hang_up_mid_body(conn: socket.socket) -> None:
    conn.recv(65536)
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly this much")


def test_a_silent_server_is_an_httpx_read_timeout() -> None:
    with _one_connection(_say_nothing) as port, pytest.raises(httpx.ReadTimeout):
        _get(port, timeout_seconds=0.3)  # it never answers: any budget runs out


def test_a_server_that_hangs_up_mid_body_is_an_httpx_error() -> None:
    with _one_connection(_hang_up_mid_body) as port, pytest.raises(httpx.RemoteProtocolError):
        _get(port)
