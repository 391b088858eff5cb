"""SQLite archive: the :class:`Archive` class, every storage protocol on one SQLite file.

:class:`Archive` is the writes (:mod:`.writes`) and reads (:mod:`.reads`) on one connection
(:mod:`.connection`), plus the crawl state (:mod:`.crawlstate`), the questions and the
notification queue of the archive core (:mod:`scraper.archive.sql.questions`,
:mod:`~scraper.archive.sql.notifyqueue`) and SQLite's search (:mod:`.query`), so that it
satisfies :class:`scraper.archive.protocols.Storage`. It never fetches, parses HTML or reads
the clock (every timestamp is passed in).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.sql.notifyqueue import ArchiveNotifyQueue
from scraper.archive.sql.questions import ArchiveQuestions
from scraper.archive.sqlite import query
from scraper.archive.sqlite.connection import check_not_foreign
from scraper.archive.sqlite.crawlstate import CrawlState
from scraper.archive.sqlite.reads import PageReads
from scraper.archive.sqlite.writes import PageWrites

if TYPE_CHECKING:
    import datetime as dt

    from scraper.archive.records import (
        SearchHit,
        SqlResult,
    )

__all__ = ["Archive", "check_not_foreign"]


class Archive(PageWrites, PageReads, ArchiveQuestions, ArchiveNotifyQueue):
    """A versioned archive of pages in one SQLite file.

    ``Archive(path)`` opens (creating directories and the file when missing, unless
    ``create=False``) and migrates; ``Archive(path, readonly=True)`` opens with ``mode=ro`` and
    never writes or migrates. An existing database that holds tables but not scraper's schema
    (another program's file) is refused with :class:`scraper.errors.UsageError` before anything
    is written to it, unless ``adopt=True`` (``scraper init``); an empty database, or a 0-byte
    file, is taken as a new archive. sqlite3 errors are raised as
    :class:`scraper.errors.ArchiveError` naming the file.

    ``archive.db`` (a ``sqlite_utils.Database``) and ``archive.path`` are public for the other
    modules of the ``scraper.archive.sqlite`` package (and the file-format tests); everyone
    else uses the protocol methods.
    """

    def crawl_state(self) -> CrawlState:
        """The crawl's view of this archive: frontier, hosts, sources, runs."""
        return CrawlState(self)

    def schema_version(self) -> int:
        """How many of scraper's migrations the file has applied (0: none yet)."""
        rows = self._rows(
            "SELECT count(*) AS n FROM sqlite_master WHERE name = '_sqlite_migrations'"
        )
        if not rows[0]["n"]:
            return 0
        rows = self._rows(
            "SELECT count(*) AS n FROM _sqlite_migrations WHERE migration_set = 'scraper'"
        )
        return int(rows[0]["n"])

    # --- read-only questions (scraper.archive.sqlite.query) -------------------------------
    def search(
        self,
        text: str,
        *,
        site: str | None = None,
        since: dt.datetime | None = None,
        limit: int | None = 20,
        all_versions: bool = False,
        highlight: tuple[str, str] = ("**", "**"),
    ) -> list[SearchHit]:
        """Full-text search (FTS5) over snapshot titles and text, best first. Never writes."""
        return query.search(
            self,
            text,
            site=site,
            since=since,
            limit=limit,
            all_versions=all_versions,
            highlight=highlight,
        )

    def run_sql(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> SqlResult:
        """One SQL statement on the file through its own read-only connection."""
        return query.run_sql(
            self.path, sql, params, max_rows=max_rows, timeout_seconds=timeout_seconds
        )
