"""Fetch: one URL over HTTP(S) with every safety limit. No parsing beyond charset, no storage.

What a fetch guarantees, whatever the server does:

- every hop of a redirect chain is checked before anything is sent to it: http(s) only, no
  private, loopback, link-local or reserved address (also when a public-looking name resolves
  to one), no loops, at most ``max_redirects`` hops;
- the body is decompressed here, in bounded steps, and the fetch stops as soon as the
  decompressed size passes ``max_bytes`` (httpx's own decoders inflate a whole network read at
  once, so a few hundred bytes of brotli or a gzip-in-gzip body would become gigabytes in
  memory before any check could run);
- the whole fetch, retries and waits included, ends within ``deadline_seconds``;
- TLS certificates are always verified; there is no fallback without verification;
- no httpx exception leaves this module: each becomes the FetchError subclass that says what
  happened, in one line.

Politeness between requests (per-host delay, concurrency) is the crawl's job; robots.txt is
fetched and interpreted here (:func:`fetch_robots`, :class:`Robots`) and cached by the caller.
"""

from __future__ import annotations

import asyncio
import codecs
import dataclasses
import datetime as dt
import html
import ipaddress
import random
import re
import socket
import ssl
import time
import unicodedata
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Protocol

import brotli
import charset_normalizer
import httpx
import zstandard
from protego import Protego
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_any, stop_base

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
from scraper.models import FetchResult, iso_utc
from scraper.urls import check_url_target, is_private_address, is_private_name, normalise_url

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
#: statuses worth another attempt
RETRY_STATUSES = frozenset({429, *range(500, 600)})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
ACCEPT_ENCODING = "gzip, deflate, br, zstd"
#: robots.txt: parsed up to this size (RFC 9309 asks for at least 500 KiB), then cut
ROBOTS_MAX_BYTES = 512 * 1024
#: robots.txt: total time allowed, whatever the page deadline
ROBOTS_DEADLINE_SECONDS = 10.0
#: the first bytes of an HTML body that are searched for <meta charset>
META_PRESCAN_BYTES = 4096

_CHUNK = 64 * 1024  # decompression step: output is produced at most this much at a time
_SNIFF_BYTES = 1024  # body bytes looked at for binary magic numbers
_MAX_ENCODINGS = 3  # Content-Encoding layers accepted ("gzip, gzip" is two)
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024  # RFC 9659: HTTP zstd windows are at most 8 MB
# Output of one zstd call is at most about 32 KiB per input byte (an RLE block gives 128 KiB
# from 4 bytes), so zstd input is fed in slices of _ZSTD_STEP bytes.
_ZSTD_MAX_RATIO = 32 * 1024
_ZSTD_STEP = 64
_BACKOFF_BASE_SECONDS = 0.5

Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
Clock = Callable[[], dt.datetime]


def make_client(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The one AsyncClient of a run: timeouts, User-Agent, pool limits, TLS verified, no redirects.

    Redirects are followed by :func:`fetch` itself, one checked hop at a time.
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
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        headers={"User-Agent": settings.user_agent, "Accept-Encoding": ACCEPT_ENCODING},
        follow_redirects=False,
        max_redirects=settings.max_redirects,
        verify=True,
        transport=transport,
    )


# --- sizes and times in messages ------------------------------------------------------------


def _size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n // 1024} KB"
    return f"{n} bytes"


def _secs(seconds: float) -> str:
    return f"{seconds:g}s"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- the private-address guard ----------------------------------------------------------------


