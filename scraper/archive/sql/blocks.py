"""Archive core, blocks: a fetch's request and response heads as stored raw blobs; pure.

The start line and headers in HTTP/1.1 wire format (what a WARC record holds), and the text a
failed fetch leaves in ``fetches.error``. No SQL, no I/O.
"""

from __future__ import annotations

import functools
from http import HTTPStatus
from urllib.parse import urlsplit

from scraper.errors import FetchError
from scraper.models import FetchResult, Headers


def header_block(status_line: str, headers: Headers) -> bytes:
    """A start line and headers in HTTP/1.1 wire format, ending with the blank line."""
    lines = [status_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def response_block(result: FetchResult) -> bytes:
    """The response status line and headers as received (``HTTP/1.1 200 OK`` ...)."""
    reason = result.reason
    if reason is None:
        reason = _phrase(result.status_code)
    status_line = f"{result.http_version} {result.status_code} {reason}".rstrip()
    return header_block(status_line, result.headers)


@functools.lru_cache(maxsize=256)
def _phrase(status_code: int) -> str:
    """The standard reason phrase of a status ("" for a code without one)."""
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return ""


def request_block(result: FetchResult) -> bytes:
    """The request line and headers as sent for the final URL (``GET /path HTTP/1.1`` ...)."""
    target = _request_target(result.final_url or result.url)
    return header_block(f"GET {target} {result.http_version}", result.request_headers)


#: what makes urlsplit do more than cut a URL (whitespace it drops, a fragment, IPv6 checks)
_UNPLAIN = frozenset("\t\n\r #\\[]")


def _request_target(url: str) -> str:
    """The path and query of ``url`` as a request line names them (``/`` for none): what
    ``urlsplit`` gives, cut by hand for the plain ``http(s)://host/path?query`` of a crawl."""
    scheme_end = 8 if url.startswith("https://") else 7 if url.startswith("http://") else 0
    if not scheme_end or not url.isascii() or not _UNPLAIN.isdisjoint(url) or url[-1] < "!":
        parts = urlsplit(url)
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    path_at = url.find("/", scheme_end)
    query_at = url.find("?", scheme_end)
    if query_at == -1:
        return url[path_at:] if path_at != -1 else "/"
    # no path (``http://host?query``) is the path "/"
    path = "/" if path_at == -1 or path_at > query_at else url[path_at:query_at]
    query = url[query_at + 1 :]
    return path + (f"?{query}" if query else "")


def error_text(error: FetchError | str) -> str:
    """A failure as ``fetches.error`` holds it: ``kind: message`` (a string as it is)."""
    if isinstance(error, FetchError):
        return f"{error.kind}: {error.message}"
    return error
