"""Every fault of tests/faults.py through fetch(): the specific error (or a correct decode),
within the deadline, with bombs stopped early and nothing sent to a private address; each
test runs with both transports (the ``transport_name`` fixture)."""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest

from scraper import errors
from scraper.config import Settings
from scraper.fetch import Robots, fetch, fetch_robots, make_client
from scraper.fetch.routing import Proxies, RoutingTransport
from scraper.models import FetchResult
from tests.faults import FAULTS, Fault, FaultServer, fault_server

__all__ = ["fault_server"]

MB = 1024 * 1024
#: budgets far above what any fault that ends needs, on a slow and busy machine too: a fault
#: must end with its own outcome, never with a timeout because the machine was slow
SETTINGS = Settings(
    allow_private=True,
    max_bytes=4 * MB,
    connect_timeout_seconds=30.0,
    read_timeout_seconds=30.0,
    deadline_seconds=60.0,
    retries=2,
    retry_max_wait_seconds=0.05,
    max_redirects=10,
)
#: budgets are tested with faults that never end: /hang never answers, so any read timeout
#: ends it (retried twice, well before the deadline) ...
HANG_SETTINGS = dataclasses.replace(SETTINGS, read_timeout_seconds=0.4, deadline_seconds=30.0)
#: ... and /trickle sends a byte a second for 1,000 s, far under the read timeout and far over
#: the deadline, which is what stops it
TRICKLE_SETTINGS = dataclasses.replace(SETTINGS, deadline_seconds=2.5)
#: a liveness guard, not a speed assertion: a fetch that ignored its deadline fails the test
GUARD_SECONDS = 2 * SETTINGS.deadline_seconds
#: the transport of the test being run (set by _each_transport)
TRANSPORT = "fast"


@pytest.fixture(autouse=True)
def _each_transport(transport_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test of this module runs with each transport."""
    monkeypatch.setattr(f"{__name__}.TRANSPORT", transport_name)


class _CountingStream(httpx.AsyncByteStream):
    def __init__(self, inner: httpx.AsyncByteStream, owner: CountingTransport) -> None:
        self._inner = inner
        self._owner = owner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._owner.received += len(chunk)
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport (the one the fetch's settings name), counting the body bytes fetch
    pulls off the wire."""

    def __init__(self, route_host: str | None = None, port: int | None = None) -> None:
        self._inner = RoutingTransport(TRANSPORT, httpx.Limits(), proxies=Proxies())
        self.received = 0
        self.hosts: list[str] = []
        self._route_host = route_host
        self._port = port

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.headers["host"])
        if self._route_host is not None:
            # "public.test" stands for a public site (93.184.216.34, where fetch pins the
            # connection after checking the address); the fault server plays its part
            assert request.headers["host"] == self._route_host, f"connected to {request.url}"
            assert request.url.host == "93.184.216.34", f"connected to {request.url}"
            request.url = request.url.copy_with(host="127.0.0.1", port=self._port)
        response = await self._inner.handle_async_request(request)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=_CountingStream(response.stream, self),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


async def _public_resolver(host: str, port: int) -> Sequence[str]:
    return {"public.test": ["93.184.216.34"], "rebind.test": ["93.184.216.34", "127.0.0.1"]}[host]


def _fetch(
    url: str,
    settings: Settings = SETTINGS,
    transport: httpx.AsyncBaseTransport | None = None,
    **kwargs: Any,
) -> FetchResult:
    settings = dataclasses.replace(settings, transport=TRANSPORT)

    async def run() -> FetchResult:
        async with make_client(settings, transport=transport) as client:
            return await asyncio.wait_for(fetch(client, url, settings, **kwargs), GUARD_SECONDS)

    return asyncio.run(run())


def _settings_for(fault: Fault) -> Settings:
    if fault.path.startswith("/hang"):
        return HANG_SETTINGS
    return TRICKLE_SETTINGS if fault.path == "/trickle" else SETTINGS


