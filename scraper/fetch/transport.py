"""Fetch, the transport: HTTP/1.1 keep-alive connections on plain asyncio sockets, for httpx.

httpx's default async transport is httpcore's connection pool over anyio. On a recrawl of
unchanged pages, where each answer is a small 304, that pool is most of a request's CPU:
anyio's cancel scopes and locks (sniffio asking which event loop runs, for every lock), the
pool's search over all its connections and requests under a lock at every request and every
release, a trace object per phase, and three layers of stream objects per response. No library
offers an HTTP/1.1 pool for asyncio that skips that work and keeps httpx above it (aiohttp is
a whole other client). So this module holds one, written for what the crawl needs: one
:class:`_Pool` of keep-alive connections per transport, a free connection found by a dict
lookup, each connection one small buffered asyncio protocol. The HTTP itself (framing,
validation of the status line and headers, chunked bodies, keep-alive or close) stays h11's,
the parser httpcore uses, so that every answer reads exactly as it does through httpx's own
transport, with the same errors.

It is wrapped as an ``httpx.AsyncBaseTransport`` so that everything above it (the client,
timeouts, streaming, cookies) stays httpx's. HTTP/1.1 only, TLS verified by the given context.
Limits as httpcore's: at most ``max_connections`` open (an idle one of another host is closed
to make room, else a request waits its pool timeout), at most ``max_keepalive_connections``
kept idle, none reused after ``keepalive_expiry`` seconds idle or once the server closed it.

It must not do what the client does (redirects, the private-address guard, retries) and
never lets an h11 or OS error out: each becomes the httpx error of the same meaning.
"""

from __future__ import annotations

import asyncio
import select
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import h11
import httpx

_READ_BUFFER_LIMIT = 256 * 1024  # pause reading from the socket above this many unread bytes
_READ_BYTES = 64 * 1024  # handed to h11 at a time
_WRITE_HIGH_WATER = 64 * 1024
_MAX_HEADER_BYTES = (
    100 * 1024
)  # a status line and headers longer than this are refused (httpcore's)
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

