"""Fetch, the client: one URL over HTTP(S), redirects hop by hop, each hop checked first.

Uses the sibling modules for what the body needs (decompress, content, blockpage) and for
failures (retry). No parsing beyond charset, no storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import ipaddress
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_any

from scraper.config import Settings
from scraper.errors import (
    BadStatusError,
    BlockedAddressError,
    BlockPageError,
    BodyTooLargeError,
    ContentTypeError,
    FetchError,
    FetchTimeoutError,
    TooManyRedirectsError,
    UsageError,
)
from scraper.fetch.blockpage import block_page_reason
from scraper.fetch.content import SNIFF_BYTES, accepted_type, decode_body, sniff_binary
from scraper.fetch.decompress import BodyDecoder, CorruptBody, format_size
from scraper.fetch.pacing import Pace, paced
from scraper.fetch.peer import peer_address
from scraper.fetch.retry import (
    Clock,
    StopAtDeadline,
    format_seconds,
    is_retryable,
    one_line,
    parse_retry_after,
    retry_delay,
    server_now,
    translate_error,
    wait_for_retry,
)
from scraper.fetch.routing import TARGET_EXTENSION, TRANSPORT_EXTENSION, RoutingTransport
from scraper.models import FetchResult, iso_utc
from scraper.urls import (
    PRIVATE_OPT_IN,
    check_url_target,
    is_private_address,
    is_private_name,
    normalise_url,
)

#: media types the article path accepts
HTML_TYPES = ("text/html", "application/xhtml+xml")
#: media types of sitemaps and feeds, for ``fetch(..., accept=XML_TYPES)``
XML_TYPES = (
    "application/xml",
    "text/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/rdf+xml",
    "application/x-gzip",
    "application/gzip",
    "text/plain",
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
_DRAIN_MAX_BYTES = 64 * 1024  # an unread body this small is read to keep the connection

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
#: ``await before_redirect(target)`` runs before a redirect to ``target`` is followed, and
#: refuses it by raising a FetchError for ``target`` (robots.txt of the target's host)
RedirectCheck = Callable[[str], Awaitable[None]]


class _Cookies(httpx.Cookies):
    """The client's cookie jar, asked to read a response only when it sets a cookie.

    httpx hands every response to the jar, wrapping it and its request in urllib's types
    first (about a twentieth of a 304's CPU); the jar takes cookies from ``Set-Cookie`` and
    ``Set-Cookie2`` headers alone, so a response without them changes nothing in it.
    """

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            super().extract_cookies(response)


#: request headers that differ from one request to the next (not kept in a header template)
_PER_REQUEST_HEADERS = frozenset({"If-None-Match", "If-Modified-Since", "Host"})
_TEMPLATES_MAX = 64


class _Client(httpx.AsyncClient):
    """httpx's AsyncClient with :class:`_Cookies` for its cookies (the same cookies kept), and
    :meth:`get_request`, a cheaper ``build_request`` for fetch's GETs."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.cookies = self.cookies  # through the setter below: the jar becomes a _Cookies
        #: merged headers without the per-request ones, by (client headers, fetch headers)
        self._templates: dict[tuple[Any, ...], httpx.Headers] = {}

    def get_request(
        self, url: str | httpx.URL, headers: dict[str, str], extensions: dict[str, Any]
    ) -> httpx.Request:
        """``build_request("GET", url, headers=headers, extensions=extensions)``, the same
        request (headers in the same order and case), in about 40% of its CPU.

        build_request merges the client's headers with the request's anew for every request;
        here that merge is made once per set of headers (by build_request itself, on a template
        URL) and each request adds only its own conditional headers (and pinned Host). With a
        cookie in the jar, whose Cookie header depends on the URL, it is build_request itself.
        """
        if self.cookies:
            return self.build_request("GET", url, headers=headers, extensions=extensions)
        fixed = {k: v for k, v in headers.items() if k not in _PER_REQUEST_HEADERS}
        key = (tuple(self.headers.raw), tuple(fixed.items()))
        template = self._templates.get(key)
        if template is None:
            if len(self._templates) >= _TEMPLATES_MAX:
                self._templates.clear()
            template = self.build_request("GET", "http://template.invalid/", headers=fixed).headers
            del template["Host"]
            self._templates[key] = template
        merged = httpx.Headers(template)
        for name, value in headers.items():
            if name in _PER_REQUEST_HEADERS:
                merged[name] = value
        if "timeout" not in extensions:
            extensions = {**extensions, "timeout": self.timeout.as_dict()}
        return httpx.Request("GET", url, headers=merged, extensions=extensions)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._cookies

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        self._cookies = _Cookies(cookies)


def make_client(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    pace: Pace | None = None,
) -> httpx.AsyncClient:
    """The one AsyncClient of a run: timeouts, User-Agent, pool limits, TLS verified, no redirects.

    Redirects are followed by :func:`fetch` itself, one checked hop at a time. Requests go
    through a :class:`~scraper.fetch.routing.RoutingTransport` unless ``transport`` is given
    (a test's): each by the transport its fetch's settings name (``"fast"`` or ``"httpx"``,
    ``settings.transport`` when the request names none), with ``"httpx"`` through the
    environment's proxies (read now: a bad proxy variable is a ConfigError here).
    With ``pace``, every request waits for its host's turn first (fetch/pacing.py).
    """
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_seconds,
        read=settings.read_timeout_seconds,
        write=settings.read_timeout_seconds,
        pool=settings.deadline_seconds,
    )
    connections = max(1, settings.concurrency)
    limits = httpx.Limits(
        max_connections=connections, max_keepalive_connections=connections, keepalive_expiry=30.0
    )
    return _Client(
        timeout=timeout,
        limits=limits,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=False,
        max_redirects=settings.max_redirects,
        verify=True,
        transport=paced(transport or RoutingTransport(settings.transport, limits), pace),
    )


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def resolve_host(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to, with the event loop's getaddrinfo."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


async def _guard(url: str, settings: Settings, resolver: Resolver | None) -> str | None:
    """Refuse ``url`` unless it is http(s) and, without allow_private, every address its host
    resolves to is public. Runs before anything is sent; raises BlockedAddressError.

    Returns the checked address to connect to for a plain-http host name, or None. Connecting to
    the address that was checked, rather than resolving the name again, leaves no gap for a DNS
    answer that changes in between ("DNS rebinding"). https needs no pin: its certificate is
    verified against the name, which an internal service cannot present.
    """
    check_url_target(url, settings.allow_private)
    if settings.allow_private:
        return None
    try:
        target = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise UsageError(f"not a valid URL: {url!r} ({exc})") from exc
    # the host exactly as httpx will connect to it (IDNA-encoded; an IPv6 address unbracketed)
    host = target.raw_host.decode("ascii", errors="replace")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if is_private_address(address):
            raise BlockedAddressError(
                url, f"{host} is a private or reserved address {PRIVATE_OPT_IN}"
            )
        return None
    if is_private_name(host):
        raise BlockedAddressError(url, f"{host} is a private host name {PRIVATE_OPT_IN}")
    port = target.port or (443 if target.scheme == "https" else 80)
    try:
        addresses = await (resolver or resolve_host)(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(url, f"unknown host {host}") from exc
    if not addresses:
        raise FetchError(url, f"unknown host {host}")
    for addr in addresses:
        if is_private_address(addr):
            raise BlockedAddressError(
                url, f"{host} resolves to {addr}, a private or reserved address {PRIVATE_OPT_IN}"
            )
    return addresses[0] if target.scheme == "http" else None


@dataclass(frozen=True, slots=True)
class _Redirect:
    location: str
    status: int


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    headers: tuple[tuple[str, str], ...]
    request_headers: tuple[tuple[str, str], ...]
    http_version: str
    reason: str | None = None
    body: bytes = b""
    text: str = ""
    encoding: str = "utf-8"
    content_type: str = ""
    not_modified: bool = False
    ip_address: str | None = None


def _raw_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    """Headers as sent or received, in order and in their own letter case (for WARC)."""
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw)


def _safe_header_value(value: str | None) -> str | None:
    if value is None or not value.isascii() or any(c in value for c in "\r\n\0"):
        return None
    return value


@dataclass(frozen=True, slots=True)
class FetchOptions:
    accept: tuple[str, ...]
    max_bytes: int
    truncate: bool  # cut the body at max_bytes instead of failing (robots.txt)
    clock: Clock
    block_pages: bool


async def _exchange(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    settings: Settings,
    opts: FetchOptions,
    pin: str | None,
) -> _Redirect | _Answer:
    """One request and its answer: a redirect to follow, or the final response with its body.

    With ``pin``, the request goes to that address with the URL's host in the Host header (and
    the URL as written in an extension, for a route through a proxy: fetch/routing.py).
    """
    extensions: dict[str, Any] = {TRANSPORT_EXTENSION: settings.transport}
    try:
        if pin is None:
            request = _get_request(client, url, headers, extensions)
        else:
            target = httpx.URL(url)
            pinned = {**headers, "Host": target.netloc.decode("ascii")}
            extensions[TARGET_EXTENSION] = url
            request = _get_request(client, target.copy_with(host=pin), pinned, extensions)
        response = await client.send(request, stream=True)
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise translate_error(exc, url, settings) from exc
    try:
        answer = await _read_answer(response, url, opts)
    except FetchError:
        await _drain(response)
        raise
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise translate_error(exc, url, settings) from exc
    else:
        await _drain(response)
        return answer
    finally:
        await response.aclose()


def _get_request(
    client: httpx.AsyncClient,
    url: str | httpx.URL,
    headers: dict[str, str],
    extensions: dict[str, Any],
) -> httpx.Request:
    """fetch's GET: :meth:`_Client.get_request`, or ``build_request`` for a client that is not
    :func:`make_client`'s (a test's)."""
    if isinstance(client, _Client):
        return client.get_request(url, headers, extensions)
    return client.build_request("GET", url, headers=headers, extensions=extensions)


async def _drain(response: httpx.Response) -> None:
    """Read a small body left unread (an error page, a redirect) so that the connection can be
    reused and the server is not cut off while it writes; a large or unknown one is dropped."""
    if response.is_stream_consumed:
        return
    length = response.headers.get("content-length", "")
    # 204 and 304 never have a body: reading "it" just hands the connection back to the pool
    bodyless = response.status_code in (204, 304)
    if not bodyless and (not length.isdigit() or int(length) > _DRAIN_MAX_BYTES):
        return
    with contextlib.suppress(httpx.HTTPError, httpx.StreamError):
        async for _ in response.aiter_raw():
            pass


async def _read_answer(
    response: httpx.Response, url: str, opts: FetchOptions
) -> _Redirect | _Answer:
    status = response.status_code
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location or not location.strip():
            raise BadStatusError(url, f"HTTP {status} without a Location", status_code=status)
        try:
            # against the URL asked for: the request may have gone to a pinned address
            target = str(httpx.URL(url).join(location.strip()))
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"redirect to an invalid URL {one_line(location)!r}") from exc
        return _Redirect(target, status)
    answer = _Answer(
        status=status,
        headers=_raw_headers(response.headers),
        request_headers=_raw_headers(response.request.headers),
        http_version=response.http_version,
        reason=response.reason_phrase,
        not_modified=status == 304,
        ip_address=peer_address(response),
    )
    if status == 304:
        return answer
    if not 200 <= status < 300:
        reason = one_line(response.reason_phrase, 60)
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), server_now(response.headers, opts.clock)
        )
        message = f"HTTP {status} {reason}".strip()
        if retry_after is not None:
            message += f" (Retry-After {format_seconds(round(retry_after, 1))})"
        raise BadStatusError(url, message, status_code=status, retry_after_seconds=retry_after)
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    html_wanted = bool(opts.accept) and set(opts.accept) <= set(HTML_TYPES)
    if media and not accepted_type(media, opts.accept):
        what = "not HTML" if html_wanted else f"not one of {', '.join(opts.accept)}"
        shown = one_line(media, 80)
        raise ContentTypeError(url, f"{what} (content type {shown})", status_code=status)
    declared = response.headers.get("content-length", "")
    if not opts.truncate and declared.isdigit() and int(declared) > opts.max_bytes:
        raise BodyTooLargeError(
            url,
            f"body larger than {format_size(opts.max_bytes)} (Content-Length {declared})",
            status_code=status,
        )
    body, sniffed = await _read_body(response, url, opts)
    if opts.accept and not sniffed:  # a body shorter than SNIFF_BYTES, or one read in one go
        binary = sniff_binary(body[:SNIFF_BYTES])
        if binary is not None:
            label = media or "no content type"
            raise ContentTypeError(url, f"the body is {binary}, not text ({label})")
    if not media and html_wanted:
        media = "text/html"
    text, encoding = decode_body(body, content_type)
    if opts.block_pages and media in HTML_TYPES:
        why = block_page_reason(text)
        if why is not None:
            raise BlockPageError(
                url,
                f"the site answered with a captcha or access-denied page ({why})",
                status_code=status,
            )
    return dataclasses.replace(answer, body=body, text=text, encoding=encoding, content_type=media)


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _read_body(response: httpx.Response, url: str, opts: FetchOptions) -> tuple[bytes, bool]:
    """The decompressed body, stopped as soon as it passes max_bytes, and whether its first
    SNIFF_BYTES were found not binary on the way (they are the body's first bytes still)."""
    if response.is_stream_consumed:
        # a transport that hands over a finished body (httpx.MockTransport given ``content=``):
        # httpx has already undone its Content-Encoding
        decoder = BodyDecoder(url, None, opts.max_bytes)
        chunks: AsyncIterator[bytes] = _one_chunk(response.content)
    else:
        decoder = BodyDecoder(url, response.headers.get("content-encoding"), opts.max_bytes)
        chunks = response.aiter_raw()
    body = bytearray()
    sniffed = not opts.accept
    checked = False

    def add(piece: bytes) -> bool:
        body.extend(piece)
        if len(body) > opts.max_bytes:
            if opts.truncate:
                del body[opts.max_bytes :]
                return False
            raise BodyTooLargeError(
                url,
                f"body larger than {format_size(opts.max_bytes)} after decompression",
                status_code=response.status_code,
            )
        return True

    try:
        async for raw in chunks:
            for piece in decoder.feed(raw):
                if not add(piece):
                    return bytes(body), checked
            if not sniffed and len(body) >= SNIFF_BYTES:
                sniffed = checked = True
                binary = sniff_binary(bytes(body[:SNIFF_BYTES]))
                if binary is not None:
                    media = response.headers.get("content-type", "").split(";")[0].strip()
                    raise ContentTypeError(
                        url, f"the body is {binary}, not text ({media or 'no content type'})"
                    )
        for piece in decoder.flush():
            if not add(piece):
                return bytes(body), checked
    except CorruptBody as exc:
        raise FetchError(url, f"compressed body cannot be decoded ({exc})") from exc
    return bytes(body), checked


