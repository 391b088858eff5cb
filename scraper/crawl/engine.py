"""The crawl engine (``scraper crawl``): seed -> pump due pages -> the page pipeline.

One asyncio event loop fetches (one ``httpx.AsyncClient``, a global limit on requests in flight
and, per host, a concurrency limit and a minimum delay between request starts that honours
robots.txt ``Crawl-delay``: hosts.py); extraction runs in a process pool so the loop is never
blocked by it; on a big recrawl a helper process takes some of the fetches, after the same
politeness checks (processes.py). Each page goes through the page pipeline (pipeline.py) and
its outcome is written to the archive as soon as it is known (one savepoint per page); an
outcome that tells of no trouble (a 304, a new snapshot) may wait up to a quarter of a second for
a shared commit (archive/groupcommit.py), so a killed crawl loses at most the pages in flight and
those, which stay due. What happens is told to subscribers of the run's events (events.py): the
summary's counts, the progress bar and ``--verbose`` are subscribers. On a shared archive
(PostgreSQL) the run is one worker of many, taking its turns from the host leases (shared.py).
The entry point, :func:`scraper.crawl.run.crawl`, takes the lock and records the run.

This module reads the clock (through an injectable ``clock``) and catches ``Exception`` in one
place only: the per-URL guard, which records the failure and goes on. It does no parsing of
its own (discover.py, extract/) and no SQL (archive/).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from datetime import UTC, datetime
from itertools import zip_longest
from typing import TYPE_CHECKING, Any

from scraper import stagecpu
from scraper.archive import DuePage, Storage
from scraper.archive.groupcommit import GROUP_COMMIT_PAGES, GROUP_COMMIT_SECONDS, CommitGroup
from scraper.crawl.context import LearnTexts, RunContext, SiteRun
from scraper.crawl.events import (
    Event,
    Events,
    PageFinished,
    PagesDiscovered,
    SiteQualityDropped,
    failures_to,
)
from scraper.crawl.frontier import SUSPECT_RECHECK_SECONDS, Candidate, Frontier, revisit_before
from scraper.crawl.hosts import Hosts
from scraper.crawl.lock import CrawlLock
from scraper.crawl.pipeline import PagePipeline
from scraper.crawl.processes import (
    DEFAULT_EXTRACT_WORKERS,
    QUEUE_DEPTH,
    Extracted,
    ExtractPool,
    WorkerFetcher,
    _process_alive,
    extract_page,
)
from scraper.crawl.shared import EachPage, SharedWorker
from scraper.crawl.sources import Sources
from scraper.crawl.summary import CrawlSummary
from scraper.crawl.tally import Tally
from scraper.errors import ArchiveError, LeaseLostError
from scraper.fetch import make_client
from scraper.fetch.fetcher import HttpFetcher
from scraper.fetch.pacing import Pacer
from scraper.learn import LEARN_MAX_PAGES
from scraper.models import Outcome, iso_utc
from scraper.signalmask import masked
from scraper.sitehealth import collapse_warning

if TYPE_CHECKING:
    import httpx

    from scraper.config import Settings, Site

__all__ = [
    "DEFAULT_EXTRACT_WORKERS",
    "GROUP_COMMIT_PAGES",
    "GROUP_COMMIT_SECONDS",
    "OFFLOAD_BACKLOG_PAGES",
    "SUSPECT_RECHECK_SECONDS",
    "CrawlLock",
    "CrawlSummary",
    "Crawler",
    "ExtractPool",
    "Extracted",
    "_process_alive",
    "extract_page",
    "utc_now",
]

#: due pages claimed from the archive at a time
CLAIM_BATCH = 256
#: known pages (revisits) claimed and waiting in a run before a helper process starts
#: fetching too: a recrawl of unchanged pages is bound by this process's CPU, while a crawl of
#: new pages is bound by extraction; fewer pages are not worth a process
OFFLOAD_BACKLOG_PAGES = 128

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


class Crawler:
    """One run over some sites of a config, against an open archive."""

    def __init__(
        self,
        archive: Storage,
        sites: Sequence[Site],
        *,
        defaults: Settings,
        clock: Clock = utc_now,
        max_pages: int | None = None,
        revisit: float | None = None,
        extract_workers: int = DEFAULT_EXTRACT_WORKERS,
        transport: httpx.AsyncBaseTransport | None = None,
        on_progress: Callable[[CrawlSummary], None] | None = None,
        on_failure: Callable[[str, str], None] | None = None,
        events: Events | None = None,
    ) -> None:
        self.archive = archive
        self.state = archive.crawl_state()
        self.defaults = defaults
        self.clock = clock
        self.transport = transport
        #: why the run stopped before it was done (SIGTERM), None while it runs
        self.stopped: str | None = None
        self.pool = ExtractPool(extract_workers)
        #: one gap rule for every request of the run, to hosts of a site or any other
        self.pacer = Pacer(defaults.delay_seconds)
        #: on a shared archive (PostgreSQL), this run as one worker of many (else None)
        self.shared = SharedWorker.of(archive, self.state, defaults, self.pacer)
        #: the run's own bus: the summary's counts first (the others see the counts with the
        #: event), then the caller's callbacks, then the caller's bus (nothing of this run is
        #: left subscribed to it, so a bus can serve one crawl after another)
        self.events = Events()
        self.tally = Tally()
        self.events.subscribe(self.tally)
        if on_failure is not None:
            self.events.subscribe(failures_to(on_failure))
        if on_progress is not None:
            self.events.subscribe(self._progress_to(on_progress))
        if events is not None:
            self.events.subscribe(events.emit)
        site_runs = [
            SiteRun(
                site=site,
                frontier=Frontier(self.state, site),
                budget=site.settings.max_pages if max_pages is None else max_pages,
                boilerplate=boilerplate,
                noise=site.settings.noise_rules(boilerplate),
            )
            for site in sites
            for boilerplate in (archive.boilerplate(site.name),)
        ]
        for run in site_runs:
            if not run.boilerplate:  # its texts are what learning it extracts: keep some
                run.learn_texts = LearnTexts(LEARN_MAX_PAGES)
        self.started = 0.0
        self.started_at = clock()
        self.run = RunContext(
            archive=archive,
            state=self.state,
            events=self.events,
            # each robots.txt read gives its Sitemap: lines to the run's sources
            hosts=Hosts(
                self.state, self.pacer, clock, lambda r, t: self.sources.robots_sitemaps(r, t)
            ),
            group=CommitGroup(archive) if self.shared is None else EachPage(archive),
            clock=clock,
            sites=site_runs,
            fetch_slots=asyncio.Semaphore(max(1, defaults.concurrency)),
            revisit=revisit,
        )
        may_read = None if self.shared is None else self.shared.may_read
        self.sources = Sources(self.run, self.started_at, may_read)
        self.stale_lock_pid: int | None = None
        #: the fetch helper, once the run has a client (None before and after)
        self.fetcher: WorkerFetcher | None = None

    # --- bookkeeping -----------------------------------------------------------------------
    @property
    def sites(self) -> list[SiteRun]:
        return self.run.sites

    @property
    def run_id(self) -> int:
        return self.run.run_id

    def now(self) -> datetime:
        return self.clock()

    def summary(self) -> CrawlSummary:
        counts: dict[str, Any] = dict(self.tally.values)
        failed_sites = tuple(
            run.site.name for run in self.sites if run.done == 0 and run.not_done > 0
        )
        return CrawlSummary(
            run_id=self.run_id,
            seconds=time.monotonic() - self.started if self.started else 0.0,
            stale_lock_pid=self.stale_lock_pid,
            problems=self._problems(failed_sites),
            failed_sites=failed_sites,
            stopped=self.stopped,
            **counts,
        )

    def judge_extraction(self) -> tuple[str, ...]:
        """Store each site's extraction counts of this run; return the warning lines of the
        sites whose extraction collapsed against their earlier runs (each also an event)."""
        warnings = []
        for run in self.sites:
            if not run.extraction.extracted:
                continue
            name = run.site.name
            earlier = self.state.earlier_extraction(name, self.run_id)
            self.state.record_run_extraction(self.run_id, name, run.extraction)
            line = collapse_warning(name, run.extraction, earlier)
            if line is not None:
                warnings.append(line)
                self.events.emit(SiteQualityDropped(name, line))
        return tuple(warnings)

    def _problems(self, failed_sites: Sequence[str]) -> tuple[str, ...]:
        """The lines that say what went wrong with whole hosts and sites in this run."""
        lines = self.run.hosts.lines()
        for run in self.sites:
            if run.site.name in failed_sites:
                what = []
                if run.failed:
                    what.append(f"{run.failed} failed")
                if run.not_done > run.failed:
                    what.append(f"{run.not_done - run.failed} not fetched")
                lines.append(f"site {run.site.name}: every page failed ({', '.join(what)})")
        if self.stopped is not None:
            lines.append(f"{self.stopped}; the pages not done are due next run")
        return tuple(lines)

    def _progress_to(self, on_progress: Callable[[CrawlSummary], None]) -> Callable[[Event], None]:
        """The progress bar as a subscriber: the summary so far after each page."""

        def progress(event: Event) -> None:
            if isinstance(event, PageFinished):
                on_progress(self.summary())

        return progress

    # --- the run ---------------------------------------------------------------------------
    async def run_crawl(self, run_id: int) -> CrawlSummary:
        self.run.run_id = run_id
        self.started = time.monotonic()
        self.started_at = self.sources.started_at = self.now()
        settings = self.sites[0].site.settings if self.sites else self.defaults
        shared = self.shared
        pace = self.pacer if shared is None else shared.turns
        client = make_client(settings, transport=self.transport, pace=pace)
        if shared is not None:
            shared.turns.start()
        self.fetcher = WorkerFetcher(HttpFetcher(client), self.pacer, self.run.hosts.cached)
        pipeline = PagePipeline(self.run, client, self.fetcher, self.pool, self.sources)
        try:
            async with client:
                work = asyncio.ensure_future(self._work(client, pipeline))
                with _stop_on_sigterm(work, self._stop):
                    try:
                        await work
                    except asyncio.CancelledError:
                        if self.stopped is None:
                            raise
        except ArchiveError:
            self.run.group.rollback()  # the connection failed: keep nothing half-written
            raise
        finally:
            try:
                self.run.group.commit()
            finally:
                await self.fetcher.aclose()
                self.pool.close()
                if shared is not None:
                    await shared.turns.aclose()
        return self.summary()

    async def _work(self, client: httpx.AsyncClient, pipeline: PagePipeline) -> None:
        await self._seed(client)
        await self._pump(client, pipeline)

    def _stop(self, work: asyncio.Future[None]) -> None:
        if self.stopped is None:
            self.stopped = "the run was stopped (SIGTERM) before it was done"
            work.cancel()

    async def _seed(self, client: httpx.AsyncClient) -> None:
        now = self.now()
        for run in self.sites:
            new = run.frontier.enqueue_many(
                [Candidate(u) for u in run.site.start_urls], 0, "start", now=now
            )
            self.events.emit(PagesDiscovered(run.site.name, len(new)))
        self.sources.seed(now)
        # robots.txt of each site's hosts: politeness, and Sitemap: lines (a shared archive's
        # worker reads it when it holds the host: the page pipeline asks for it first)
        for run in self.sites if self.shared is None else ():
            for origin in sorted(run.frontier.hosts):
                host = self.run.hosts.get(origin, run.site.settings)
                await self.run.hosts.robots(client, host, run.site.settings)
        await self.sources.read_due(client)

    async def _pump(self, client: httpx.AsyncClient, pipeline: PagePipeline) -> None:
        """Claim due pages and run them, at most ``concurrency + (QUEUE_DEPTH + 1) * workers``
        at a time: the pool's queue stays full while the next pages are fetched."""
        assert self.fetcher is not None
        limit = max(1, self.defaults.concurrency) + (QUEUE_DEPTH + 1) * max(1, self.pool.workers)
        buffer: deque[tuple[SiteRun, DuePage]] = deque()
        pending: set[asyncio.Task[None]] = set()
        finished = _Finished(pending)
        while True:
            while len(pending) < limit:
                if not buffer:
                    buffer.extend(self._claim())
                    if (
                        not self.fetcher.starting
                        and self.transport is None  # a test's transport cannot be sent away
                        and self.shared is None  # a helper's turns are not leased
                        and _revisits(buffer) >= OFFLOAD_BACKLOG_PAGES
                    ):
                        # in the background: this process fetches on while the helper starts
                        self.fetcher.start_soon()
                if not buffer:
                    break
                run, page = buffer.popleft()
                finished.watch(asyncio.create_task(self._guarded(pipeline, run, page)))
            if not pending:
                await _stop_at_failure(finished.take(), pending)  # none is left unread
                # nothing due and nothing running: new sources (feeds found on pages)?
                if await self.sources.read_due(client):
                    buffer.extend(self._claim())
                    if buffer:
                        continue
                if self.shared is not None and await self.shared.wait_for_others(
                    [r.site.name for r in self.sites if r.budget > 0],
                    self.now(),
                    run_id=self.run_id,
                    before=revisit_before(self.run.revisit, self.now(), self.started_at),
                ):
                    continue  # hosts other workers hold may come free
                break
            try:
                done = await finished.some()
            except asyncio.CancelledError:  # the run is stopped: so are its pages in flight
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise
            await _stop_at_failure(done, pending)

    def _claim(self) -> list[tuple[SiteRun, DuePage]]:
        per_site: list[list[tuple[SiteRun, DuePage]]] = []
        if self.shared is not None:
            self.run.group.commit()  # claims and leases are seen by the other workers at once
        now = self.now()
        for run in self.sites:
            if run.budget <= 0:
                continue
            pages = run.frontier.due(
                min(CLAIM_BATCH, run.budget),
                now,
                run_id=self.run_id,
                revisit_override=self.run.revisit,
                revisit_since=None if self.shared is None else self.started_at,
            )
            run.budget -= len(pages)
            if self.shared is not None:
                self.shared.claimed(pages)
            per_site.append([(run, page) for page in pages])
        # interleave the sites so that one cannot starve another
        return [item for group in zip_longest(*per_site) for item in group if item is not None]

    async def _guarded(self, pipeline: PagePipeline, run: SiteRun, page: DuePage) -> None:
        """The per-URL guard: any failure of one page is recorded and the crawl goes on."""
        shared = self.shared
        if shared is not None and shared.skip(page):
            return  # its host's lease was lost: handed back to whoever holds the host now
        try:
            if shared is None:
                await stagecpu.steps("engine", pipeline.page(run, page))
            else:
                with shared.visiting(page):
                    await stagecpu.steps("engine", pipeline.page(run, page))
        except LeaseLostError:
            assert shared is not None
            run.not_done += 1
            await shared.lose(page)  # nothing of it was written: the new holder has it
        except (ArchiveError, asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001  (the per-URL guard: ../shared/STYLE.md section 3)
            message = f"internal: {type(exc).__name__}: {exc}"
            pipeline.failed(run, page.url, message)
            pipeline.record(
                run, page, Outcome.FAILED, fetched_at=iso_utc(self.now()), error=message
            )
        if shared is not None:
            shared.finished(page)
        self.events.emit(PageFinished(page.url, run.site.name))


@contextlib.contextmanager
def _stop_on_sigterm(
    work: asyncio.Future[None], stop: Callable[[asyncio.Future[None]], None]
) -> Iterator[None]:
    """SIGTERM (``timeout`` in a crontab, a system shutdown) stops the run (``stop(work)``): the
    pages in flight are dropped (they stay due), what is done is committed, the run is recorded
    as stopped and the summary printed, instead of dying with nothing said."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, stop, work)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
        yield
        return
    try:
        # one held back by :func:`sigterm_held` (sent while the run started) is taken now, and
        # they are held back again, if they were, before the handler goes
        with masked(signal.SIG_UNBLOCK, {signal.SIGTERM}):
            yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)


@contextlib.contextmanager
def sigterm_held() -> Iterator[None]:
    """SIGTERM held back in this thread meanwhile, except while :meth:`Crawler.run_crawl` runs.

    The run stops cleanly on a SIGTERM only once its event loop handles one: one sent between
    the run's row and the loop's start, or between the loop's end and the row's last update,
    would kill the process with default action and leave a run with no end recorded. Held
    back, it is taken by the loop as soon as the loop runs (the run stops, as for any SIGTERM),
    or, sent after the loop, once the run's row is complete (the process then ends of it).
    """
    with masked(signal.SIG_BLOCK, {signal.SIGTERM}):
        yield


class _Finished:
    """The pages' tasks of a pump, as they finish: each task tells of its own end (a done
    callback), where ``asyncio.wait`` would hang a callback on every task in flight and take
    them all off again for each page that finishes."""

    def __init__(self, pending: set[asyncio.Task[None]]) -> None:
        self.pending = pending  #: the tasks not finished, kept here for the pump to read
        self.done: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Future[None] | None = None

    def watch(self, task: asyncio.Task[None]) -> None:
        self.pending.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        self.pending.discard(task)
        self.done.add(task)
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    async def some(self) -> set[asyncio.Task[None]]:
        """The tasks that finished since the last call, once there is at least one."""
        if not self.done:
            self._wake = asyncio.get_running_loop().create_future()
            try:
                await self._wake
            finally:
                self._wake = None
        return self.take()

    def take(self) -> set[asyncio.Task[None]]:
        """The tasks that finished since the last call (maybe none)."""
        done, self.done = self.done, set()
        return done


def _revisits(buffer: Collection[tuple[SiteRun, DuePage]]) -> int:
    """Pages waiting that were fetched before: mostly 304s, where fetching is the work (new
    pages are bound by extraction in the workers instead)."""
    return sum(1 for _, page in buffer if page.fetched)


async def _stop_at_failure(done: set[asyncio.Task[None]], pending: set[asyncio.Task[None]]) -> None:
    """Raise the first failure among ``done`` (the per-URL guard re-raises only what must stop
    the run), once ``pending`` are cancelled and every failure retrieved: none is left for
    asyncio to print as a traceback."""
    failures = [e for t in done if not t.cancelled() and (e := t.exception()) is not None]
    if failures:
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        raise failures[0]
