"""scraper: fetch pages politely, extract the clean article, keep every version in SQLite."""

from __future__ import annotations

from scraper.archive import Archive
from scraper.errors import ScraperError
from scraper.extract import extract
from scraper.models import Article, FetchResult, Snapshot

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "Article",
    "FetchResult",
    "ScraperError",
    "Snapshot",
    "__version__",
    "extract",
]