async def _exchange_with_retries(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    settings: Settings,
    opts: FetchOptions,
    deadline_at: float,
    pin: str | None,
) -> _Redirect | _Answer:
    # The first attempt runs outside tenacity: most requests succeed at once, and building the
    # retry machinery costs about a tenth of a 304's CPU. A retryable failure then goes through
    # the same policy as before: the first wait (attempt 1's delay, not past the deadline), then
    # tenacity for attempts 2 to retries + 1, each wait counted from its attempt's number.
    try:
        return await _exchange(client, url, headers, settings, opts, pin)
    except FetchError as exc:
        if settings.retries < 1 or not is_retryable(exc):
            raise
        delay = retry_delay(exc, 1, settings)
        if time.monotonic() + delay >= deadline_at:
            raise
    await asyncio.sleep(delay)
    retrying = AsyncRetrying(
        stop=stop_any(stop_after_attempt(settings.retries), StopAtDeadline(deadline_at)),
        wait=wait_for_retry(settings, first_attempt=2),
        retry=retry_if_exception(is_retryable),
        reraise=True,
    )
    outcome: _Redirect | _Answer | None = None
    async for attempt in retrying:
        with attempt:
            outcome = await _exchange(client, url, headers, settings, opts, pin)
    assert outcome is not None
    return outcome


