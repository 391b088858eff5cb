"""The crawl's helper processes: the extraction pool and the fetch helper, one liveness policy.

Every helper (an extraction worker, the fetch helper of :mod:`scraper.fetch.worker`) is started
from a forkserver, so it inherits no open file of the crawl (the lock, the database); it leaves
when the crawl is gone (an extraction worker watches its parent, the fetch helper reads the end
of its socket); and a helper that does not answer within its job's own budget plus
``GRACE_SECONDS`` is taken for hung and killed, and its page goes on without it (an extraction
fails, a fetch is done by the crawl's own process). This module decides nothing about pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scraper import stagecpu
from scraper.errors import ExtractError, RobotsUncheckedError, WorkerGone
from scraper.fetch.robots import HopRules
from scraper.fetch.worker import FetchWorker

if TYPE_CHECKING:
    from scraper.config import Settings
    from scraper.discover import PageLinks
    from scraper.fetch.client import RedirectCheck
    from scraper.fetch.fetcher import Fetcher
    from scraper.fetch.pacing import Pacer
    from scraper.fetch.robots import Robots
    from scraper.models import Article, FetchResult

#: extraction processes: one per core this process may run on
DEFAULT_EXTRACT_WORKERS = max(1, len(os.sched_getaffinity(0)))
#: extra seconds past a job's own budget before its helper is taken for hung and killed
GRACE_SECONDS = 5.0
EXTRACT_GRACE_SECONDS = GRACE_SECONDS
#: pages handed to the extraction pool per worker: one on it, one waiting (measured with
#: ``make bench-crawl``: with one per worker, a worker idled between pages)
QUEUE_DEPTH = 2


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


def _init_worker(parent_pid: int) -> None:
    """Runs once in each extraction process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawl's to handle
    # A killed crawl must not leave its workers behind: they leave when it is gone.
    threading.Thread(
        target=_watch_parent, args=(parent_pid, os.getppid()), daemon=True, name="watch-parent"
    ).start()
    import scraper.extract  # noqa: F401  (import once, not on the first page)


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


