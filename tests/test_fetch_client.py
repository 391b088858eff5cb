"""fetch/client.py through httpx.MockTransport: headers sent, statuses, retries, redirects and the
private-address guard per hop, content types, charsets, block pages, robots.txt."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gzip
import socket
import ssl
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper import errors
from scraper.config import Settings
from scraper.fetch import (
    HTML_TYPES,
    Robots,
    block_page_reason,
    decode_body,
    fetch,
    fetch_robots,
    make_client,
    parse_retry_after,
    retry_delay,
    robots_token,
    sniff_binary,
)
from scraper.models import FetchResult

PUBLIC = "http://93.184.216.34"  # an address literal: no DNS in these tests
SETTINGS = Settings(
    user_agent="testbot/2.0 (+https://example.org/bot)",
    retries=2,
    retry_max_wait_seconds=0.01,
    deadline_seconds=5.0,
)
PAGE = b"<html><head><title>Page</title></head><body><p>Hello there.</p></body></html>"
Handler = Callable[[httpx.Request], httpx.Response]


class Chunks(httpx.AsyncByteStream):
    """A streamed body, as a real transport gives it (not read in advance)."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            self.pulled += 1
            yield chunk


def html(body: bytes = PAGE, status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(
        status,
        headers={"content-type": "text/html; charset=utf-8", **headers},
        stream=Chunks(body),
    )


class Recorder:
    """A MockTransport handler that answers by path and keeps every request."""

    def __init__(self, routes: dict[str, Handler | httpx.Response]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404, stream=Chunks(b"no"))
        return route(request) if callable(route) else route

    def urls(self) -> list[str]:
        return [str(r.url) for r in self.requests]


def run_fetch(
    handler: Callable[[httpx.Request], httpx.Response],
    url: str = PUBLIC + "/",
    settings: Settings = SETTINGS,
    **kwargs: Any,
) -> FetchResult:
    async def go() -> FetchResult:
        async with make_client(settings, transport=httpx.MockTransport(handler)) as client:
            return await fetch(client, url, settings, **kwargs)

    return asyncio.run(go())


# --- requests as sent -----------------------------------------------------------------------


def test_user_agent_accept_and_encodings_are_sent() -> None:
    rec = Recorder({"/": lambda r: html()})
    result = run_fetch(rec)
    sent = rec.requests[0].headers
    assert sent["user-agent"] == "testbot/2.0 (+https://example.org/bot)"
    assert sent["accept-encoding"] == "gzip, deflate, br, zstd"
    assert sent["accept"].startswith("text/html,application/xhtml+xml")
    assert ("User-Agent", "testbot/2.0 (+https://example.org/bot)") in result.request_headers


def test_each_fetch_sends_its_own_sites_user_agent() -> None:
    """One client serves a whole crawl; a site's own user_agent still goes out with its pages."""
    rec = Recorder({"/": lambda r: html()})
    other = dataclasses.replace(SETTINGS, user_agent="otherbot/3.1")

    async def go() -> None:
        async with make_client(SETTINGS, transport=httpx.MockTransport(rec)) as client:
            await fetch(client, PUBLIC + "/", other)
            await fetch(client, PUBLIC + "/", SETTINGS)

    asyncio.run(go())
    assert [r.headers["user-agent"] for r in rec.requests] == [
        "otherbot/3.1",
        "testbot/2.0 (+https://example.org/bot)",
    ]


def test_conditional_get_sends_validators_and_304_is_not_modified() -> None:
    rec = Recorder({"/": httpx.Response(304, headers={"etag": '"v1"'})})
    result = run_fetch(rec, etag='"v1"', last_modified="Wed, 01 May 2024 10:00:00 GMT")
    sent = rec.requests[0].headers
    assert sent["if-none-match"] == '"v1"'
    assert sent["if-modified-since"] == "Wed, 01 May 2024 10:00:00 GMT"
    assert result.not_modified is True
    assert result.status_code == 304
    assert result.body == b""


def test_validators_that_cannot_be_headers_are_left_out() -> None:
    rec = Recorder({"/": lambda r: html()})
    run_fetch(rec, etag='"bad\r\nX-Injected: 1"', last_modified="caf\u00e9")
    assert "if-none-match" not in rec.requests[0].headers
    assert "if-modified-since" not in rec.requests[0].headers


def test_result_is_filled() -> None:
    rec = Recorder({"/": lambda r: html(etag='"abc"')})
    moment = dt.datetime(2026, 5, 1, 9, 30, tzinfo=dt.UTC)
    result = run_fetch(rec, now=lambda: moment)
    assert result.url == PUBLIC + "/"
    assert result.final_url == PUBLIC + "/"
    assert result.fetched_at == "2026-05-01T09:30:00Z"
    assert result.status_code == 200
    assert result.etag == '"abc"'
    assert result.content_type == "text/html"
    assert result.encoding == "utf-8"
    assert result.body == PAGE
    assert result.text == PAGE.decode()
    assert result.http_version == "HTTP/1.1"
    assert result.redirects == ()
    assert result.elapsed_ms >= 0


def test_client_is_configured() -> None:
    settings = dataclasses.replace(SETTINGS, connect_timeout_seconds=3.0, read_timeout_seconds=7.0)

    async def go() -> httpx.AsyncClient:
        async with make_client(settings) as client:
            return client

    client = asyncio.run(go())
    assert client.follow_redirects is False
    assert client.timeout.connect == 3.0
    assert client.timeout.read == 7.0
    assert client.headers["user-agent"] == settings.user_agent


# --- statuses and retries ----------------------------------------------------------------------


def test_5xx_is_retried_then_succeeds() -> None:
    answers = iter([503, 500, 200])
    rec = Recorder({"/": lambda r: html(status=next(answers))})
    result = run_fetch(rec)
    assert result.status_code == 200
    assert len(rec.requests) == 3


def test_retries_are_bounded_and_the_last_status_is_raised() -> None:
    rec = Recorder({"/": lambda r: html(status=502)})
    with pytest.raises(errors.BadStatusError, match=r"^http://93\.184\.216\.34/: HTTP 502") as info:
        run_fetch(rec)
    assert info.value.status_code == 502
    assert len(rec.requests) == 3  # 1 + settings.retries


def test_4xx_is_not_retried() -> None:
    rec = Recorder({"/": lambda r: html(status=404)})
    with pytest.raises(errors.BadStatusError, match="HTTP 404 Not Found"):
        run_fetch(rec)
    assert len(rec.requests) == 1


def test_no_retries_when_settings_say_none() -> None:
    rec = Recorder({"/": lambda r: html(status=503)})
    with pytest.raises(errors.BadStatusError):
        run_fetch(rec, settings=dataclasses.replace(SETTINGS, retries=0))
    assert len(rec.requests) == 1


def test_retry_after_longer_than_the_deadline_gives_up_at_once() -> None:
    """Waiting 30 s would pass the 5 s deadline: the 429 is reported with its Retry-After."""
    rec = Recorder({"/": lambda r: html(status=429, **{"retry-after": "30"})})
    slow = dataclasses.replace(SETTINGS, retry_max_wait_seconds=60.0)
    with pytest.raises(errors.BadStatusError, match=r"HTTP 429 .*\(Retry-After 30s\)") as info:
        run_fetch(rec, settings=slow)
    assert info.value.retry_after_seconds == 30.0
    assert len(rec.requests) == 1


def test_retry_delay_honours_retry_after_and_caps_it() -> None:
    settings = dataclasses.replace(SETTINGS, retry_max_wait_seconds=60.0)
    asked = errors.BadStatusError("u", "HTTP 503", status_code=503, retry_after_seconds=7.0)
    assert retry_delay(asked, 1, settings) == 7.0
    greedy = errors.BadStatusError("u", "HTTP 503", status_code=503, retry_after_seconds=3600.0)
    assert retry_delay(greedy, 1, settings) == 60.0


def test_retry_delay_backs_off_exponentially_with_jitter() -> None:
    settings = dataclasses.replace(SETTINGS, retry_max_wait_seconds=60.0)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (12, 60.0)):
        delays = {retry_delay(None, attempt, settings) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1


def test_parse_retry_after() -> None:
    now = dt.datetime(2026, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Fri, 01 May 2026 12:01:30 GMT", now) == 90.0
    assert parse_retry_after("Fri, 01 May 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_transport_errors_are_retried_and_translated() -> None:
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    with pytest.raises(errors.FetchError, match=r"^http://93\.184\.216\.34/: connection refused$"):
        run_fetch(refuse)
    assert len(calls) == 3


@pytest.mark.parametrize(
    ("raised", "kind", "message"),
    [
        (httpx.ConnectTimeout("t"), errors.FetchTimeoutError, "timed out after 10s connecting"),
        (httpx.ReadTimeout("t"), errors.FetchTimeoutError, "timed out after 20s waiting for data"),
        (httpx.PoolTimeout("t"), errors.FetchTimeoutError, "waiting for a free connection"),
        (
            httpx.RemoteProtocolError("Server disconnected without sending a response."),
            errors.FetchError,
            "closed the connection without answering",
        ),
        (httpx.ReadError("boom"), errors.FetchError, "connection error"),
        (httpx.UnsupportedProtocol("nope"), errors.BlockedAddressError, "only http and https"),
    ],
)
def test_every_httpx_error_becomes_a_fetch_error(
    raised: Exception, kind: type[errors.FetchError], message: str
) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise raised

    with pytest.raises(kind, match=message) as info:
        run_fetch(fail, settings=dataclasses.replace(SETTINGS, retries=0))
    assert type(info.value) is kind


def _connect_error(cause: Exception) -> Handler:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(str(cause), request=request) from cause

    return fail


def test_unknown_host_from_httpx_is_not_retried() -> None:
    calls: list[httpx.Request] = []
    fail = _connect_error(socket.gaierror(-2, "Name or service not known"))

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return fail(request)

    with pytest.raises(errors.FetchError, match=r": unknown host 93\.184\.216\.34$"):
        run_fetch(handler)
    assert len(calls) == 1


def test_tls_failures_are_reported() -> None:
    bad = ssl.SSLCertVerificationError(1, "certificate verify failed")
    bad.verify_message = "certificate has expired"
    with pytest.raises(
        errors.FetchError, match="TLS certificate verification failed: certificate has expired"
    ):
        run_fetch(_connect_error(bad), "https://93.184.216.34/")


def test_unknown_host_from_the_resolver() -> None:
    async def nxdomain(host: str, port: int) -> Sequence[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    rec = Recorder({})
    with pytest.raises(errors.FetchError, match="unknown host nowhere.example"):
        run_fetch(rec, "http://nowhere.example/", resolver=nxdomain)
    assert rec.requests == []


def test_connection_refused_on_a_real_socket() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = dataclasses.replace(SETTINGS, allow_private=True, retries=0)

    async def go() -> FetchResult:
        async with make_client(settings) as client:
            return await fetch(client, f"http://127.0.0.1:{port}/", settings)

    with pytest.raises(errors.FetchError, match="connection refused$"):
        asyncio.run(go())


# --- redirects and the private-address guard -------------------------------------------------


def test_redirects_relative_and_absolute_are_followed() -> None:
    rec = Recorder(
        {
            "/a": httpx.Response(301, headers={"location": "/b"}),
            "/b": httpx.Response(303, headers={"location": f"{PUBLIC}/c/d"}),
            "/c/d": httpx.Response(308, headers={"location": "../e"}),
            "/e": lambda r: html(),
        }
    )
    result = run_fetch(rec, PUBLIC + "/a")
    assert result.final_url == PUBLIC + "/e"
    assert result.redirects == (PUBLIC + "/a", PUBLIC + "/b", PUBLIC + "/c/d")
    assert result.url == PUBLIC + "/a"


def test_redirect_without_location_is_an_error() -> None:
    rec = Recorder({"/": httpx.Response(302)})
    with pytest.raises(errors.BadStatusError, match="HTTP 302 without a Location"):
        run_fetch(rec)


def test_redirect_hop_limit() -> None:
    rec = Recorder(
        {f"/{i}": httpx.Response(302, headers={"location": f"/{i + 1}"}) for i in range(9)}
    )
    rec.routes["/9"] = lambda r: html()
    settings = dataclasses.replace(SETTINGS, max_redirects=5)
    with pytest.raises(errors.TooManyRedirectsError, match="more than 5 redirects"):
        run_fetch(rec, PUBLIC + "/0", settings)
    assert len(rec.requests) == 6
    assert run_fetch(rec, PUBLIC + "/4", settings).final_url == PUBLIC + "/9"


def test_redirect_loop_through_spelling_variants() -> None:
    rec = Recorder(
        {
            "/a": httpx.Response(302, headers={"location": "/b"}),
            "/b": httpx.Response(302, headers={"location": "HTTP://93.184.216.34:80/a#top"}),
        }
    )
    with pytest.raises(errors.TooManyRedirectsError, match="redirect loop"):
        run_fetch(rec, PUBLIC + "/a")


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://127.1/",
        "http://2130706433/",
        "http://0x7f.1/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00::1]/",
        "http://[fe80::1]/",
        "http://localhost:8080/",
        "http://admin.localhost/",
        "http://0.0.0.0/",
        "http://224.0.0.1/",
    ],
)
def test_each_redirect_hop_is_checked_before_it_is_requested(location: str) -> None:
    rec = Recorder({"/": httpx.Response(302, headers={"location": location})})
    with pytest.raises(errors.BlockedAddressError, match="redirect to .* refused: ") as info:
        run_fetch(rec)
    assert info.value.url == PUBLIC + "/"
    assert rec.urls() == [PUBLIC + "/"]


def test_location_httpx_cannot_parse_is_an_error_and_not_followed() -> None:
    rec = Recorder({"/": httpx.Response(302, headers={"location": "http://0177.0.0.1/"})})
    with pytest.raises(errors.FetchError, match="redirect to an invalid URL"):
        run_fetch(rec)
    assert rec.urls() == [PUBLIC + "/"]


def test_redirect_to_a_private_address_is_followed_when_allowed() -> None:
    rec = Recorder({"/": httpx.Response(302, headers={"location": "http://10.0.0.1/x"})})
    rec.routes["/x"] = lambda r: html()
    result = run_fetch(rec, settings=dataclasses.replace(SETTINGS, allow_private=True))
    assert result.final_url == "http://10.0.0.1/x"


def test_redirect_to_another_scheme_is_refused() -> None:
    rec = Recorder({"/": httpx.Response(302, headers={"location": "gopher://example.org/"})})
    with pytest.raises(errors.BlockedAddressError, match="only http and https"):
        run_fetch(rec)


def test_names_resolving_to_private_addresses_are_refused() -> None:
    async def resolver(host: str, port: int) -> Sequence[str]:
        return {"good.example": ["93.184.216.34"], "evil.example": ["93.184.216.34", "10.1.2.3"]}[
            host
        ]

    rec = Recorder({"/": httpx.Response(302, headers={"location": "http://evil.example/"})})
    with pytest.raises(errors.BlockedAddressError, match="evil.example resolves to 10.1.2.3"):
        run_fetch(rec, "http://good.example/", resolver=resolver)
    assert [r.headers["host"] for r in rec.requests] == ["good.example"]


def test_http_connects_to_the_address_that_was_checked() -> None:
    """The name is resolved once per hop and the checked address is used, retries included, so
    a DNS answer that turns into 127.0.0.1 afterwards ("rebinding") is never connected to."""
    calls: list[str] = []

    async def rebinding(host: str, port: int) -> Sequence[str]:
        calls.append(host)
        return ["93.184.216.34"] if len(calls) == 1 else ["127.0.0.1"]

    answers = iter([503, 200])
    rec = Recorder({"/a": lambda r: html(status=next(answers))})
    result = run_fetch(rec, "http://rebind.example:8080/a", resolver=rebinding)
    assert result.status_code == 200
    assert calls == ["rebind.example"]
    assert rec.urls() == ["http://93.184.216.34:8080/a", "http://93.184.216.34:8080/a"]
    assert {r.headers["host"] for r in rec.requests} == {"rebind.example:8080"}


def test_pinned_fetch_reports_the_names_not_the_address() -> None:
    async def resolver(host: str, port: int) -> Sequence[str]:
        return ["93.184.216.34"]

    rec = Recorder({"/a": httpx.Response(301, headers={"location": "/b"}), "/b": lambda r: html()})
    result = run_fetch(rec, "http://news.example/a", resolver=resolver)
    assert result.final_url == "http://news.example/b"
    assert result.redirects == ("http://news.example/a",)
    assert ("Host", "news.example") in result.request_headers
    assert rec.urls() == ["http://93.184.216.34/a", "http://93.184.216.34/b"]


def test_private_first_url_is_refused_and_garbage_is_a_usage_error() -> None:
    rec = Recorder({})
    with pytest.raises(errors.BlockedAddressError, match="127.0.0.1 is a private"):
        run_fetch(rec, "http://127.0.0.1:8000/")
    with pytest.raises(errors.BlockedAddressError, match="only http and https"):
        run_fetch(rec, "ftp://example.org/")
    with pytest.raises(errors.UsageError, match="not a valid URL"):
        run_fetch(rec, "http://exa mple.org/")
    assert rec.requests == []


# --- content type, size, decompression ----------------------------------------------------------


def test_non_html_is_refused_before_the_body_is_read() -> None:
    body = Chunks(b"%PDF-1.4 ...")
    rec = Recorder(
        {"/": httpx.Response(200, headers={"content-type": "application/pdf"}, stream=body)}
    )
    with pytest.raises(errors.ContentTypeError, match=r"not HTML \(content type application/pdf\)"):
        run_fetch(rec)
    assert body.pulled == 0


def test_accept_chooses_the_types() -> None:
    xml = b"<?xml version='1.0'?><urlset></urlset>"
    rec = Recorder(
        {
            "/s.xml": lambda r: httpx.Response(
                200, headers={"content-type": "application/xml"}, stream=Chunks(xml)
            )
        }
    )
    result = run_fetch(rec, PUBLIC + "/s.xml", accept=("application/xml",))
    assert result.content_type == "application/xml"
    assert result.body == xml
    with pytest.raises(errors.ContentTypeError):
        run_fetch(rec, PUBLIC + "/s.xml")
    assert run_fetch(rec, PUBLIC + "/s.xml", accept=()).body == xml


def test_binary_magic_behind_text_html_is_refused() -> None:
    rec = Recorder({"/": lambda r: html(b"\x89PNG\r\n\x1a\n" + bytes(2000))})
    with pytest.raises(errors.ContentTypeError, match="a PNG image"):
        run_fetch(rec)


def test_sniff_binary() -> None:
    assert sniff_binary(b"%PDF-1.7") == "a PDF document"
    assert sniff_binary(b"PK\x03\x04rest") == "a ZIP archive"
    assert sniff_binary(bytes(range(32)) * 10) == "binary data"
    assert sniff_binary(PAGE) is None
    assert sniff_binary(b"<p>a\x00b</p>" * 20) is None  # a few NULs in HTML
    assert sniff_binary("<p>hello</p>".encode("utf-16-le")) is None


def test_body_over_the_cap_stops_streaming() -> None:
    stream = Chunks(*([b"<p>" + b"x" * 1021] * 64))
    rec = Recorder({"/": httpx.Response(200, headers={"content-type": "text/html"}, stream=stream)})
    settings = dataclasses.replace(SETTINGS, max_bytes=10 * 1024)
    with pytest.raises(
        errors.BodyTooLargeError, match=r"body larger than 10 KB after decompression"
    ):
        run_fetch(rec, settings=settings)
    assert stream.pulled == 11


def test_declared_content_length_over_the_cap() -> None:
    stream = Chunks(PAGE)
    rec = Recorder(
        {
            "/": httpx.Response(
                200,
                headers={"content-type": "text/html", "content-length": "999999"},
                stream=stream,
            )
        }
    )
    settings = dataclasses.replace(SETTINGS, max_bytes=1000)
    with pytest.raises(errors.BodyTooLargeError, match=r"\(Content-Length 999999\)"):
        run_fetch(rec, settings=settings)
    assert stream.pulled == 0


def encoded(body: bytes, encoding: str) -> httpx.Response:
    return httpx.Response(
        200,
        headers={"content-type": "text/html", "content-encoding": encoding},
        stream=Chunks(*[body[i : i + 100] for i in range(0, len(body), 100)]),
    )


def test_content_encodings_are_undone() -> None:
    import brotli
    import zstandard

    raw_deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    cases = {
        "gzip": gzip.compress(PAGE),
        "x-gzip": gzip.compress(PAGE),
        "deflate": zlib.compress(PAGE),
        "br": brotli.compress(PAGE),
        "zstd": zstandard.ZstdCompressor().compress(PAGE),
        "gzip, gzip": gzip.compress(gzip.compress(PAGE)),
        "deflate, br": brotli.compress(zlib.compress(PAGE)),
        "identity": PAGE,
    }
    for encoding, body in cases.items():
        rec = Recorder({"/": encoded(body, encoding)})
        assert run_fetch(rec).body == PAGE, encoding
    raw = raw_deflate.compress(PAGE) + raw_deflate.flush()
    assert run_fetch(Recorder({"/": encoded(raw, "deflate")})).body == PAGE
    members = gzip.compress(PAGE[:30]) + gzip.compress(PAGE[30:])
    assert run_fetch(Recorder({"/": encoded(members, "gzip")})).body == PAGE


def test_broken_encodings_are_errors() -> None:
    truncated = gzip.compress(PAGE * 50)[:-30]
    with pytest.raises(errors.FetchError, match="the gzip body is truncated"):
        run_fetch(Recorder({"/": encoded(truncated, "gzip")}))
    with pytest.raises(errors.FetchError, match="compressed body cannot be decoded"):
        run_fetch(Recorder({"/": encoded(b"not brotli at all" * 10, "br")}))
    with pytest.raises(errors.FetchError, match="unsupported Content-Encoding 'compress'"):
        run_fetch(Recorder({"/": encoded(PAGE, "compress")}))


def test_small_gzip_that_inflates_past_the_cap_stops_early() -> None:
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))
    stream = Chunks(*[bomb[i : i + 1024] for i in range(0, len(bomb), 1024)])
    rec = Recorder(
        {
            "/": httpx.Response(
                200,
                headers={"content-type": "text/html", "content-encoding": "gzip"},
                stream=stream,
            )
        }
    )
    settings = dataclasses.replace(SETTINGS, max_bytes=1024 * 1024)
    with pytest.raises(errors.BodyTooLargeError, match="body larger than 1 MB after decompression"):
        run_fetch(rec, settings=settings)
    assert stream.pulled <= 2  # 1 KB of gzip inflates to about 1 MB
    assert stream.pulled < len(stream.chunks)


