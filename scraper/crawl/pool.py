"""The extraction pool: ``scraper.extract`` in worker processes, fed by the crawl's event loop.

Written by hand rather than on ``concurrent.futures.ProcessPoolExecutor``, because of what the
executor costs the crawl's process, which also fetches and writes and is the one to keep light:
a feeder thread that pickles each call and a manager thread that unpickles each result and
hands it to the loop through its self-pipe, three threads taking the GIL in turn for every page.
Measured, with a job that does no work and returns a page-sized answer: 0.27 ms of the crawl
process's CPU a page (0.09 here), 0.14 ms of the workers' (0.05 here); on first crawls of
``make bench-crawl``'s site, the tree's "transfer" stage was 1.35 ms a page (0.54 here; the
README has the table). Here each worker has one socket pair to the crawl, and the event loop itself
reads the answers (``loop.add_reader``) and writes the pages (non-blocking; what the socket does
not take at once waits for ``add_writer``): one pickle (protocol 5) a message, no thread between.
What crosses is what the crawl uses: a page's HTML, URL and budget, the site's strip rules and
boilerplate sent once per worker and then named by number, and back the article's and the
links' fields as plain tuples (a frozen dataclass pickles through Python-level ``__getstate__``
and ``__setstate__``, a tuple in C), rebuilt here into the same values.

The policies, each kept by a test (tests/test_crawl_processes.py, tests/test_pool.py):

- workers come from a forkserver (``scraper.extract`` preloaded: :mod:`scraper.forkserver`), so
  they inherit no open file of the crawl (the lock, the database); each leaves when the crawl
  closes its end of the socket or is gone (a thread watches the parent, for a worker busy on a
  page);
- at most ``QUEUE_DEPTH`` pages are handed to a worker: the one it works on and the next, so that
  it never waits for the busy crawl to send more; a page's budget runs from when its worker
  starts on it (the answer to the page before it on that worker), not while it waits;
- a worker past its page's budget plus ``grace_seconds`` is hung: it is killed and replaced, its
  page fails with ``ExtractError`` ("extraction took longer than ..."), and the pages queued
  behind it are retried once on a fresh worker;
- a worker that dies: each page it held is retried once; a page whose second worker dies too
  fails ("the extraction process died");
- ``close()`` closes the sockets and waits for the workers to exit (killing one still there
  after ``CLOSE_SECONDS``); ``workers=0`` extracts inline, in the crawl's own process.

This module decides nothing about pages; it must not import the crawl's other modules.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import operator
import os
import pickle
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from scraper import forkserver, stagecpu
from scraper.discover import PageLinks
from scraper.errors import ExtractError
from scraper.models import Article

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

#: extraction processes: one per core this process may run on
DEFAULT_EXTRACT_WORKERS = max(1, len(os.sched_getaffinity(0)))
#: extra seconds past a job's own budget before its helper is taken for hung and killed (the
#: one liveness policy of the crawl's helpers: the fetch helper's too, scraper.crawl.processes)
GRACE_SECONDS = 5.0
EXTRACT_GRACE_SECONDS = GRACE_SECONDS
#: pages handed to a worker at a time: one on it, one waiting (measured with ``make
#: bench-crawl``: with one per worker, a worker idled between pages)
QUEUE_DEPTH = 2
#: seconds ``close()`` gives the workers to leave before it kills them
CLOSE_SECONDS = 5.0
#: strip rules and boilerplate sets a pool remembers (one pair per site of a run, in practice)
MAX_SHARED = 64

# the messages, first item: a page, a value named by number, forget the named values
_PAGE, _SHARE, _FORGET = 0, 1, 2
_ARTICLE_FIELDS = tuple(f.name for f in fields(Article))
_LINK_FIELDS = tuple(f.name for f in fields(PageLinks))
_article_values = operator.attrgetter(*_ARTICLE_FIELDS)
_link_values = operator.attrgetter(*_LINK_FIELDS)


def _process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (killed, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except FileNotFoundError:
        return False
    except (OSError, IndexError):  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass
        return True


def _watch_parent(parent_pid: int, ppid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != ppid or not _process_alive(parent_pid):
            os._exit(0)


@dataclass(frozen=True, slots=True)
class Extracted:
    """What an extraction worker returns for one page: its article and what it links to."""

    article: Article
    links: PageLinks
    cpu: dict[str, object] | None = None  #: the worker's CPU by stage (scraper.stagecpu)
    #: done before any of extraction's budget checks could cut a stage short: the article
    #: is the one ``extract()`` gives without a budget
    unbudgeted: bool = False


def extract_page(
    html: str,
    url: str,
    strip: tuple[str, ...],
    boilerplate: frozenset[str],
    timeout_seconds: float,
) -> Extracted:
    """The work done for a page in a worker process: the article, and the links (parsing them
    there too keeps the event loop's process, the one that fetches and writes, lighter), both
    from extraction's one bounded parse."""
    from scraper.extract import (
        BUDGET_SHARE_BEFORE_CONTENT,
        BUDGET_SHARE_BEFORE_FALLBACK,
        extract_with_links,
    )

    started = time.perf_counter()
    with stagecpu.job():
        article, links = extract_with_links(
            html, url, strip=strip, boilerplate=boilerplate, timeout_seconds=timeout_seconds
        )
    # extraction checks its budget against these shares of it: below the least, it cut nothing
    share = min(BUDGET_SHARE_BEFORE_CONTENT, BUDGET_SHARE_BEFORE_FALLBACK)
    unbudgeted = time.perf_counter() - started < timeout_seconds * share
    return Extracted(article, links, stagecpu.take(), unbudgeted)


def _pack(done: Extracted) -> tuple[Any, ...]:
    """``done`` as plain values (pickled in C, unlike a frozen dataclass)."""
    return (_article_values(done.article), _link_values(done.links), done.cpu, done.unbudgeted)


def _unpack(values: tuple[Any, ...]) -> Extracted:
    article, links, cpu, unbudgeted = values
    return Extracted(Article(*article), PageLinks(*links), cpu, unbudgeted)


def _fill(sock: socket.socket, buffer: bytearray, size: int) -> bool:
    """Read exactly ``size`` bytes into ``buffer`` (blocking); False at the end of the stream."""
    view = memoryview(buffer)
    got = 0
    try:
        while got < size:
            received = sock.recv_into(view[got:size])
            if not received:
                return False
            got += received
    except OSError:
        return False
    return True


def _serve(sock: socket.socket, parent_pid: int, job: Callable[..., Extracted]) -> None:
    """An extraction worker: read a page, extract it, answer, until the crawl closes its end."""
    forkserver.helper_signals()  # Ctrl-C is the crawl's to handle
    # A killed crawl must not leave its workers behind, even one busy on a page.
    threading.Thread(
        target=_watch_parent, args=(parent_pid, os.getppid()), daemon=True, name="watch-parent"
    ).start()
    import scraper.extract  # noqa: F401  (when the forkserver did not preload it)

    sock.setblocking(True)
    shared: dict[int, Any] = {}
    head = bytearray(8)
    buffer = bytearray(1 << 17)  # kept from page to page: no allocation, no page faults each
    while True:
        if not _fill(sock, head, 4):
            return  # the crawl closed its end, or is gone
        size = int.from_bytes(head[:4], "big", signed=True)
        if size < 0:  # a message of 2 GiB or more: its 8-byte length follows
            if not _fill(sock, head, 8):
                return
            size = int.from_bytes(head, "big")
        if size > len(buffer):
            buffer = bytearray(size)
        if not _fill(sock, buffer, size):
            return
        with memoryview(buffer)[:size] as view:
            message = pickle.loads(view)
        kind = message[0]
        if kind == _SHARE:
            shared[message[1]] = message[2]
            continue
        if kind == _FORGET:
            shared.clear()
            continue
        _, number, html, url, strip, boilerplate, timeout_seconds = message
        del message
        try:
            done = job(html, url, shared[strip], shared[boilerplate], timeout_seconds)
            data = pickle.dumps((number, True, _pack(done)), protocol=5)
        except Exception as exc:  # noqa: BLE001  (sent back: the crawl's per-URL guard records it)
            try:
                data = pickle.dumps((number, False, exc), protocol=5)
                pickle.loads(data)  # an error the crawl could not rebuild would pass for a crash
            except Exception:  # noqa: BLE001  (cannot be pickled: its type and message, then)
                error = RuntimeError(f"{type(exc).__name__}: {exc}")
                data = pickle.dumps((number, False, error), protocol=5)
        del html
        if len(buffer) > 1 << 22:  # after a page of several MB: give the memory back
            buffer = bytearray(1 << 17)
        header = _header(len(data))
        try:  # the length and the pickle in one write: the crawl wakes once for the answer
            sent = sock.sendmsg([header, data])
            if sent < len(header):
                sock.sendall(header[sent:])
                sock.sendall(data)
            elif sent < len(header) + len(data):
                sock.sendall(memoryview(data)[sent - len(header) :])
        except OSError:
            return


@dataclass(eq=False, slots=True)
class _Page:
    """A page asked for: the job's arguments and the future its caller awaits."""

    args: tuple[str, str, tuple[str, ...], frozenset[str], float]
    future: asyncio.Future[Extracted]
    retried: bool = False


class _Worker:
    """One worker process, its socket, the pages handed to it (the first is the one it is on)."""

    __slots__ = (
        "buffer",
        "got",
        "head",
        "out",
        "pages",
        "process",
        "shared",
        "size",
        "sock",
        "timer",
    )

    def __init__(self, process: BaseProcess, sock: socket.socket) -> None:
        self.process = process
        self.sock = sock
        self.pages: deque[tuple[int, _Page]] = deque()
        self.shared: set[int] = set()  #: the numbers of the shared values it holds
        self.timer: asyncio.TimerHandle | None = None  #: the first page's budget
        self.head = bytearray()  #: the length of the message being read
        #: the message being read (kept from message to message), its size (-1: none yet)
        self.buffer = bytearray(1 << 17)
        self.size = -1
        self.got = 0
        self.out: deque[memoryview] = deque()  #: what the socket did not take yet


def _header(size: int) -> bytes:
    """multiprocessing.connection's length prefix (the worker reads with ``recv_bytes``)."""
    if size > 0x7FFFFFFF:
        return (-1).to_bytes(4, "big", signed=True) + size.to_bytes(8, "big")
    return size.to_bytes(4, "big")


class ExtractPool:
    """Extraction in ``workers`` processes (started on first use), or inline when 0.

    See the module's docstring for what it promises. ``job`` is the function run in a worker,
    ``job(html, url, strip, boilerplate, timeout_seconds)``: a module-level function, so that
    it can be sent to the worker by name.
    """

    def __init__(
        self,
        workers: int = DEFAULT_EXTRACT_WORKERS,
        *,
        job: Callable[..., Extracted] | None = None,
        grace_seconds: float = EXTRACT_GRACE_SECONDS,
    ) -> None:
        self.workers = workers
        self.job: Callable[..., Extracted] = job or extract_page
        self.grace_seconds = grace_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: list[_Worker] = []
        self._starting = 0
        #: bumped by close(): a worker started for an earlier generation is closed at once
        self._generation = 0
        self._lock = threading.Lock()
        self._waiting: deque[_Page] = deque()  #: pages not handed to a worker yet, in order
        self._shared: dict[object, int] = {}  #: strip rules and boilerplate sent by number
        self._numbers = itertools.count()
        self._gone: list[BaseProcess] = []  #: processes stopped, to be reaped

    @property
    def pids(self) -> list[int]:
        """The process ids of the running workers."""
        return [int(w.process.pid) for w in self._live if w.process.pid is not None]

    async def extract(
        self,
        html: str,
        url: str,
        *,
        strip: Sequence[str],
        boilerplate: Collection[str],
        timeout_seconds: float,
    ) -> Extracted:
        args = (html, url, tuple(strip), frozenset(boilerplate), timeout_seconds)
        if self.workers <= 0:
            return self.job(*args)
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # an earlier loop's workers read on that loop: new ones
            self.close()
            self._loop = loop
        page = _Page(args, loop.create_future())
        self._waiting.append(page)
        self._dispatch()
        # cancelled, the future is too: a page still waiting is dropped, one handed is let be
        return await page.future

    # --- handing pages out ----------------------------------------------------------------

    def _dispatch(self) -> None:
        """Hand the waiting pages, in order, to the least busy workers that have room."""
        waiting = self._waiting
        while waiting:
            if waiting[0].future.done():  # cancelled meanwhile
                waiting.popleft()
                continue
            worker = min(self._live, key=lambda w: len(w.pages), default=None)
            if worker is None or len(worker.pages) >= QUEUE_DEPTH:
                break
            self._hand(worker, waiting.popleft())
        if waiting:
            for _ in range(self.workers - len(self._live) - self._starting):
                self._spawn()

    def _hand(self, worker: _Worker, page: _Page) -> None:
        html, url, strip, boilerplate, timeout_seconds = page.args
        strip_number = self._share(worker, strip)
        boilerplate_number = self._share(worker, boilerplate)
        number = next(self._numbers)
        worker.pages.append((number, page))
        self._send(
            worker, (_PAGE, number, html, url, strip_number, boilerplate_number, timeout_seconds)
        )
        if len(worker.pages) == 1:
            self._clock(worker)

    def _share(self, worker: _Worker, value: object) -> int:
        number = self._shared.get(value)
        if number is None:
            if len(self._shared) >= MAX_SHARED:
                self._shared.clear()
                for other in self._live:
                    if other.shared:
                        other.shared.clear()
                        self._send(other, (_FORGET,))
            number = self._shared[value] = next(self._numbers)
        if number not in worker.shared:
            worker.shared.add(number)
            self._send(worker, (_SHARE, number, value))
        return number

    def _clock(self, worker: _Worker) -> None:
        """The worker's first page starts now: its budget (and the grace) from here."""
        assert self._loop is not None
        limit = worker.pages[0][1].args[4] + self.grace_seconds
        worker.timer = self._loop.call_later(limit, self._hung, worker)

    def _send(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        with stagecpu.stage("transfer"):
            data = pickle.dumps(message, protocol=5)
            header = _header(len(data))
            if worker.out:  # earlier messages still wait: keep the order
                worker.out.extend((memoryview(header), memoryview(data)))
                return
            try:
                sent = worker.sock.sendmsg([header, data])
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:  # the worker is gone: its reader sees the end and says so
                return
            left = len(header) + len(data) - sent
            if left:
                if sent < len(header):
                    worker.out.append(memoryview(header)[sent:])
                    worker.out.append(memoryview(data))
                else:
                    worker.out.append(memoryview(data)[sent - len(header) :])
                assert self._loop is not None
                self._loop.add_writer(worker.sock.fileno(), self._writable, worker)

    def _writable(self, worker: _Worker) -> None:
        with stagecpu.stage("transfer"):
            try:
                sent = worker.sock.sendmsg(list(worker.out))
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                sent = -1
            if sent < 0:
                worker.out.clear()
            while sent > 0:
                first = worker.out[0]
                if sent >= len(first):
                    sent -= len(first)
                    worker.out.popleft()
                else:
                    worker.out[0] = first[sent:]
                    sent = 0
            if not worker.out:
                assert self._loop is not None
                self._loop.remove_writer(worker.sock.fileno())

    # --- answers --------------------------------------------------------------------------

    def _readable(self, worker: _Worker) -> None:
        with stagecpu.stage("transfer"):
            try:
                if worker.size < 0:
                    need = 12 if worker.head[:4] == b"\xff\xff\xff\xff" else 4
                    chunk = worker.sock.recv(need - len(worker.head))
                    if not chunk:
                        raise ConnectionResetError
                    worker.head += chunk
                    if len(worker.head) == 4 and worker.head == b"\xff\xff\xff\xff":
                        return  # a long message: its 8-byte length follows
                    if len(worker.head) < need:
                        return
                    size = int.from_bytes(worker.head[4:] if need == 12 else worker.head, "big")
                    worker.head.clear()
                    if size > len(worker.buffer):
                        worker.buffer = bytearray(size)
                    worker.size = size
                    worker.got = 0
                with memoryview(worker.buffer) as view:
                    received = worker.sock.recv_into(view[worker.got : worker.size])
                if not received:
                    raise ConnectionResetError
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                self._died(worker)
                return
            worker.got += received
            if worker.got < worker.size:
                return
            size, worker.size = worker.size, -1
            try:
                with memoryview(worker.buffer)[:size] as view:
                    number, ok, value = pickle.loads(view)
                if size > 1 << 22:  # after an answer of several MB: give the memory back
                    worker.buffer = bytearray(1 << 17)
                if not worker.pages or worker.pages[0][0] != number:
                    raise ValueError(f"an answer to page {number}, not to the first handed")
                result: Extracted | BaseException = _unpack(value) if ok else value
                if not ok and not isinstance(value, BaseException):
                    raise TypeError(f"an error answer that is no exception: {value!r}")
            except Exception:  # noqa: BLE001  (an answer that cannot be read: trust it no more)
                self._stop(worker, kill=True)
                self._requeue(worker)
                self._dispatch()
                return
        _, page = worker.pages.popleft()
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        if worker.pages:
            self._clock(worker)
        if not page.future.done():
            if isinstance(result, Extracted):
                page.future.set_result(result)
            else:
                page.future.set_exception(result)
        self._dispatch()

    def _hung(self, worker: _Worker) -> None:
        """The worker's first page is past its budget and the grace: kill the worker."""
        worker.timer = None
        _, page = worker.pages.popleft()
        self._stop(worker, kill=True)
        url, timeout_seconds = page.args[1], page.args[4]
        if not page.future.done():
            page.future.set_exception(
                ExtractError(f"{url}: extraction took longer than {timeout_seconds:g} s")
            )
        self._requeue(worker)
        self._dispatch()

    def _died(self, worker: _Worker) -> None:
        if worker in self._live:
            self._stop(worker, kill=True)
            self._requeue(worker)
            self._dispatch()

    def _requeue(self, worker: _Worker) -> None:
        """The pages a stopped worker held go first to the next worker, each once."""
        for _, page in reversed(worker.pages):
            if page.future.done():
                continue
            if page.retried:
                page.future.set_exception(
                    ExtractError(f"{page.args[1]}: the extraction process died")
                )
            else:
                page.retried = True
                self._waiting.appendleft(page)
        worker.pages.clear()

    # --- the processes --------------------------------------------------------------------

    def _spawn(self) -> None:
        assert self._loop is not None
        self._starting += 1
        generation = self._generation
        # the first start waits for the forkserver to import the extraction code: in a thread,
        # so that the loop fetches on meanwhile
        started = self._loop.run_in_executor(None, self._start, generation)
        started.add_done_callback(lambda done: self._started(done, generation))

    def _start(self, generation: int) -> tuple[BaseProcess, socket.socket] | None:
        parent, child = socket.socketpair()
        try:
            process = forkserver.context().Process(
                target=_serve,
                args=(child, os.getpid(), self.job),
                daemon=True,
                name="scraper-extract",
            )
            forkserver.start_process(process)
        except BaseException:
            parent.close()
            raise
        finally:
            child.close()
        parent.setblocking(False)
        with self._lock:
            if generation == self._generation:
                return process, parent
        parent.close()  # the pool was closed meanwhile: the worker leaves at once
        process.join(CLOSE_SECONDS)
        return None

    def _started(
        self, done: asyncio.Future[tuple[BaseProcess, socket.socket] | None], generation: int
    ) -> None:
        if generation != self._generation:
            if not done.cancelled() and done.exception() is None and done.result() is not None:
                process, sock = done.result()  # type: ignore[misc]
                sock.close()
                self._gone.append(process)
            return
        self._starting -= 1
        error = done.exception() if not done.cancelled() else None
        if done.cancelled() or error is not None or done.result() is None:
            if not self._live and not self._starting:
                # one line: multiprocessing's own messages run over several
                why = next((line.strip() for line in str(error).splitlines() if line.strip()), "")
                why = f"{type(error).__name__}: {why}" if why else type(error).__name__
                for page in self._waiting:
                    if not page.future.done():
                        page.future.set_exception(
                            ExtractError(
                                f"{page.args[1]}: the extraction process did not start ({why})"
                            )
                        )
                self._waiting.clear()
            return
        process, sock = done.result()  # type: ignore[misc]
        worker = _Worker(process, sock)
        self._live.append(worker)
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, worker)
        self._dispatch()

    def _stop(self, worker: _Worker, *, kill: bool) -> None:
        """Take ``worker`` out of the pool and close its socket (it leaves when it reads the
        end); ``kill`` stops it at once."""
        if worker in self._live:
            self._live.remove(worker)
        if worker.timer is not None:
            worker.timer.cancel()
            worker.timer = None
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.remove_reader(worker.sock.fileno())
            if worker.out:
                loop.remove_writer(worker.sock.fileno())
        worker.out.clear()
        worker.sock.close()
        if kill:
            with contextlib.suppress(OSError, ValueError):
                worker.process.kill()
        self._gone.append(worker.process)
        self._gone = [p for p in self._gone if p.is_alive()]  # reaps those that left

    def close(self) -> None:
        """Stop every worker and wait for it to exit (killed past ``CLOSE_SECONDS``); a page
        still waiting or on a worker is cancelled."""
        with self._lock:
            self._generation += 1
        self._starting = 0
        workers = list(self._live)
        pages = list(self._waiting)
        self._waiting.clear()
        for worker in workers:
            pages.extend(page for _, page in worker.pages)
            worker.pages.clear()
            self._stop(worker, kill=False)
        for page in pages:
            with contextlib.suppress(RuntimeError):  # its loop is closed: nobody awaits it
                page.future.cancel()
        deadline = time.monotonic() + CLOSE_SECONDS
        for process in self._gone:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                with contextlib.suppress(OSError, ValueError):
                    process.kill()
                process.join(CLOSE_SECONDS)
        self._gone = []
        self._shared.clear()
        self._loop = None
