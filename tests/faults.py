"""A fault-injection HTTP server on 127.0.0.1 for the tests: every way a server can misbehave.

Use it as the ``fault_server`` fixture (``from tests.faults import fault_server`` in a test
module, or ``pytest_plugins = ["tests.faults"]``), or start one by hand with
``FaultServer().start()`` / ``.stop()`` (benchmarks). It is a raw threaded socket server, so it
can misbehave below HTTP: drop connections, lie about lengths, stall between bytes. Every
answer closes its connection (``Connection: close``).

Paths (:data:`FAULTS` lists them with the outcome a fetch should have):

==============================  ================================================================
``/ok``                          a normal article page
``/article-mentions-captcha``    a long article that talks about captchas (must not be blocked)
``/trickle``                     headers, then the body at one byte per second
``/hang``                        accepts the request and never answers
``/hang-headers``                sends the status line, then nothing
``/reset``                       half the body, then a TCP reset
``/flaky/N/KEY``                 HTTP 500 for the first N requests with this KEY, then the page
``/429``                         HTTP 429 with ``Retry-After: 2`` (seconds)
``/503-date``                    HTTP 503 with ``Retry-After`` an HTTP date 30 s ahead
``/bomb/gzip``                   gzip of 64 MB of zeros (65 KB on the wire)
``/bomb/deflate``                deflate (zlib) of 64 MB of zeros
``/bomb/br``                     brotli of 256 MB of zeros (a few hundred bytes)
``/bomb/zstd``                   zstd of 256 MB of zeros (8 KB)
``/bomb/gzip-1g``                 16 gzip members of 64 MB of zeros: 1 GB in 1 MB on the wire
``/bomb/gzip-gzip``              ``Content-Encoding: gzip, gzip``: the gzip bomb gzipped again
``/bomb/zstd-br``                ``Content-Encoding: zstd, br``: two different layers
``/gzip-corrupt``                ``Content-Encoding: gzip`` over bytes that are not gzip
``/lying-length``                ``Content-Length: 50000`` and only 200 bytes, then close
``/chunked-truncated``           a chunked body cut before its last chunk
``/huge``                        100 MB of HTML, no Content-Length
``/huge-declared``               ``Content-Length: 104857600``
``/redirect-loop``               /redirect-loop -> /redirect-loop-b -> /redirect-loop
``/redirect-chain/N``            N hops, then /ok
``/redirect-relative/a/b``       ``Location: ../../ok`` (relative)
``/redirect-private``            ``Location: http://169.254.169.254/latest/meta-data/``
``/redirect-private-10``         ``Location: http://10.0.0.1/admin``
``/redirect-decimal``            ``Location: http://2130706433/`` (127.0.0.1 spelled in decimal)
``/redirect-scheme``             ``Location: file:///etc/passwd``
``/latin1-meta``                 ISO-8859-1 bytes, no charset in the header, ``<meta charset>``
``/utf16-bom``                   UTF-16 (little endian) with a byte-order mark, no charset
``/invalid-utf8``                ``charset=utf-8`` with invalid byte sequences in the text
``/binary.html``                 a PNG served as ``text/html``
``/pdf.html``                    a PDF served as ``text/html``
``/no-content-type``             an HTML page without Content-Type
``/json``                        ``application/json``
``/rss-xxe``                     RSS with an external entity (``file:///etc/passwd``)
``/rss-bomb``                    RSS with an entity-expansion ("billion laughs") bomb
``/sitemap-xxe``                 a sitemap with an external entity
``/sitemap-bomb``                a sitemap with an entity-expansion bomb
``/deep-nesting``                100,000 nested ``<div>`` elements
``/huge-attribute``              a 3 MB attribute value
``/nul-bytes``                   an article with NUL bytes in its text
``/captcha``                     HTTP 200, a Cloudflare-style "Just a moment..." challenge
``/access-denied``               HTTP 200, an "Access Denied" page
``/robots.txt``                  set by ``server.robots``: "allow", "disallow", "huge" (2 MB),
                                 "5xx", "404", "hang"
==============================  ================================================================
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import brotli
import pytest
import zstandard

_MB = 1024 * 1024

ARTICLE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>A quiet article</title>"
    "</head><body><article><h1>A quiet article</h1>"
    + "".join(
        f"<p>Paragraph {i} of a perfectly ordinary article about gardens, rain and the sea.</p>"
        for i in range(30)
    )
    + "</article></body></html>"
).encode()

CAPTCHA_ARTICLE = (
    "<!doctype html><html><head><meta charset='utf-8'><title>Why captchas annoy everyone</title>"
    "</head><body><article><h1>Why captchas annoy everyone</h1>"
    + "".join(
        f"<p>Paragraph {i}: a captcha asks you to verify you are human; access denied pages and "
        "'are you a robot' prompts are part of the modern web, and this essay explains why.</p>"
        for i in range(25)
    )
    + "</article></body></html>"
).encode()

CLOUDFLARE_CHALLENGE = b"""<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<script>window._cf_chl_opt={cvId: '3',cZone: 'example.org',cType: 'managed'};</script>
</head><body><div class="main-wrapper"><h1>example.org</h1>
<h2>Checking if the site connection is secure</h2>
<noscript>Enable JavaScript and cookies to continue</noscript>
<script src="/cdn-cgi/challenge-platform/h/g/orchestrate/chl_page/v1"></script>
</div><div>Ray ID: <code>8a1b2c3d4e5f</code></div></body></html>"""

ACCESS_DENIED = b"""<HTML><HEAD>
<TITLE>Access Denied</TITLE>
</HEAD><BODY>
<H1>Access Denied</H1>
You don't have permission to access "http&#58;&#47;&#47;www&#46;example&#46;com&#47;"
on this server.<P>
Reference&#32;&#35;18&#46;5c3e1402&#46;1712345678&#46;1a2b3c4d
</BODY>
</HTML>"""

XXE_RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>Feed &xxe;</title><link>http://127.0.0.1/</link>
<item><title>Item &xxe;</title><link>http://127.0.0.1/ok</link></item></channel></rss>"""