# --- charsets --------------------------------------------------------------------------------


def test_charset_from_the_header_first() -> None:
    body = "<meta charset='utf-8'><p>caf\u00e9</p>".encode("latin-1")
    assert decode_body(body, "text/html; charset=ISO-8859-1") == (
        "<meta charset='utf-8'><p>caf\u00e9</p>",
        "cp1252",
    )


def test_byte_order_mark_beats_the_header() -> None:
    body = b"\xef\xbb\xbf<p>\xc3\xa9t\xc3\xa9</p>"
    assert decode_body(body, "text/html; charset=windows-1252") == ("<p>\u00e9t\u00e9</p>", "utf-8")
    utf16 = b"\xfe\xff" + "<p>\u00e9</p>".encode("utf-16-be")
    assert decode_body(utf16, "text/html") == ("<p>\u00e9</p>", "utf-16-be")


def test_meta_charset_then_http_equiv_then_xml_declaration() -> None:
    meta = '<html><head><meta charset="windows-1251"></head>'
    meta += "<p>\u041f\u0440\u0438\u0432\u0435\u0442</p>"
    assert decode_body(meta.encode("cp1251"), "text/html")[1] == "cp1251"
    equiv = '<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-15"><p>\u20ac</p>'
    assert decode_body(equiv.encode("iso8859-15"), None) == (equiv, "iso8859-15")
    xml = "<?xml version='1.0' encoding='ISO-8859-2'?><a>\u0141\u00f3d\u017a</a>"
    assert decode_body(xml.encode("iso8859-2"), "application/xml") == (xml, "iso8859-2")