async def resolve_host(host: str, port: int) -> tuple[str, ...]:
    """Every address ``host`` resolves to, with the event loop's getaddrinfo."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


async def _guard(url: str, settings: Settings, resolver: Resolver | None) -> None:
    """Refuse ``url`` unless it is http(s) and, without allow_private, every address its host
    resolves to is public. Runs before anything is sent; raises BlockedAddressError."""
    check_url_target(url, settings.allow_private)
    if settings.allow_private:
        return
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
            raise BlockedAddressError(url, f"{host} is a private or reserved address")
        return
    if is_private_name(host):
        raise BlockedAddressError(url, f"{host} is a private host name")
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
                url, f"{host} resolves to {addr}, a private or reserved address"
            )


# --- bounded decompression -------------------------------------------------------------------


class _Layer(Protocol):
    name: str

    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _CorruptBody(Exception):
    """A compressed body that does not decompress; becomes a FetchError in _exchange."""


class _ZlibLayer:
    """gzip (also several members) and deflate (zlib-wrapped or raw), at most _CHUNK per step."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._wbits = 31 if name == "gzip" else 15
        self._d = zlib.decompressobj(self._wbits)
        self._started = False
        self._member_done = False
        self._done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._done or not data:
            return
        if self._member_done:  # the next gzip member starts here
            self._d = zlib.decompressobj(self._wbits)
            self._member_done = False
        while True:
            try:
                out = self._d.decompress(data, _CHUNK)
            except zlib.error as exc:
                if self.name == "deflate" and not self._started and self._wbits > 0:
                    self._wbits = -15  # raw deflate, as some servers send it
                    self._d = zlib.decompressobj(self._wbits)
                    continue
                raise _CorruptBody(f"{self.name}: {exc}") from exc
            self._started = True
            if out:
                yield out
            data = self._d.unconsumed_tail
            if self._d.eof:
                rest = self._d.unused_data
                if self.name == "gzip" and rest.strip(b"\0"):
                    self._d = zlib.decompressobj(self._wbits)
                    data = rest
                    continue
                if self.name == "gzip":
                    self._member_done = True
                else:
                    self._done = True
                return
            if not data and len(out) < _CHUNK:
                return

    def flush(self) -> Iterator[bytes]:
        if not self._started or self._done or self._member_done:
            return
        while not self._d.eof:
            try:
                out = self._d.decompress(self._d.unconsumed_tail, _CHUNK)
            except zlib.error as exc:
                raise _CorruptBody(f"{self.name}: {exc}") from exc
            if not out:
                break
            yield out
        if not self._d.eof:
            raise _CorruptBody(f"the {self.name} body is truncated")


class _BrotliLayer:
    name = "br"

    def __init__(self) -> None:
        self._d = brotli.Decompressor()
        self._started = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not data:
            return
        self._started = True
        try:
            out = self._d.process(data, output_buffer_limit=_CHUNK)
            if out:
                yield out
            while not self._d.can_accept_more_data():
                out = self._d.process(b"", output_buffer_limit=_CHUNK)
                if not out:
                    break
                yield out
        except brotli.error as exc:
            raise _CorruptBody(f"br: {exc}") from exc

    def flush(self) -> Iterator[bytes]:
        if not self._started:
            return
        try:
            while not self._d.is_finished():
                out = self._d.process(b"", output_buffer_limit=_CHUNK)
                if not out:
                    break
                yield out
        except brotli.error as exc:
            raise _CorruptBody(f"br: {exc}") from exc
        if not self._d.is_finished():
            raise _CorruptBody("the br body is truncated")


class _ZstdLayer:
    name = "zstd"

    def __init__(self) -> None:
        self._dctx = zstandard.ZstdDecompressor(max_window_size=_ZSTD_MAX_WINDOW)
        self._d = self._dctx.decompressobj()
        self._started = False
        self._frame_done = False

    def feed(self, data: bytes) -> Iterator[bytes]:
        # zstandard's decompressobj has no output limit: small input slices keep each call's
        # output under _ZSTD_STEP * _ZSTD_MAX_RATIO (2 MB)
        view = memoryview(data)
        for start in range(0, len(view), _ZSTD_STEP):
            yield from self._feed(bytes(view[start : start + _ZSTD_STEP]))

    def _feed(self, data: bytes) -> Iterator[bytes]:
        if self._frame_done:
            if not data.strip(b"\0"):
                return
            self._d = self._dctx.decompressobj()
            self._frame_done = False
        self._started = True
        try:
            out = self._d.decompress(data)
        except zstandard.ZstdError as exc:
            raise _CorruptBody(f"zstd: {exc}") from exc
        if out:
            yield out
        if self._d.eof:
            self._frame_done = True
            rest = self._d.unused_data
            if rest:
                yield from self._feed(rest)

    def flush(self) -> Iterator[bytes]:
        if self._started and not self._frame_done:
            raise _CorruptBody("the zstd body is truncated")
        return iter(())


