"""CPU time by stage of a crawl, for ``make bench-crawl``: off, and nearly free, unless the
environment variable ``SCRAPER_STAGE_CPU`` names a folder.

When it does, each stage timer adds the CPU time of its own thread (``time.thread_time()``)
to its stage, less the time of the timers nested inside it, so that no CPU second is counted
twice. The stages (:data:`STAGES`) are explicit timers at a few places of the crawl:

- ``stage(name)``: a synchronous block (an archive write, a pickle);
- ``steps(name, coroutine)``: each step of a coroutine, not the waits between them (an
  ``await`` that times the coroutine as a whole would count the other tasks' CPU too);
- ``job()``: one page in an extraction worker; the CPU between two jobs is the transfer of
  the pages and results (unpickling, pickling, the pipes), before the first job its start.
  The worker's figures go back with its result (``take()``), and the crawl adds them up
  (``merge()``), since pool workers end without running ``atexit``.

When enabled, importing this module also times every ``hashlib.sha256`` and every
``zstandard`` compression of the process as "hash" (wrapped in place: that is all they are
used for here), and the first ``job()`` of an extraction worker wraps the parse and the link
reading of ``scraper.extract`` by name, so that extraction is split without a line in it.

At the end of the crawl process (``atexit``) and of the fetch helper (``write()``), a JSON
report ``<folder>/<role>-<pid>.json`` holds the stages, the process's own CPU (all threads),
its main thread's, the CPU before the first page fetch ("start") and after the last page
("shutdown"), the wall clock at the first page fetch, the last page's end and the report's
writing (a timeline of the run), and the workers' reports by pid. The benchmark merges the
reports of the process tree and sets them beside the CPU it measured from /proc.

This module never changes what is done, only times it; it must not be imported for anything
else.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Generator, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["ENV", "STAGES", "enabled", "job", "merge", "stage", "steps", "take", "write"]

ENV = "SCRAPER_STAGE_CPU"
#: the stages, as the benchmark prints them
STAGES = {
    "start": "start (process start to the first page fetch)",
    "fetch": "fetch and decode (HTTP, decompression, charset)",
    "parse": "parse (selectolax, in the extraction workers)",
    "extract": "extraction (scraper.extract less its parse and links)",
    "links": "links (reading the page's links)",
    "hash": "hashing and compression (sha256, zstd)",
    "archive": "archive writes (SQL, full-text index, commits)",
    "engine": "crawl engine per page (robots, frontier, admission)",
    "loop": "event loop (sockets, scheduling) outside the stages",
    "transfer": "transfer to and from worker processes (pickling, pipes)",
    "shutdown": "shutdown (last page to exit)",
}
_FOLDER = os.environ.get(ENV) or None
_NULL = contextlib.nullcontext()
T = TypeVar("T")


class _State:
    """This process's figures (reset in a forked child, which starts with none of its own)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.totals: dict[str, float] = {}
        self.lock = threading.Lock()
        self.local = threading.local()
        #: process CPU and the stages' sum when the first page fetch started
        self.first: tuple[float, float] | None = None
        #: the same when the last page ended
        self.last: tuple[float, float] | None = None
        #: the wall clock (``time.time()``) at the first page fetch and at the last page's end
        self.first_wall: float | None = None
        self.last_wall: float | None = None
        self.job_end: float | None = None
        self.workers: dict[str, dict[str, float]] = {}
        self.written = False
        self.instrumented = False


_state = _State()


def _here() -> _State:
    global _state
    if _state.pid != os.getpid():
        _state = _State()
    return _state


def enabled() -> bool:
    """Whether ``SCRAPER_STAGE_CPU`` is set (read once, at import)."""
    return _FOLDER is not None


def _cpu() -> float:
    times = os.times()
    return times.user + times.system


class _Timer:
    """One stage timer on the calling thread's stack of timers."""

    __slots__ = ("name", "state")

    def __init__(self, name: str) -> None:
        self.name = name
        self.state = _here()

    def __enter__(self) -> None:
        local = self.state.local
        stack = getattr(local, "stack", None)
        if stack is None:
            stack = local.stack = []
        if self.name == "fetch" and self.state.first is None:
            self.state.first = (_cpu(), sum(self.state.totals.values()))
            self.state.first_wall = time.time()
        stack.append([time.thread_time(), 0.0])

    def __exit__(self, *exc: object) -> None:
        now = time.thread_time()
        state = self.state
        stack = state.local.stack
        started, inner = stack.pop()
        spent = now - started
        with state.lock:
            state.totals[self.name] = state.totals.get(self.name, 0.0) + spent - inner
        if stack:
            stack[-1][1] += spent
        if self.name == "engine" and not stack:
            state.last = (_cpu(), sum(state.totals.values()))
            state.last_wall = time.time()


def stage(name: str) -> contextlib.AbstractContextManager[None]:
    """Time a synchronous block as stage ``name`` (a no-op when disabled)."""
    if _FOLDER is None:
        return _NULL
    _register()
    return _Timer(name)


