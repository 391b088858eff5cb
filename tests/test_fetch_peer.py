"""fetch/peer.py: each FetchResult says the IP address of the server that answered, read from
the connection (scraper's own transport, httpx's stock one, TLS, the final hop of a redirect),
against real servers on loopback addresses other than 127.0.0.1 too, so that a hard-coded or
guessed value would fail."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
import trustme

from scraper.config import Settings
from scraper.fetch import fetch, make_client
from scraper.fetch.peer import peer_address
from scraper.models import FetchResult
from tests.server import LocalServer

SETTINGS = Settings(allow_private=True, retries=0, deadline_seconds=30.0)
PAGE = "<html><head><title>T</title></head><body><p>Peer page.</p></body></html>"


def _fetch(
    url: str, *, transport: httpx.AsyncBaseTransport | None = None, etag: str | None = None
) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(SETTINGS, transport=transport) as client:
            return await fetch(client, url, SETTINGS, etag=etag)

    return asyncio.run(run())


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A server on 127.0.0.2: a loopback address that is not the usual one."""
    srv = LocalServer(host="127.0.0.2")
    srv.route("/p", PAGE, headers={"ETag": '"v1"'})
    srv.start()
    yield srv
    srv.stop()


def test_scrapers_transport_gives_the_servers_address(other_server: LocalServer) -> None:
    result = _fetch(other_server.url("/p"))
    assert result.status_code == 200
    assert result.ip_address == "127.0.0.2"


def test_httpx_stock_transport_gives_the_servers_address(other_server: LocalServer) -> None:
    result = _fetch(other_server.url("/p"), transport=httpx.AsyncHTTPTransport())
    assert result.ip_address == "127.0.0.2"


def test_a_304_gives_the_servers_address(other_server: LocalServer) -> None:
    def conditional(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(304)
        handler.send_header("ETag", '"v1"')
        handler.end_headers()

    other_server.route("/p", handler=conditional)
    result = _fetch(other_server.url("/p"), etag='"v1"')
    assert result.not_modified
    assert result.ip_address == "127.0.0.2"


def test_a_redirect_gives_the_final_hops_address(
    server: LocalServer, other_server: LocalServer
) -> None:
    """127.0.0.1 redirects to 127.0.0.2: the address is the one that answered the page."""
    server.route("/moved", status=301, headers={"Location": other_server.url("/p")})
    result = _fetch(server.url("/moved"))
    assert result.redirects == (server.url("/moved"),)
    assert result.ip_address == "127.0.0.2"


def test_a_host_name_gives_the_address_connected_to(server: LocalServer) -> None:
    server.route("/p", PAGE)
    result = _fetch(f"http://localhost:{server.port}/p")
    assert result.ip_address == "127.0.0.1"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("stock", [False, True], ids=["scraper-transport", "httpx-transport"])
def test_ipv6_gives_the_bare_address(stock: bool) -> None:
    srv = LocalServer(host="::1")
    srv.route("/p", PAGE)
    srv.start()
    try:
        result = _fetch(srv.url("/p"), transport=httpx.AsyncHTTPTransport() if stock else None)
    finally:
        srv.stop()
    assert result.ip_address == "::1"


@pytest.fixture
def tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalServer]:
    """An HTTPS server on 127.0.0.2 whose throwaway CA is the trust store (SSL_CERT_FILE)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.2").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    srv = LocalServer(host="127.0.0.2")
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    srv.route("/secure", PAGE)
    srv.start()
    yield srv
    srv.stop()


def test_https_gives_the_servers_address(tls_server: LocalServer) -> None:
    result = _fetch(f"https://127.0.0.2:{tls_server.port}/secure")
    assert result.text == PAGE
    assert result.ip_address == "127.0.0.2"


def test_no_connection_no_address() -> None:
    """A transport without a network connection (httpx.MockTransport): unknown, not made up."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, html=PAGE))
    result = _fetch("http://127.0.0.2/p", transport=transport)
    assert result.status_code == 200
    assert result.ip_address is None


class _Stream:
    """A network stream that reports ``peer`` as its server address (or raises it)."""

    def __init__(self, peer: object) -> None:
        self.peer = peer

    def get_extra_info(self, info: str) -> object:
        if isinstance(self.peer, Exception):
            raise self.peer
        return self.peer if info == "server_addr" else None


@pytest.mark.parametrize(
    ("peer", "expected"),
    [
        (("192.0.2.7", 80), "192.0.2.7"),
        (("::ffff:192.0.2.7", 80, 0, 0), "192.0.2.7"),  # a dual-stack socket's IPv4 peer
        (("2001:DB8::1", 443, 0, 0), "2001:db8::1"),
        (("example.org", 80), None),  # a name is not an address
        (("192.0.2.7\r\nX-Injected: 1", 80), None),
        ("/run/server.sock", None),  # a unix socket's peer name
        (None, None),
        ((), None),
        (OSError("closed"), None),
    ],
)
def test_peer_address_is_an_address_or_nothing(peer: object, expected: str | None) -> None:
    request = httpx.Request("GET", "http://192.0.2.7/")
    response = httpx.Response(200, request=request, extensions={"network_stream": _Stream(peer)})
    assert peer_address(response) == expected
    assert peer_address(httpx.Response(200, request=request)) is None  # no stream at all