class _Decoder:
    """The Content-Encoding layers of one response, undone in order, within a size budget."""

    def __init__(self, url: str, header: str | None, max_bytes: int) -> None:
        self._url = url
        self._max_bytes = max_bytes
        # compressed data of a body under the cap is at most a little larger than the cap
        self._layer_limit = max_bytes + max_bytes // 8 + _CHUNK
        names = [e.strip().lower() for e in (header or "").split(",")]
        names = [n for n in names if n not in ("", "identity", "none")]
        if len(names) > _MAX_ENCODINGS:
            raise FetchError(url, f"too many content encodings ({header})")
        layers: list[_Layer] = []
        for name in reversed(names):  # the last encoding applied is undone first
            name = {"x-gzip": "gzip"}.get(name, name)
            if name in ("gzip", "deflate"):
                layers.append(_ZlibLayer(name))
            elif name == "br":
                layers.append(_BrotliLayer())
            elif name == "zstd":
                layers.append(_ZstdLayer())
            else:
                raise FetchError(url, f"unsupported Content-Encoding {name!r}")
        self._layers = layers
        self._produced = [0] * len(layers)
        self.encodings = tuple(names)

    def _count(self, i: int, n: int) -> None:
        self._produced[i] += n
        if i < len(self._layers) - 1 and self._produced[i] > self._layer_limit:
            raise BodyTooLargeError(
                self._url, f"body larger than {_size(self._max_bytes)} after decompression"
            )

    def _push(self, i: int, data: bytes) -> Iterator[bytes]:
        if i == len(self._layers):
            yield data
            return
        for piece in self._layers[i].feed(data):
            self._count(i, len(piece))
            yield from self._push(i + 1, piece)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._push(0, data)

    def flush(self) -> Iterator[bytes]:
        for i, layer in enumerate(self._layers):
            for piece in layer.flush():
                self._count(i, len(piece))
                yield from self._push(i + 1, piece)


# --- content type, binary sniffing, charset ---------------------------------------------------

_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x7fELF", "an executable"),
    (b"MZ\x90\x00", "an executable"),
    (b"\x00asm", "WebAssembly"),
    (b"OggS", "an Ogg file"),
    (b"ID3", "an MP3 file"),
    (b"fLaC", "a FLAC file"),
    (b"wOFF", "a font"),
    (b"wOF2", "a font"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})