def test_meta_declaring_utf16_in_an_ascii_body_means_utf8() -> None:
    body = '<meta charset="utf-16"><p>caf\u00e9</p>'.encode()
    assert decode_body(body, "text/html")[1] == "utf-8"


def test_unknown_or_dangerous_labels_are_ignored() -> None:
    body = "<p>caf\u00e9</p>".encode()
    assert decode_body(body, "text/html; charset=rot13") == ("<p>caf\u00e9</p>", "utf-8")
    assert decode_body(body, "text/html; charset=utf-7") == ("<p>caf\u00e9</p>", "utf-8")
    assert decode_body(b'<meta charset="base64"><p>ok</p>', None)[1] == "utf-8"


def test_detection_when_nothing_is_declared() -> None:
    text = "<p>" + "Le caf\u00e9 \u00e9tait tr\u00e8s bon, d\u00e9j\u00e0 pr\u00eat. " * 20 + "</p>"
    decoded, encoding = decode_body(text.encode("cp1252"), "text/html")
    assert decoded == text
    assert encoding == "cp1252"
    russian = "<p>" + "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! " * 30 + "</p>"
    assert decode_body(russian.encode("cp1251"), None) == (russian, "cp1251")


def test_invalid_bytes_are_replaced_not_raised() -> None:
    text, encoding = decode_body(b"<p>ok \xff\xfe\xfd end</p>", "text/html; charset=utf-8")
    assert text == "<p>ok \ufffd\ufffd\ufffd end</p>"
    assert encoding == "utf-8"


