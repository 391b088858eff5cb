"""Export: the archive as JSON Lines (snapshots) or WARC 1.1 (the stored raw captures).

Reads the archive through ``scraper.archive.query`` and ``Archive.raw`` and writes to a
binary stream; :func:`write_atomically` puts a file in place only once it is complete
(a temporary file in the same directory, fsync, rename). It never writes to the archive and
never reads the clock: the export's own time (the warcinfo record's date) is an argument.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from io import BytesIO
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from warcio.statusandheaders import (
    StatusAndHeaders,
    StatusAndHeadersParser,
    StatusAndHeadersParserException,
)
from warcio.warcwriter import WARCWriter

from scraper.archive.query import exchanges, snapshot_records
from scraper.errors import ArchiveError, ScraperError, UsageError
from scraper.models import iso_utc

if TYPE_CHECKING:
    from scraper.archive import Archive

T = TypeVar("T")

#: revisit profiles of WARC 1.1 (section 6.7)
IDENTICAL_PAYLOAD_PROFILE = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
SERVER_NOT_MODIFIED_PROFILE = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
#: the stored body is the payload with Content-Encoding (and chunking) undone, so the headers
#: that describe the wire encoding are kept under this prefix and Content-Length is set anew
ORIGINAL_HEADER_PREFIX = "X-Archive-Orig-"
_WIRE_HEADERS = ("content-encoding", "transfer-encoding")


@dataclass(frozen=True, slots=True)
class ExportStats:
    """What an export wrote."""

    snapshots: int = 0  #: JSON Lines written
    responses: int = 0
    requests: int = 0
    revisits: int = 0

    @property
    def warc_records(self) -> int:
        """Records in a WARC export, the warcinfo record included."""
        return 1 + self.responses + self.requests + self.revisits


def write_jsonl(
    archive: Archive,
    out: IO[bytes],
    *,
    site: str | None = None,
    since: dt.datetime | None = None,
) -> ExportStats:
    """One JSON object per snapshot, oldest first, UTF-8 (see ``query.snapshot_records``)."""
    count = 0
    for record in snapshot_records(archive, site=site, since=since):
        out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        count += 1
    return ExportStats(snapshots=count)


@dataclass(frozen=True, slots=True)
class _Written:
    """A response record already in the WARC: what a revisit record refers to."""

    record_id: str
    uri: str
    date: str
    payload_digest: str


def write_warc(
    archive: Archive,
    out: IO[bytes],
    *,
    created_at: str,
    site: str | None = None,
    since: dt.datetime | None = None,
    filename: str | None = None,
    software: str = "scraper",
) -> ExportStats:
    """The stored captures as gzipped WARC 1.1 (one gzip member per record).

    A warcinfo record first; then, per fetch with stored headers, oldest first:

    - a ``response`` record (the stored header block and body) for a body not yet written;
    - a ``revisit`` record (identical-payload-digest) when the same body was already
      written, or (server-not-modified) for a 304;
    - a ``request`` record (the stored request block), linked by ``WARC-Concurrent-To``.

    WARC-Date is the fetch time. A body stored without Content-Encoding has its encoding
    headers renamed with ``X-Archive-Orig-`` so that readers do not decode it twice.
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

    by_body: dict[str, _Written] = {}  # body sha256 -> its response record
    by_uri: dict[str, _Written] = {}  # URI -> its newest response record (for 304s)
    responses = requests = revisits = 0
    for exchange in exchanges(archive, site=site, since=since):
        assert exchange.headers_sha256 is not None
        date = _warc_date(exchange.fetched_at)
        http_headers = _parse_block(_raw(archive, exchange.headers_sha256), exchange.url)
        warc_headers: dict[str, str] = {"WARC-Type": "", "WARC-Date": date}
        if exchange.not_modified:
            warc_headers["WARC-Profile"] = SERVER_NOT_MODIFIED_PROFILE
            original = by_uri.get(exchange.url)
            if original is not None:
                warc_headers.update(_refers_to(original))
            record = writer.create_warc_record(
                exchange.url, "revisit", http_headers=http_headers, warc_headers_dict=warc_headers
            )
            revisits += 1
        elif exchange.body_sha256 is None:
            continue  # a response whose body was not kept: nothing to replay
        elif exchange.body_sha256 in by_body:
            original = by_body[exchange.body_sha256]
            warc_headers["WARC-Profile"] = IDENTICAL_PAYLOAD_PROFILE
            warc_headers["WARC-Payload-Digest"] = original.payload_digest
            warc_headers.update(_refers_to(original))
            size = _raw_size(archive, exchange.body_sha256)
            record = writer.create_warc_record(
                exchange.url,
                "revisit",
                http_headers=_decoded_headers(http_headers, size),
                warc_headers_dict=warc_headers,
            )
            by_uri[exchange.url] = original
            revisits += 1
        else:
            body = _raw(archive, exchange.body_sha256)
            record = writer.create_warc_record(
                exchange.url,
                "response",
                payload=BytesIO(body),
                length=len(body),
                http_headers=_decoded_headers(http_headers, len(body)),
                warc_headers_dict=warc_headers,
            )
            written = _Written(
                record_id=record.rec_headers.get_header("WARC-Record-ID"),
                uri=exchange.url,
                date=date,
                payload_digest=record.rec_headers.get_header("WARC-Payload-Digest"),
            )
            by_body[exchange.body_sha256] = written
            by_uri[exchange.url] = written
            responses += 1
        writer.write_record(record)
        if exchange.request_sha256 is not None:
            request = writer.create_warc_record(
                exchange.url,
                "request",
                http_headers=_parse_block(_raw(archive, exchange.request_sha256), exchange.url),
                warc_headers_dict={
                    "WARC-Type": "request",
                    "WARC-Date": date,
                    "WARC-Concurrent-To": record.rec_headers.get_header("WARC-Record-ID"),
                },
            )
            writer.write_record(request)
            requests += 1
    return ExportStats(responses=responses, requests=requests, revisits=revisits)


