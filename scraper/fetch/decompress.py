"""Fetch, bounded decompression: undo Content-Encoding layers a step at a time.

httpx's own decoders inflate a whole network read at once, so a few hundred bytes of brotli or a
gzip-in-gzip body become gigabytes in memory before any size check can run. Here every layer
yields at most 64 KB per step and every intermediate layer has its own size budget, so the
caller can stop the body as soon as it passes the cap. No I/O, no httpx.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Protocol

import brotli
import zstandard

from scraper.errors import BodyTooLargeError, FetchError
from scraper.errors import CorruptBody as CorruptBody  # re-exported: fetch.client imports it here

_CHUNK = 64 * 1024  # decompression step: output is produced at most this much at a time
_MAX_ENCODINGS = 3  # Content-Encoding layers accepted ("gzip, gzip" is two)
_ZSTD_MAX_WINDOW = 8 * 1024 * 1024  # RFC 9659: HTTP zstd windows are at most 8 MB
# Output of one zstd call is at most about 32 KiB per input byte (an RLE block gives 128 KiB
# from 4 bytes), so zstd input is fed in slices of _ZSTD_STEP bytes.
_ZSTD_MAX_RATIO = 32 * 1024
_ZSTD_STEP = 64


def format_size(n: int) -> str:
    if n >= 1024 * 1024 and n % (1024 * 1024) == 0:
        return f"{n // (1024 * 1024)} MB"
    if n >= 1024 * 1024:
        return f"{n / (1024 * 1024):.1f} MB"
    if n >= 1024:
        return f"{n // 1024} KB"
    return f"{n} bytes"


class _Layer(Protocol):
    name: str

    def feed(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


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
                raise CorruptBody(f"{self.name}: {exc}") from exc
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
                raise CorruptBody(f"{self.name}: {exc}") from exc
            if not out:
                break
            yield out
        if not self._d.eof:
            raise CorruptBody(f"the {self.name} body is truncated")


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
            raise CorruptBody(f"br: {exc}") from exc

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
            raise CorruptBody(f"br: {exc}") from exc
        if not self._d.is_finished():
            raise CorruptBody("the br body is truncated")


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
            raise CorruptBody(f"zstd: {exc}") from exc
        if out:
            yield out
        if self._d.eof:
            self._frame_done = True
            rest = self._d.unused_data
            if rest:
                yield from self._feed(rest)

    def flush(self) -> Iterator[bytes]:
        if self._started and not self._frame_done:
            raise CorruptBody("the zstd body is truncated")
        return iter(())


class BodyDecoder:
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
                self._url, f"body larger than {format_size(self._max_bytes)} after decompression"
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