def test_latin1_with_meta_over_the_wire() -> None:
    body = "<meta charset='iso-8859-1'><p>na\u00efve</p>".encode("latin-1")
    rec = Recorder(
        {
            "/": lambda r: httpx.Response(
                200, headers={"content-type": "text/html"}, stream=Chunks(body)
            )
        }
    )
    result = run_fetch(rec)
    assert result.text == "<meta charset='iso-8859-1'><p>na\u00efve</p>"
    assert result.encoding == "cp1252"


# --- block pages -----------------------------------------------------------------------------

CLOUDFLARE = """<!DOCTYPE html><html><head><title>Just a moment...</title></head><body>
<script>window._cf_chl_opt={cType:'managed'};</script><p>Checking your browser.</p></body></html>"""
AKAMAI = """<HTML><HEAD><TITLE>Access Denied</TITLE></HEAD><BODY><H1>Access Denied</H1>
You don't have permission to access this server.<P>Reference #18.1</BODY></HTML>"""
DATADOME = """<html><head><title>example.com</title></head><body>
<script src="https://ct.captcha-delivery.com/c.js"></script></body></html>"""
PHRASES = """<html><head><title>example.com</title></head><body><p>Please verify you are human.</p>
<p>We have detected unusual traffic from your network.</p></body></html>"""
ARTICLE = (
    "<html><head><title>How CAPTCHAs work</title></head><body><article>"
    + "<p>A captcha asks you to verify you are human. Access denied pages and unusual traffic "
    "warnings are how sites push back against bots; this article explains the history.</p>"
    * 20
    + "</article></body></html>"
)
CONTACT = """<html><head><title>Contact us</title></head><body><form>
<div class="g-recaptcha" data-sitekey="x"></div><button>Send</button></form></body></html>"""


