"""fetch/routing.py: the transport setting picks the network layer, and the environment's
proxies are honoured with both, against a real proxy and server on 127.0.0.1; the address
guard still checks the target through a proxy."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import ssl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from click.testing import CliRunner

from scraper import errors
from scraper.cli import cli
from scraper.config import Settings, parse_config
from scraper.fetch import fetch, make_client
from scraper.fetch.routing import (
    TARGET_EXTENSION,
    TRANSPORT_EXTENSION,
    Proxies,
    RoutingTransport,
    environment_proxies,
)
from scraper.fetch.transport import AsyncioTransport
from scraper.models import FetchResult
from tests.proxy import Forwarded, Proxy
from tests.server import LocalServer
from tests.sites import write_sites

PAGE = "<html><head><title>Via</title></head><body><p>through the proxy</p></body></html>"


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    """A forward proxy on 127.0.0.1 in whose DNS every name is 127.0.0.1."""
    srv = Proxy().start()
    yield srv
    srv.stop()


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch, proxy: Proxy) -> Proxy:
    """The environment names ``proxy`` for http and https, and bypasses nothing."""
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    return proxy


def _fetch(url: str, settings: Settings, **kwargs: Any) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(settings) as client:
            return await asyncio.wait_for(fetch(client, url, settings, **kwargs), 120)

    return asyncio.run(run())


def _settings(transport_name: str, **changes: Any) -> Settings:
    base = Settings(allow_private=True, retries=0, transport=transport_name)  # type: ignore[arg-type]
    return dataclasses.replace(base, **changes)


async def _public(host: str, port: int) -> Sequence[str]:
    return {"news.test": ["93.184.216.34"], "inside.test": ["10.0.0.5"]}[host]


# --- proxies --------------------------------------------------------------------------------


def test_the_environments_proxy_is_used(
    server: LocalServer, proxied: Proxy, transport_name: str
) -> None:
    server.route("/p", PAGE)
    result = _fetch(server.url("/p"), _settings(transport_name))
    assert "through the proxy" in result.text
    assert proxied.forwarded == [Forwarded("GET", server.url("/p"), f"127.0.0.1:{server.port}")]
    assert len(server.requests_to("/p")) == 1
    assert result.ip_address is None  # the connection's peer was the proxy, not the server


def test_no_proxy_goes_directly(
    server: LocalServer, proxied: Proxy, transport_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NO_PROXY", "example.org, 127.0.0.0/8")
    server.route("/p", PAGE)
    result = _fetch(server.url("/p"), _settings(transport_name))
    assert proxied.forwarded == []
    assert result.ip_address == "127.0.0.1"


def test_through_a_proxy_the_request_names_the_host_not_the_checked_address(
    server: LocalServer, proxied: Proxy, transport_name: str
) -> None:
    """Directly, plain http goes to the checked address; a proxy given that address would
    forward it as the Host, so it gets the name (and resolves it itself)."""
    server.route("/p", PAGE)
    url = f"http://news.test:{server.port}/p"
    result = _fetch(url, _settings(transport_name, allow_private=False), resolver=_public)
    assert result.final_url == url
    assert proxied.forwarded == [Forwarded("GET", url, f"news.test:{server.port}")]
    assert server.requests_to("/p")[0].headers["Host"] == f"news.test:{server.port}"


def test_the_guard_still_checks_the_target_through_a_proxy(
    server: LocalServer, proxied: Proxy, transport_name: str
) -> None:
    url = f"http://inside.test:{server.port}/p"
    settings = _settings(transport_name, allow_private=False)
    with pytest.raises(errors.BlockedAddressError, match="resolves to 10.0.0.5"):
        _fetch(url, settings, resolver=_public)
    with pytest.raises(errors.BlockedAddressError, match="127.0.0.1 is a private"):
        _fetch(server.url("/p"), settings)
    assert proxied.forwarded == []
    assert server.requests == []


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[LocalServer, Path]]:
    """An HTTPS LocalServer with a certificate from a throwaway CA, and the CA's PEM file."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    srv = LocalServer()
    srv.httpd.socket = context.wrap_socket(srv.httpd.socket, server_side=True)
    srv.route("/secure", PAGE)
    srv.start()
    yield srv, ca_file
    srv.stop()