#: the files SQLite and the crawl keep beside an archive ``x.db``
ARCHIVE_FILE_SUFFIXES = ("", "-wal", "-shm", "-journal", ".lock")


def check_output(output: Path | int, archive_path: Path) -> None:
    """Refuse an export target that is the archive itself or one of its companion files (WAL,
    shared memory, journal, crawl lock), however it is named: a symlink, a hard link, a relative
    path, or (``output`` a file descriptor) stdout redirected onto one of them.

    Raises UsageError (exit 2) naming both.
    """
    real = os.path.realpath(archive_path)
    companions = [real + suffix for suffix in ARCHIVE_FILE_SUFFIXES]
    if isinstance(output, int):
        named = f"stdout (file descriptor {output})"
        try:
            target = os.fstat(output)
        except OSError:
            return
    else:
        named = str(output)
        if os.path.realpath(output) in companions:
            raise UsageError(
                f"{output}: is the archive {archive_path} or one of its files; refusing to write "
                "the export onto it"
            )
        try:
            target = os.stat(output)
        except OSError:
            return  # a new file, and not one of the names above
    for companion in companions:
        try:
            existing = os.stat(companion)
        except OSError:
            continue
        if (existing.st_dev, existing.st_ino) == (target.st_dev, target.st_ino):
            raise UsageError(
                f"{named}: is the archive {archive_path} or one of its files; refusing to write "
                "the export onto it"
            )


def write_atomically(path: Path, write: Callable[[IO[bytes]], T]) -> T:
    """Call ``write`` on a temporary file beside ``path``, fsync it, then rename it to ``path``.

    A failure (or an interrupt) leaves ``path`` as it was and removes the temporary file.
    """
    directory = path.parent
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ScraperError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            result = write(out)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise ScraperError(f"{path}: cannot write: {exc.strerror or exc}") from exc
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable where we can
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return result


# --- helpers ------------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _raw(archive: Archive, sha256: str) -> bytes:
    try:
        return archive.raw(sha256)
    except KeyError as exc:
        raise ArchiveError(f"{archive.path}: raw blob {sha256} is missing") from exc


def _raw_size(archive: Archive, sha256: str) -> int:
    return len(_raw(archive, sha256))


def _warc_date(timestamp: str) -> str:
    """A stored UTC ISO 8601 time as a WARC-Date (``2026-05-01T09:30:00Z``)."""
    try:
        moment = dt.datetime.fromisoformat(timestamp)
    except ValueError as exc:
        raise ArchiveError(f"not an ISO 8601 time in the archive: {timestamp!r}") from exc
    return iso_utc(moment)


def _parse_block(block: bytes, url: str) -> StatusAndHeaders:
    """A stored start line + header block, parsed the way warcio writes it back."""
    try:
        parsed: StatusAndHeaders = StatusAndHeadersParser([], verify=False).parse(BytesIO(block))
    except (EOFError, ValueError, StatusAndHeadersParserException) as exc:
        raise ArchiveError(f"{url}: stored header block cannot be parsed: {exc}") from exc
    return parsed


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


def _refers_to(original: _Written) -> dict[str, str]:
    return {
        "WARC-Refers-To": original.record_id,
        "WARC-Refers-To-Target-URI": original.uri,
        "WARC-Refers-To-Date": original.date,
    }


# --- Datasette ----------------------------------------------------------------------------

#: the metadata file shipped in the package (table and column descriptions, canned queries)
DATASETTE_METADATA = "datasette-metadata.json"


def datasette_metadata(database: str = "archive") -> dict[str, Any]:
    """Datasette's metadata for an archive served under the name ``database``.

    Datasette names a database after its file (``data/archive.db`` is ``archive``), so the
    shipped file's ``archive`` entry is renamed to match.
    """
    text = resources.files("scraper").joinpath(DATASETTE_METADATA).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    databases = data["databases"]
    databases[database] = databases.pop("archive")
    return data