@pytest.mark.parametrize("page", [CLOUDFLARE, AKAMAI, DATADOME, PHRASES])
def test_block_pages_are_recognised(page: str) -> None:
    assert block_page_reason(page) is not None


@pytest.mark.parametrize("page", [ARTICLE, CONTACT, PAGE.decode()])
def test_ordinary_pages_are_not_block_pages(page: str) -> None:
    assert block_page_reason(page) is None


def test_block_page_raises_and_only_for_html() -> None:
    rec = Recorder({"/": lambda r: html(CLOUDFLARE.encode())})
    with pytest.raises(errors.BlockPageError, match="captcha or access-denied page"):
        run_fetch(rec)
    assert run_fetch(rec, accept=()).status_code == 200


# --- robots.txt ------------------------------------------------------------------------------

ROBOTS = """User-agent: *
Disallow: /private/
Crawl-delay: 2

User-agent: testbot
Disallow: /no-bots/
Crawl-delay: 5

Sitemap: https://example.org/sitemap.xml
Sitemap: https://example.org/news.xml
"""


def test_robots_token_is_the_first_word_before_the_slash() -> None:
    assert robots_token("testbot/2.0 (+https://example.org/bot)") == "testbot"
    assert robots_token("scraper") == "scraper"


def test_robots_from_stored_text() -> None:
    robots = Robots("https://example.org", 200, ROBOTS)
    ua = SETTINGS.user_agent
    assert robots.allowed("https://example.org/private/x", ua)  # our group has no such rule
    assert not robots.allowed("https://example.org/no-bots/x", ua)
    assert not robots.allowed("https://example.org/private/x", "otherbot/1.0")
    assert robots.crawl_delay(ua) == 5.0
    assert robots.crawl_delay("otherbot/1.0") == 2.0
    assert robots.sitemaps() == ("https://example.org/sitemap.xml", "https://example.org/news.xml")
    assert robots == Robots("https://example.org", 200, ROBOTS)


