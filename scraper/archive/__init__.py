"""Storage: the typed protocols the rest of scraper uses, and their implementations.

The protocols (:mod:`scraper.archive.protocols`) and the records they return
(:mod:`scraper.archive.records`) are backend-neutral. Only this package imports sqlite3 or
sqlite_utils.
"""

from __future__ import annotations

from scraper.archive.backends import (
    BACKENDS,
    check_not_foreign,
    open_archive,
    require_file,
    run_sql,
)
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
from scraper.archive.sqlite.crawlstate import CrawlState
from scraper.archive.sqlite.runhealth import earlier_extraction, record_run_extraction
from scraper.archive.sqlite.store import Archive

__all__ = [
    "BACKENDS",
    "Archive",
    "Capture",
    "ChangeRecord",
    "CrawlState",
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
    "check_not_foreign",
    "earlier_extraction",
    "open_archive",
    "record_run_extraction",
    "require_file",
    "run_sql",
]