Origin = tuple[bytes, bytes, int]


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection: bytes received wait in a buffer until they are read."""

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

    # --- for the exchange --------------------------------------------------------------------
    async def read(self, timeout: float | None, request: httpx.Request) -> bytes:
        """Up to _READ_BYTES received, b"" at the end of the stream."""
        if not self.buffer and not self.eof:
            # one timer for the wait, not an asyncio.timeout scope (a third of the cost)
            loop = asyncio.get_running_loop()
            expired = [False]

            def expire() -> None:
                expired[0] = True
                self._wake_reader()

            timer = None if timeout is None else loop.call_later(timeout, expire)
            try:
                while not self.buffer and not self.eof and not expired[0]:
                    self._readable = loop.create_future()
                    try:
                        await self._readable
                    finally:
                        self._readable = None
            finally:
                if timer is not None:
                    timer.cancel()
            if not self.buffer and not self.eof:
                raise httpx.ReadTimeout("timed out reading from the server", request=request)
        if self.buffer:
            data = bytes(self.buffer[:_READ_BYTES])
            del self.buffer[:_READ_BYTES]
            if self._paused_reading and len(self.buffer) <= _READ_BUFFER_LIMIT // 2:
                self._paused_reading = False
                if self.transport is not None and not self.closed:
                    self.transport.resume_reading()
            return data
        if self.lost is not None:
            raise httpx.ReadError(
                str(self.lost) or "connection lost", request=request
            ) from self.lost
        return b""  # the server closed the connection: h11 decides what that means

    async def write(self, data: bytes, timeout: float | None, request: httpx.Request) -> None:
        transport = self.transport
        if self.closed or transport is None or transport.is_closing():
            raise httpx.WriteError("connection closed", request=request)
        transport.write(data)
        if transport.get_write_buffer_size() > 0 and self._writable is not None:
            try:
                async with asyncio.timeout(timeout):
                    if not self._writable.done():
                        await self._writable
            except TimeoutError as exc:
                raise httpx.WriteTimeout(
                    "timed out writing to the server", request=request
                ) from exc
            if self.closed and self.lost is not None:
                raise httpx.WriteError(str(self.lost), request=request) from self.lost

    def readable_while_idle(self) -> bool:
        """Whether an idle connection has something to read: the server closed (or spoiled) it,
        so it must not carry another request."""
        if self.buffer or self.eof:
            return True
        sock = None if self.transport is None else self.transport.get_extra_info("socket")
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def close(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.close()

    def abort(self) -> None:
        if self.transport is not None and not self.closed:
            self.transport.abort()


class NetworkStream:
    """A response's ``network_stream`` extension: the connection it came on, for
    :func:`scraper.fetch.peer.peer_address` (``get_extra_info("server_addr")``)."""

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            return self._conn.readable_while_idle()
        transport = self._conn.transport
        if transport is None:
            return None
        names = {"client_addr": "sockname", "server_addr": "peername"}
        return transport.get_extra_info(names.get(info, info))


class _Link:
    """One connection of the pool and its HTTP/1.1 state."""

    __slots__ = ("conn", "h11", "origin", "idle_since", "stream")

    def __init__(self, conn: _Connection, origin: Origin) -> None:
        self.conn = conn
        self.h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEADER_BYTES)
        self.origin = origin
        self.idle_since = 0.0
        self.stream = NetworkStream(conn)


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    timeouts: dict[str, float | None] = request.extensions.get("timeout") or {}
    return timeouts


class _Pool:
    """The keep-alive connections of one transport, by origin."""

    def __init__(self, limits: httpx.Limits, ssl_context: ssl.SSLContext | None) -> None:
        self._max = limits.max_connections
        self._max_idle = limits.max_keepalive_connections
        self._expiry = limits.keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[Origin, list[_Link]] = {}
        self._idle_count = 0
        self._open: set[_Link] = set()
        self._connecting = 0  #: connections being opened (they count against the limit)
        self._waiters: list[asyncio.Future[None]] = []
        self._closed = False

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # verified, from certifi or SSL_CERT_FILE / SSL_CERT_DIR (loading it takes ~20 ms,
            # so only on the first https request)
            self._ssl_context = httpx.create_ssl_context(verify=True)
        return self._ssl_context

    def _take_idle(self, origin: Origin) -> _Link | None:
        links = self._idle.get(origin)
        now = time.monotonic()
        while links:
            link = links.pop()
            self._idle_count -= 1
            expired = self._expiry is not None and now - link.idle_since > self._expiry
            if expired or link.conn.readable_while_idle():
                self._drop(link)
                continue
            return link
        return None

    def _close_one_idle(self) -> bool:
        for links in self._idle.values():
            if links:
                link = links.pop(0)  # the longest idle of its host
                self._idle_count -= 1
                self._drop(link)
                return True
        return False

    def _room(self) -> bool:
        return self._max is None or len(self._open) + self._connecting < self._max

    async def acquire(self, origin: Origin, request: httpx.Request) -> _Link:
        """A connection to ``origin`` for ``request``: an idle one, else a new one."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        link = self._take_idle(origin)
        if link is not None:
            return link
        timeouts = _timeouts(request)
        while not self._room():
            if self._close_one_idle():  # an idle connection of another host makes room
                continue
            await self._wait_for_room(timeouts.get("pool"), request)
            link = self._take_idle(origin)  # one may have come back meanwhile
            if link is not None:
                return link
        self._connecting += 1  # the slot is ours while we connect
        try:
            conn = await self._connect(origin, timeouts.get("connect"), request)
        except BaseException:
            self._connecting -= 1
            self._wake_one()  # the slot is free again
            raise
        self._connecting -= 1
        link = _Link(conn, origin)
        self._open.add(link)
        if self._closed:
            self._drop(link)
            raise RuntimeError("the transport is closed")
        return link

    async def _wait_for_room(self, timeout: float | None, request: httpx.Request) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except BaseException as exc:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
            elif waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving: the room goes to the next in line
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout(
                    "timed out waiting for a free connection", request=request
                ) from exc
            raise

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                return

    async def _connect(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> _Connection:
        scheme, host, port = origin
        name = host.decode("ascii")
        loop = asyncio.get_running_loop()
        conn = _Connection()
        try:
            async with asyncio.timeout(timeout):
                transport, _ = await loop.create_connection(lambda: conn, name, port)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(
                f"timed out connecting to {name}:{port}", request=request
            ) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)
        if scheme != b"https":
            return conn
        sni = request.extensions.get("sni_hostname") or name
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(transport, conn, self._context(), server_hostname=sni)
        except TimeoutError as exc:
            transport.abort()
            raise httpx.ConnectTimeout("timed out in the TLS handshake", request=request) from exc
        except (OSError, ssl.SSLError) as exc:
            transport.abort()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            transport.abort()
            raise
        if tls is None:  # the connection went away during the handshake
            raise httpx.ConnectError("connection closed during the TLS handshake", request=request)
        conn.transport = tls
        return conn

    def release(self, link: _Link) -> None:
        """``link``'s exchange is over: keep it for the next request if HTTP allows, else close."""
        state = link.h11
        reusable = (
            not self._closed
            and state.our_state is h11.DONE
            and state.their_state is h11.DONE
            and not link.conn.closed
            and (self._max_idle is None or self._idle_count < self._max_idle)
        )
        if not reusable:
            self._drop(link)
            return
        state.start_next_cycle()
        link.idle_since = time.monotonic()
        self._idle.setdefault(link.origin, []).append(link)
        self._idle_count += 1
        self._wake_one()

    def _drop(self, link: _Link) -> None:
        """Close ``link`` (it was open or idle, and is now neither)."""
        if link in self._open:
            self._open.discard(link)
            link.conn.close()
            self._wake_one()

    async def aclose(self) -> None:
        self._closed = True
        links, self._open, self._idle, self._idle_count = self._open, set(), {}, 0
        for link in links:
            link.conn.close()
        if links:
            # asyncio closes a socket in a callback: let it run now, so that a loop that ends
            # right after (the end of a run) leaves no socket open; a TLS close still waiting
            # for the server's side is cut short
            await asyncio.sleep(0)
            for link in links:
                link.conn.abort()
            await asyncio.sleep(0)
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)


