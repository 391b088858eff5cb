"""Fetch, in a helper process: :func:`scraper.fetch.fetch` run by a child process for the crawl.

On a recrawl of unchanged pages each answer is a small 304, there is nothing to extract, and
the crawl's own process is the bottleneck: HTTP alone costs it a quarter of a millisecond of
CPU per request while the machine's other core waits. A FetchWorker hands requests to a child
process that runs the very same ``fetch()`` (same checks, limits, retries and errors) on its
own event loop and connection pool, and sends each result back.

Parent and child talk over a socket pair, each message a 4-byte length and a pickle, so the
parent's event loop reads the answers like any other socket (no threads in between). The
child runs each request in a task of its own and answers as each one ends; the parent hands it
at most ``PIPELINE_DEPTH`` at a time. The child exits when the parent closes its end, or dies.

This module decides nothing about what to fetch or when: the crawl applies its politeness
(per-host slots, the global limit) before it hands a request over, and stores the results
itself. The gap between two requests to a host is the crawl process's :class:`Pacer` alone:
the parent takes a request's first turn before it hands the request over, and the child asks
the parent for every further one (a retry, a redirect hop) and waits for the answer, so the
requests of both processes keep one gap per host. A turn the child took counts as over when it
asks for the next one or sends its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import pickle
import socket
from dataclasses import dataclass
from typing import Any

from scraper import forkserver, stagecpu
from scraper.config import Settings
from scraper.errors import FetchError, WorkerGone
from scraper.fetch.client import fetch, make_client
from scraper.fetch.pacing import Pace
from scraper.fetch.robots import HopRules
from scraper.models import FetchResult
from scraper.urls import origin_of

#: requests handed to the child and not answered yet, at most (the caller checks ``available``)
PIPELINE_DEPTH = 3
#: seconds past a request's own deadline before the child is taken for hung
GRACE_SECONDS = 5.0
_HEADER = 4

__all__ = ["PIPELINE_DEPTH", "FetchWorker", "WorkerGone"]


def _frame(message: Any) -> bytes:
    with stagecpu.stage("transfer"):
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return len(data).to_bytes(_HEADER, "big") + data


class _Link(asyncio.Protocol):
    """The parent's end of the socket pair: answers in, one message at a time."""

    def __init__(self, worker: FetchWorker) -> None:
        self.worker = worker
        self.buffer = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buffer.extend(data)
        while len(self.buffer) >= _HEADER:
            size = int.from_bytes(self.buffer[:_HEADER], "big")
            if len(self.buffer) < _HEADER + size:
                return
            with stagecpu.stage("transfer"):
                message = pickle.loads(self.buffer[_HEADER : _HEADER + size])
            del self.buffer[: _HEADER + size]
            if message[0] == "turn":
                self.worker._turn_asked(message[1], message[2])
            else:
                self.worker._answered(message)

    def connection_lost(self, exc: Exception | None) -> None:
        self.worker._gone("the fetch process closed its connection")


