"""What the parts of one crawl run share: the archive, the clock, the event bus, the hosts.

:class:`RunContext` is made by the engine and handed to the sources and the page pipeline, so
that none of them reaches into another; :class:`SiteRun` is one site's part of the run. Plain
holders: no behaviour beyond reading the clock it was given.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from scraper.sitehealth import ExtractionCounts

if TYPE_CHECKING:
    from scraper.archive import CrawlStore, Storage
    from scraper.archive.groupcommit import CommitGroup
    from scraper.config import Site
    from scraper.crawl.events import Events
    from scraper.crawl.frontier import Frontier
    from scraper.crawl.hosts import Hosts
    from scraper.noise import NoiseRules


class LearnTexts:
    """The texts this run extracted without learned boilerplate, of the pages with the
    ``limit`` smallest ids: what ``scraper.learn.learn`` would extract again from their stored
    bodies at the end of the run (it learns from the first pages by id), so it need not.

    ``texts`` maps a page's URL to ``(sha256 of its raw body, text)``; learn uses an entry only
    when the page's newest stored body is that one.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.texts: dict[str, tuple[str, str]] = {}
        self._ids: list[tuple[int, str]] = []  #: a max-heap of (-page id, url) kept

    def add(self, page_id: int, url: str, raw_sha256: str, text: str) -> None:
        if url in self.texts:
            self.texts[url] = (raw_sha256, text)
            return
        if len(self._ids) >= self.limit:
            if self.limit <= 0 or page_id > -self._ids[0][0]:
                return
            _, dropped = heapq.heappop(self._ids)
            del self.texts[dropped]
        heapq.heappush(self._ids, (-page_id, url))
        self.texts[url] = (raw_sha256, text)


@dataclass
class SiteRun:
    """One site's part of a run."""

    site: Site
    frontier: Frontier
    budget: int
    boilerplate: frozenset[str]
    noise: NoiseRules  #: the site's noise rules with its learned boilerplate, made once a run
    extraction: ExtractionCounts = field(default_factory=ExtractionCounts)
    done: int = 0  #: due pages with an answer: fetched, not modified, an alias, robots-blocked
    failed: int = 0  #: due pages whose fetch or extraction failed
    not_done: int = 0  #: due pages failed or left for a later run (host down or backing off)
    #: texts extracted without boilerplate, for learning it at the end of the run (None: the
    #: site has learned boilerplate, so its texts are not the ones learn needs)
    learn_texts: LearnTexts | None = None


@dataclass
class RunContext:
    """The state of one crawl run that its parts share."""

    archive: Storage
    state: CrawlStore
    events: Events
    hosts: Hosts
    group: CommitGroup
    clock: Callable[[], datetime]
    sites: list[SiteRun]
    #: the run's limit on requests in flight, pages and sources alike
    fetch_slots: asyncio.Semaphore
    #: ``--revisit`` seconds (None: the config's revisit policy)
    revisit: float | None = None
    run_id: int = 0

    def now(self) -> datetime:
        return self.clock()