def _same_page(a: str, b: str) -> bool:
    try:
        return normalise_url(a) == normalise_url(b)
    except UsageError:
        return a == b


async def _fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    opts: FetchOptions,
    headers: dict[str, str],
    resolver: Resolver | None,
    fetched_at: str,
    started: float,
    before_redirect: RedirectCheck | None = None,
) -> FetchResult:
    deadline_at = started + settings.deadline_seconds
    redirects: list[str] = []
    current = url
    while True:
        try:
            pin = await _guard(current, settings, resolver)
        except (UsageError, FetchError) as exc:
            if current == url:
                raise
            why = exc.message if isinstance(exc, FetchError) else str(exc)
            error = BlockedAddressError if isinstance(exc, BlockedAddressError) else FetchError
            raise error(url, f"redirect to {one_line(current)} refused: {why}") from exc
        try:
            outcome = await _exchange_with_retries(
                client, current, headers, settings, opts, deadline_at, pin
            )
        except FetchError as exc:
            if current == url:
                raise
            # the error belongs to the URL that was asked for; the message says where it happened
            raise type(exc)(
                url,
                f"{exc.message} (after a redirect to {one_line(current)})",
                status_code=exc.status_code,
                retry_after_seconds=exc.retry_after_seconds,
            ) from exc
        if isinstance(outcome, _Redirect):
            target = outcome.location
            if any(_same_page(target, seen) for seen in (*redirects, current)):
                loop = f"{one_line(current)} -> {one_line(target)}"
                raise TooManyRedirectsError(url, f"redirect loop ({loop})")
            redirects.append(current)
            if len(redirects) > settings.max_redirects:
                raise TooManyRedirectsError(url, f"more than {settings.max_redirects} redirects")
            if before_redirect is not None:
                try:
                    await before_redirect(target)
                except FetchError as exc:
                    raise type(exc)(
                        url,
                        f"redirect to {one_line(target)} refused: {exc.message}",
                        status_code=exc.status_code,
                        retry_after_seconds=exc.retry_after_seconds,
                    ) from exc
            current = target
            continue
        return FetchResult(
            url=url,
            final_url=current,
            status_code=outcome.status,
            fetched_at=fetched_at,
            elapsed_ms=int((time.monotonic() - started) * 1000),
            headers=outcome.headers,
            request_headers=outcome.request_headers,
            http_version=outcome.http_version,
            reason=outcome.reason,
            body=outcome.body,
            text=outcome.text,
            encoding=outcome.encoding,
            content_type=outcome.content_type,
            not_modified=outcome.not_modified,
            redirects=tuple(redirects),
            ip_address=outcome.ip_address,
        )