@pytest.mark.parametrize(
    ("status", "allowed"),
    [(404, True), (410, True), (0, True), (500, False), (503, False), (None, False)],
)
def test_robots_status_meaning(status: int | None, allowed: bool) -> None:
    robots = Robots("https://example.org", status, "User-agent: *\nDisallow: /\n")
    assert robots.allowed("https://example.org/page", SETTINGS.user_agent) is allowed
    assert robots.sitemaps() == ()
    assert robots.crawl_delay(SETTINGS.user_agent) is None


def run_robots(handler: Handler, settings: Settings = SETTINGS) -> Robots:
    async def go() -> Robots:
        async with make_client(settings, transport=httpx.MockTransport(handler)) as client:
            return await fetch_robots(client, PUBLIC, settings)

    return asyncio.run(go())


def test_fetch_robots_statuses() -> None:
    text = Recorder(
        {
            "/robots.txt": lambda r: httpx.Response(
                200, headers={"content-type": "text/plain"}, stream=Chunks(ROBOTS.encode())
            )
        }
    )
    assert run_robots(text) == Robots(PUBLIC, 200, ROBOTS)
    assert run_robots(Recorder({})).status == 404
    failing = Recorder({"/robots.txt": lambda r: httpx.Response(503, stream=Chunks(b""))})
    robots = run_robots(failing)
    assert robots.status == 503
    assert len(failing.requests) == 1  # no retries for robots.txt
    moved = Recorder(
        {
            "/robots.txt": httpx.Response(301, headers={"location": "/real-robots.txt"}),
            "/real-robots.txt": lambda r: httpx.Response(200, stream=Chunks(ROBOTS.encode())),
        }
    )
    assert run_robots(moved).body == ROBOTS


