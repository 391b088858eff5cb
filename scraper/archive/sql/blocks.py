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
    parts = urlsplit(result.final_url or result.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return header_block(f"GET {target} {result.http_version}", result.request_headers)


def error_text(error: FetchError | str) -> str:
    """A failure as ``fetches.error`` holds it: ``kind: message`` (a string as it is)."""
    if isinstance(error, FetchError):
        return f"{error.kind}: {error.message}"
    return error