@pytest.mark.parametrize("fault", FAULTS, ids=[f.path for f in FAULTS])
def test_every_fault_ends_with_its_outcome(fault_server: FaultServer, fault: Fault) -> None:
    kwargs: dict[str, Any] = {} if fault.accept is None else {"accept": fault.accept}
    if fault.expect == "ok":
        result = _fetch(fault_server.url(fault.path), _settings_for(fault), **kwargs)
        assert result.status_code == 200
        assert result.body
    else:
        expected = getattr(errors, fault.expect)
        with pytest.raises(expected) as info:
            _fetch(fault_server.url(fault.path), _settings_for(fault), **kwargs)
        assert type(info.value) is expected
        assert "\n" not in str(info.value)
        assert str(info.value).startswith(fault_server.url(fault.path) + ": ")


def test_trickle_is_stopped_by_the_total_deadline(fault_server: FaultServer) -> None:
    with pytest.raises(errors.FetchTimeoutError, match=r"timed out after 2\.5s \(deadline"):
        _fetch(fault_server.url("/trickle"), TRICKLE_SETTINGS)


def test_hang_is_retried_then_reported_as_a_read_timeout(fault_server: FaultServer) -> None:
    with pytest.raises(errors.FetchTimeoutError, match="waiting for data|deadline"):
        _fetch(fault_server.url("/hang"), HANG_SETTINGS)
    assert fault_server.hits("/hang") >= 2


def test_500s_then_success_is_retried(fault_server: FaultServer) -> None:
    result = _fetch(fault_server.url("/flaky/2/a"))
    assert "A quiet article" in result.text
    assert fault_server.hits("/flaky/2/a") == 3


def test_500s_beyond_the_retries_fail_with_the_status(fault_server: FaultServer) -> None:
    with pytest.raises(errors.BadStatusError, match="HTTP 500") as info:
        _fetch(fault_server.url("/flaky/5/b"))
    assert info.value.status_code == 500
    assert fault_server.hits("/flaky/5/b") == 3


def test_429_retry_after_seconds_is_reported(fault_server: FaultServer) -> None:
    with pytest.raises(errors.BadStatusError, match=r"HTTP 429 .*Retry-After 2s") as info:
        _fetch(fault_server.url("/429"))
    assert info.value.status_code == 429
    assert info.value.retry_after_seconds == 2.0
    assert fault_server.hits("/429") == 3


def test_503_retry_after_http_date_is_read_against_the_server_date(
    fault_server: FaultServer,
) -> None:
    with pytest.raises(errors.BadStatusError) as info:
        _fetch(fault_server.url("/503-date"))
    assert info.value.status_code == 503
    assert info.value.retry_after_seconds is not None
    assert 28 <= info.value.retry_after_seconds <= 31


def test_reset_mid_body_is_a_connection_error(fault_server: FaultServer) -> None:
    with pytest.raises(errors.FetchError, match="reset|closed before the body was complete"):
        _fetch(fault_server.url("/reset"))
    assert fault_server.hits("/reset") == 3


def test_truncated_bodies_are_errors_not_pages(fault_server: FaultServer) -> None:
    for path in ("/lying-length", "/chunked-truncated"):
        with pytest.raises(errors.FetchError, match="truncated"):
            _fetch(fault_server.url(path))


@pytest.mark.parametrize("kind", ["gzip", "deflate", "br", "zstd", "gzip-gzip", "zstd-br"])
def test_bombs_stop_early_in_bounded_memory(fault_server: FaultServer, kind: str) -> None:
    """The bombs inflate to 64-256 MB; the fetch stops past 4 MB without holding much more."""
    transport = CountingTransport()
    tracemalloc.start()
    try:
        with pytest.raises(errors.BodyTooLargeError, match="larger than 4 MB after decompression"):
            _fetch(fault_server.url(f"/bomb/{kind}"), transport=transport)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 24 * MB
    assert transport.received <= 256 * 1024


def test_a_bomb_larger_than_its_first_reads_is_not_read_to_the_end(
    fault_server: FaultServer,
) -> None:
    transport = CountingTransport()
    with pytest.raises(errors.BodyTooLargeError):
        _fetch(fault_server.url("/bomb/gzip-1g"), transport=transport)
    assert transport.received < 256 * 1024  # of 1 MB served