class FetchWorker:
    """One helper process that fetches for the crawl (see the module docstring)."""

    def __init__(self, pace: Pace | None = None, *, grace_seconds: float | None = None) -> None:
        #: the turns of every request the child sends (None: the child does not wait for any)
        self.pace = pace
        #: seconds past a request's own deadline before the child is taken for hung (None:
        #: GRACE_SECONDS; the crawl gives its one policy's, scraper.crawl.processes)
        self.grace_seconds = grace_seconds
        self._process: Any = None
        self._transport: asyncio.Transport | None = None
        self._waiting: dict[int, asyncio.Future[tuple[bool, Any]]] = {}
        #: request id -> the origin whose turn it holds (None while it waits for the next one)
        self._held: dict[int, str | None] = {}
        self._granting: dict[int, asyncio.Task[None]] = {}
        self._settings: dict[Settings, int] = {}
        self._rules: dict[HopRules, int] = {}
        self._next_id = 0
        #: why the worker stopped answering (None while it works)
        self.failure: str | None = None

    @property
    def pid(self) -> int | None:
        return None if self._process is None else int(self._process.pid)

    @property
    def available(self) -> bool:
        """Working, and with room for one more request in its pipeline."""
        return (
            self.failure is None
            and self._transport is not None
            and len(self._waiting) < PIPELINE_DEPTH
        )

    async def start(self) -> FetchWorker:
        """Start the child process (from a forkserver: it inherits no open files).

        The first start of the forkserver waits for it to import the helpers' code (a fifth of
        a second; ``scraper crawl`` starts it early, :mod:`scraper.forkserver`): that wait is
        spent in a thread, so the event loop goes on meanwhile.
        """
        parent, child = socket.socketpair()
        loop = asyncio.get_running_loop()
        try:
            process = forkserver.context().Process(
                target=_serve, args=(child, proxy_environment()), daemon=True, name="scraper-fetch"
            )
            await loop.run_in_executor(None, forkserver.start_process, process)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        self._process = process
        transport, _ = await loop.create_unix_connection(lambda: _Link(self), sock=parent)
        self._transport = transport
        return self

    async def fetch(
        self,
        url: str,
        settings: Settings,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        hop_rules: HopRules | None = None,
    ) -> FetchResult:
        """``fetch(client, url, settings, etag=..., last_modified=...)`` done by the child.

        With ``hop_rules``, each redirect is checked against them before it is followed (a hop
        to a host they do not know raises RobotsUncheckedError). Raises what fetch raises;
        WorkerGone when the child cannot answer (the caller then fetches the page itself).
        """
        if self.failure is not None or self._transport is None:
            raise WorkerGone(self.failure or "the fetch process is not running")
        number = self._settings.get(settings)
        if number is None:
            number = self._settings[settings] = len(self._settings)
            self._transport.write(_frame(("settings", number, settings)))
        rules = -1
        if hop_rules is not None:
            # sent once, then named by number (a robots.txt body can be large)
            rules = self._rules.get(hop_rules, -1)
            if rules < 0:
                rules = self._rules[hop_rules] = len(self._rules)
                self._transport.write(_frame(("rules", rules, hop_rules)))
        self._next_id += 1
        request_id = self._next_id
        granted = None
        if self.pace is not None:
            # the crawl's URLs are normalised: their origin is the key the child's transport
            # will find in the Host header (were it not, the child would just ask for the turn)
            granted = origin_of(url).lower()
            await self.pace.acquire(granted)
            self._held[request_id] = granted
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[bool, Any]] = loop.create_future()
        self._waiting[request_id] = future
        timer = None
        try:
            if self._transport is None:
                raise WorkerGone(self.failure or "the fetch process is not running")
            message = ("fetch", request_id, number, url, etag, last_modified, granted, rules)
            self._transport.write(_frame(message))
            # fetch() keeps its own deadline; this only catches a child that hangs. A timer on
            # the future rather than asyncio.wait_for, which adds a future, a callback and a
            # turn of the event loop to every answer
            grace = GRACE_SECONDS if self.grace_seconds is None else self.grace_seconds
            limit = settings.deadline_seconds + grace
            timer = loop.call_later(limit, self._overdue, future, limit)
            ok, value = await future  # WorkerGone when the child is gone or overdue
        finally:
            if timer is not None:
                timer.cancel()
            self._waiting.pop(request_id, None)
            self._end_turns(request_id)
        if ok:
            assert isinstance(value, FetchResult)
            return value
        raise value

    def _overdue(self, future: asyncio.Future[tuple[bool, Any]], limit: float) -> None:
        """A request's answer is overdue: the child is taken for hung, and killed."""
        if not future.done():
            self._gone(f"the fetch process did not answer within {limit:g} s")
            self.kill()

    def _turn_asked(self, request_id: int, origin: str) -> None:
        """The child wants to send another request for ``request_id`` (a retry, a redirect)."""
        if request_id in self._held and request_id not in self._granting:
            task = asyncio.get_running_loop().create_task(self._grant(request_id, origin))
            self._granting[request_id] = task

    async def _grant(self, request_id: int, origin: str) -> None:
        assert self.pace is not None
        try:
            held = self._held.get(request_id)
            if held is not None:
                self.pace.release(held)  # the child asks again: its last request is answered
                self._held[request_id] = None
            await self.pace.acquire(origin)
            if request_id not in self._held:  # the request ended meanwhile
                self.pace.release(origin)
                return
            self._held[request_id] = origin
            if self._transport is not None:
                self._transport.write(_frame(("go", request_id)))
        finally:
            self._granting.pop(request_id, None)

    def _end_turns(self, request_id: int) -> None:
        task = self._granting.pop(request_id, None)
        if task is not None:
            task.cancel()
        held = self._held.pop(request_id, None)
        if held is not None and self.pace is not None:
            self.pace.release(held)

    def _answered(self, message: tuple[int, bool, Any]) -> None:
        request_id, ok, value = message
        future = self._waiting.get(request_id)
        if future is not None and not future.done():
            future.set_result((ok, value))

    def _gone(self, why: str) -> None:
        if self.failure is None:
            self.failure = why
        for future in self._waiting.values():
            if not future.done():
                future.set_exception(WorkerGone(self.failure))
        self._waiting.clear()

    def kill(self) -> None:
        """Stop the child at once."""
        if self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._process.kill()

    async def aclose(self, timeout_seconds: float = 2.0) -> None:
        """Close the connection (the child leaves when it reads the end) and reap the child,
        killing it if it has not left within ``timeout_seconds``."""
        self._gone("the fetch process was stopped")
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        process, self._process = self._process, None
        if process is None:
            return
        waited = 0.0
        while process.is_alive() and waited < timeout_seconds:
            await asyncio.sleep(0.005)
            waited += 0.005
        if process.is_alive():
            with contextlib.suppress(OSError):
                process.kill()
        process.join(timeout_seconds)
        process.close()


# --- the child ---------------------------------------------------------------------------