def sniff_binary(head: bytes) -> str | None:
    """What binary format ``head`` (the first bytes of a body) is, or None if it may be text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return "a RIFF media file"
    if head[4:8] == b"ftyp":
        return "an MP4/QuickTime file"
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or not head:
        return None
    sample = head[:_SNIFF_BYTES]
    odd, even = sample[1::2], sample[0::2]
    if sample.count(0) * 3 > len(sample) and (odd.count(0) < 2 or even.count(0) < 2):
        return None  # UTF-16 text without a BOM: zeros in every other byte only
    controls = sum(sample.count(c) for c in _CONTROL)
    if controls * 10 > len(sample) * 3:
        return "binary data"
    return None


def _accepted(media: str, accept: Sequence[str]) -> bool:
    if not accept:
        return True
    for pattern in accept:
        if pattern in ("*/*", media):
            return True
        if pattern.endswith("/*") and media.startswith(pattern[:-1]):
            return True
    return False


_WEB_CODECS = frozenset(
    [
        "utf-8",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "koi8-r",
        "koi8-u",
        "mac-roman",
        "mac-cyrillic",
        "shift_jis",
        "cp932",
        "euc_jp",
        "iso2022_jp",
        "euc_kr",
        "cp949",
        "big5",
        "big5hkscs",
        "gb18030",
        "gbk",
        "gb2312",
    ]
)
_SINGLE_BYTE_CODEC = re.compile(r"^(iso8859-\d+|cp\d+|windows-\d+)$")
# WHATWG Encoding Standard: these labels mean windows-1252, gb2312 means gbk (decoded as gb18030)
_LABEL_ALIASES = dict.fromkeys(
    ["iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"], "cp1252"
) | {
    **dict.fromkeys(["gb2312", "gbk", "x-gbk"], "gb18030"),
    **dict.fromkeys(["shift_jis", "sjis", "x-sjis", "windows-31j"], "cp932"),
    **dict.fromkeys(["euc-kr", "ks_c_5601-1987"], "cp949"),
    **dict.fromkeys(["tis-620", "iso-8859-11"], "cp874"),
}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-zA-Z0-9_.\-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    """Python's codec for a charset label, or None when unknown or not a web text encoding."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _LABEL_ALIASES.get(label) or label
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    if name in _WEB_CODECS or _SINGLE_BYTE_CODEC.match(name):
        return name
    return None


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's first guess that names a language (its "best" on short or
    repetitive text is often a code page of no language), else its best."""
    matches = list(charset_normalizer.from_bytes(sample))
    for match in matches:
        if match.language != "Unknown" and _codec(match.encoding):
            return _codec(match.encoding)
    return _codec(matches[0].encoding) if matches else None


_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _latin_default(body: bytes, guess: str | None) -> str:
    """windows-1252 (the web's default for undeclared pages) unless detection found a
    non-Latin script: detectors often take Western text for Baltic or Central European."""
    if guess is None:
        return "cp1252"
    single_byte = _SINGLE_BYTE_CODEC.match(guess) or guess.startswith(("mac-", "koi8"))
    if guess == "cp1252" or not single_byte:
        return guess
    high = bytes(sorted({b for b in body if b >= 0x80}))
    if _CP1252_UNDEFINED & set(high):
        return guess
    letters = [c for c in high.decode(guess, errors="replace") if c.isalpha()]
    if all(unicodedata.name(c, "").startswith("LATIN") for c in letters):
        return "cp1252"
    return guess


def header_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def decode_body(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """``(text, encoding)`` of an HTML or XML body, decoded with ``errors="replace"``.

    The encoding is chosen as the HTML standard's sniffing does: a byte-order mark first (it
    beats the header, as in browsers), then the Content-Type ``charset``, then ``<meta charset>``
    or ``<meta http-equiv>`` (or an XML declaration) in the first 4 KB, then UTF-8 if the body
    is valid UTF-8, then detection (charset-normalizer).
    """
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace"), "utf-8"
    if body.startswith(b"\xff\xfe"):
        return body[2:].decode("utf-16-le", errors="replace"), "utf-16-le"
    if body.startswith(b"\xfe\xff"):
        return body[2:].decode("utf-16-be", errors="replace"), "utf-16-be"
    encoding = _codec(header_charset(content_type))
    if encoding is None:
        head = body[:META_PRESCAN_BYTES]
        match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
        if match:
            encoding = _codec(match.group(1).decode("ascii"))
            if encoding is not None and encoding.startswith("utf-16"):
                encoding = "utf-8"  # a body readable as ASCII is not UTF-16 (HTML standard)
    if encoding is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = _latin_default(body, _detect(body[:65536]))
    return body.decode(encoding, errors="replace"), encoding


# --- block pages -----------------------------------------------------------------------------

_BLOCK_TITLE = re.compile(
    r"^\s*(access denied|attention required!?|just a moment\.*|please wait\.*|one more step"
    r"|security check|are you a robot\??|robot or human\??|verify you are (?:a )?human"
    r"|human verification|captcha|bot check|pardon our interruption|request blocked"
    r"|you have been blocked|access to this page has been denied\.?|ddos-guard"
    r"|checking your browser\.*|403 forbidden|forbidden)"
    r"(\s*[|:\-\u2013\u2014].*)?\s*$",
    re.I,
)
# vendor challenge pages: these strings appear on the challenge itself, not on normal pages
_BLOCK_VENDOR = (
    "cf_chl_opt",
    "cf-browser-verification",
    "/cdn-cgi/challenge-platform/",
    "captcha-delivery.com",
    "_incapsula_resource",
    "px-captcha",
    "sec-if-cpt-container",
)
_BLOCK_PHRASES = (
    "verify you are human",
    "verify that you are human",
    "are you a robot",
    "not a robot",
    "checking your browser",
    "enable javascript and cookies to continue",
    "access denied",
    "you don't have permission to access",
    "you do not have permission to access",
    "request unsuccessful",
    "incapsula incident",
    "complete the security check",
    "unusual traffic",
    "why have i been blocked",
    "captcha",
    "ray id",
    "reference #",
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.I | re.S)
_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
#: a page with more visible text than this is never taken for a block page
BLOCK_PAGE_MAX_TEXT_CHARS = 2000
_BLOCK_PAGE_MAX_CHARS = 256 * 1024


def block_page_reason(text: str) -> str | None:
    """Why the HTML ``text`` looks like a captcha, bot check or "access denied" page, or None.

    Conservative on purpose: only a page with little visible text (an article has more) and a
    tell-tale title, a bot-vendor challenge marker, or two block phrases counts.
    """
    if len(text) > _BLOCK_PAGE_MAX_CHARS:
        return None
    title_match = _TITLE.search(text)
    title = html.unescape(_TAG.sub("", title_match.group(1))).strip() if title_match else ""
    visible = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", text)))
    visible = " ".join(visible.split())
    if len(visible) > BLOCK_PAGE_MAX_TEXT_CHARS:
        return None
    if title and _BLOCK_TITLE.match(title):
        return f"title {title[:80]!r}"
    lower = text.lower()
    for marker in _BLOCK_VENDOR:
        if marker in lower:
            return f"bot-check marker {marker!r}"
    found = [p for p in _BLOCK_PHRASES if p in visible.lower()]
    if len(found) >= 2:
        return f"{found[0]!r} and {found[1]!r} on a near-empty page"
    return None


# --- one exchange ------------------------------------------------------------------------------


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
    body: bytes = b""
    text: str = ""
    encoding: str = "utf-8"
    content_type: str = ""
    not_modified: bool = False


def _raw_headers(headers: httpx.Headers) -> tuple[tuple[str, str], ...]:
    """Headers as sent or received, in order and in their own letter case (for WARC)."""
    return tuple((k.decode("latin-1"), v.decode("latin-1")) for k, v in headers.raw)


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _translate(exc: Exception, url: str, settings: Settings) -> FetchError:
    """The FetchError for an httpx error, with a one-line message."""
    text = str(exc)
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchTimeoutError(
            url, f"timed out after {_secs(settings.connect_timeout_seconds)} connecting"
        )
    if isinstance(exc, httpx.ReadTimeout):
        return FetchTimeoutError(
            url, f"timed out after {_secs(settings.read_timeout_seconds)} waiting for data"
        )
    if isinstance(exc, httpx.WriteTimeout):
        return FetchTimeoutError(url, "timed out sending the request")
    if isinstance(exc, httpx.PoolTimeout):
        return FetchTimeoutError(url, "timed out waiting for a free connection")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BlockedAddressError(url, "only http and https URLs are fetched")
    if isinstance(exc, httpx.InvalidURL):
        return FetchError(url, f"invalid URL ({text})")
    if isinstance(exc, httpx.ConnectError):
        for cause in _chain(exc):
            if isinstance(cause, ssl.SSLCertVerificationError):
                why = cause.verify_message or "invalid certificate"
                return FetchError(url, f"TLS certificate verification failed: {why}")
            if isinstance(cause, ssl.SSLError):
                return FetchError(url, f"TLS handshake failed: {cause.reason or cause}")
            if isinstance(cause, socket.gaierror):
                return FetchError(url, "unknown host")
            if isinstance(cause, ConnectionRefusedError):
                return FetchError(url, "connection refused")
        lowered = text.lower()
        if "certificate_verify_failed" in lowered:
            return FetchError(url, "TLS certificate verification failed")
        if "name or service not known" in lowered or "name resolution" in lowered:
            return FetchError(url, "unknown host")
        if "refused" in lowered or "all connection attempts failed" in lowered:
            return FetchError(url, "connection refused")
        return FetchError(url, f"could not connect ({text or type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError):
        if "location header" in text.lower():
            return FetchError(url, f"redirect to an invalid URL ({text})")
        if "complete message body" in text or "incomplete chunked" in text.lower():
            return FetchError(url, "connection closed before the body was complete (truncated)")
        if "without sending" in text:
            return FetchError(url, "the server closed the connection without answering")
        return FetchError(url, f"invalid HTTP response ({text or 'protocol error'})")
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.NetworkError):
        for cause in _chain(exc):
            if isinstance(cause, ConnectionResetError):
                return FetchError(url, "connection reset by the server")
        return FetchError(url, f"connection error ({text or type(exc).__name__})")
    if isinstance(exc, httpx.ProxyError):
        return FetchError(url, f"proxy error ({text})")
    return FetchError(url, f"HTTP error ({text or type(exc).__name__})")


def _retryable(exc: BaseException) -> bool:
    """Connect errors, resets, truncated bodies, connect/read timeouts, 429 and 5xx."""
    if isinstance(exc, BadStatusError):
        return exc.status_code in RETRY_STATUSES
    if isinstance(exc, FetchTimeoutError):
        return True
    if type(exc) is not FetchError:
        return False
    cause = exc.__cause__
    if not isinstance(cause, httpx.ConnectError | httpx.ReadError | httpx.RemoteProtocolError):
        return False
    if "location header" in str(cause).lower():
        return False  # a Location httpx cannot parse will not parse next time either
    # a host that does not exist or a bad certificate will not get better in a second
    return not any(isinstance(c, socket.gaierror | ssl.SSLError) for c in _chain(cause))


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After value: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def _server_now(headers: httpx.Headers, clock: Clock) -> dt.datetime:
    """The server's Date when it sent one (so Retry-After dates ignore clock skew), else ours."""
    date = headers.get("date")
    if date:
        try:
            when = parsedate_to_datetime(date)
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError):
            pass
    return clock()