async def _next_event(link: _Link, timeout: float | None, request: httpx.Request) -> Any:
    """The next h11 event of ``link``'s answer, reading from the socket as it needs."""
    state = link.h11
    while True:
        try:
            event = state.next_event()
        except h11.RemoteProtocolError as exc:
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        if event is not h11.NEED_DATA:
            return event
        data = await link.conn.read(timeout, request)
        if not data and state.their_state is h11.SEND_RESPONSE:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        state.receive_data(data)


class _Body(httpx.AsyncByteStream):
    """A response's body, read from its connection as it is iterated; the connection goes back
    to the pool at the end of the body, or is closed if the body is left unread."""

    def __init__(self, pool: _Pool, link: _Link, request: httpx.Request, done: bool) -> None:
        self._pool = pool
        self._link: _Link | None = link
        self._request = request
        self._done = done
        if done:
            self._finish()

    def _finish(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            self._pool.release(link)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._done:
            return
        link = self._link
        if link is None:
            raise httpx.StreamClosed()
        timeout = _timeouts(self._request).get("read")
        try:
            while True:
                event = await _next_event(link, timeout, self._request)
                if type(event) is h11.Data:
                    yield bytes(event.data)
                elif type(event) is h11.EndOfMessage:
                    break
        except BaseException:
            self._close()
            raise
        self._done = True
        self._finish()

    def _close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            self._pool._drop(link)

    async def aclose(self) -> None:
        if self._done:
            self._finish()
        else:
            self._close()  # the body was not read to its end: the connection cannot be reused


class AsyncioTransport(httpx.AsyncBaseTransport):
    """An httpx transport: a pool of HTTP/1.1 connections (h11) on asyncio sockets.

    Plain-http and https connections share the pool and its limits; the verified TLS context
    (loading the trust store takes ~20 ms) is made on the first https request.
    """

    def __init__(self, *, limits: httpx.Limits, ssl_context: ssl.SSLContext | None = None) -> None:
        self._pool = _Pool(limits, ssl_context)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            if not scheme:
                raise httpx.UnsupportedProtocol(
                    "Request URL is missing an 'http://' or 'https://' protocol.", request=request
                )
            raise httpx.UnsupportedProtocol(
                f"Request URL has an unsupported protocol '{scheme.decode('ascii', 'replace')}://'.",
                request=request,
            )
        origin = (scheme, url.raw_host, url.port or _DEFAULT_PORTS[scheme])
        pool = self._pool
        link = await pool.acquire(origin, request)
        try:
            event = await self._exchange(link, request)
            # a 101 (never asked for) has nothing to read and leaves the connection unusable
            done = type(event) is h11.InformationalResponse
            if event.status_code in (204, 304) or request.method == "HEAD":
                # no body, whatever the headers say (h11 frames these as empty): its end is
                # read now, and the connection goes back to the pool at once
                done = type(link.h11.next_event()) is h11.EndOfMessage
        except BaseException:
            pool._drop(link)
            raise
        return httpx.Response(
            status_code=event.status_code,
            headers=event.headers.raw_items(),
            stream=_Body(pool, link, request, done),
            extensions={
                "http_version": b"HTTP/" + event.http_version,
                "reason_phrase": event.reason,
                "network_stream": link.stream,
            },
        )

    async def _exchange(self, link: _Link, request: httpx.Request) -> Any:
        """Send ``request`` on ``link`` and read its answer's status line and headers."""
        timeouts = _timeouts(request)
        state = link.h11
        write = timeouts.get("write")
        try:
            try:
                data = state.send(
                    h11.Request(
                        method=request.method,
                        target=request.url.raw_path,
                        headers=request.headers.raw,
                    )
                )
            except h11.LocalProtocolError as exc:
                raise httpx.LocalProtocolError(str(exc), request=request) from exc
            stream = request.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            async for chunk in stream:
                if chunk:
                    data = (data or b"") + (state.send(h11.Data(data=chunk)) or b"")
                    await link.conn.write(data, write, request)
                    data = b""
            data = (data or b"") + (state.send(h11.EndOfMessage()) or b"")
            await link.conn.write(data, write, request)
        except httpx.WriteError:
            # a server may close the connection early and still answer (an error page): read it
            pass
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        read = timeouts.get("read")
        while True:
            event = await _next_event(link, read, request)
            if type(event) is h11.Response:
                return event
            if type(event) is h11.InformationalResponse and event.status_code == 101:
                return event  # as httpcore does: the caller sees the 101

    async def aclose(self) -> None:
        await self._pool.aclose()