def test_body_far_over_the_cap_stops_reading(fault_server: FaultServer) -> None:
    transport = CountingTransport()
    with pytest.raises(errors.BodyTooLargeError, match="larger than 4 MB after decompression"):
        _fetch(fault_server.url("/huge"), transport=transport)
    assert transport.received < 4 * MB + 512 * 1024


def test_declared_length_over_the_cap_is_refused_before_reading(
    fault_server: FaultServer,
) -> None:
    transport = CountingTransport()
    with pytest.raises(errors.BodyTooLargeError, match=r"Content-Length 104857600"):
        _fetch(fault_server.url("/huge-declared"), transport=transport)
    assert transport.received == 0


def test_redirects_are_followed_hop_by_hop(fault_server: FaultServer) -> None:
    result = _fetch(fault_server.url("/redirect-chain/3"))
    assert result.final_url == fault_server.url("/ok")
    assert result.redirects == (
        fault_server.url("/redirect-chain/3"),
        fault_server.url("/redirect-chain/2"),
        fault_server.url("/redirect-chain/1"),
    )


def test_relative_location_is_resolved(fault_server: FaultServer) -> None:
    result = _fetch(fault_server.url("/redirect-relative/a/b"))
    assert result.final_url == fault_server.url("/ok")


def test_redirect_loop_and_long_chain(fault_server: FaultServer) -> None:
    with pytest.raises(errors.TooManyRedirectsError, match="redirect loop"):
        _fetch(fault_server.url("/redirect-loop"))
    with pytest.raises(errors.TooManyRedirectsError, match="more than 10 redirects"):
        _fetch(fault_server.url("/redirect-chain/30"))
    assert fault_server.hits("/ok") == 0


def test_redirect_to_another_scheme_is_refused(fault_server: FaultServer) -> None:
    with pytest.raises(errors.BlockedAddressError, match="only http and https"):
        _fetch(fault_server.url("/redirect-scheme"))


def test_charsets(fault_server: FaultServer) -> None:
    latin = _fetch(fault_server.url("/latin1-meta"))
    assert "Un café crème, s'il vous plaît." in latin.text
    assert latin.encoding == "cp1252"
    utf16 = _fetch(fault_server.url("/utf16-bom"))
    assert "über 日本" in utf16.text
    assert utf16.encoding == "utf-16-le"
    broken = _fetch(fault_server.url("/invalid-utf8"))
    assert "good é bad \ufffd" in broken.text
    assert broken.text.endswith("end</p></body></html>")


def test_binary_behind_html_is_refused(fault_server: FaultServer) -> None:
    with pytest.raises(errors.ContentTypeError, match="a PNG image"):
        _fetch(fault_server.url("/binary.html"))
    with pytest.raises(errors.ContentTypeError, match="a PDF document"):
        _fetch(fault_server.url("/pdf.html"))


def test_pathological_html_is_returned_whole(fault_server: FaultServer) -> None:
    nested = _fetch(fault_server.url("/deep-nesting"))
    assert nested.text.count("<div>") == 100_000
    attribute = _fetch(fault_server.url("/huge-attribute"))
    assert len(attribute.body) > 3 * MB
    nul = _fetch(fault_server.url("/nul-bytes"))
    assert "gar\x00dens" in nul.text


def test_xml_attacks_are_served_as_bytes_for_the_parser(fault_server: FaultServer) -> None:
    xml = ("application/xml", "application/rss+xml")
    result = _fetch(fault_server.url("/rss-xxe"), accept=xml)
    assert b"file:///etc/passwd" in result.body
    assert "root:" not in result.text


def test_block_pages_are_refused_and_articles_about_captchas_pass(
    fault_server: FaultServer,
) -> None:
    with pytest.raises(errors.BlockPageError, match="Just a moment"):
        _fetch(fault_server.url("/captcha"))
    with pytest.raises(errors.BlockPageError, match="Access Denied"):
        _fetch(fault_server.url("/access-denied"))
    article = _fetch(fault_server.url("/article-mentions-captcha"))
    assert "verify you are human" in article.text


