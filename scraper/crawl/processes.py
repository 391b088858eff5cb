"""The crawl's helper processes: the extraction pool and the fetch helper, one liveness policy.

Every helper (an extraction worker, the fetch helper of :mod:`scraper.fetch.worker`) is started
from a forkserver, so it inherits no open file of the crawl (the lock, the database); it leaves
when the crawl is gone (an extraction worker watches its parent, the fetch helper reads the end
of its socket); and a helper that does not answer within its job's own budget plus
``GRACE_SECONDS`` is taken for hung and killed, and its page goes on without it (an extraction
fails, a fetch is done by the crawl's own process). The extraction pool is written in
:mod:`scraper.crawl.pool` (and re-exported here); this module holds the fetch helper's side.
It decides nothing about pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from scraper.crawl.pool import (
    DEFAULT_EXTRACT_WORKERS,
    EXTRACT_GRACE_SECONDS,
    GRACE_SECONDS,
    QUEUE_DEPTH,
    Extracted,
    ExtractPool,
    _process_alive,
    extract_page,
)
from scraper.errors import RobotsUncheckedError, WorkerGone
from scraper.fetch.robots import HopRules
from scraper.fetch.worker import FetchWorker

if TYPE_CHECKING:
    from scraper.config import Settings
    from scraper.fetch.client import RedirectCheck
    from scraper.fetch.fetcher import Fetcher
    from scraper.fetch.pacing import Pacer
    from scraper.fetch.robots import Robots
    from scraper.models import FetchResult

__all__ = [
    "DEFAULT_EXTRACT_WORKERS",
    "EXTRACT_GRACE_SECONDS",
    "GRACE_SECONDS",
    "QUEUE_DEPTH",
    "ExtractPool",
    "Extracted",
    "WorkerFetcher",
    "_process_alive",
    "extract_page",
]


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
        except Exception:  # noqa: BLE001  (no helper, whatever the cause: see below)
            # out of processes or descriptors (OSError), a forkserver that died while it forked
            # the helper (EOFError), or anything else: the helper only spares this process work,
            # so this process fetches everything itself, and the crawl goes on
            await worker.aclose()
            return
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
