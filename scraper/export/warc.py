"""Export stage: the stored raw captures as WARC 1.1 that replays in pywb and ReplayWeb.page.

Every capture replays: a body seen before becomes a revisit record that points at the response
record holding it (same payload digest, ``WARC-Refers-To-*``); a 304 Not Modified becomes a
revisit of the stored 200 response it confirmed, with that response's headers updated by the
304's (what a browser cache does, RFC 9111 section 4.3.4), so replay tools serve the page and
not an empty 304. The 304 as received is kept beside it in a ``metadata`` record.

Reads the archive through its Reader protocol (``exchanges``, ``raw``); never writes to it
and never reads the clock (the warcinfo record's date is an argument).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from io import BytesIO
from typing import IO, TYPE_CHECKING

from warcio.statusandheaders import (
    StatusAndHeaders,
    StatusAndHeadersParser,
    StatusAndHeadersParserException,
)
from warcio.warcwriter import WARCWriter

from scraper.archive.records import Exchange
from scraper.errors import ArchiveError
from scraper.export.base import ExportStats
from scraper.models import iso_utc
from scraper.urls import origin_of

if TYPE_CHECKING:
    from scraper.archive import Storage

#: revisit profiles of WARC 1.1 (section 6.7)
IDENTICAL_PAYLOAD_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
SERVER_NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
#: the stored body is the payload with Content-Encoding (and chunking) undone, so the headers
#: that describe the wire encoding are kept under this prefix and Content-Length is set anew
ORIGINAL_HEADER_PREFIX = "X-Archive-Orig-"
_WIRE_HEADERS = ("content-encoding", "transfer-encoding")
#: headers of a 304 that do not update the stored response (they describe the 304 itself)
_NOT_UPDATED = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "content-range", "connection"}
)


@dataclass(frozen=True, slots=True)
class _Written:
    """A response record already in the WARC: what a revisit record refers to."""

    record_id: str
    uri: str
    date: str
    payload_digest: str
    http_headers: StatusAndHeaders  #: as written (true of the stored, decoded body)


class _WarcExport:
    """The state of one export: what was written, what a later capture may refer to."""

    def __init__(self, archive: Storage, writer: WARCWriter) -> None:
        self.archive = archive
        self.writer = writer
        self.by_body: dict[str, _Written] = {}  # body sha256 -> its response record
        self.by_uri: dict[str, _Written] = {}  # URI -> its newest response record
        self.last_body: dict[str, Exchange] = {}  # URI -> its newest exchange with a body
        self.responses = self.requests = self.revisits = self.metadata = self.resources = 0

    def stats(self) -> ExportStats:
        return ExportStats(
            responses=self.responses,
            requests=self.requests,
            revisits=self.revisits,
            metadata=self.metadata,
            resources=self.resources,
        )

    # --- one exchange -----------------------------------------------------------------------

    def write(self, exchange: Exchange) -> None:
        """The records of one stored exchange (and of the response it refers to, if unwritten)."""
        assert exchange.headers_sha256 is not None
        http_headers = _parse_block(_raw(self.archive, exchange.headers_sha256), exchange.url)
        if exchange.not_modified:
            record = self._not_modified(exchange, http_headers)
        elif exchange.body_sha256 is None:
            return  # a response whose body was not kept: nothing to replay
        elif exchange.body_sha256 in self.by_body:
            record = self._identical(exchange, http_headers, self.by_body[exchange.body_sha256])
        else:
            record = self._response(exchange, http_headers)
        record_id = record.rec_headers.get_header("WARC-Record-ID")
        self._request(exchange, record_id)
        if exchange.not_modified and record.http_headers.get_statuscode() != "304":
            self._as_received(exchange, http_headers, record_id)

    def write_latest(self, exchange: Exchange) -> None:
        """The newest capture of a URL as a self-contained response record (``--latest``)."""
        assert exchange.headers_sha256 is not None
        http_headers = _parse_block(_raw(self.archive, exchange.headers_sha256), exchange.url)
        source = exchange
        if exchange.not_modified:
            previous = self.last_body.get(exchange.url)
            if previous is None or previous.headers_sha256 is None:
                return  # a 304 of a body the archive does not hold
            source = previous
            stored = _parse_block(_raw(self.archive, previous.headers_sha256), exchange.url)
            http_headers = _updated(stored, http_headers)
        if source.body_sha256 is None:
            return
        record = self._response(exchange, http_headers, body_sha256=source.body_sha256)
        self._request(exchange, record.rec_headers.get_header("WARC-Record-ID"))

    # --- records ----------------------------------------------------------------------------

    def _response(
        self, exchange: Exchange, http_headers: StatusAndHeaders, *, body_sha256: str | None = None
    ) -> _Record:
        sha256 = body_sha256 or exchange.body_sha256
        assert sha256 is not None
        body = _raw(self.archive, sha256)
        date = _warc_date(exchange.fetched_at)
        headers = _decoded_headers(http_headers, len(body))
        record = self.writer.create_warc_record(
            exchange.url,
            "response",
            payload=BytesIO(body),
            length=len(body),
            http_headers=headers,
            warc_headers_dict={"WARC-Type": "response", "WARC-Date": date, **_ip(exchange)},
        )
        self.writer.write_record(record)
        written = _Written(
            record_id=record.rec_headers.get_header("WARC-Record-ID"),
            uri=exchange.url,
            date=date,
            payload_digest=record.rec_headers.get_header("WARC-Payload-Digest"),
            http_headers=headers,
        )
        self.by_body.setdefault(sha256, written)
        self.by_uri[exchange.url] = written
        self.responses += 1
        return record

    def _identical(
        self, exchange: Exchange, http_headers: StatusAndHeaders, original: _Written
    ) -> _Record:
        assert exchange.body_sha256 is not None
        size = len(_raw(self.archive, exchange.body_sha256))
        record = self._revisit(exchange, _decoded_headers(http_headers, size), original)
        self.by_uri[exchange.url] = original
        return record

    def _not_modified(self, exchange: Exchange, http_headers: StatusAndHeaders) -> _Record:
        original = self._original_of_304(exchange)
        if original is None:
            # nothing stored to refer to: the 304 as received, which replays as a 304
            return self._write_revisit(exchange, http_headers, SERVER_NOT_MODIFIED_PROFILE, {})
        return self._revisit(exchange, _updated(original.http_headers, http_headers), original)

    def _original_of_304(self, exchange: Exchange) -> _Written | None:
        """The response record a 304 confirmed: written already, or written now from the
        archive (when an export's --since left it out)."""
        original = self.by_uri.get(exchange.url)
        if original is not None:
            return original
        previous = self.last_body.get(exchange.url)
        if previous is None or previous.headers_sha256 is None:
            return None
        stored = _parse_block(_raw(self.archive, previous.headers_sha256), previous.url)
        record = self._response(previous, stored)
        self._request(previous, record.rec_headers.get_header("WARC-Record-ID"))
        return self.by_uri[exchange.url]

    def _revisit(
        self, exchange: Exchange, http_headers: StatusAndHeaders, original: _Written
    ) -> _Record:
        refers = {
            "WARC-Payload-Digest": original.payload_digest,
            "WARC-Refers-To": original.record_id,
            "WARC-Refers-To-Target-URI": original.uri,
            "WARC-Refers-To-Date": original.date,
        }
        return self._write_revisit(exchange, http_headers, IDENTICAL_PAYLOAD_PROFILE, refers)

    def _write_revisit(
        self,
        exchange: Exchange,
        http_headers: StatusAndHeaders,
        profile: str,
        refers: dict[str, str],
    ) -> _Record:
        """Write one revisit record of ``exchange`` with ``profile`` and what it refers to."""
        record = self.writer.create_warc_record(
            exchange.url,
            "revisit",
            http_headers=http_headers,
            warc_headers_dict={
                "WARC-Type": "revisit",
                "WARC-Date": _warc_date(exchange.fetched_at),
                **_ip(exchange),
                "WARC-Profile": profile,
                **refers,
            },
        )
        self.writer.write_record(record)
        self.revisits += 1
        return record

    def _as_received(
        self, exchange: Exchange, http_headers: StatusAndHeaders, concurrent_to: str
    ) -> None:
        """A metadata record with the 304's status line and headers exactly as received."""
        lines = [f"http-status-line: {_status_line(http_headers)}"]
        lines += [f"http-header: {name}: {value}" for name, value in http_headers.headers]
        block = ("\r\n".join(lines) + "\r\n").encode("utf-8")
        record = self.writer.create_warc_record(
            exchange.url,
            "metadata",
            payload=BytesIO(block),
            length=len(block),
            warc_content_type="application/warc-fields",
            warc_headers_dict={
                "WARC-Type": "metadata",
                "WARC-Date": _warc_date(exchange.fetched_at),
                "WARC-Concurrent-To": concurrent_to,
            },
        )
        self.writer.write_record(record)
        self.metadata += 1

    def write_robots(self, origins: list[str], since_at: str | None) -> None:
        """The robots.txt of each host, as the crawl last fetched and kept it (as wget and
        Heritrix record it). The archive keeps the text but not its HTTP headers, so it is a
        ``resource`` record (the content, no protocol), dated when it was fetched."""
        state = self.archive.crawl_state()
        for origin in origins:
            row = state.host(origin)
            if row is None or row.robots_txt is None or not row.robots_fetched_at:
                continue
            if row.robots_status is not None and not 200 <= row.robots_status < 300:
                continue  # no robots.txt there (404...): nothing was served to keep
            if since_at is not None and row.robots_fetched_at < since_at:
                continue
            body = row.robots_txt.encode("utf-8")
            record = self.writer.create_warc_record(
                f"{origin}/robots.txt",
                "resource",
                payload=BytesIO(body),
                length=len(body),
                warc_content_type="text/plain; charset=utf-8",
                warc_headers_dict={
                    "WARC-Type": "resource",
                    "WARC-Date": _warc_date(row.robots_fetched_at),
                },
            )
            self.writer.write_record(record)
            self.resources += 1

    def _request(self, exchange: Exchange, concurrent_to: str) -> None:
        if exchange.request_sha256 is None:
            return
        block = _parse_block(_raw(self.archive, exchange.request_sha256), exchange.url)
        request = self.writer.create_warc_record(
            exchange.url,
            "request",
            http_headers=_as_sent(block),
            warc_headers_dict={
                "WARC-Type": "request",
                "WARC-Date": _warc_date(exchange.fetched_at),
                **_ip(exchange),
                "WARC-Concurrent-To": concurrent_to,
            },
        )
        self.writer.write_record(request)
        self.requests += 1


def write_warc(
    archive: Storage,
    out: IO[bytes],
    *,
    created_at: str,
    site: str | None = None,
    since: dt.datetime | None = None,
    latest: bool = False,
    filename: str | None = None,
    software: str = "scraper",
) -> ExportStats:
    """The stored captures as gzipped WARC 1.1 (one gzip member per record).

    A warcinfo record first; then, per fetch with stored headers, oldest first:

    - a ``response`` record (the stored header block and body) for a body not yet written;
    - a ``revisit`` record (identical-payload-digest) when the same body was already
      written, or when the server answered 304 (then with the stored response's headers
      updated by the 304's, and a ``metadata`` record keeping the 304 as received);
    - a ``request`` record (the stored request block), linked by ``WARC-Concurrent-To``;

    and last a ``resource`` record with each host's robots.txt as the crawl last kept it.

    WARC-Date is the fetch time; WARC-IP-Address (response, request and revisit records) the
    server's address as the fetch connected to it, left out where the archive has none. A body
    stored without Content-Encoding has its encoding headers renamed with ``X-Archive-Orig-``
    so that readers do not decode it twice.
    With ``latest``, only the newest capture of each URL, as a self-contained response
    record (for tools that keep the first capture of a URL).
    :param created_at: the export's time (UTC ISO 8601), the warcinfo record's date.
    """
    writer = WARCWriter(out, gzip=True, warc_version="1.1")
    info = writer.create_warcinfo_record(
        filename or "",
        {
            "software": software,
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
            "warc-format/warc-1.1/",
            "description": "raw captures exported from a scraper archive",
        },
    )
    info.rec_headers.replace_header("WARC-Date", _warc_date(created_at))
    writer.write_record(info)

    export = _WarcExport(archive, writer)
    since_at = None if since is None else iso_utc(since)
    # every exchange of the site is read, in time order, so that a 304 inside the --since
    # window can still refer to the body it confirmed even when that was fetched earlier
    # (streamed: only one exchange per URL is held, not the whole history)
    newest: dict[str, int] = {}
    if latest:
        for exchange in archive.exchanges(site=site, since=since):
            newest[exchange.url] = exchange.fetch_id
    origins: dict[str, None] = {}
    for exchange in archive.exchanges(site=site):
        origins.setdefault(origin_of(exchange.url), None)
        if since_at is not None and exchange.fetched_at < since_at:
            pass
        elif not latest:
            export.write(exchange)
        elif newest.get(exchange.url) == exchange.fetch_id:  # (a crawl may add rows meanwhile)
            export.write_latest(exchange)
        if not exchange.not_modified and exchange.body_sha256 is not None:
            export.last_body[exchange.url] = exchange
    export.write_robots(list(origins), since_at)
    return export.stats()


# --- helpers ------------------------------------------------------------------------------

if TYPE_CHECKING:
    from warcio.recordloader import ArcWarcRecord as _Record
else:
    _Record = object


def _raw(archive: Storage, sha256: str) -> bytes:
    try:
        return archive.raw(sha256)
    except KeyError as exc:
        raise ArchiveError(f"{archive.location}: raw blob {sha256} is missing") from exc


def _warc_date(timestamp: str) -> str:
    """A stored UTC ISO 8601 time as a WARC-Date (``2026-05-01T09:30:00Z``)."""
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise ArchiveError(f"not an ISO 8601 time in the archive: {timestamp!r}") from exc
    return iso_utc(moment)


def _ip(exchange: Exchange) -> dict[str, str]:
    """``WARC-IP-Address`` of the server that answered, when the archive recorded it; nothing
    for older fetches (NULL) or a stored value that is not an address: never a made-up one."""
    if not exchange.ip_address:
        return {}
    try:
        address = ipaddress.ip_address(exchange.ip_address)
    except ValueError:
        return {}
    return {"WARC-IP-Address": str(address)}


def _parse_block(block: bytes, url: str) -> StatusAndHeaders:
    """A stored start line + header block, parsed the way warcio writes it back."""
    try:
        parsed: StatusAndHeaders = StatusAndHeadersParser([], verify=False).parse(BytesIO(block))
    except (EOFError, ValueError, StatusAndHeadersParserException) as exc:
        raise ArchiveError(f"{url}: stored header block cannot be parsed: {exc}") from exc
    return parsed


def _status_line(headers: StatusAndHeaders) -> str:
    return f"{headers.protocol} {headers.statusline}".strip()


def _as_sent(request: StatusAndHeaders) -> StatusAndHeaders:
    """The request line with the HTTP version scraper really sent.

    scraper's clients speak HTTP/1.1 (or HTTP/2, which the block then says); archives written
    before the fix stored the response's version, ``HTTP/1.0`` when a server answered in 1.0.
    """
    target, _, version = request.statusline.rpartition(" ")  # protocol holds the method
    if version != "HTTP/1.0":
        return request
    return StatusAndHeaders(f"{target} HTTP/1.1", request.headers, protocol=request.protocol)


def _decoded_headers(headers: StatusAndHeaders, body_size: int) -> StatusAndHeaders:
    """The headers, made true of the stored (decoded) body: see ORIGINAL_HEADER_PREFIX."""
    encoded = any(
        name.lower() in _WIRE_HEADERS and value.strip().lower() != "identity"
        for name, value in headers.headers
    )
    if not encoded:
        return headers
    rewritten: list[tuple[str, str]] = []
    for name, value in headers.headers:
        if name.lower() in (*_WIRE_HEADERS, "content-length"):
            rewritten.append((ORIGINAL_HEADER_PREFIX + name, value))
        else:
            rewritten.append((name, value))
    rewritten.append(("Content-Length", str(body_size)))
    return StatusAndHeaders(headers.statusline, rewritten, protocol=headers.protocol)


def _updated(stored: StatusAndHeaders, not_modified: StatusAndHeaders) -> StatusAndHeaders:
    """The stored response's headers updated by a 304's (RFC 9111 section 4.3.4): each header
    the 304 sends replaces the stored ones of that name; the status line stays the stored one."""
    fresh: dict[str, list[tuple[str, str]]] = {}
    for name, value in not_modified.headers:
        if name.lower() not in _NOT_UPDATED:
            fresh.setdefault(name.lower(), []).append((name, value))
    merged: list[tuple[str, str]] = []
    replaced: set[str] = set()
    for name, value in stored.headers:
        lname = name.lower()
        if lname in fresh:
            merged.extend(fresh.pop(lname))
            replaced.add(lname)
        elif lname not in replaced:
            merged.append((name, value))
    for values in fresh.values():
        merged.extend(values)
    return StatusAndHeaders(stored.statusline, merged, protocol=stored.protocol)