XXE_SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE urlset [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>http://127.0.0.1/ok?&xxe;</loc></url></urlset>"""

_LAUGHS = (
    '<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(2, 10))
).replace("&lol1;", "&lol;")

BOMB_RSS = (
    f'<?xml version="1.0"?><!DOCTYPE rss [{_LAUGHS}]>'
    '<rss version="2.0"><channel><title>&lol9;</title>'
    "<item><title>x</title><link>http://127.0.0.1/ok</link></item></channel></rss>"
).encode()

BOMB_SITEMAP = (
    f'<?xml version="1.0"?><!DOCTYPE urlset [{_LAUGHS}]>'
    '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
    "<url><loc>http://127.0.0.1/ok</loc><lastmod>&lol9;</lastmod></url></urlset>"
).encode()

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 8


@dataclass(frozen=True)
class Fault:
    """One misbehaviour and what :func:`scraper.fetch.fetch` must make of it."""

    path: str
    what: str
    #: the FetchError subclass name fetch raises, or "ok" when it returns a result
    expect: str
    #: fetch it with these media types (None: the HTML default)
    accept: tuple[str, ...] | None = None


XML = ("application/xml", "text/xml", "application/rss+xml")

#: every fault, with the outcome under the test settings of tests/test_fetch_faults.py
FAULTS = (
    Fault("/ok", "a normal page", "ok"),
    Fault("/article-mentions-captcha", "an article about captchas", "ok"),
    Fault("/trickle", "one byte per second", "FetchTimeoutError"),
    Fault("/hang", "accepts, never answers", "FetchTimeoutError"),
    Fault("/hang-headers", "status line, then nothing", "FetchTimeoutError"),
    Fault("/reset", "reset mid-body", "FetchError"),
    Fault("/flaky/2/stress", "500 twice, then the page", "ok"),
    Fault("/429", "429 with Retry-After seconds", "BadStatusError"),
    Fault("/503-date", "503 with Retry-After date", "BadStatusError"),
    Fault("/bomb/gzip", "gzip bomb", "BodyTooLargeError"),
    Fault("/bomb/deflate", "deflate bomb", "BodyTooLargeError"),
    Fault("/bomb/br", "brotli bomb", "BodyTooLargeError"),
    Fault("/bomb/zstd", "zstd bomb", "BodyTooLargeError"),
    Fault("/bomb/gzip-gzip", "gzip bomb compressed twice", "BodyTooLargeError"),
    Fault("/bomb/zstd-br", "zstd then brotli bomb", "BodyTooLargeError"),
    Fault("/gzip-corrupt", "gzip header over garbage", "FetchError"),
    Fault("/lying-length", "Content-Length larger than the body", "FetchError"),
    Fault("/chunked-truncated", "chunked body cut short", "FetchError"),
    Fault("/huge", "100 MB body", "BodyTooLargeError"),
    Fault("/huge-declared", "Content-Length 100 MB", "BodyTooLargeError"),
    Fault("/redirect-loop", "redirect loop", "TooManyRedirectsError"),
    Fault("/redirect-chain/30", "30 redirects", "TooManyRedirectsError"),
    Fault("/redirect-chain/3", "3 redirects", "ok"),
    Fault("/redirect-relative/a/b", "relative Location", "ok"),
    Fault("/redirect-scheme", "redirect to file://", "BlockedAddressError"),
    Fault("/latin1-meta", "latin-1 declared in <meta>", "ok"),
    Fault("/utf16-bom", "UTF-16 with BOM", "ok"),
    Fault("/invalid-utf8", "invalid UTF-8 sequences", "ok"),
    Fault("/binary.html", "PNG behind text/html", "ContentTypeError"),
    Fault("/pdf.html", "PDF behind text/html", "ContentTypeError"),
    Fault("/no-content-type", "no Content-Type", "ok"),
    Fault("/json", "application/json", "ContentTypeError"),
    Fault("/rss-xxe", "RSS with an external entity", "ok", XML),
    Fault("/rss-bomb", "RSS entity-expansion bomb", "ok", XML),
    Fault("/sitemap-xxe", "sitemap with an external entity", "ok", XML),
    Fault("/sitemap-bomb", "sitemap entity-expansion bomb", "ok", XML),
    Fault("/deep-nesting", "100,000 nested elements", "ok"),
    Fault("/huge-attribute", "a 3 MB attribute", "ok"),
    Fault("/nul-bytes", "NUL bytes in the text", "ok"),
    Fault("/captcha", "captcha challenge with 200", "BlockPageError"),
    Fault("/access-denied", "access denied with 200", "BlockPageError"),
)


# --- bodies that cost something to build: made once per process ------------------------------


def _compress_zeros(size: int, make: Callable[[], Any]) -> bytes:
    comp = make()
    block = bytes(_MB)
    return b"".join(comp.compress(block) for _ in range(size // _MB)) + comp.flush()


@functools.cache
def bomb(kind: str) -> tuple[bytes, str]:
    """(body, Content-Encoding) of a decompression bomb."""
    if kind == "gzip":
        return _compress_zeros(64 * _MB, lambda: zlib.compressobj(9, zlib.DEFLATED, 31)), "gzip"
    if kind == "deflate":
        return _compress_zeros(64 * _MB, lambda: zlib.compressobj(9)), "deflate"
    if kind == "br":
        comp = brotli.Compressor(quality=5)
        block = bytes(16 * _MB)
        data = b"".join(comp.process(block) for _ in range(16)) + comp.finish()
        return data, "br"
    if kind == "zstd":
        zcomp = zstandard.ZstdCompressor(level=3).compressobj()
        block = bytes(16 * _MB)
        return b"".join(zcomp.compress(block) for _ in range(16)) + zcomp.flush(), "zstd"
    if kind == "gzip-1g":
        # 16 gzip members of 64 MB each: a 1 GB body in 1 MB on the wire
        return bomb("gzip")[0] * 16, "gzip"
    if kind == "gzip-gzip":
        return gzip.compress(bomb("gzip")[0], 9), "gzip, gzip"
    if kind == "zstd-br":
        return brotli.compress(bomb("zstd")[0]), "zstd, br"
    raise KeyError(kind)


def _nested() -> bytes:
    return b"<html><body>" + b"<div>" * 100_000 + b"deep" + b"</div>" * 100_000 + b"</body></html>"


def _huge_attribute() -> bytes:
    return (
        b'<html><body><p title="' + b"a" * (3 * _MB) + b'">text</p>' + ARTICLE + b"</body></html>"
    )


def _huge_robots() -> bytes:
    head = b"User-agent: *\nDisallow: /private\n"
    return head + b"# filler to make robots.txt huge\n" * (2 * _MB // 33)


# --- the server -------------------------------------------------------------------------------


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    at: float


class _Stop(Exception):
    pass


class FaultServer:
    """A threaded raw-socket HTTP/1.1 server on 127.0.0.1:<free port> serving the faults."""

    def __init__(self) -> None:
        self.robots = "allow"
        self.requests: list[Seen] = []
        self.connections = 0
        self.bytes_sent: dict[str, int] = {}
        self._counters: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._local = threading.local()  # the headers of the request this thread answers
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = self._listener.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self._acceptor = threading.Thread(target=self._accept_loop, daemon=True)

    # -- lifecycle

    def start(self) -> FaultServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        # wake accept(): a connection to ourselves, closed at once
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
        self._acceptor.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns = list(self._open)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in list(self._threads):
            thread.join(timeout=5)

    def url(self, path: str = "/") -> str:
        return self.base + path

    @property
    def request_headers(self) -> dict[str, str]:
        """The headers (lower-case names) of the request being answered, in a handler."""
        headers: dict[str, str] = getattr(self._local, "headers", {})
        return headers

    def hits(self, path: str) -> int:
        with self._lock:
            return sum(1 for r in self.requests if r.path == path)

    # -- plumbing

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if self._stop.is_set():
                conn.close()
                return
            with self._lock:
                self.connections += 1
                self._open.add(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        path = "?"
        try:
            conn.settimeout(10)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * 1024)
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                if len(data) > 65536:
                    return
            head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
            lines = head.split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else "/"
            headers = {}
            for line in lines[1:]:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
            with self._lock:
                self.requests.append(Seen(path, headers, time.monotonic()))
            self._local.headers = headers
            self._answer(conn, path)
        except (OSError, _Stop):
            pass
        finally:
            with self._lock:
                self._open.discard(conn)
            with contextlib.suppress(OSError):
                conn.close()

    def _write(self, conn: socket.socket, path: str, data: bytes, step: int = 16384) -> None:
        view = memoryview(data)
        for i in range(0, len(view), step):
            if self._stop.is_set():
                raise _Stop
            conn.sendall(view[i : i + step])
            with self._lock:
                self.bytes_sent[path] = self.bytes_sent.get(path, 0) + len(view[i : i + step])

    def _send(
        self,
        conn: socket.socket,
        path: str,
        body: bytes,
        *,
        status: str = "200 OK",
        content_type: str | None = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
        length: int | None = None,
    ) -> None:
        lines = [f"HTTP/1.1 {status}", "Connection: close", f"Date: {formatdate(usegmt=True)}"]
        if content_type is not None:
            lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body) if length is None else length}")
        lines.extend(f"{k}: {v}" for k, v in (headers or {}).items())
        self._write(conn, path, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self._write(conn, path, body)

    def _wait(self, seconds: float) -> None:
        if self._stop.wait(seconds):
            raise _Stop

    def _count(self, key: str) -> int:
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            return self._counters[key]

    # -- the faults

    def _answer(self, conn: socket.socket, path: str) -> None:
        send = functools.partial(self._send, conn, path)
        if path == "/ok" or path == "/":
            send(ARTICLE)
        elif path == "/article-mentions-captcha":
            send(CAPTCHA_ARTICLE)
        elif path == "/trickle":
            self._write(conn, path, b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
            self._write(conn, path, b"Content-Length: 1000\r\nConnection: close\r\n\r\n")
            for byte in ARTICLE[:1000]:
                self._write(conn, path, bytes([byte]))
                self._wait(1.0)
        elif path == "/hang":
            self._wait(3600)
        elif path == "/hang-headers":
            self._write(conn, path, b"HTTP/1.1 200 OK\r\n")
            self._wait(3600)
        elif path == "/reset":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100000\r\n\r\n"
            self._write(conn, path, head + ARTICLE[:500])
            time.sleep(0.05)
            # SO_LINGER with a zero timeout: close() sends RST instead of FIN
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif path.startswith("/flaky/"):
            _, _, n, key = path.split("/", 3)
            if self._count(path) <= int(n):
                send(b"<html><body>oops</body></html>", status="500 Internal Server Error")
            else:
                send(ARTICLE)
        elif path == "/429":
            send(b"slow down", status="429 Too Many Requests", headers={"Retry-After": "2"})
        elif path == "/503-date":
            later = formatdate(time.time() + 30, usegmt=True)
            send(b"later", status="503 Service Unavailable", headers={"Retry-After": later})
        elif path.startswith("/bomb/"):
            body, encoding = bomb(path.removeprefix("/bomb/"))
            send(body, headers={"Content-Encoding": encoding})
        elif path == "/gzip-corrupt":
            garbage = b"\x1f\x8b\x08\x00" + b"this is not gzip at all" * 50
            send(garbage, headers={"Content-Encoding": "gzip"})
        elif path == "/lying-length":
            send(ARTICLE[:200], length=50_000)
        elif path == "/chunked-truncated":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            head += b"Transfer-Encoding: chunked\r\n\r\n"
            self._write(conn, path, head + b"%x\r\n%s\r\n" % (300, ARTICLE[:300]) + b"400\r\nabc")
        elif path == "/huge":
            head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"
            self._write(conn, path, head)
            block = b"<p>" + b"x" * 65530 + b"</p>"
            for _ in range(100 * _MB // len(block)):
                self._write(conn, path, block, step=len(block))
        elif path == "/huge-declared":
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 104857600\r\n\r\n"
            )
            self._write(conn, path, head + ARTICLE)
        elif path == "/redirect-loop":
            send(b"", status="302 Found", headers={"Location": "/redirect-loop-b"})
        elif path == "/redirect-loop-b":
            send(b"", status="302 Found", headers={"Location": self.url("/redirect-loop")})
        elif path.startswith("/redirect-chain/"):
            n = int(path.rsplit("/", 1)[1])
            target = "/ok" if n <= 1 else f"/redirect-chain/{n - 1}"
            send(b"", status="301 Moved Permanently", headers={"Location": target})
        elif path == "/redirect-relative/a/b":
            send(b"", status="302 Found", headers={"Location": "../../ok"})
        elif path == "/redirect-private":
            loc = "http://169.254.169.254/latest/meta-data/"
            send(b"", status="302 Found", headers={"Location": loc})
        elif path == "/redirect-private-10":
            loc = "http://10.0.0.1/admin"
            send(b"", status="307 Temporary Redirect", headers={"Location": loc})
        elif path == "/redirect-decimal":
            send(b"", status="302 Found", headers={"Location": "http://2130706433/"})
        elif path == "/redirect-scheme":
            send(b"", status="302 Found", headers={"Location": "file:///etc/passwd"})
        elif path == "/latin1-meta":
            body = (
                "<html><head><meta charset='iso-8859-1'><title>Caf\u00e9</title></head>"
                "<body><p>Un caf\u00e9 cr\u00e8me, s'il vous pla\u00eet.</p></body></html>"
            ).encode("latin-1")
            send(body, content_type="text/html")
        elif path == "/utf16-bom":
            text = "<html><head><title>\u65e5\u672c</title></head>"
            text += "<body><p>\u00fcber \u65e5\u672c</p></body></html>"
            send(b"\xff\xfe" + text.encode("utf-16-le"), content_type="text/html")
        elif path == "/invalid-utf8":
            body = b"<html><body><p>good \xc3\xa9 bad \xff\xfe\xc3 end</p></body></html>"
            send(body)
        elif path == "/binary.html":
            send(PNG)
        elif path == "/pdf.html":
            send(b"%PDF-1.7\n" + bytes(range(256)) * 20)
        elif path == "/no-content-type":
            send(ARTICLE, content_type=None)
        elif path == "/json":
            send(b'{"a": 1}', content_type="application/json")
        elif path == "/rss-xxe":
            send(XXE_RSS, content_type="application/rss+xml")
        elif path == "/rss-bomb":
            send(BOMB_RSS, content_type="application/rss+xml")
        elif path == "/sitemap-xxe":
            send(XXE_SITEMAP, content_type="application/xml")
        elif path == "/sitemap-bomb":
            send(BOMB_SITEMAP, content_type="application/xml")
        elif path == "/deep-nesting":
            send(_nested())
        elif path == "/huge-attribute":
            send(_huge_attribute())
        elif path == "/nul-bytes":
            send(ARTICLE.replace(b"gardens", b"gar\x00dens").replace(b"rain", b"ra\x00\x00in"))
        elif path == "/captcha":
            send(CLOUDFLARE_CHALLENGE)
        elif path == "/access-denied":
            send(ACCESS_DENIED)
        elif path == "/robots.txt":
            self._robots(conn, path)
        else:
            send(b"<html><body>not found</body></html>", status="404 Not Found")

    def _robots(self, conn: socket.socket, path: str) -> None:
        send = functools.partial(self._send, conn, path, content_type="text/plain")
        mode = self.robots
        if mode == "allow":
            send(b"User-agent: *\nDisallow: /private\nCrawl-delay: 0.5\nSitemap: /sitemap.xml\n")
        elif mode == "disallow":
            send(b"User-agent: *\nDisallow: /\n")
        elif mode == "huge":
            send(_huge_robots())
        elif mode == "5xx":
            send(b"down", status="503 Service Unavailable")
        elif mode == "404":
            send(b"none", status="404 Not Found")
        elif mode == "hang":
            self._wait(3600)


@pytest.fixture
def fault_server() -> Iterator[FaultServer]:
    """A FaultServer on 127.0.0.1, stopped (with every connection it holds) after the test."""
    server = FaultServer().start()
    yield server
    server.stop()
