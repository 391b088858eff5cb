"""The crawl (``scraper crawl``) as a package; see :mod:`scraper.crawl.engine`."""

from __future__ import annotations

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
    crawl,
    extract_page,
    utc_now,
)

__all__ = [
    "DEFAULT_EXTRACT_WORKERS",
    "GROUP_COMMIT_PAGES",
    "GROUP_COMMIT_SECONDS",
    "SUSPECT_RECHECK_SECONDS",
    "CrawlLock",
    "CrawlSummary",
    "Crawler",
    "ExtractPool",
    "Extracted",
    "_process_alive",
    "crawl",
    "extract_page",
    "utc_now",
]
