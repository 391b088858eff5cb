"""Storage: the typed protocols the rest of scraper uses, and their implementations.

The protocols (:mod:`scraper.archive.protocols`) and the records they return
(:mod:`scraper.archive.records`) are backend-neutral. Only this package imports sqlite3 or
sqlite_utils.
"""

from __future__ import annotations

from scraper.archive.protocols import (
    CrawlStore,
    NotifyQueue,
    PageStore,
    Reader,
    Storage,
    Transactions,
)
from scraper.archive.records import (
    Capture,
    ChangeRecord,
    DuePage,
    Edit,
    Exchange,
    FeedEntry,
    FetchRecord,
    Gone,
    HostRow,
    NewPage,
    PageChange,
    PageRecord,
    Queued,
    RunRecord,
    SearchHit,
    SourceRow,
    SqlResult,
)
from scraper.archive.store import Archive

__all__ = [
    "Archive",
    "Capture",
    "ChangeRecord",
    "CrawlStore",
    "DuePage",
    "Edit",
    "Exchange",
    "FeedEntry",
    "FetchRecord",
    "Gone",
    "HostRow",
    "NewPage",
    "NotifyQueue",
    "PageChange",
    "PageRecord",
    "PageStore",
    "Queued",
    "Reader",
    "RunRecord",
    "SearchHit",
    "SourceRow",
    "SqlResult",
    "Storage",
    "Transactions",
]
