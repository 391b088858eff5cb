"""Storage: the typed protocols the rest of scraper uses, and their implementations.

The protocols (:mod:`scraper.archive.protocols`) and the records they return
(:mod:`scraper.archive.records`) are backend-neutral. Only this package imports sqlite3 or
sqlite_utils.

The names below are loaded on first use (PEP 562): importing one module of the package (the
protocols' constants, say, which the command line reads for its defaults) does not import the
SQLite backend, sqlite_utils and all they use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scraper.lazyimports import lazy_names

if TYPE_CHECKING:
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

#: each name of ``__all__`` -> the module it comes from
_FROM = {
    "BACKENDS": "scraper.archive.backends",
    "check_not_foreign": "scraper.archive.backends",
    "open_archive": "scraper.archive.backends",
    "require_file": "scraper.archive.backends",
    "run_sql": "scraper.archive.backends",
    "CrawlStore": "scraper.archive.protocols",
    "NotifyQueue": "scraper.archive.protocols",
    "PageStore": "scraper.archive.protocols",
    "Reader": "scraper.archive.protocols",
    "Storage": "scraper.archive.protocols",
    "Transactions": "scraper.archive.protocols",
    "Capture": "scraper.archive.records",
    "ChangeRecord": "scraper.archive.records",
    "DuePage": "scraper.archive.records",
    "Edit": "scraper.archive.records",
    "Exchange": "scraper.archive.records",
    "FeedEntry": "scraper.archive.records",
    "FetchRecord": "scraper.archive.records",
    "Gone": "scraper.archive.records",
    "HostRow": "scraper.archive.records",
    "NewPage": "scraper.archive.records",
    "PageChange": "scraper.archive.records",
    "PageRecord": "scraper.archive.records",
    "Queued": "scraper.archive.records",
    "RunRecord": "scraper.archive.records",
    "SearchHit": "scraper.archive.records",
    "SourceRow": "scraper.archive.records",
    "SqlResult": "scraper.archive.records",
    "CrawlState": "scraper.archive.sqlite.crawlstate",
    "earlier_extraction": "scraper.archive.sqlite.runhealth",
    "record_run_extraction": "scraper.archive.sqlite.runhealth",
    "Archive": "scraper.archive.sqlite.store",
}

__getattr__, __dir__ = lazy_names(globals(), _FROM)
