"""Export: the archive as JSON Lines (snapshots), WARC 1.1 or WACZ (the stored raw captures).

One module per format: ``warc`` (replayable WARC 1.1), ``wacz`` (WARC + CDXJ + pages in a
WACZ 1.1 package); JSON Lines, the atomic file writer and the Datasette metadata live here.

Reads the archive through its Reader protocol (``snapshot_records``, ``exchanges``, ``raw``)
and writes to a binary stream; :func:`write_atomically` puts a file in place only once it is
complete (a temporary file in the same directory, fsync, rename). It never writes to the archive and
never reads the clock: the export's own time (the warcinfo record's date) is an argument.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

from scraper.errors import ScraperError, UsageError
from scraper.export.base import ExportStats
from scraper.export.wacz import write_wacz
from scraper.export.warc import (
    IDENTICAL_PAYLOAD_PROFILE,
    ORIGINAL_HEADER_PREFIX,
    SERVER_NOT_MODIFIED_PROFILE,
    write_warc,
)

if TYPE_CHECKING:
    from scraper.archive import Storage

__all__ = [
    "IDENTICAL_PAYLOAD_PROFILE",
    "ORIGINAL_HEADER_PREFIX",
    "SERVER_NOT_MODIFIED_PROFILE",
    "ARCHIVE_FILE_SUFFIXES",
    "ExportStats",
    "check_output",
    "datasette_metadata",
    "write_atomically",
    "write_jsonl",
    "write_wacz",
    "write_warc",
]

T = TypeVar("T")


def write_jsonl(
    archive: Storage,
    out: IO[bytes],
    *,
    site: str | None = None,
    since: dt.datetime | None = None,
) -> ExportStats:
    """One JSON object per snapshot, oldest first, UTF-8 (see ``query.snapshot_records``)."""
    count = 0
    for record in archive.snapshot_records(site=site, since=since):
        out.write(json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n")
        count += 1
    return ExportStats(snapshots=count)


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
