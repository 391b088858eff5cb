"""The crawl's turns on a shared frontier: ``scraper crawl`` workers on one PostgreSQL archive.

Many crawls at once is the point there, on one machine or several, and the host leases of the
shared frontier (``scraper/archive/postgres/``) are the rule, in place of the crawl lock:

- a worker claims due pages only of hosts it holds (:meth:`PgCrawlState.claim_due`), at most
  ``concurrency / concurrency_per_host`` hosts at a time, and waits for hosts other workers
  hold (they may end or die) before it ends;
- every request (pages, robots.txt, sitemaps, feeds, each retry and redirect hop) takes its turn
  from the host's lease, as well as from the process's own pacer: :class:`SharedTurns` is the
  HTTP client's :class:`~scraper.fetch.pacing.Pace`. It waits for the host's shared
  ``next_request_at`` (the last request's end plus the host's delay or Crawl-delay, later after
  a Retry-After or backoff) and reports each request's end; a request to a host this worker does
  not hold (a sitemap, a redirect hop) takes the host's lease first, or waits until it is free;
- the leases are renewed while the worker works; a lease lost (it expired and another worker
  took the host) makes the worker hand back the host's pages and record none of them: the fetch
  of a page and its new due time are one transaction, written only while the claim is the
  worker's own.

The lease calls run on a connection of their own, in one thread, so the event loop never waits
for the database and the pages' writes (on the archive's connection, in the group commit) never
hold up a turn. This module decides nothing about pages; it reads the monotonic clock only to
wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from scraper.archive.groupcommit import CommitGroup
from scraper.crawl.hosts import MAX_HOST_WAIT_SECONDS
from scraper.errors import ArchiveError, ConfigError, FetchError, LeaseLostError
from scraper.models import iso_utc

if TYPE_CHECKING:
    from scraper.archive import DuePage, Storage
    from scraper.archive.postgres.crawlstore import PgCrawlState
    from scraper.archive.postgres.frontier import SharedFrontier
    from scraper.config import Config, Settings
    from scraper.fetch.pacing import Pacer

#: between two looks at the frontier while other workers hold every host with due pages
POLL_SECONDS = 0.5
#: between two tries for the lease of a host another worker holds (a guest request)
GUEST_POLL_SECONDS = 0.25

T = TypeVar("T")

#: the host of the claimed page whose visit the current task is (None: a sitemap, a feed)
_visiting: ContextVar[str | None] = ContextVar("scraper_shared_visiting", default=None)


def check_leases(config: Config) -> None:
    """ConfigError (one line) unless the lease settings can hold: the margin (the lease left
    for a request to start) above every ``deadline_seconds`` (so a request ends before its
    host can pass to another worker) and below ``lease_seconds``."""
    defaults = config.defaults
    where = str(config.path) if config.path else "<config>"
    lease, margin = defaults.lease_seconds, defaults.lease_margin_seconds
    if margin >= lease:
        raise ConfigError(
            f"{where}: lease_margin_seconds ({margin:g}) must be shorter than "
            f"lease_seconds ({lease:g})"
        )
    deadline = max(s.deadline_seconds for s in (defaults, *(x.settings for x in config.sites)))
    if margin <= deadline:
        raise ConfigError(
            f"{where}: lease_margin_seconds ({margin:g}) must be longer than deadline_seconds "
            f"({deadline:g}), so that a request ends before its host's lease can pass on"
        )


class EachPage(CommitGroup):
    """The group commit of a worker of many: each page's outcome committed at once.

    Pages of other workers write the same content-addressed rows (the same body on two
    pages); two open groups that wrote such rows in opposite orders would wait on each other
    (a deadlock the server breaks by failing one), so no transaction spans two pages."""

    def write(self, durable: bool, write: Callable[[], T]) -> T:
        return super().write(True, write)


class SharedTurns:
    """The pace of every request of one worker: its process's pacer, then its host's lease.

    :param slots: this worker's leases on a connection of their own.
    :param pacer: the process's pacer (the gaps between its own requests, and the delays).
    """

    def __init__(self, slots: SharedFrontier, pacer: Pacer) -> None:
        self.slots = slots
        self.pacer = pacer
        #: hosts whose lease passed to another worker in this run: not asked again
        self.lost: set[str] = set()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="scraper-leases")
        #: a lease call that failed in the background (the connection): raised by the next turn
        self.failed: ArchiveError | None = None
        self._renewer: asyncio.Task[None] | None = None

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``fn(*args, **kwargs)`` on the lease connection's thread (one call at a time)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, functools.partial(fn, *args, **kwargs))

    # --- the Pace protocol -----------------------------------------------------------------
    async def acquire(self, origin: str) -> None:
        await self.pacer.acquire(origin)
        try:
            await self._turn(origin)
        except BaseException:
            self.pacer.release(origin)
            raise

    def release(self, origin: str) -> None:
        self.pacer.release(origin)
        # queued behind nothing but earlier lease calls: done before this host's next turn
        done = self._thread.submit(
            self.slots.request_done, origin, delay_seconds=self.pacer.delay(origin)
        )
        done.add_done_callback(self._keep_failure)

    async def _turn(self, origin: str) -> None:
        if self.failed is not None:
            raise self.failed
        own = _visiting.get() == origin  # a request for a claimed page of this very host
        if origin in self.lost:
            if own:
                raise LeaseLostError(f"{origin}: the host's lease passed to another worker")
            raise FetchError(origin, "its host passed to another crawl worker; not now")
        waited = 0.0
        while True:
            try:
                slot = await self.call(self.slots.slot, origin)
                break
            except LeaseLostError:
                # free (never taken, or expired with nobody taking it over): take it, and any
                # claims still this worker's are live again; held by another worker: a page of
                # ours is lost, a request of our own (a sitemap, a redirect hop) waits for it
                if await self.call(self.slots.take, origin):
                    continue
                if own:
                    self.lost.add(origin)
                    raise
            if waited >= MAX_HOST_WAIT_SECONDS:
                raise FetchError(origin, "its host is in another crawl worker's hands; not now")
            await asyncio.sleep(GUEST_POLL_SECONDS)
            waited += GUEST_POLL_SECONDS
        if slot.wait_seconds > 0:
            await asyncio.sleep(slot.wait_seconds)

    def _keep_failure(self, done: Future[None]) -> None:
        exc = done.exception()
        if isinstance(exc, ArchiveError) and self.failed is None:
            self.failed = exc

    # --- the renewer -----------------------------------------------------------------------
    def start(self) -> None:
        """Renew this worker's leases in the background while it works (in the event loop)."""
        self._renewer = asyncio.ensure_future(self._renew())

    async def _renew(self) -> None:
        every = max(0.1, min(self.slots.lease_seconds / 3, self.slots.margin_seconds / 2))
        while True:
            await asyncio.sleep(every)
            try:
                await self.call(self.slots.renew)
            except ArchiveError as exc:
                self.failed = exc
                return

    async def aclose(self) -> None:
        """Stop renewing, let the lease calls in the queue end, close the lease connection."""
        if self._renewer is not None:
            self._renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewer
            self._renewer = None
        with contextlib.suppress(ArchiveError):
            await self.call(lambda: None)  # the queue's earlier calls (request_done) are done
        self._thread.shutdown(wait=True)
        self.slots.close()