def _safe_header_value(value: str | None) -> str | None:
    if value is None or not value.isascii() or any(c in value for c in "\r\n\0"):
        return None
    return value


@dataclass(frozen=True, slots=True)
class _Options:
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
    opts: _Options,
) -> _Redirect | _Answer:
    """One request and its answer: a redirect to follow, or the final response with its body."""
    try:
        request = client.build_request("GET", url, headers=headers)
        response = await client.send(request, stream=True)
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise _translate(exc, url, settings) from exc
    try:
        return await _read_answer(response, url, opts)
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
        raise _translate(exc, url, settings) from exc
    finally:
        await response.aclose()


async def _read_answer(response: httpx.Response, url: str, opts: _Options) -> _Redirect | _Answer:
    status = response.status_code
    if status in REDIRECT_STATUSES:
        location = response.headers.get("location")
        if not location or not location.strip():
            raise BadStatusError(url, f"HTTP {status} without a Location", status_code=status)
        try:
            target = str(response.url.join(location.strip()))
        except httpx.InvalidURL as exc:
            raise FetchError(url, f"redirect to an invalid URL {location!r}") from exc
        return _Redirect(target, status)
    answer = _Answer(
        status=status,
        headers=_raw_headers(response.headers),
        request_headers=_raw_headers(response.request.headers),
        http_version=response.http_version,
    )
    if status == 304:
        return dataclasses.replace(answer, not_modified=True)
    if not 200 <= status < 300:
        reason = response.reason_phrase
        retry_after = parse_retry_after(
            response.headers.get("retry-after"), _server_now(response.headers, opts.clock)
        )
        message = f"HTTP {status} {reason}".strip()
        if retry_after is not None:
            message += f" (Retry-After {_secs(round(retry_after, 1))})"
        raise BadStatusError(url, message, status_code=status, retry_after_seconds=retry_after)
    content_type = response.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    html_wanted = bool(opts.accept) and set(opts.accept) <= set(HTML_TYPES)
    if media and not _accepted(media, opts.accept):
        what = "not HTML" if html_wanted else f"not one of {', '.join(opts.accept)}"
        raise ContentTypeError(url, f"{what} (content type {media})", status_code=status)
    declared = response.headers.get("content-length", "")
    if not opts.truncate and declared.isdigit() and int(declared) > opts.max_bytes:
        raise BodyTooLargeError(
            url,
            f"body larger than {_size(opts.max_bytes)} (Content-Length {declared})",
            status_code=status,
        )
    body = await _read_body(response, url, opts)
    if opts.accept:
        binary = sniff_binary(body[:_SNIFF_BYTES])
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