def _accept_header(accept: Sequence[str]) -> str:
    if not accept:
        return "*/*"
    return ",".join(accept) + ";q=0.9,*/*;q=0.1"


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    accept: tuple[str, ...] = HTML_TYPES,
    now: Clock | None = None,
    resolver: Resolver | None = None,
    before_redirect: RedirectCheck | None = None,
) -> FetchResult:
    """Fetch ``url``: redirects hop by hop (each checked against the private-address policy,
    and by ``before_redirect`` when given: robots.txt of the hop's host), retries, conditional
    GET, size cap after decompression, total deadline, charset decoding.

    Returns a FetchResult for 2xx (and 304 with ``not_modified``); raises a FetchError subclass
    otherwise (never an httpx error), or UsageError when ``url`` is not a URL at all.

    :param accept: media types wanted; an empty tuple takes any type. With HTML types a 200
        that is a captcha or "access denied" page raises BlockPageError.
    :param now: the clock for ``fetched_at`` and Retry-After dates (UTC ``datetime``).
    :param resolver: ``async (host, port) -> addresses`` used by the private-address check;
        the event loop's getaddrinfo by default.
    """
    clock = now or utc_now
    fetched_at = iso_utc(clock())
    started = time.monotonic()
    opts = FetchOptions(
        accept=accept,
        max_bytes=settings.max_bytes,
        truncate=False,
        clock=clock,
        block_pages=bool(accept) and set(accept) <= set(HTML_TYPES),
    )
    return await fetch_with_options(
        client,
        url,
        settings,
        opts,
        etag,
        last_modified,
        resolver,
        fetched_at,
        started,
        before_redirect=before_redirect,
    )


async def fetch_with_options(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    opts: FetchOptions,
    etag: str | None,
    last_modified: str | None,
    resolver: Resolver | None,
    fetched_at: str,
    started: float,
    *,
    before_redirect: RedirectCheck | None = None,
) -> FetchResult:
    # per request, so that one client can serve sites with different User-Agents
    headers = {"Accept": _accept_header(opts.accept), "User-Agent": settings.user_agent}
    if (value := _safe_header_value(etag)) is not None:
        headers["If-None-Match"] = value
    if (value := _safe_header_value(last_modified)) is not None:
        headers["If-Modified-Since"] = value
    try:
        async with asyncio.timeout(settings.deadline_seconds):
            return await _fetch(
                client, url, settings, opts, headers, resolver, fetched_at, started, before_redirect
            )
    except TimeoutError as exc:
        deadline = format_seconds(settings.deadline_seconds)
        raise FetchTimeoutError(
            url,
            f"timed out after {deadline} (deadline, retries included)",
            elapsed_ms=int((time.monotonic() - started) * 1000),
        ) from exc
    except FetchError as exc:
        if exc.elapsed_ms is None:
            exc.elapsed_ms = int((time.monotonic() - started) * 1000)
        raise
