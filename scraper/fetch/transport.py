"""Fetch, the transport: httpx's connection pool (httpcore) on plain asyncio sockets.

httpx's default async transport runs httpcore over anyio, whose per-call scopes cost about
0.1 ms of CPU per request; on a recrawl of unchanged pages, where each answer is a small 304,
that was a quarter of the crawl process's CPU. This module gives httpcore a network backend
written on asyncio's own protocol/transport API (one small buffered protocol per connection)
and wraps the pool as an ``httpx.AsyncBaseTransport``, so that everything above it (the client,
timeouts, streaming, errors) stays httpx's. HTTP/1.1 only, TLS verified by the given context.

It must not do what the client does (redirects, the private-address guard, retries) and
never lets an httpcore or OS error out: each becomes the httpx error of the same meaning.
"""

from __future__ import annotations

import asyncio
import select
import ssl
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import httpcore
import httpx

_READ_BUFFER_LIMIT = 256 * 1024  # pause reading from the socket above this many unread bytes
_WRITE_HIGH_WATER = 64 * 1024

#: httpcore error -> the httpx error of the same meaning (the subclasses first)
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.ProxyError, httpx.ProxyError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
)
_THEIRS = tuple(theirs for theirs, _ in _ERRORS)


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except _THEIRS as exc:
        for theirs, ours in _ERRORS:
            if isinstance(exc, theirs):
                raise ours(str(exc) or type(exc).__name__, request=request) from exc
        raise


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes received wait in a buffer until httpcore reads them."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.lost: Exception | None = None
        self.closed = False
        self._readable: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None
        self._paused_reading = False

    # --- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # a duck-typed transport (uvloop's is not an asyncio.Transport subclass)
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        if len(self.buffer) > _READ_BUFFER_LIMIT and self.transport is not None:
            self.transport.pause_reading()
            self._paused_reading = True
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.lost = exc
        self.eof = True
        self._wake_reader()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def _wake_reader(self) -> None:
        if self._readable is not None and not self._readable.done():
            self._readable.set_result(None)

    # --- for the stream ----------------------------------------------------------------------
    async def wait_readable(self) -> None:
        self._readable = asyncio.get_running_loop().create_future()
        try:
            await self._readable
        finally:
            self._readable = None

    def take(self, max_bytes: int) -> bytes:
        data = bytes(self.buffer[:max_bytes])
        del self.buffer[:max_bytes]
        if self._paused_reading and len(self.buffer) <= _READ_BUFFER_LIMIT // 2:
            self._paused_reading = False
            if self.transport is not None and not self.closed:
                self.transport.resume_reading()
        return data

    async def wait_writable(self) -> None:
        if self._writable is not None and not self._writable.done():
            await self._writable


class _Stream(httpcore.AsyncNetworkStream):
    """httpcore's view of one connection."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        conn = self._conn
        if not conn.buffer and not conn.eof:
            try:
                async with asyncio.timeout(timeout):
                    while not conn.buffer and not conn.eof:
                        await conn.wait_readable()
            except TimeoutError as exc:
                raise httpcore.ReadTimeout("timed out reading from the server") from exc
        if conn.buffer:
            return conn.take(max_bytes)
        if conn.lost is not None:
            raise httpcore.ReadError(str(conn.lost) or "connection lost") from conn.lost
        return b""  # the server closed the connection: httpcore decides what that means

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        conn = self._conn
        if not buffer:
            return
        if conn.closed or conn.transport is None or conn.transport.is_closing():
            raise httpcore.WriteError("connection closed")
        conn.transport.write(buffer)
        if conn.transport.get_write_buffer_size() > 0:
            try:
                async with asyncio.timeout(timeout):
                    await conn.wait_writable()
            except TimeoutError as exc:
                raise httpcore.WriteTimeout("timed out writing to the server") from exc
            if conn.closed and conn.lost is not None:
                raise httpcore.WriteError(str(conn.lost)) from conn.lost

    async def aclose(self) -> None:
        conn, transport = self._conn, self._conn.transport
        if transport is None or transport.is_closing():
            return
        transport.close()
        # asyncio closes the socket in a callback: let it run now, so that a loop that ends
        # right after (the end of a run) leaves no socket open; a TLS close that is still
        # waiting for the server's side is cut short
        await asyncio.sleep(0)
        if not conn.closed:
            transport.abort()
            await asyncio.sleep(0)

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.AsyncNetworkStream:
        conn = self._conn
        assert conn.transport is not None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    conn.transport, conn, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError as exc:
            await self.aclose()
            raise httpcore.ConnectTimeout("timed out in the TLS handshake") from exc
        except (OSError, ssl.SSLError) as exc:
            await self.aclose()
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        if tls is None:  # the connection went away during the handshake
            raise httpcore.ConnectError("connection closed during the TLS handshake")
        conn.transport = tls
        return self

    def get_extra_info(self, info: str) -> Any:
        conn, transport = self._conn, self._conn.transport
        if info == "is_readable":
            # an idle keep-alive connection with something to read was closed (or spoiled) by
            # the server: httpcore then opens a new one instead of reusing it
            if conn.buffer or conn.eof:
                return True
            sock = None if transport is None else transport.get_extra_info("socket")
            if sock is None:
                return True
            try:
                readable, _, _ = select.select([sock.fileno()], [], [], 0)
            except (OSError, ValueError):
                return True
            return bool(readable)
        if transport is None:
            return None
        names = {"client_addr": "sockname", "server_addr": "peername"}
        return transport.get_extra_info(names.get(info, info))


class AsyncioBackend(httpcore.AsyncNetworkBackend):
    """TCP connections for httpcore from asyncio's event loop (no anyio in between)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        conn = _Connection()
        local = None if local_address is None else (local_address, 0)
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(
                    lambda: conn, host, port, local_addr=local
                )
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"timed out connecting to {host}:{port}") from exc
        except OSError as exc:
            raise httpcore.ConnectError(str(exc) or type(exc).__name__) from exc
        sock = transport.get_extra_info("socket")
        if sock is not None:
            for option in socket_options or ():
                sock.setsockopt(*option)
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        return _Stream(conn)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not supported")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: Any, request: httpx.Request) -> None:
        self._stream = stream
        self._request = request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _as_httpx_errors(self._request):
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        with _as_httpx_errors(self._request):
            await self._stream.aclose()


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport: httpcore's HTTP/1.1 connection pool over :class:`AsyncioBackend`.

    Plain-http and https requests have a pool each; the https one, with its verified TLS
    context (loading the trust store takes ~20 ms), is made on the first https request.
    """

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        self._limits = limits
        self._ssl_context = ssl_context
        self._plain = self._pool(None)
        self._tls: httpcore.AsyncConnectionPool | None = None

    def _pool(self, ssl_context: ssl.SSLContext | None) -> httpcore.AsyncConnectionPool:
        return httpcore.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=self._limits.max_connections,
            max_keepalive_connections=self._limits.max_keepalive_connections,
            keepalive_expiry=self._limits.keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=AsyncioBackend(),
        )

    def _pool_for(self, scheme: bytes) -> httpcore.AsyncConnectionPool:
        if scheme != b"https":
            return self._plain
        if self._tls is None:
            context = self._ssl_context or httpx.create_ssl_context(verify=True)
            self._tls = self._pool(context)
        return self._tls

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors(request):
            response = await self._pool_for(url.raw_scheme).handle_async_request(core_request)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream, request),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._plain.aclose()
        if self._tls is not None:
            await self._tls.aclose()