class _Steps:
    """An awaitable that times each step of ``coroutine`` as a stage, not the waits."""

    __slots__ = ("inner", "timer")

    def __init__(self, awaitable: Awaitable[Any], name: str) -> None:
        self.inner = awaitable.__await__()
        self.timer = _Timer(name)

    def __await__(self) -> Generator[Any, Any, Any]:
        return self

    def __iter__(self) -> _Steps:
        return self

    def __next__(self) -> Any:
        return self.send(None)

    def send(self, value: Any) -> Any:
        with self.timer:
            return self.inner.send(value)

    def throw(self, *exc: Any) -> Any:
        with self.timer:
            return self.inner.throw(*exc)

    def close(self) -> None:
        self.inner.close()


def steps(name: str, awaitable: Awaitable[T]) -> Awaitable[T]:
    """``awaitable`` with each of its steps timed as stage ``name`` (itself when disabled)."""
    if _FOLDER is None:
        return awaitable
    _register()
    return _Steps(awaitable, name)


@contextlib.contextmanager
def job() -> Iterator[None]:
    """One page's work in an extraction worker, timed as "extract" (and, nested in it, the
    wrapped parse and links); the CPU since the previous job is "transfer" (before the
    first one: "start")."""
    if _FOLDER is None:
        yield
        return
    state = _here()
    if state.instrumented:  # inline extraction, in the crawl's own process: no transfer
        _instrument_extract()
        with _Timer("extract"):
            yield
        return
    now = time.thread_time()
    if state.job_end is None:
        _instrument_extract()
        _add(state, "start", _cpu())
    else:
        _add(state, "transfer", now - state.job_end)
    try:
        with _Timer("extract"):
            yield
    finally:
        state.job_end = time.thread_time()


def take() -> dict[str, Any] | None:
    """This worker's figures since the last ``take()`` (None when disabled), to go back
    with its result."""
    state = _here()
    if _FOLDER is None or state.instrumented:  # disabled, or the crawl's own process
        return None
    with state.lock:
        totals, state.totals = state.totals, {}
    return {"pid": state.pid, "stages": totals}


def merge(report: dict[str, Any] | None) -> None:
    """Add a worker's ``take()`` to this process's report."""
    if report is None or _FOLDER is None:
        return
    _register()
    state = _here()
    into = state.workers.setdefault(str(report["pid"]), {})
    for name, seconds in report["stages"].items():
        into[name] = into.get(name, 0.0) + seconds


def _add(state: _State, name: str, seconds: float) -> None:
    with state.lock:
        state.totals[name] = state.totals.get(name, 0.0) + seconds


def write(role: str = "crawl") -> Path | None:
    """Write this process's report (once); returns its path, None when disabled."""
    if _FOLDER is None:
        return None
    state = _here()
    if state.written:
        return None
    state.written = True
    cpu = _cpu()
    staged = sum(state.totals.values())
    report = {
        "pid": state.pid,
        "role": role,
        "cpu_seconds": cpu,
        "main_thread_seconds": time.thread_time()
        if threading.current_thread() is threading.main_thread()
        else None,
        "stages": dict(state.totals),
        # CPU (all threads) not in a stage before the first page fetch and after the last page
        "start_seconds": None if state.first is None else state.first[0] - state.first[1],
        "shutdown_seconds": None
        if state.last is None
        else (cpu - state.last[0]) - (staged - state.last[1]),
        "workers": state.workers,
        # the wall clock (seconds since the epoch) at the first page fetch, at the end of the
        # last page and now, for the benchmark's timeline of a run
        "first_fetch_wall": state.first_wall,
        "last_page_wall": state.last_wall,
        "written_wall": time.time(),
    }
    folder = Path(_FOLDER)
    path = folder / f"{role}-{state.pid}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=1))
    except OSError as exc:  # at exit: one line, never a traceback
        print(f"{ENV}: {path}: cannot write the report: {exc.strerror}", file=sys.stderr)
        return None
    return path


def _register() -> None:
    """Write the report at the exit of this process (the first time a stage is used)."""
    state = _here()
    if not state.instrumented:
        state.instrumented = True
        atexit.register(write)


def _timed(function: Callable[..., T], name: str) -> Callable[..., T]:
    @functools.wraps(function)
    def timed(*args: Any, **kwargs: Any) -> T:
        with _Timer(name):
            return function(*args, **kwargs)

    return timed


def _instrument_extract() -> None:
    """Time scraper.extract's parse and link reading, where it looks them up by name."""
    import importlib

    # by the module's name: ``scraper.extract`` as an attribute is the function extract()
    extract = importlib.import_module("scraper.extract")
    for attribute, name in (("decode", "parse"), ("parse", "parse"), ("parse_page", "links")):
        function = getattr(extract, attribute, None)
        if callable(function) and not hasattr(function, "__wrapped__"):
            setattr(extract, attribute, _timed(function, name))


def _instrument_hashing() -> None:
    import hashlib

    import zstandard

    hashlib.sha256 = _timed(hashlib.sha256, "hash")
    base = zstandard.ZstdCompressor

    class _TimedCompressor(base):  # type: ignore[misc, valid-type]
        def compress(self, data: bytes) -> bytes:
            with _Timer("hash"):
                compressed: bytes = super().compress(data)
                return compressed

    zstandard.ZstdCompressor = _TimedCompressor  # type: ignore[misc]


if _FOLDER is not None:
    _instrument_hashing()