def _answer(request_id: int, ok: bool, value: Any) -> bytes:
    try:
        return _frame((request_id, ok, value))
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        what = f"fetch process: {type(value).__name__} could not be sent back ({exc})"
        return _frame((request_id, False, RuntimeError(what)))


@dataclass
class _Turns:
    """The turns of the request a child task is fetching."""

    request_id: int
    granted: str | None  #: the origin whose first turn the parent took, until it is used


#: the request the current task fetches, for the pace of the child's transport
_REQUEST: contextvars.ContextVar[_Turns | None] = contextvars.ContextVar("request", default=None)


class _ParentPace:
    """The child's :class:`~scraper.fetch.pacing.Pace`: each turn is the parent's to give."""

    def __init__(self, server: _Server) -> None:
        self.server = server

    async def acquire(self, origin: str) -> None:
        turns = _REQUEST.get()
        if turns is None:
            return  # the parent keeps no gaps
        if turns.granted == origin:
            turns.granted = None  # the turn the parent took before it handed the request over
            return
        turns.granted = None
        await self.server.ask_turn(turns.request_id, origin)

    def release(self, origin: str) -> None:
        """Nothing to send: the parent ends the turn when the next one is asked for or the
        answer comes (a little later than here, which only makes the gap longer)."""


class _Server:
    """The child's side: requests in, each fetched in its own task, answers out."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.settings: dict[int, Settings] = {}
        self.rules: dict[int, HopRules] = {}
        self.clients: dict[int, Any] = {}
        self.pace = _ParentPace(self)
        self.turns: dict[int, asyncio.Future[None]] = {}

    async def ask_turn(self, request_id: int, origin: str) -> None:
        future = asyncio.get_running_loop().create_future()
        self.turns[request_id] = future
        self.writer.write(_frame(("turn", request_id, origin)))
        try:
            await future
        finally:
            self.turns.pop(request_id, None)

    def _go(self, request_id: int) -> None:
        future = self.turns.get(request_id)
        if future is not None and not future.done():
            future.set_result(None)

    async def answer(
        self,
        request_id: int,
        number: int,
        url: str,
        etag: Any,
        modified: Any,
        granted: str | None,
        rules: int = -1,
    ) -> None:
        settings = self.settings[number]
        client = self.clients.get(number)
        if client is None:
            client = self.clients[number] = make_client(settings, pace=self.pace)
        if granted is not None:
            _REQUEST.set(_Turns(request_id, granted))
        try:
            result = await stagecpu.steps(
                "fetch",
                fetch(
                    client,
                    url,
                    settings,
                    etag=etag,
                    last_modified=modified,
                    before_redirect=self.rules.get(rules),
                ),
            )
            reply = _answer(request_id, True, result)
        except FetchError as exc:
            reply = _answer(request_id, False, exc)
        except Exception as exc:  # noqa: BLE001  (sent back: the crawl's per-URL guard records it)
            reply = _answer(request_id, False, RuntimeError(f"{type(exc).__name__}: {exc}"))
        self.writer.write(reply)

    async def serve(self, reader: asyncio.StreamReader) -> None:
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                try:
                    header = await reader.readexactly(_HEADER)
                    body = await reader.readexactly(int.from_bytes(header, "big"))
                except (asyncio.IncompleteReadError, ConnectionError):
                    return  # the parent is done, or gone
                with stagecpu.stage("transfer"):
                    message = pickle.loads(body)
                if message[0] == "settings":
                    self.settings[message[1]] = message[2]
                    continue
                if message[0] == "rules":
                    self.rules[message[1]] = message[2]
                    continue
                if message[0] == "go":
                    self._go(message[1])
                    continue
                task = asyncio.create_task(self.answer(*message[1:]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in self.clients.values():
                # a boundary (the helper is exiting): one client that fails to close must not
                # keep the others open, and there is no one left to tell
                with contextlib.suppress(Exception):
                    await client.aclose()


async def _serve_async(sock: socket.socket) -> None:
    reader, writer = await asyncio.open_unix_connection(sock=sock)
    try:
        await _Server(writer).serve(reader)
    finally:
        writer.close()


def proxy_environment() -> dict[str, str]:
    """This process's proxy variables (``HTTP_PROXY``, ``no_proxy``...), as the fetch routes
    read them (fetch/routing.py)."""
    return {name: value for name, value in os.environ.items() if name.lower().endswith("_proxy")}


def _serve(sock: socket.socket, proxies: dict[str, str]) -> None:
    """The child: answer fetch requests until the parent closes the connection.

    ``proxies`` are the crawl's proxy variables when it started the helper. The helper's own
    environment is its forkserver's, from whenever that started (early in a crawl, or earlier
    in a process that runs many crawls): its fetches go through the crawl's proxies instead.
    """
    forkserver.helper_signals()  # Ctrl-C is the crawl's to handle
    for name in proxy_environment():
        del os.environ[name]
    os.environ.update(proxies)
    with contextlib.suppress(OSError):
        asyncio.run(_serve_async(sock))
    stagecpu.write("fetch-helper")  # os._exit runs no atexit
    os._exit(0)
