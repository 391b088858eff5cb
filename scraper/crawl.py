"""The crawl engine (``scraper crawl``): lock -> frontier -> fetch -> extract -> archive, per URL.

One asyncio event loop fetches (one ``httpx.AsyncClient``, a global limit on requests in flight
and, per host, a concurrency limit and a minimum delay between request starts that honours
robots.txt ``Crawl-delay``); extraction runs in a process pool so the loop is never blocked by
it; on a big recrawl a helper process (fetch/worker.py) takes some of the fetches, after the
same politeness checks. Each page's outcome is written to the archive as soon as it is known
(one savepoint per page); an outcome that changes nothing but bookkeeping (a 304) may wait up to
a quarter of a second for a shared commit, so a killed crawl loses at most the pages in flight
and those, which stay due. Politeness that must outlive a run (robots.txt, Retry-After,
repeated failures) is kept in the archive's ``hosts`` table.

This module reads the clock (through an injectable ``clock``) and catches ``Exception`` in one
place only: the per-URL guard, which records the failure and goes on. It does no parsing of
its own (discover.py, extract/) and no SQL (archive/).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import zip_longest
from pathlib import Path
from typing import TYPE_CHECKING

from scraper.admission import CONFIRM_WAIT_SECONDS, Decision, Verdict, decide
from scraper.archive import (
    Archive,
    CrawlState,
    DuePage,
    SourceRow,
    check_not_foreign,
    earlier_extraction,
    record_run_extraction,
)
from scraper.discover import DiscoverError, PageLinks, parse_source
from scraper.errors import (
    ArchiveError,
    BadStatusError,
    CrawlLockedError,
    ExtractError,
    FetchError,
    FetchTimeoutError,
    RobotsDisallowedError,
    RobotsUncheckedError,
    UsageError,
)
from scraper.fetch import Robots, fetch, fetch_robots, make_client
from scraper.fetch.client import RedirectCheck
from scraper.fetch.pacing import Pacer
from scraper.fetch.robots import HopRules
from scraper.fetch.worker import FetchWorker, WorkerGone
from scraper.frontier import Candidate, Frontier, failure_delay, next_interval
from scraper.models import Article, FetchResult, iso_utc
from scraper.sitehealth import ExtractionCounts, collapse_warning
from scraper.urls import normalise_url, origin_of

if TYPE_CHECKING:
    import httpx

    from scraper.config import Config, Settings, Site
    from scraper.noise import NoiseRules

#: media types a sitemap or feed is taken as: any, since ``.xml.gz`` sitemaps come as gzip data
#: under every label (text/xml, application/x-gzip, octet-stream); discover.parse_source tells a
#: sitemap or feed from anything else by its content, and refuses the rest
SOURCE_TYPES: tuple[str, ...] = ()
#: extraction processes: one per core this process may run on
DEFAULT_EXTRACT_WORKERS = max(1, len(os.sched_getaffinity(0)))
#: extra seconds the loop waits beyond the extractor's own budget before it kills the worker
EXTRACT_GRACE_SECONDS = 5.0
#: consecutive failures of a host before every run keeps away from it for a while
HOST_FAILURES_BEFORE_BACKOFF = 3
HOST_BACKOFF_SECONDS = 60.0
HOST_BACKOFF_MAX_SECONDS = 6 * 3600.0
#: robots.txt unavailable (429, 5xx, no answer): the first wait before asking the host again;
#: it doubles with each failure in a row, up to HOST_BACKOFF_MAX_SECONDS
ROBOTS_BACKOFF_SECONDS = 300.0
#: a page whose host turn is further away than this waits for the next run instead
MAX_HOST_WAIT_SECONDS = 120.0
#: sitemaps and feeds read per site per run at most (sitemap indexes can be large)
MAX_SOURCES_PER_RUN = 200
#: due pages claimed from the archive at a time
CLAIM_BATCH = 256
#: known pages (revisits) claimed and waiting in a run before a helper process starts
#: fetching too: a recrawl of unchanged pages is bound by this process's CPU, while a crawl of
#: new pages is bound by extraction; fewer pages are not worth a process
OFFLOAD_BACKLOG_PAGES = 128
#: outcomes that only update bookkeeping (a 304, the same bytes again) share one commit, at
#: most this many of them and never held longer than GROUP_COMMIT_SECONDS
GROUP_COMMIT_PAGES = 64
GROUP_COMMIT_SECONDS = 0.25
#: the outcomes that add nothing to the archive but a fetch row and a new due time
BOOKKEEPING_OUTCOMES = frozenset({"not_modified", "unchanged"})
#: a suspect fetch (a drastic change, a cut body) still unconfirmed at the end of a run (the same
#: run refetches it after admission.CONFIRM_WAIT_SECONDS) is due again after this at most
SUSPECT_RECHECK_SECONDS = 600.0

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The real clock."""
    return datetime.now(UTC)


# --- the lock ------------------------------------------------------------------------------