# --- the private-address guard on real sockets --------------------------------------------------


def test_private_target_is_refused_before_connecting(fault_server: FaultServer) -> None:
    strict = dataclasses.replace(SETTINGS, allow_private=False)
    with pytest.raises(errors.BlockedAddressError, match="127.0.0.1 is a private"):
        _fetch(fault_server.url("/ok"), strict)
    assert fault_server.connections == 0


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/redirect-private", "169.254.169.254"),
        ("/redirect-private-10", "10.0.0.1"),
        ("/redirect-decimal", "127.0.0.1"),
    ],
)
def test_redirect_to_a_private_address_is_refused_before_connecting(
    fault_server: FaultServer, path: str, target: str
) -> None:
    strict = dataclasses.replace(SETTINGS, allow_private=False)
    transport = CountingTransport(route_host="public.test", port=fault_server.port)
    with pytest.raises(errors.BlockedAddressError, match=f"refused: {target} is a private"):
        _fetch(f"http://public.test{path}", strict, transport, resolver=_public_resolver)
    assert transport.hosts == ["public.test"]
    assert fault_server.hits(path) == 1


def test_name_resolving_to_a_private_address_is_refused(fault_server: FaultServer) -> None:
    strict = dataclasses.replace(SETTINGS, allow_private=False)
    transport = CountingTransport(route_host="rebind.test", port=fault_server.port)
    with pytest.raises(errors.BlockedAddressError, match="resolves to 127.0.0.1"):
        _fetch("http://rebind.test/ok", strict, transport, resolver=_public_resolver)
    assert transport.hosts == []
    assert fault_server.connections == 0


# --- robots.txt ---------------------------------------------------------------------------------


def _robots(server: FaultServer, settings: Settings = SETTINGS) -> Robots:
    settings = dataclasses.replace(settings, transport=TRANSPORT)

    async def run() -> Robots:
        async with make_client(settings) as client:
            return await asyncio.wait_for(
                fetch_robots(client, server.base, settings), GUARD_SECONDS
            )

    return asyncio.run(run())


def test_robots_rules(fault_server: FaultServer) -> None:
    robots = _robots(fault_server)
    ua = SETTINGS.user_agent
    assert robots.status == 200
    assert robots.allowed(fault_server.url("/ok"), ua)
    assert not robots.allowed(fault_server.url("/private/page"), ua)
    assert robots.crawl_delay(ua) == 0.5
    assert robots.sitemaps() == (fault_server.url("/sitemap.xml"),)  # resolved


def test_huge_robots_is_cut_and_its_head_still_applies(fault_server: FaultServer) -> None:
    fault_server.robots = "huge"
    robots = _robots(fault_server)
    assert robots.status == 200
    assert len(robots.body) == 512 * 1024
    assert not robots.allowed(fault_server.url("/private/x"), SETTINGS.user_agent)
    assert robots.allowed(fault_server.url("/ok"), SETTINGS.user_agent)


def test_robots_5xx_means_not_now(fault_server: FaultServer) -> None:
    fault_server.robots = "5xx"
    robots = _robots(fault_server)
    assert robots.status == 503
    assert not robots.allowed(fault_server.url("/ok"), SETTINGS.user_agent)


def test_robots_404_allows_everything(fault_server: FaultServer) -> None:
    fault_server.robots = "404"
    robots = _robots(fault_server)
    assert robots.status == 404
    assert robots.allowed(fault_server.url("/private/x"), SETTINGS.user_agent)


def test_robots_that_never_answers_means_not_now(fault_server: FaultServer) -> None:
    fault_server.robots = "hang"
    robots = _robots(fault_server, dataclasses.replace(SETTINGS, deadline_seconds=1.0))
    assert robots.status is None
    assert not robots.allowed(fault_server.url("/ok"), SETTINGS.user_agent)