class ExtractPool:
    """Extraction in ``workers`` processes (started on first use), or inline when 0.

    Workers come from a forkserver: they do not inherit the crawl's open files (the lock, the
    database), and they exit when the crawl is gone. A page whose extraction hangs past its
    budget is failed and the pool is replaced, so one bad page cannot stall the crawl.

    Up to ``QUEUE_DEPTH`` pages per worker are handed to the pool, so that a worker that ends
    a page finds the next one waiting instead of idling while the crawl's process (busy
    fetching and writing) answers. A page's budget still runs from when a worker takes it,
    not from when it was queued behind slower pages: its clock starts when it gets one of the
    ``workers`` running slots, that is when the page before it on its worker has ended.
    """

    def __init__(
        self,
        workers: int = DEFAULT_EXTRACT_WORKERS,
        *,
        job: Callable[..., Extracted] | None = None,
        grace_seconds: float = EXTRACT_GRACE_SECONDS,
    ) -> None:
        self.workers = workers
        #: the function run in a worker, ``job(html, url, strip, boilerplate, timeout_seconds)``
        #: (a module-level function, so that it can be sent to the worker by name)
        self.job: Callable[..., Extracted] = job or extract_page
        self.grace_seconds = grace_seconds
        self._pool: ProcessPoolExecutor | None = None
        #: the running loop, its semaphore of pages handed to the pool and its semaphore of
        #: ``workers`` running slots (a page's budget runs from when it gets one)
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore, asyncio.Semaphore] | None
        self._slots = None

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["scraper.extract"])
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(os.getpid(),),
            )
        return self._pool

    def _kill(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # ProcessPoolExecutor cannot cancel a running call: stop its processes outright.
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(OSError, AttributeError):
                process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

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
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (
                loop,
                asyncio.Semaphore(QUEUE_DEPTH * self.workers),
                asyncio.Semaphore(self.workers),
            )
        _, handed, running = self._slots
        async with handed:
            pool = self._executor()
            future = loop.run_in_executor(pool, self.job, *args)
            try:
                # the pool runs pages in the order they were handed to it, and the running
                # slots are taken in the same order: a page gets one once the page before it
                # on its worker has ended, so its budget starts no earlier than its work
                async with running:
                    return await self._wait(pool, future, args, url, timeout_seconds)
            finally:
                if not future.done():  # cancelled while queued (the run was stopped)
                    future.cancel()

    async def _wait(
        self,
        pool: ProcessPoolExecutor,
        future: asyncio.Future[Extracted],
        args: tuple[object, ...],
        url: str,
        timeout_seconds: float,
    ) -> Extracted:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            try:
                return await asyncio.wait_for(future, timeout_seconds + self.grace_seconds)
            except TimeoutError:
                if self._pool is pool:
                    self._kill()
                raise ExtractError(
                    f"{url}: extraction took longer than {timeout_seconds:g} s"
                ) from None
            except BrokenProcessPool:
                # another page's timeout replaced the pool under this one: try once more
                if self._pool is pool:
                    self._kill()
                if attempt == 2:
                    raise ExtractError(f"{url}: the extraction process died") from None
                pool = self._executor()
                future = loop.run_in_executor(pool, self.job, *args)
        raise AssertionError("unreachable")

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# --- the run -------------------------------------------------------------------------------


class WorkerFetcher:
    """The fetch helper process as one more :class:`~scraper.fetch.fetcher.Fetcher`.

    A page goes to the helper while it runs and has room; ``inner`` (the run's own fetcher)
    fetches it when the helper is not started, busy, gone or hung (killed after the page's
    deadline plus ``GRACE_SECONDS``), or when a redirect leads to a host whose robots.txt the
    helper does not have (``inner`` asks that host's robots.txt first, through the redirect
    check). ``robots_of(url)`` gives the robots.txt the crawl holds for the URL's host: the
    helper checks redirects on that host against it.
    """

    def __init__(
        self,
        inner: Fetcher,
        pacer: Pacer,
        robots_of: Callable[[str], Robots | None],
        *,
        grace_seconds: float = GRACE_SECONDS,
    ) -> None:
        self.inner = inner
        self.pacer = pacer
        self.robots_of = robots_of
        self.grace_seconds = grace_seconds
        self.worker: FetchWorker | None = None
        self._starting: asyncio.Task[None] | None = None

    @property
    def starting(self) -> bool:
        """Whether the helper was asked to start (once a run at most)."""
        return self._starting is not None

    def start_soon(self) -> None:
        """Start the helper in the background: the crawl fetches on meanwhile."""
        if self._starting is None:
            self._starting = asyncio.create_task(self._start())

    async def start(self) -> None:
        """Start the helper and wait until it runs (or failed to start: then ``worker`` is
        None and every page is fetched by ``inner``)."""
        self.start_soon()
        assert self._starting is not None
        await self._starting

    async def _start(self) -> None:
        worker = FetchWorker(self.pacer, grace_seconds=self.grace_seconds)
        try:
            await worker.start()
        except (OSError, ValueError, RuntimeError):
            await worker.aclose()
            return  # no helper, then: this process fetches everything
        self.worker = worker

    async def fetch_page(
        self,
        url: str,
        settings: Settings,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        before_redirect: RedirectCheck | None = None,
    ) -> FetchResult:
        worker = self.worker
        if worker is not None and worker.available:
            rules = None
            if settings.respect_robots:
                robots = self.robots_of(url)
                rules = HopRules((robots.bare(),) if robots else (), settings.user_agent)
            try:
                return await worker.fetch(
                    url, settings, etag=etag, last_modified=last_modified, hop_rules=rules
                )
            except WorkerGone:
                pass  # the helper died or hung: the inner fetcher fetches the page itself
            except RobotsUncheckedError:
                pass  # a redirect to another host: fetched here, asking its robots.txt first
        return await self.inner.fetch_page(
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            before_redirect=before_redirect,
        )

    async def aclose(self) -> None:
        """Stop the helper (started or still starting): it is over within a moment."""
        if self._starting is not None:
            await self._starting
        if self.worker is not None:
            await self.worker.aclose()