class CrawlLock:
    """An exclusive ``flock`` on ``<db>.lock`` holding the pid of the crawl that owns it.

    The lock file sits beside the real archive file (symlinks resolved), so every name of one
    archive (a symlink, a relative path, ``./x.db``) takes the same lock.
    The kernel drops a flock when its process dies, so the lock of a killed crawl is free for
    the next one; the pid left in the file only says who held it last.
    """

    def __init__(self, db_path: str | Path) -> None:
        self.path = Path(f"{os.path.realpath(db_path)}.lock")
        self._fd: int | None = None
        #: pid of a previous crawl that ended without releasing the lock (killed), if any
        self.stale_pid: int | None = None

    def acquire(self) -> CrawlLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ArchiveError(f"{self.path}: cannot open the crawl lock: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ArchiveError(f"{self.path}: cannot lock: {exc.strerror}") from exc
            who = f"pid {holder}" if holder else "another process"
            raise CrawlLockedError(
                f"{self.path}: another crawl ({who}) is running on this archive; exiting"
            ) from exc
        self.stale_pid = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> CrawlLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


# --- extraction in a process pool -----------------------------------------------------------


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
    from scraper.extract import extract_with_links

    article, links = extract_with_links(
        html, url, strip=strip, boilerplate=boilerplate, timeout_seconds=timeout_seconds
    )
    return Extracted(article, links)


class ExtractPool:
    """Extraction in ``workers`` processes (started on first use), or inline when 0.

    Workers come from a forkserver: they do not inherit the crawl's open files (the lock, the
    database), and they exit when the crawl is gone. A page whose extraction hangs past its
    budget is failed and the pool is replaced, so one bad page cannot stall the crawl. No
    more pages are handed to the pool than it has workers, so a page's budget runs from
    when a worker takes it, not from when it was queued behind slower pages.
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
        #: the running loop and its semaphore of ``workers`` slots
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

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
            self._slots = (loop, asyncio.Semaphore(self.workers))
        async with self._slots[1]:  # a free worker takes the page as soon as it is submitted
            return await self._run(args, url, timeout_seconds)

    async def _run(self, args: tuple[object, ...], url: str, timeout_seconds: float) -> Extracted:
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            pool = self._executor()
            future = loop.run_in_executor(pool, self.job, *args)
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
        raise AssertionError("unreachable")

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# --- the run -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CrawlSummary:
    """What one crawl did; also stored as its ``runs`` row."""

    run_id: int
    pages_fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    not_modified: int = 0
    failed: int = 0
    robots_blocked: int = 0
    discovered: int = 0
    bytes: int = 0
    seconds: float = 0.0
    duplicates: int = 0  #: pages whose canonical URL or redirect target is another page
    deferred: int = 0  #: due pages left for a later run (host backing off, robots unreachable)
    suspect: int = 0  #: pages whose drastic change or cut body no refetch confirmed (not stored)
    stale_lock_pid: int | None = None
    #: warning lines for the sites whose extraction collapsed this run (scraper.sitehealth)
    collapsed_sites: tuple[str, ...] = ()
    #: one line per problem a cron user must see: a host that is down (with its cause), a site
    #: of which every page failed
    problems: tuple[str, ...] = ()
    #: sites that had pages due and got none of them: the run failed for them (exit code 1)
    failed_sites: tuple[str, ...] = ()
    #: why the run had to stop before it was done (exit code 1), None when it was not
    stopped: str | None = None

    @property
    def exit_code(self) -> int:
        """1 when every page of some site failed or could not be fetched, or the run had to
        stop, else 0."""
        return 1 if self.failed_sites or self.stopped else 0

    #: lines from the notifications and feeds sent after the run (scraper.notify)
    notices: tuple[str, ...] = ()

    def counts(self) -> dict[str, int]:
        return {
            "pages_fetched": self.pages_fetched,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "not_modified": self.not_modified,
            "failed": self.failed,
            "robots_blocked": self.robots_blocked,
            "discovered": self.discovered,
            "bytes": self.bytes,
        }

    def text(self) -> str:
        """The one-line summary printed at the end of a crawl."""
        rate = self.pages_fetched / self.seconds if self.seconds > 0 else 0.0
        parts = [
            f"{self.pages_fetched} pages fetched",
            f"{self.new} new",
            f"{self.changed} changed",
            f"{self.unchanged} unchanged",
            f"{self.not_modified} not modified",
            f"{self.failed} failed",
            f"{self.robots_blocked} blocked by robots.txt",
            f"{self.discovered} discovered",
            f"{_size(self.bytes)}",
            f"{self.seconds:.1f} s ({rate:.1f} pages/s)",
        ]
        if self.duplicates:
            parts.insert(5, f"{self.duplicates} duplicates")
        if self.deferred:
            parts.append(f"{self.deferred} deferred to a later run")
        if self.suspect:
            parts.append(f"{self.suspect} suspect (not stored until a refetch confirms)")
        return "\n".join(
            [
                f"crawl #{self.run_id}: " + ", ".join(parts),
                *self.extraction_warnings(),
                *self.notices,
            ]
        )

    def extraction_warnings(self) -> list[str]:
        """The lines after the summary naming the sites where many more pages than in earlier
        runs had no article or a low confidence (a redesign, a consent wall)."""
        return list(self.collapsed_sites)


def _pages(count: int) -> str:
    return f"{count} page" if count == 1 else f"{count} pages"


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


@dataclass
class _Counts:
    pages_fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    not_modified: int = 0
    failed: int = 0
    robots_blocked: int = 0
    discovered: int = 0
    bytes: int = 0
    duplicates: int = 0
    deferred: int = 0
    suspect: int = 0


@dataclass
class _Host:
    """One host's politeness during a run."""

    origin: str
    slots: asyncio.Semaphore
    pacer: Pacer  #: the gaps between requests, for every request to the host (fetch/pacing.py)
    robots: Robots | None = None
    robots_checked: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    deferred: bool = False  #: keep away for the rest of this run
    failures: int = 0  #: consecutive failures, as persisted
    not_fetched: int = 0  #: due pages of this host left for a later run
    answered: int = 0  #: requests for pages of this host answered in this run
    failed: int = 0  #: requests for pages of this host that failed in this run
    last_failure: str = ""  #: why the last of them failed

    async def turn(self) -> bool:
        """Wait until this host's gap allows a request; False if that is too far away.

        The request itself takes its turn from the pacer in the client's transport, as every
        request does (retries, redirect hops): waiting here first means a page does not hold
        one of the run's fetch slots while its host's gap runs.
        """
        if self.pacer.wait_seconds(self.origin) > MAX_HOST_WAIT_SECONDS:
            return False
        await self.pacer.ready(self.origin)
        return True


class _CommitGroup:
    """Group commit for bookkeeping-only outcomes.

    A page's outcome is written in one savepoint. One that changes the archive (a new or changed
    snapshot, a failure, an alias, a robots.txt block) is committed at once, together with
    whatever waits. One that only says "not modified" or "the same bytes again" may wait, for at
    most GROUP_COMMIT_PAGES outcomes or GROUP_COMMIT_SECONDS, so that a recrawl of unchanged
    pages does not pay a commit per page. A crash loses at most those waiting outcomes: their
    pages are still due in the archive, and the next run asks for them again.
    """

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.waiting = 0
        self.opened = 0.0
        self.failed: ArchiveError | None = None  # a commit from the timer that failed
        self._timer: asyncio.TimerHandle | None = None

    def write(self, durable: bool, write: Callable[[], str]) -> str:
        """Run ``write`` in its own savepoint; commit now unless it may wait."""
        if self.failed is not None:
            raise self.failed
        if not self.archive.in_group:
            self.archive.begin_group()
            self.opened = time.monotonic()
            self.waiting = 0
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(GROUP_COMMIT_SECONDS, self._commit_later)
        with self.archive.transaction():
            kind = write()
        self.waiting += 1
        if (
            durable
            or self.waiting >= GROUP_COMMIT_PAGES
            or time.monotonic() - self.opened >= GROUP_COMMIT_SECONDS
        ):
            self.commit()
        return kind

    def commit(self) -> None:
        self._cancel_timer()
        self.waiting = 0
        if self.failed is not None:
            raise self.failed
        self.archive.commit_group()

    def _commit_later(self) -> None:
        """The timer's commit: a failure is kept and raised by the next write or commit."""
        self._timer = None
        try:
            self.commit()
        except ArchiveError as exc:
            self.failed = exc

    def rollback(self) -> None:
        self._cancel_timer()
        self.waiting = 0
        self.archive.rollback_group()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


@dataclass
class _SiteRun:
    site: Site
    frontier: Frontier
    budget: int
    boilerplate: frozenset[str]
    noise: NoiseRules  #: the site's noise rules with its learned boilerplate, made once a run
    extraction: ExtractionCounts = field(default_factory=ExtractionCounts)
    done: int = 0  #: due pages with an answer: fetched, not modified, an alias, robots-blocked
    failed: int = 0  #: due pages whose fetch or extraction failed
    not_done: int = 0  #: due pages failed or left for a later run (host down or backing off)


class Crawler:
    """One run over some sites of a config, against an open archive."""

    def __init__(
        self,
        archive: Archive,
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
    ) -> None:
        self.archive = archive
        self.state = CrawlState(archive)
        self.defaults = defaults
        self.clock = clock
        self.revisit = revisit
        self.transport = transport
        self.on_progress = on_progress
        #: called with (url, cause) for each page that fails
        self.on_failure = on_failure
        #: origin -> why no page of it could be fetched now (down, backing off), for the summary
        self.host_problems: dict[str, str] = {}
        #: why the run stopped before it was done (SIGTERM), None while it runs
        self.stopped: str | None = None
        self.pool = ExtractPool(extract_workers)
        self.sites = [
            _SiteRun(
                site=site,
                frontier=Frontier(self.state, site),
                budget=site.settings.max_pages if max_pages is None else max_pages,
                boilerplate=boilerplate,
                noise=site.settings.noise_rules(boilerplate),
            )
            for site in sites
            for boilerplate in (archive.boilerplate(site.name),)
        ]
        self.counts = _Counts()
        self.hosts: dict[str, _Host] = {}
        #: one gap rule for every request of the run, to hosts of a site or any other
        self.pacer = Pacer(defaults.delay_seconds)
        self.run_id = 0
        self.started = 0.0
        self.started_at = clock()
        self.stale_lock_pid: int | None = None
        self._fetch_slots = asyncio.Semaphore(max(1, defaults.concurrency))
        self.group = _CommitGroup(archive)
        self.worker: FetchWorker | None = None
        self._worker_start: asyncio.Task[None] | None = None
        #: sitemaps and feeds read in this run: read once per run at most
        self._sources_read: set[str] = set()

    # --- bookkeeping -----------------------------------------------------------------------
    def now(self) -> datetime:
        return self.clock()

    def summary(self) -> CrawlSummary:
        values = dataclasses.asdict(self.counts)
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
            **values,
        )

    def judge_extraction(self) -> tuple[str, ...]:
        """Store each site's extraction counts of this run; return the warning lines of the
        sites whose extraction collapsed against their earlier runs."""
        warnings = []
        for run in self.sites:
            if not run.extraction.extracted:
                continue
            name = run.site.name
            earlier = earlier_extraction(self.archive, name, self.run_id)
            record_run_extraction(self.archive, self.run_id, name, run.extraction)
            line = collapse_warning(name, run.extraction, earlier)
            if line is not None:
                warnings.append(line)
        return tuple(warnings)

    def _problems(self, failed_sites: Sequence[str]) -> tuple[str, ...]:
        """The lines that say what went wrong with whole hosts and sites in this run."""
        lines = []
        problems = dict(self.host_problems)
        for origin, seen in self.hosts.items():
            if origin not in problems and seen.failed and not seen.answered:
                # nothing of the host answered in this run: name it, with the cause
                problems[origin] = f"{seen.last_failure}; {_pages(seen.failed)} failed"
        for origin, cause in sorted(problems.items()):
            host = self.hosts.get(origin)
            left = host.not_fetched if host is not None else 0
            if left:
                lines.append(f"{origin}: {cause}; {_pages(left)} not fetched")
            else:
                lines.append(f"{origin}: {cause}")
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

    def _page_failed(self, run: _SiteRun, url: str, cause: str) -> None:
        """Count a page that failed and tell whoever listens (``--verbose``, the log file)."""
        self.counts.failed += 1
        run.failed += 1
        run.not_done += 1
        if self.on_failure is not None:
            self.on_failure(url, cause)

    def _not_fetched(self, run: _SiteRun, host: _Host) -> None:
        """Count a due page left for a later run because its host cannot be asked now."""
        self.counts.deferred += 1
        run.not_done += 1
        host.not_fetched += 1

    def _progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.summary())

    def _host(self, origin: str, settings: Settings) -> _Host:
        host = self.hosts.get(origin)
        if host is None:
            host = _Host(
                origin=origin,
                slots=asyncio.Semaphore(max(1, settings.concurrency_per_host)),
                pacer=self.pacer,
            )
            self.pacer.set_delay(origin, settings.delay_seconds)
            row = self.state.host(origin)
            if row is not None:
                host.failures = row.failures
                if row.next_allowed_at and row.next_allowed_at > iso_utc(self.now()):
                    host.deferred = True
                    cause = row.last_error or "asked to wait (Retry-After)"
                    self.host_problems[origin] = (
                        f"{cause}; the crawl keeps away until {row.next_allowed_at}"
                    )
            self.hosts[origin] = host
        return host

    # --- the run ---------------------------------------------------------------------------
    async def run(self, run_id: int) -> CrawlSummary:
        self.run_id = run_id
        self.started = time.monotonic()
        self.started_at = self.now()
        settings = self.sites[0].site.settings if self.sites else self.defaults
        client = make_client(settings, transport=self.transport, pace=self.pacer)
        try:
            async with client:
                work = asyncio.ensure_future(self._work(client))
                with self._stop_on_sigterm(work):
                    try:
                        await work
                    except asyncio.CancelledError:
                        if self.stopped is None:
                            raise
        except ArchiveError:
            self.group.rollback()  # the connection failed: keep nothing half-written
            raise
        finally:
            try:
                self.group.commit()
            finally:
                if self._worker_start is not None:
                    await self._worker_start  # started or not, it is over within a moment
                if self.worker is not None:
                    await self.worker.aclose()
                self.pool.close()
        return self.summary()

    async def _work(self, client: httpx.AsyncClient) -> None:
        await self._seed(client)
        await self._pump(client)

    @contextlib.contextmanager
    def _stop_on_sigterm(self, work: asyncio.Future[None]) -> Iterator[None]:
        """SIGTERM (``timeout`` in a crontab, a system shutdown) stops the run: the pages in
        flight are dropped (they stay due), what is done is committed, the run is recorded as
        stopped and the summary printed, instead of dying with nothing said."""
        loop = asyncio.get_running_loop()

        def stop() -> None:
            if self.stopped is None:
                self.stopped = "the run was stopped (SIGTERM) before it was done"
                work.cancel()

        try:
            loop.add_signal_handler(signal.SIGTERM, stop)
        except (ValueError, RuntimeError, NotImplementedError):  # not the main thread
            yield
            return
        try:
            yield
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    async def _seed(self, client: httpx.AsyncClient) -> None:
        now = self.now()
        for run in self.sites:
            site = run.site
            new = run.frontier.enqueue_many(
                [Candidate(u) for u in site.start_urls], 0, "start", now=now
            )
            self.counts.discovered += len(new)
            self.state.add_sources(
                [(u, site.name, "sitemap") for u in site.sitemaps]
                + [(u, site.name, "feed") for u in site.feeds],
                now=iso_utc(now),
            )
        # robots.txt of each site's hosts: politeness, and Sitemap: lines
        for run in self.sites:
            for origin in sorted(run.frontier.hosts):
                host = self._host(origin, run.site.settings)
                await self._robots(client, host, run.site)
        await self._read_sources(client)

    async def _pump(self, client: httpx.AsyncClient) -> None:
        """Claim due pages and run them, at most ``concurrency + 2 * workers`` at a time."""
        limit = max(1, self.defaults.concurrency) + 2 * max(1, self.pool.workers)
        buffer: deque[tuple[_SiteRun, DuePage]] = deque()
        pending: set[asyncio.Task[None]] = set()
        while True:
            while len(pending) < limit:
                if not buffer:
                    buffer.extend(self._claim())
                    if (
                        self._worker_start is None
                        and self._revisits(buffer) >= OFFLOAD_BACKLOG_PAGES
                    ):
                        # in the background: this process fetches on while the helper starts
                        self._worker_start = asyncio.create_task(self._start_worker())
                if not buffer:
                    break
                run, page = buffer.popleft()
                pending.add(asyncio.create_task(self._guarded(client, run, page)))
            if not pending:
                # nothing due and nothing running: new sources (feeds found on pages)?
                if await self._read_sources(client):
                    buffer.extend(self._claim())
                    if buffer:
                        continue
                break
            try:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:  # the run is stopped: so are its pages in flight
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
                raise
            for task in done:
                task.result()  # the per-URL guard re-raises only what must stop the run

    @staticmethod
    def _revisits(buffer: Collection[tuple[_SiteRun, DuePage]]) -> int:
        """Pages waiting that were fetched before: mostly 304s, where fetching is the work
        (new pages are bound by extraction in the workers instead)."""
        return sum(1 for _, page in buffer if page.fetched)

    def _claim(self) -> list[tuple[_SiteRun, DuePage]]:
        per_site: list[list[tuple[_SiteRun, DuePage]]] = []
        now = self.now()
        for run in self.sites:
            if run.budget <= 0:
                continue
            pages = run.frontier.due(
                min(CLAIM_BATCH, run.budget), now, run_id=self.run_id, revisit_override=self.revisit
            )
            run.budget -= len(pages)
            per_site.append([(run, page) for page in pages])
        # interleave the sites so that one cannot starve another
        claimed = [item for group in zip_longest(*per_site) for item in group if item is not None]
        return claimed

    async def _guarded(self, client: httpx.AsyncClient, run: _SiteRun, page: DuePage) -> None:
        """The per-URL guard: any failure of one page is recorded and the crawl goes on."""
        try:
            await self._page(client, run, page)
        except (ArchiveError, asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # noqa: BLE001  (the one place this is allowed: STYLE.md)
            message = f"internal: {type(exc).__name__}: {exc}"
            self._page_failed(run, page.url, message)
            self._record(run, page, "failed", fetched_at=iso_utc(self.now()), error=message)
        self._progress()

    # --- robots ----------------------------------------------------------------------------
    async def _robots(self, client: httpx.AsyncClient, host: _Host, site: Site) -> Robots | None:
        """The host's robots.txt (cached in the archive until it expires); None: no robots."""
        settings = site.settings
        if not settings.respect_robots:
            return None
        async with host.lock:
            if host.robots_checked:
                return host.robots
            now = self.now()
            row = self.state.host(host.origin)
            robots: Robots | None = None
            if (
                row is not None
                and row.robots_expires_at
                and row.robots_expires_at > iso_utc(now)
                and row.robots_txt is not None
            ):
                robots = Robots(host.origin, row.robots_status, row.robots_txt)
            elif not host.deferred:
                await host.turn()
                try:
                    robots = await fetch_robots(client, host.origin, settings)
                except FetchError:
                    robots = Robots(host.origin, None, "")
                unavailable = robots.unreachable
                ttl = 0.0 if unavailable else settings.robots_ttl
                delay = None if unavailable else robots.crawl_delay(settings.user_agent)
                self.state.save_robots(
                    host.origin,
                    body=robots.body,
                    status=robots.status,
                    fetched_at=iso_utc(now),
                    expires_at=iso_utc(now + timedelta(seconds=ttl)),
                    crawl_delay_seconds=delay,
                )
                if unavailable:
                    self._robots_unavailable(host, robots)
            if robots is not None:
                self.pacer.raise_delay(host.origin, robots.crawl_delay(settings.user_agent))
                sitemaps = [
                    (normal, run.site.name, "sitemap")
                    for u in robots.sitemaps()
                    for run in self.sites
                    if host.origin in run.frontier.hosts
                    and (normal := run.frontier.source_scope(u)) is not None
                ]
                self.state.add_sources(sitemaps, now=iso_utc(now), found_on="robots.txt")
            host.robots, host.robots_checked = robots, True
            return robots

    def _robots_unavailable(self, host: _Host, robots: Robots) -> None:
        """robots.txt answered 429 or 5xx, or not at all: "not now" for the host, and no
        request to it before a backoff that doubles with each failure in a row (at least the
        server's Retry-After), across runs."""
        # in the words of the cause ("connection refused"): the summary names the host with it
        error = _robots_trouble(robots)
        failures = host.failures = self.state.host_failed(host.origin, error=error)
        wait = min(
            HOST_BACKOFF_MAX_SECONDS,
            max(
                ROBOTS_BACKOFF_SECONDS * 2.0 ** min(failures - 1, 30),
                robots.retry_after_seconds or 0.0,
            ),
        )
        until = iso_utc(self.now() + timedelta(seconds=wait))
        self.state.defer_host(host.origin, until=until, error=error)
        host.deferred = True
        self.host_problems[host.origin] = error

    def _host_trouble(
        self, host: _Host, error: str, retry_after: float | None = None, *, down: bool = False
    ) -> None:
        """A host answered badly: back off from it, across runs when it keeps happening.

        ``down``: nothing of the host can be fetched in this run (its robots.txt could not be
        had); the summary names it with ``error``, as it does a host the crawl backs off from.
        """
        now = self.now()
        if down:
            self.host_problems[host.origin] = error
        if retry_after is not None and retry_after > 0:
            # capped: a hostile or broken Retry-After must not park a host for years
            wait = min(retry_after, HOST_BACKOFF_MAX_SECONDS)
            until = iso_utc(now + timedelta(seconds=wait))
            self.state.defer_host(host.origin, until=until, error=error)
            host.deferred = True
            self.host_problems[host.origin] = f"{error}; the crawl keeps away until {until}"
            return
        failures = host.failures = self.state.host_failed(host.origin, error=error)
        if failures >= HOST_FAILURES_BEFORE_BACKOFF:
            wait = min(
                HOST_BACKOFF_MAX_SECONDS,
                # the exponent is capped: a host failing for months must not overflow a float
                HOST_BACKOFF_SECONDS * 2.0 ** min(failures - HOST_FAILURES_BEFORE_BACKOFF, 30),
            )
            until = iso_utc(now + timedelta(seconds=wait))
            self.state.defer_host(host.origin, until=until, error=error)
            host.deferred = True
            self.host_problems[host.origin] = (
                f"{error} ({failures} times in a row); the crawl keeps away until {until}"
            )

    # --- discovery sources -----------------------------------------------------------------
    async def _read_sources(self, client: httpx.AsyncClient) -> int:
        """Read the due sitemaps and feeds of every site; return how many were read."""
        read = 0
        for run in self.sites:
            before = None
            if self.revisit is not None:
                before = iso_utc(self.started_at - timedelta(seconds=self.revisit))
                if self.revisit == 0:
                    before = "9999"  # read before this run, even within this very second
            for _ in range(MAX_SOURCES_PER_RUN):
                sources = self.state.due_sources(
                    run.site.name, now=iso_utc(self.now()), checked_before=before, limit=1
                )
                if not sources or sources[0].url in self._sources_read:
                    break  # none due, or (--revisit) every due one already read in this run
                self._sources_read.add(sources[0].url)
                await self._read_source(client, run, sources[0].url, sources[0])
                read += 1
        return read

    async def _read_source(
        self, client: httpx.AsyncClient, run: _SiteRun, url: str, row: SourceRow
    ) -> None:
        site, settings = run.site, run.site.settings
        now = self.now()
        next_at = iso_utc(now + timedelta(seconds=max(settings.revisit_min, 60.0)))
        host = self._host(origin_of(url), settings)
        robots = await self._robots(client, host, site)
        status: int | None = None
        error: str | None = None
        entries: int | None = None
        etag = last_modified = None
        try:
            if host.deferred:
                raise FetchError(url, "host is backing off; not now")
            if robots is not None and not robots.allowed(url, settings.user_agent):
                raise RobotsDisallowedError(url, "disallowed by robots.txt")
            async with host.slots:
                if not await host.turn():
                    raise FetchError(url, "host is busy; not now")
                async with self._fetch_slots:
                    result = await fetch(
                        client,
                        url,
                        settings,
                        etag=row.etag,
                        last_modified=row.last_modified,
                        accept=SOURCE_TYPES,
                        before_redirect=self._redirect_check(client, site),
                    )
            status, etag, last_modified = result.status_code, result.etag, result.last_modified
            if not result.not_modified:
                # a big sitemap takes a while to parse: not on the event loop, which fetches on
                parsed = await asyncio.to_thread(
                    parse_source, result.body, result.final_url, max_bytes=settings.max_bytes
                )
                children = [run.frontier.source_scope(e.url) for e in parsed.sitemaps]
                if any(children):
                    self.state.add_sources(
                        [(u, site.name, "sitemap") for u in children if u],
                        now=iso_utc(now),
                        found_on=url,
                    )
                new = run.frontier.enqueue_many(
                    [Candidate(e.url, e.lastmod) for e in parsed.urls],
                    0,
                    "feed" if parsed.kind in {"rss", "atom"} else "sitemap",
                    url,
                    now=now,
                )
                self.counts.discovered += len(new)
                entries = len(parsed.urls) + len(parsed.sitemaps)
        except FetchError as exc:
            status, error = exc.status_code, f"{exc.kind}: {exc.message}"
        except DiscoverError as exc:
            error = f"parse: {exc}"
        self.state.source_read(
            url,
            fetched_at=iso_utc(now),
            next_fetch_at=next_at,
            status=status,
            error=error,
            etag=etag,
            last_modified=last_modified,
            entries=entries,
        )

    # --- one page --------------------------------------------------------------------------
    async def _page(self, client: httpx.AsyncClient, run: _SiteRun, page: DuePage) -> None:
        site, settings = run.site, run.site.settings
        host = self._host(page.host, settings)
        if host.deferred:
            self._not_fetched(run, host)
            return
        robots = await self._robots(client, host, site)
        if robots is not None and not robots.allowed(page.url, settings.user_agent):
            if robots.unreachable:
                self._not_fetched(run, host)  # robots.txt unreachable: not now, the page stays due
                return
            self.counts.robots_blocked += 1
            run.done += 1
            error = RobotsDisallowedError(page.url, "disallowed by robots.txt")
            self._record(run, page, "blocked", fetched_at=iso_utc(self.now()), error=error)
            return
        etag, last_modified = (page.etag, page.last_modified) if page.fetched else (None, None)
        confirming = False
        while True:
            decision = await self._visit(
                client, run, page, host, robots, etag, last_modified, confirming
            )
            if decision is None or decision.verdict is not Verdict.SUSPECT:
                return
            if confirming:
                self.counts.suspect += 1  # left for the next run: due again soon
                return
            # a drastic change or a cut body: the same content again after a short wait confirms
            # it; the old article again was a glitch (the suspect fetch stays recorded as such)
            await asyncio.sleep(CONFIRM_WAIT_SECONDS)
            confirming = True

    async def _visit(
        self,
        client: httpx.AsyncClient,
        run: _SiteRun,
        page: DuePage,
        host: _Host,
        robots: Robots | None,
        etag: str | None,
        last_modified: str | None,
        confirming: bool,
    ) -> Decision | None:
        """Fetch, extract, pass the admission gate and record one page; the gate's decision
        (None when it was not asked: a failure, a 304, the same bytes again)."""
        site, settings = run.site, run.site.settings
        async with host.slots:
            if host.deferred or not await host.turn():
                self._not_fetched(run, host)
                return None
            fetched_at = iso_utc(self.now())
            try:
                async with self._fetch_slots:
                    result = await self._fetch(
                        client, page.url, site, etag, last_modified, robots=robots
                    )
            except RobotsDisallowedError as exc:
                # a redirect to a URL robots.txt keeps us from (checked before it was followed)
                self.counts.robots_blocked += 1
                run.done += 1
                self._record(run, page, "blocked", fetched_at=fetched_at, error=exc)
                return None
            except FetchError as exc:
                self._fetch_failed(run, page, host, exc, fetched_at)
                return None
        if host.failures:
            self.state.host_ok(host.origin)
            host.failures = 0
        self.counts.pages_fetched += 1
        run.done += 1
        host.answered += 1
        if result.not_modified:
            self.counts.not_modified += 1
            self._record(run, page, "not_modified", fetched_at=fetched_at, result=result)
            return None
        self.counts.bytes += len(result.body)
        body_sha = hashlib.sha256(result.body).hexdigest()
        if page.fetched and body_sha == self.state.last_body_sha256(page.id):
            # the very same bytes as the last admitted fetch: the same article, no need to
            # extract again (refused fetches are not counted: their rows carry an error)
            self.counts.unchanged += 1
            self._record(run, page, "unchanged", fetched_at=fetched_at, result=result)
            return None
        try:
            done = await self.pool.extract(
                result.text,
                result.final_url,
                strip=site.strip,
                boilerplate=run.boilerplate,
                timeout_seconds=settings.extract_timeout_seconds,
            )
        except ExtractError as exc:
            run.done -= 1  # fetched, but it failed all the same
            why = f"extract: {exc}"
            self._page_failed(run, page.url, why.replace(f"{result.final_url}: ", "", 1))
            self._record(run, page, "failed", fetched_at=fetched_at, result=result, error=why)
            return None
        run.extraction = run.extraction.add(done.article)
        links = done.links
        now = self.now()
        redirected = _other_page(page.url, result.final_url)
        if page.depth < site.max_depth and not links.nofollow and not redirected:
            # the links of another page (the redirect's target) are that page's to give
            new = run.frontier.enqueue_many(
                [Candidate(u) for u in links.links], page.depth + 1, "link", page.url, now=now
            )
            self.counts.discovered += len(new)
        if links.feeds and not redirected:
            self.state.add_sources(
                [
                    (normal, site.name, "feed")
                    for u in links.feeds
                    if (normal := run.frontier.source_scope(u)) is not None
                ],
                now=iso_utc(now),
                found_on=page.url,
            )
        canonical = run.frontier.scope(links.canonical, page.depth) if links.canonical else None
        decision = decide(
            page.url, result, done.article, self.archive.known(page.url), canonical=canonical
        )
        self._admit(run, page, result, done.article, decision, fetched_at)
        return decision

    def _admit(
        self,
        run: _SiteRun,
        page: DuePage,
        result: FetchResult,
        article: Article,
        decision: Decision,
        fetched_at: str,
    ) -> None:
        """Record a fetch as the admission gate decided: a snapshot only for an admitted one."""
        if decision.verdict is Verdict.ALIAS:
            # one page, one URL: a redirect or canonical link to another page is an alias; its
            # target is crawled as a page of its own when it is in scope, else a failure
            assert decision.target is not None
            source = "redirect" if decision.reason.startswith("redirect") else "canonical"
            normal = run.frontier.scope(decision.target, page.depth)
            if normal is None:
                why = f"{decision.error} (out of scope: not followed)"
                run.done -= 1  # fetched, but it failed all the same
                self._page_failed(run, page.url, why)
                self._record(run, page, "failed", fetched_at=fetched_at, result=result, error=why)
                return
            new = run.frontier.enqueue_many(
                [Candidate(normal)], page.depth, source, page.url, now=self.now()
            )
            self.counts.discovered += len(new)
            self.counts.duplicates += 1
            self._record(
                run, page, "alias", fetched_at=fetched_at, result=result, error=decision.error
            )
            return
        if decision.verdict is Verdict.BLOCKED:
            run.done -= 1  # fetched, but it failed all the same
            self._page_failed(run, page.url, decision.error or decision.reason)
            self._record(
                run, page, "failed", fetched_at=fetched_at, result=result, error=decision.error
            )
            return
        if decision.verdict is Verdict.SUSPECT:
            self._record(
                run, page, "suspect", fetched_at=fetched_at, result=result, error=decision.error
            )
            return
        kind = self._record(
            run,
            page,
            None,
            fetched_at=fetched_at,
            result=result,
            article=article,
            decision=decision,
        )
        setattr(self.counts, kind, getattr(self.counts, kind) + 1)

    async def _start_worker(self) -> None:
        """Start the fetch helper (once a run; not with a transport given to the crawl)."""
        if self.transport is not None:
            return  # a test's transport cannot be sent to another process
        worker = FetchWorker(self.pacer)
        try:
            await worker.start()
        except (OSError, ValueError, RuntimeError):
            await worker.aclose()
            return  # no helper, then: this process fetches everything
        self.worker = worker

    async def _fetch(
        self,
        client: httpx.AsyncClient,
        url: str,
        site: Site,
        etag: str | None,
        last_modified: str | None,
        *,
        robots: Robots | None = None,
    ) -> FetchResult:
        """Fetch a page: by the helper process when it has room, else here; the same fetch.

        Every redirect is checked against its host's robots.txt before it is followed (``robots``
        is the page's own host's); the helper knows only that one, and hands a redirect to any
        other host back, to be fetched here.
        """
        settings = site.settings
        if self.worker is not None and self.worker.available:
            rules = None
            if settings.respect_robots:
                rules = HopRules((robots.bare(),) if robots else (), settings.user_agent)
            try:
                return await self.worker.fetch(
                    url, settings, etag=etag, last_modified=last_modified, hop_rules=rules
                )
            except WorkerGone:
                pass  # the helper died or hung: this process fetches the page itself
            except RobotsUncheckedError:
                pass  # a redirect to another host: fetched here, asking its robots.txt first
        return await fetch(
            client,
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            before_redirect=self._redirect_check(client, site),
        )

    def _redirect_check(self, client: httpx.AsyncClient, site: Site) -> RedirectCheck:
        """fetch()'s ``before_redirect``: the hop's host's robots.txt (read and cached as any
        host's) must allow the hop's URL; raises RobotsDisallowedError otherwise."""

        async def check(target: str) -> None:
            settings = site.settings
            if not settings.respect_robots:
                return
            try:
                normal = normalise_url(target)
            except UsageError:
                return  # fetch's own check of the hop refuses it
            host = self._host(origin_of(normal), settings)
            robots = await self._robots(client, host, site)
            if robots is None:
                if host.deferred:
                    raise RobotsDisallowedError(target, "its host is backing off; not now")
                return
            refusal = robots.refusal(target, settings.user_agent)
            if refusal is not None:
                raise refusal

        return check

    def _fetch_failed(
        self, run: _SiteRun, page: DuePage, host: _Host, exc: FetchError, fetched_at: str
    ) -> None:
        self.counts.pages_fetched += 1  # a request went out: it counts as fetched
        host.failed += 1
        host.last_failure = exc.message
        self._page_failed(run, page.url, f"{exc.kind}: {exc.message}")
        self._record(run, page, "failed", fetched_at=fetched_at, error=exc)
        transient = (
            isinstance(exc, FetchTimeoutError)
            or type(exc) is FetchError
            or (
                isinstance(exc, BadStatusError)
                and exc.status_code is not None
                and (exc.status_code >= 500 or exc.status_code == 429)
            )
        )
        if exc.retry_after_seconds or transient:
            self._host_trouble(host, f"{exc.kind}: {exc.message}", exc.retry_after_seconds)

    def _record(
        self,
        run: _SiteRun,
        page: DuePage,
        outcome: str | None,
        *,
        fetched_at: str,
        result: FetchResult | None = None,
        article: Article | None = None,
        error: FetchError | str | None = None,
        decision: Decision | None = None,
    ) -> str:
        """Store one page's fetch and its next due time together; return the outcome (``outcome``,
        or new/changed/unchanged as the archive decided). Committed at once unless the outcome
        is bookkeeping only (see :class:`_CommitGroup`)."""

        def write() -> str:
            saved = self.archive.save_fetch(
                page.url,
                fetched_at=fetched_at,
                result=result,
                article=article,
                error=error,
                site=run.site.name,
                run_id=self.run_id,
                decision=decision,
                noise=run.noise,
            )
            kind = outcome or saved.outcome
            self._reschedule(page, run.site.settings, kind)
            return kind

        return self.group.write(outcome not in BOOKKEEPING_OUTCOMES, write)

    def _reschedule(self, page: DuePage, settings: Settings, outcome: str) -> None:
        now = self.now()
        interval = page.revisit_seconds
        unchanged = page.unchanged_count
        if outcome == "failed":
            wait = failure_delay(page.failures + 1, settings)
        elif outcome == "alias":
            wait = max(settings.revisit_max, settings.revisit_min)
        elif outcome == "blocked":
            wait = next_interval(interval, "blocked", settings)
        elif outcome == "suspect":
            # due again soon: the next run confirms or clears it (when this one did not)
            wait = min(SUSPECT_RECHECK_SECONDS, max(interval or 0.0, settings.revisit_min))
        else:
            interval = next_interval(interval, outcome, settings)
            wait = interval
            unchanged = unchanged + 1 if outcome in {"unchanged", "not_modified"} else 0
        self.state.reschedule(
            page.id,
            crawled_at=iso_utc(now),
            next_fetch_at=iso_utc(now + timedelta(seconds=wait)),
            revisit_seconds=interval,
            unchanged_count=unchanged,
        )


def _robots_trouble(robots: Robots) -> str:
    """Why a host's robots.txt could not be had, in the words of the cause itself: "connection
    refused", "unknown host example.org", "timed out after 10s connecting", or the status."""
    if robots.status is None:
        return robots.error or "no answer to robots.txt"
    return f"robots.txt answered {robots.error or f'HTTP {robots.status}'}"


def _other_page(page_url: str, final_url: str) -> bool:
    """Whether a fetch of ``page_url`` ended at another page (a redirect)."""
    try:
        return normalise_url(final_url) != page_url
    except UsageError:
        return True


# --- the entry point -----------------------------------------------------------------------


def crawl(
    config: Config,
    db_path: str | Path,
    *,
    site_names: Sequence[str] = (),
    max_pages: int | None = None,
    revisit: float | None = None,
    clock: Clock = utc_now,
    extract_workers: int = DEFAULT_EXTRACT_WORKERS,
    transport: httpx.AsyncBaseTransport | None = None,
    on_progress: Callable[[CrawlSummary], None] | None = None,
    on_start: Callable[[CrawlLock], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
) -> CrawlSummary:
    """Run one crawl of the selected sites into the archive at ``db_path``.

    Takes the lock first (:class:`CrawlLockedError` when another crawl holds it), records the
    run in ``runs`` at the start and again at the end, and returns the summary. Pages that fail
    are recorded, counted and passed to ``on_failure(url, cause)``; they do not make the crawl
    fail, unless every due page of a site failed (``summary.exit_code`` is then 1, and so is
    the exit code stored in ``runs``).
    """
    sites = config.select(tuple(site_names))
    check_not_foreign(db_path)  # before the lock file is put beside another program's file
    with CrawlLock(db_path) as lock:
        if on_start is not None:
            on_start(lock)
        with Archive(db_path) as archive:
            state = CrawlState(archive)
            crawler = Crawler(
                archive,
                sites,
                defaults=config.defaults,
                clock=clock,
                max_pages=max_pages,
                revisit=revisit,
                extract_workers=extract_workers,
                transport=transport,
                on_progress=on_progress,
                on_failure=on_failure,
            )
            crawler.stale_lock_pid = lock.stale_pid
            started_at = iso_utc(clock())
            run_id = state.start_run(
                started_at=started_at, pid=os.getpid(), sites=[s.name for s in sites]
            )
            exit_code = 1
            try:
                summary = asyncio.run(crawler.run(run_id))
                summary = dataclasses.replace(summary, collapsed_sites=crawler.judge_extraction())
                # imported here: learning extracts, and the fetching process need not load it
                from scraper.learn import learn_if_grown

                for site in sites if summary.stopped is None else ():
                    # the new pages teach what recurs on every page; the next run drops it
                    learn_if_grown(archive, site.name, iso_utc(clock()), strip=site.strip)
                exit_code = summary.exit_code
            except KeyboardInterrupt:
                exit_code = 130
                raise
            finally:
                final = crawler.summary()
                with contextlib.suppress(ArchiveError):
                    state.update_run(
                        run_id,
                        final.counts(),
                        ended_at=iso_utc(clock()),
                        seconds=round(final.seconds, 3),
                        exit_code=exit_code,
                    )
            # after the run's writes are committed; never fails the crawl (scraper.notify)
            from scraper.notify import after_run

            notices = after_run(
                archive,
                sites,
                now=iso_utc(clock()),
                started_at=started_at,
                targets=config.notify_targets(),
                warnings=summary.collapsed_sites,
            )
            return dataclasses.replace(summary, notices=tuple(notices))
