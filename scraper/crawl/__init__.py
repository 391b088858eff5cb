"""The crawl (``scraper crawl``) and the page pipeline ``scraper fetch`` shares, one module a job.

engine (seed, pump, the per-URL guard), run (:func:`crawl`: lock, record, run, notify),
context (what a run's parts share), pipeline (one page: robots -> fetch -> admission -> extract
-> store -> reschedule), oneoff (one URL of ``scraper fetch`` through the same steps), hosts
(politeness and the one robots.txt cache), sources (sitemaps and feeds), frontier (scope and
the revisit policy), processes (the extraction pool and the fetch helper), events (typed
events, the bus), summary (the counters), tally (counting the events into them), lock, shared
(crawl workers on one PostgreSQL archive). The names the CLI and tests use are re-exported here,
loaded on first use (PEP 562): importing one module of the package (the extraction workers'
``scraper.crawl.pool``, say) does not import the engine and the archive with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scraper.lazyimports import lazy_names

if TYPE_CHECKING:
    from scraper.crawl.engine import (
        DEFAULT_EXTRACT_WORKERS,
        GROUP_COMMIT_PAGES,
        GROUP_COMMIT_SECONDS,
        SUSPECT_RECHECK_SECONDS,
        Crawler,
        CrawlLock,
        CrawlSummary,
        Extracted,
        ExtractPool,
        _process_alive,
        extract_page,
        utc_now,
    )
    from scraper.crawl.events import Events
    from scraper.crawl.run import crawl

__all__ = [
    "DEFAULT_EXTRACT_WORKERS",
    "GROUP_COMMIT_PAGES",
    "GROUP_COMMIT_SECONDS",
    "SUSPECT_RECHECK_SECONDS",
    "CrawlLock",
    "CrawlSummary",
    "Crawler",
    "Events",
    "ExtractPool",
    "Extracted",
    "_process_alive",
    "crawl",
    "extract_page",
    "utc_now",
]

#: the module each name is taken from: scraper.crawl.engine but for two
_FROM = dict.fromkeys(__all__, "scraper.crawl.engine") | {
    "Events": "scraper.crawl.events",
    "crawl": "scraper.crawl.run",
}

__getattr__, __dir__ = lazy_names(globals(), _FROM)