def test_https_through_a_proxy_is_a_verified_tunnel(
    tls_server: tuple[LocalServer, Path],
    proxied: Proxy,
    transport_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    srv, ca_file = tls_server
    url = f"https://127.0.0.1:{srv.port}/secure"
    with pytest.raises(errors.FetchError, match="TLS certificate verification failed"):
        _fetch(url, _settings(transport_name))
    assert srv.requests_to("/secure") == []
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    result = _fetch(url, _settings(transport_name))
    assert "through the proxy" in result.text
    assert proxied.forwarded == [Forwarded("CONNECT", f"127.0.0.1:{srv.port}", "")] * 2


def test_a_proxy_that_is_not_http_is_one_config_line(
    server: LocalServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    with pytest.raises(errors.ConfigError, match="environment ALL_PROXY: .*only http:// and"):
        make_client(Settings())
    args = ["fetch", server.url("/"), "--allow-private", "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "ALL_PROXY" in result.stderr
    assert server.requests == []


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_a_proxy_that_is_down_is_named(
    monkeypatch: pytest.MonkeyPatch, transport_name: str, scheme: str
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = sock.getsockname()[1]
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.setenv("ALL_PROXY", f"http://user:secret@127.0.0.1:{port}")
        with pytest.raises(errors.FetchError) as info:
            _fetch(f"{scheme}://127.0.0.1:9/", _settings(transport_name))
    message = str(info.value)
    assert (
        message
        == f"{scheme}://127.0.0.1:9/: proxy error (cannot connect to the proxy 127.0.0.1:{port})"
    )
    assert "secret" not in message


def test_a_bad_proxy_variable_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("HTTPS_PROXY", "socks5://me:hunter2@proxy.example:1080")
    with pytest.raises(errors.ConfigError) as info:
        make_client(Settings())
    assert str(info.value) == (
        "environment HTTPS_PROXY: 'socks5://me:***@proxy.example:1080': only http:// and "
        "https:// proxies are supported"
    )


@pytest.mark.parametrize(
    ("environ", "url", "proxy"),
    [
        ({"HTTP_PROXY": "p:3128"}, "http://a.example/", "http://p:3128"),
        ({"HTTP_PROXY": "http://p:1"}, "https://a.example/", None),
        ({"ALL_PROXY": "http://p:1"}, "https://a.example/", "http://p:1"),
        (
            {"https_proxy": "http://low:1", "HTTPS_PROXY": "http://up:1"},
            "https://a/",
            "http://low:1",
        ),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.org"}, "http://example.org/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.org"}, "http://www.example.org/", None),
        (
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "example.org"},
            "http://badexample.org/",
            "http://p:1",
        ),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": ".example.org"}, "http://example.org/", None),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "10.0.0.0/8"}, "http://10.2.3.4/", None),
        (
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "a.example:8080"},
            "http://a.example/",
            "http://p:1",
        ),
        (
            {"HTTP_PROXY": "http://p:1", "NO_PROXY": "a.example:8080"},
            "http://a.example:8080/",
            None,
        ),
        ({"HTTP_PROXY": "http://p:1", "NO_PROXY": "x, *"}, "http://a.example/", None),
        ({"HTTP_PROXY": "http://p:1", "REQUEST_METHOD": "GET"}, "http://a.example/", None),
        ({}, "http://a.example/", None),
    ],
)
def test_which_requests_a_proxy_serves(
    environ: dict[str, str], url: str, proxy: str | None
) -> None:
    found = environment_proxies(environ).proxy_for(httpx.URL(url))
    assert (None if found is None else str(found).rstrip("/")) == proxy


def test_a_pinned_request_is_routed_by_its_host_name(
    server: LocalServer, proxied: Proxy, transport_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """NO_PROXY names hosts: a request whose URL is the checked address (as fetch sends plain
    http) is routed by the name it was written with, here directly to that address."""
    monkeypatch.setenv("NO_PROXY", "news.test")
    server.route("/p", PAGE)

    async def run() -> int:
        routes = RoutingTransport(transport_name, httpx.Limits())
        async with httpx.AsyncClient(transport=routes) as client:
            extensions = {TARGET_EXTENSION: f"http://news.test:{server.port}/p"}
            headers = {"Host": f"news.test:{server.port}"}
            pinned = server.url("/p")
            response = await client.get(pinned, headers=headers, extensions=extensions)
            return response.status_code

    assert asyncio.run(run()) == 200
    assert proxied.forwarded == []
    assert server.requests_to("/p")[0].headers["Host"] == f"news.test:{server.port}"


# --- the transport setting ------------------------------------------------------------------


def test_the_setting_picks_the_network_layer(server: LocalServer) -> None:
    """One client, both layers: each request takes the one its fetch's settings name."""
    server.route("/p", PAGE)
    modules: list[str] = []

    async def run() -> None:
        routes = RoutingTransport("fast", httpx.Limits(), proxies=Proxies())
        assert isinstance(routes.leg("fast", httpx.URL(server.url()))[0], AsyncioTransport)
        assert isinstance(routes.leg("httpx", httpx.URL(server.url()))[0], httpx.AsyncHTTPTransport)
        async with httpx.AsyncClient(transport=routes) as client:
            for name in ("fast", "httpx", None):
                extensions = {} if name is None else {TRANSPORT_EXTENSION: name}
                response = await client.get(server.url("/p"), extensions=extensions)
                modules.append(type(response.extensions["network_stream"]).__module__)

    asyncio.run(run())
    assert modules[0] == modules[2] == "scraper.fetch.transport"  # the client's default
    assert modules[1].startswith("httpcore.")


def test_transport_from_the_config_and_the_environment() -> None:
    text = """
[defaults]
transport = 'httpx'
[[site]]
name = 'a'
[[site]]
name = 'b'
transport = 'fast'
"""
    config = parse_config(text, environ={})
    assert config.defaults.transport == "httpx"
    assert [s.settings.transport for s in config.sites] == ["httpx", "fast"]
    config = parse_config(text, environ={"SCRAPER_TRANSPORT": "httpx"})
    assert [s.settings.transport for s in config.sites] == ["httpx", "httpx"]
    assert Settings().transport == "fast"
    with pytest.raises(
        errors.ConfigError, match="defaults.transport: expected 'fast' or 'httpx', got 'h2'"
    ):
        parse_config("[defaults]\ntransport = 'h2'\n", environ={})
    with pytest.raises(errors.ConfigError, match="environment SCRAPER_TRANSPORT: expected 'fast'"):
        parse_config("", environ={"SCRAPER_TRANSPORT": "stock"})


# --- end to end: the CLI ------------------------------------------------------------------


def _site_config(tmp_path: Path, server: LocalServer) -> Path:
    return write_sites(tmp_path, server.url("/index.html"), max_depth=1)


def test_a_crawl_with_scraper_transport_httpx_goes_through_the_proxy(
    server: LocalServer, proxied: Proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``SCRAPER_TRANSPORT=httpx make bench-crawl`` relies on: the variable reaches every
    fetch of a crawl (robots.txt, pages, the fetch helper's too), and proxies are honoured."""
    monkeypatch.setenv("SCRAPER_TRANSPORT", "httpx")
    config = _site_config(tmp_path, server)
    args = ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db"), "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    asked = {f.target for f in proxied.forwarded}
    assert server.url("/robots.txt") in asked
    assert server.url("/index.html") in asked
    assert len(asked) >= 3  # the start page and the pages it links to
    assert {r.path for r in server.requests} == {
        httpx.URL(t).raw_path.decode() for t in asked
    }  # nothing went around the proxy


def test_a_bad_scraper_transport_is_one_line(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCRAPER_TRANSPORT", "turbo")
    config = _site_config(tmp_path, server)
    args = ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: environment SCRAPER_TRANSPORT: expected 'fast' or 'httpx', got 'turbo'"
    )
    assert server.requests == []