def test_fetch_robots_connection_failure_is_not_now() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    robots = run_robots(refuse)
    assert robots.status is None
    assert robots.error == "connection refused"
    assert not robots.allowed(PUBLIC + "/", SETTINGS.user_agent)


def test_html_types() -> None:
    assert HTML_TYPES == ("text/html", "application/xhtml+xml")


_ROBOT_LINES = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "User-agent: *",
                "User-agent: testbot",
                "Disallow: /",
                "Allow: /a$",
                "Disallow: /*?*",
                "Crawl-delay: 1.5",
                "Crawl-delay: soon",
                "Sitemap: https://example.org/s.xml",
                "# comment",
                "",
            ]
        ),
        st.text(max_size=40),
    ),
    max_size=30,
).map("\n".join)


@settings(max_examples=200, deadline=None)
@given(_ROBOT_LINES, st.text(max_size=30), st.sampled_from(["testbot/1.0", "", "x y z"]))
def test_robots_parsing_never_raises(body: str, path: str, user_agent: str) -> None:
    robots = Robots("https://example.org", 200, body)
    assert isinstance(robots.allowed("https://example.org/" + path, user_agent), bool)
    delay = robots.crawl_delay(user_agent)
    assert delay is None or delay >= 0
    assert all(isinstance(s, str) for s in robots.sitemaps())


def test_server_text_in_messages_is_one_short_line() -> None:
    long_reason = b"Busy " + b"very " * 2000
    rec = Recorder(
        {
            "/": lambda r: httpx.Response(
                404, extensions={"reason_phrase": long_reason}, stream=Chunks(b"")
            ),
            "/loop": httpx.Response(302, headers={"location": "/loop?" + "x" * 5000}),
        }
    )
    with pytest.raises(errors.BadStatusError) as info:
        run_fetch(rec)
    assert str(info.value).startswith(f"{PUBLIC}/: HTTP 404 Busy very")
    assert len(str(info.value)) < 150
    with pytest.raises(errors.TooManyRedirectsError) as loop:
        run_fetch(rec, PUBLIC + "/loop", settings=dataclasses.replace(SETTINGS, max_redirects=2))
    assert len(str(loop.value)) < 600