class SharedWorker:
    """One crawl run as a worker of a shared frontier: its turns, its claimed pages, the pages
    of hosts whose lease it lost, and its wait for hosts other workers hold."""

    def __init__(self, state: PgCrawlState, url: str, settings: Settings, pacer: Pacer) -> None:
        from scraper.archive.postgres.frontier import SharedFrontier

        self.state = state
        state.max_hosts = max(1, settings.concurrency // max(1, settings.concurrency_per_host))
        state.shared.lease_seconds = settings.lease_seconds
        state.shared.margin_seconds = settings.lease_margin_seconds
        slots = SharedFrontier.open(
            url,
            worker_id=state.shared.worker_id,
            lease_seconds=settings.lease_seconds,
            margin_seconds=settings.lease_margin_seconds,
        )
        self.turns = SharedTurns(slots, pacer)
        #: claimed pages not finished yet, by host
        self.pages: dict[str, set[int]] = {}
        #: pages of hosts whose lease was lost: handed back, not to be visited
        self.lost: set[int] = set()

    @classmethod
    def of(
        cls, archive: Storage, state: object, settings: Settings, pacer: Pacer
    ) -> SharedWorker | None:
        """The worker when ``archive`` is a shared (PostgreSQL) one, else None (SQLite)."""
        if type(archive).__module__ != "scraper.archive.postgres.store":
            return None
        from scraper.archive.postgres.crawlstore import PgCrawlState
        from scraper.archive.postgres.store import PgArchive

        assert isinstance(archive, PgArchive)
        assert isinstance(state, PgCrawlState)
        return cls(state, archive.url, settings, pacer)

    @contextlib.contextmanager
    def visiting(self, page: DuePage) -> Iterator[None]:
        """The current task visits ``page``: a lease of its host lost on the way loses it."""
        token = _visiting.set(page.host)
        try:
            yield
        finally:
            _visiting.reset(token)

    async def may_read(self, origin: str) -> bool:
        """Whether this worker holds ``origin`` now, or took it (a sitemap or feed to read):
        a source on a host another worker holds is left for that worker."""
        if origin in self.turns.lost:
            return False
        return await self.turns.call(self.turns.slots.take, origin)

    def claimed(self, pages: Sequence[DuePage]) -> None:
        for page in pages:
            self.pages.setdefault(page.host, set()).add(page.id)

    def skip(self, page: DuePage) -> bool:
        """Whether ``page`` is one of a lost host's, handed back: not to be visited."""
        return page.id in self.lost

    def finished(self, page: DuePage) -> None:
        held = self.pages.get(page.host)
        if held is not None:
            held.discard(page.id)

    async def lose(self, page: DuePage) -> None:
        """The lease of ``page``'s host passed to another worker: hand back every page of the
        host this run holds (nothing of them is recorded by this worker)."""
        ids = sorted(self.pages.pop(page.host, set()) | {page.id})
        self.lost.update(ids)
        self.turns.lost.add(page.host)  # never asked again in this run
        # (they stay in the state's claimed set: a write of one in flight is refused)
        await self.turns.call(self.turns.slots.release, ids)

    async def wait_for_others(
        self, sites: Sequence[str], now: datetime, *, run_id: int, before: str | None
    ) -> bool:
        """Whether pages due for this run (``before``: ``--revisit``'s bound) wait on hosts
        that other workers hold (they may come free: that worker ends, or dies and its lease
        expires); if so, after a short wait."""
        if not sites:
            return False
        waiting = await self.turns.call(
            self.turns.slots.due_elsewhere,
            now=iso_utc(now),
            sites=list(sites),
            crawled_before=before,
            run_id=run_id,
        )
        if waiting:
            await asyncio.sleep(POLL_SECONDS)
        return bool(waiting)