async def _read_body(response: httpx.Response, url: str, opts: _Options) -> bytes:
    """The decompressed body, stopped as soon as it passes max_bytes."""
    if response.is_stream_consumed:
        # a transport that hands over a finished body (httpx.MockTransport given ``content=``):
        # httpx has already undone its Content-Encoding
        decoder = _Decoder(url, None, opts.max_bytes)
        chunks: AsyncIterator[bytes] = _one_chunk(response.content)
    else:
        decoder = _Decoder(url, response.headers.get("content-encoding"), opts.max_bytes)
        chunks = response.aiter_raw()
    body = bytearray()
    sniffed = not opts.accept

    def add(piece: bytes) -> bool:
        body.extend(piece)
        if len(body) > opts.max_bytes:
            if opts.truncate:
                del body[opts.max_bytes :]
                return False
            raise BodyTooLargeError(
                url,
                f"body larger than {_size(opts.max_bytes)} after decompression",
                status_code=response.status_code,
            )
        return True

    try:
        async for raw in chunks:
            for piece in decoder.feed(raw):
                if not add(piece):
                    return bytes(body)
            if not sniffed and len(body) >= _SNIFF_BYTES:
                sniffed = True
                binary = sniff_binary(bytes(body[:_SNIFF_BYTES]))
                if binary is not None:
                    media = response.headers.get("content-type", "").split(";")[0].strip()
                    raise ContentTypeError(
                        url, f"the body is {binary}, not text ({media or 'no content type'})"
                    )
        for piece in decoder.flush():
            if not add(piece):
                return bytes(body)
    except _CorruptBody as exc:
        raise FetchError(url, f"compressed body cannot be decoded ({exc})") from exc
    return bytes(body)


