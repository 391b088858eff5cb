"""Local HTML inputs for ``scraper extract``: a file, stdin, or the HTML files under a directory.

It reads bytes and nothing more: gzip is recognised by its magic bytes (whatever the name),
at most MAX_INPUT_BYTES are read (after decompression, so a gzip bomb stops early; extraction
reads no further anyway), and a binary file (an image, an executable, random bytes) is refused
by the rule ``fetch`` applies to bodies (:func:`scraper.decode.sniff_binary`). Decoding is
``extract()``'s, through :mod:`scraper.decode`, as for fetched pages. It never touches the
network or the archive; a file it cannot use is a one-line :class:`ScraperError` naming it.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import BinaryIO, cast

from scraper.decode import SNIFF_BYTES, sniff_binary
from scraper.errors import ScraperError
from scraper.extract.clean import MAX_HTML_CHARS

#: The names ``--input-dir`` picks up (case-insensitive), in every subdirectory.
INPUT_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
#: Bytes read from one input at most: what extraction looks at (it cuts longer pages).
MAX_INPUT_BYTES = MAX_HTML_CHARS * 2
_GZIP_MAGIC = b"\x1f\x8b"


def input_files(directory: Path) -> list[Path]:
    """The HTML files under ``directory`` (recursive, symlinked directories not followed),
    sorted by path so that every run lists them in the same order. Only regular files (or
    links to them): a FIFO or a device with an HTML name would block or never end."""
    found: list[Path] = []
    for root, _dirs, files in os.walk(directory, followlinks=False):
        for name in files:
            path = Path(root) / name
            if name.lower().endswith(INPUT_SUFFIXES) and path.is_file():
                found.append(path)
    return sorted(found)


def read_input(path: Path | None, stream: BinaryIO | None = None) -> bytes:
    """The HTML bytes of ``path`` (or of ``stream`` when ``path`` is None: stdin), gunzipped
    when they are gzip data, refused when they are binary.

    :raises ScraperError: the file cannot be read, is not valid gzip, or is not text
    """
    name = "stdin" if path is None else str(path)
    try:
        if path is None:
            assert stream is not None, "read_input(None) needs a stream"
            data = _read(stream, name)
        else:
            with path.open("rb") as file:
                data = _read(file, name)
    except IsADirectoryError as exc:
        raise ScraperError(f"{name}: is a directory (use --input-dir DIR)") from exc
    except OSError as exc:
        raise ScraperError(f"{name}: cannot read file: {exc.strerror or exc}") from exc
    what = sniff_binary(data[:SNIFF_BYTES])
    if what is not None:
        raise ScraperError(f"{name}: is {what}, not HTML")
    return data


def _read(file: BinaryIO, name: str) -> bytes:
    head = file.read(len(_GZIP_MAGIC))
    if head != _GZIP_MAGIC:
        return head + file.read(MAX_INPUT_BYTES - len(head))
    packed = _Rewound(head, file)
    try:
        with gzip.GzipFile(fileobj=cast(BinaryIO, packed), mode="rb") as unpacked:
            data: bytes = unpacked.read(MAX_INPUT_BYTES)
            return data
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise ScraperError(f"{name}: not valid gzip data ({exc or 'truncated'})") from exc


class _Rewound:
    """A read-only stream that first gives back the bytes already read from ``file``."""

    def __init__(self, head: bytes, file: BinaryIO) -> None:
        self._head = head
        self._file = file

    def read(self, size: int = -1) -> bytes:
        if not self._head:
            return self._file.read(size)
        if size is None or size < 0:
            data, self._head = self._head + self._file.read(), b""
            return data
        data, self._head = self._head[:size], self._head[size:]
        if len(data) < size:
            data += self._file.read(size - len(data))
        return data