# --- retries and redirects ---------------------------------------------------------------------


class _StopAtDeadline(stop_base):
    """Stop retrying when the next wait would end past the deadline."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline_at


def retry_delay(error: BaseException | None, attempt: int, settings: Settings) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the server's Retry-After when it sent
    one, else exponential backoff (0.5 s, 1 s, 2 s...) with jitter; at most
    ``retry_max_wait_seconds`` either way."""
    cap = settings.retry_max_wait_seconds
    if isinstance(error, FetchError) and error.retry_after_seconds is not None:
        return min(max(float(error.retry_after_seconds), 0.0), cap)
    ceiling = min(cap, _BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _wait(settings: Settings) -> Callable[[RetryCallState], float]:
    def wait(retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return retry_delay(error, retry_state.attempt_number, settings)

    return wait


async def _exchange_with_retries(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    settings: Settings,
    opts: _Options,
    deadline_at: float,
) -> _Redirect | _Answer:
    retrying = AsyncRetrying(
        stop=stop_any(stop_after_attempt(settings.retries + 1), _StopAtDeadline(deadline_at)),
        wait=_wait(settings),
        retry=retry_if_exception(_retryable),
        reraise=True,
    )
    outcome: _Redirect | _Answer | None = None
    async for attempt in retrying:
        with attempt:
            outcome = await _exchange(client, url, headers, settings, opts)
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
    opts: _Options,
    headers: dict[str, str],
    resolver: Resolver | None,
    fetched_at: str,
    started: float,
) -> FetchResult:
    deadline_at = started + settings.deadline_seconds
    redirects: list[str] = []
    current = url
    while True:
        try:
            await _guard(current, settings, resolver)
        except (UsageError, FetchError) as exc:
            if current == url:
                raise
            why = exc.message if isinstance(exc, FetchError) else str(exc)
            error = BlockedAddressError if isinstance(exc, BlockedAddressError) else FetchError
            raise error(url, f"redirect to {current} refused: {why}") from exc
        try:
            outcome = await _exchange_with_retries(
                client, current, headers, settings, opts, deadline_at
            )
        except FetchError as exc:
            if current == url:
                raise
            # the error belongs to the URL that was asked for; the message says where it happened
            raise type(exc)(
                url,
                f"{exc.message} (after a redirect to {current})",
                status_code=exc.status_code,
                retry_after_seconds=exc.retry_after_seconds,
            ) from exc
        if isinstance(outcome, _Redirect):
            target = outcome.location
            if any(_same_page(target, seen) for seen in (*redirects, current)):
                raise TooManyRedirectsError(url, f"redirect loop ({current} -> {target})")
            redirects.append(current)
            if len(redirects) > settings.max_redirects:
                raise TooManyRedirectsError(url, f"more than {settings.max_redirects} redirects")
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
            body=outcome.body,
            text=outcome.text,
            encoding=outcome.encoding,
            content_type=outcome.content_type,
            not_modified=outcome.not_modified,
            redirects=tuple(redirects),
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
) -> FetchResult:
    """Fetch ``url``: redirects hop by hop (each checked against the private-address policy),
    retries, conditional GET, size cap after decompression, total deadline, charset decoding.

    Returns a FetchResult for 2xx (and 304 with ``not_modified``); raises a FetchError subclass
    otherwise (never an httpx error), or UsageError when ``url`` is not a URL at all.

    :param accept: media types wanted; an empty tuple takes any type. With HTML types a 200
        that is a captcha or "access denied" page raises BlockPageError.
    :param now: the clock for ``fetched_at`` and Retry-After dates (UTC ``datetime``).
    :param resolver: ``async (host, port) -> addresses`` used by the private-address check;
        the event loop's getaddrinfo by default.
    """
    clock = now or _utc_now
    fetched_at = iso_utc(clock())
    started = time.monotonic()
    opts = _Options(
        accept=accept,
        max_bytes=settings.max_bytes,
        truncate=False,
        clock=clock,
        block_pages=bool(accept) and set(accept) <= set(HTML_TYPES),
    )
    return await _run(
        client, url, settings, opts, etag, last_modified, resolver, fetched_at, started
    )


async def _run(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    opts: _Options,
    etag: str | None,
    last_modified: str | None,
    resolver: Resolver | None,
    fetched_at: str,
    started: float,
) -> FetchResult:
    headers = {"Accept": _accept_header(opts.accept)}
    if (value := _safe_header_value(etag)) is not None:
        headers["If-None-Match"] = value
    if (value := _safe_header_value(last_modified)) is not None:
        headers["If-Modified-Since"] = value
    try:
        async with asyncio.timeout(settings.deadline_seconds):
            return await _fetch(client, url, settings, opts, headers, resolver, fetched_at, started)
    except TimeoutError as exc:
        raise FetchTimeoutError(
            url,
            f"timed out after {_secs(settings.deadline_seconds)} (deadline, retries included)",
            elapsed_ms=int((time.monotonic() - started) * 1000),
        ) from exc
    except FetchError as exc:
        if exc.elapsed_ms is None:
            exc.elapsed_ms = int((time.monotonic() - started) * 1000)
        raise


# --- robots.txt --------------------------------------------------------------------------------


def robots_token(user_agent: str) -> str:
    """Our name in robots.txt: the first word of the User-Agent, before any ``/``."""
    words = user_agent.split()
    return words[0].split("/", 1)[0] if words else "*"


@dataclass(frozen=True, slots=True)
class Robots:
    """A host's robots.txt as fetched: body (empty when absent), status, and what it means.

    ``Robots(origin, status, body)`` is all there is to store: the parser is built on first use
    and kept. Status 2xx: the rules in ``body``. 4xx, or 0 (no usable answer, such as a redirect
    loop): everything allowed. 5xx, or None (timeout, connection failure, a redirect to a
    private address): nothing allowed for now.
    """

    origin: str  #: scheme://host[:port]
    status: int | None  #: HTTP status, None when the fetch failed (timeout, connection)
    body: str
    _parser: list[Protego] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def unreachable(self) -> bool:
        """True when robots.txt could not be had (5xx or no answer): crawl nothing now."""
        return self.status is None or self.status >= 500

    def _rules(self) -> Protego | None:
        if self.status is None or not 200 <= self.status < 300:
            return None
        if not self._parser:
            self._parser.append(Protego.parse(self.body))
        return self._parser[0]

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.unreachable:
            return False
        rules = self._rules()
        return True if rules is None else bool(rules.can_fetch(url, robots_token(user_agent)))

    def crawl_delay(self, user_agent: str) -> float | None:
        rules = self._rules()
        if rules is None:
            return None
        delay = rules.crawl_delay(robots_token(user_agent))
        return None if delay is None else float(delay)

    def sitemaps(self) -> tuple[str, ...]:
        rules = self._rules()
        return () if rules is None else tuple(rules.sitemaps)


async def fetch_robots(
    client: httpx.AsyncClient,
    origin: str,
    settings: Settings,
    *,
    resolver: Resolver | None = None,
) -> Robots:
    """GET origin/robots.txt (size-capped, short deadline): 4xx -> allow all; 5xx or no answer
    -> status 5xx or None, and ``allowed`` answers False ("not now").

    A robots.txt larger than 512 KB is cut there and the first part is used, as RFC 9309 allows.
    """
    robots_settings = dataclasses.replace(
        settings,
        max_bytes=ROBOTS_MAX_BYTES,
        deadline_seconds=min(settings.deadline_seconds, ROBOTS_DEADLINE_SECONDS),
        retries=0,
        max_redirects=min(settings.max_redirects, 5),
    )
    opts = _Options(
        accept=(), max_bytes=ROBOTS_MAX_BYTES, truncate=True, clock=_utc_now, block_pages=False
    )
    url = origin.rstrip("/") + "/robots.txt"
    try:
        result = await _run(
            client, url, robots_settings, opts, None, None, resolver, "", time.monotonic()
        )
    except BadStatusError as exc:
        return Robots(origin, exc.status_code, "")
    except TooManyRedirectsError:
        return Robots(origin, 0, "")
    except (FetchError, UsageError):
        return Robots(origin, None, "")
    body = result.body.decode("utf-8", errors="replace").lstrip("\ufeff")
    return Robots(origin, result.status_code, body)
