"""SQLite archive: the :class:`Archive` class, every storage protocol on one SQLite file.

:class:`Archive` is the writes (:mod:`.writes`) and reads (:mod:`.reads`) on one connection
(:mod:`.connection`), plus the crawl state (:mod:`.crawlstate`), the read-only questions
(:mod:`.query`) and the notification queue (:mod:`.notifyqueue`) as methods, so that it
satisfies :class:`scraper.archive.protocols.Storage`. It never fetches, parses HTML or reads
the clock (every timestamp is passed in).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.sqlite import notifyqueue, query
from scraper.archive.sqlite.connection import check_not_foreign
from scraper.archive.sqlite.crawlstate import CrawlState
from scraper.archive.sqlite.reads import PageReads
from scraper.archive.sqlite.writes import PageWrites

if TYPE_CHECKING:
    import datetime as dt

    from scraper.archive.records import (
        Edit,
        Exchange,
        FeedEntry,
        Gone,
        PageChange,
        Queued,
        SearchHit,
        SqlResult,
    )

__all__ = ["Archive", "check_not_foreign"]


class Archive(PageWrites, PageReads):
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
    def changes(
        self,
        *,
        since: dt.datetime | None = None,
        site: str | None = None,
        limit: int | None = None,
    ) -> list[PageChange]:
        """The pages whose content changed, newest first. Never writes."""
        return query.changes(self, since=since, site=site, limit=limit)

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

    def snapshot_records(
        self, *, site: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every snapshot as a JSON-ready dict, oldest first. Never writes."""
        return query.snapshot_records(self, site=site, since=since)

    def exchanges(
        self, *, site: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Exchange]:
        """The fetches whose response headers were stored, oldest first. Never writes."""
        return query.exchanges(self, site=site, since=since)

    def feed_entries(
        self, sites: Sequence[str] | None, *, since: str | None, limit: int
    ) -> list[FeedEntry]:
        """The newest versions found by fetching, newest first. Never writes."""
        return notifyqueue.feed_entries(self, sites, since=since, limit=limit)

    # --- the notification queue (scraper.archive.sqlite.notifyqueue) ----------------------
    def site_cursor(self, site: str) -> int | None:
        """The id up to which the site's snapshots are queued (None: never queued)."""
        return notifyqueue.site_cursor(self, site)

    def edits_since(
        self, site: str | None, *, after_id: int | None, fetched_since: str
    ) -> list[Edit]:
        """The site's snapshots that are edits, after ``after_id`` (or since a time)."""
        return notifyqueue.edits_since(self, site, after_id=after_id, fetched_since=fetched_since)

    def latest_snapshot_id(self, site: str | None) -> int:
        """The site's newest snapshot id (0: none)."""
        return notifyqueue.latest_snapshot_id(self, site)

    def gone_pages(self, site: str | None, urls: Sequence[str] | None = None) -> list[Gone]:
        """The site's pages with versions whose last two fetches answered 404/410."""
        return notifyqueue.gone_pages(self, site, urls)

    def queue_notifications(
        self,
        messages: Iterable[Queued],
        *,
        queued_at: str,
        cursors: dict[str, int] | None = None,
    ) -> int:
        """Queue messages and move the sites' cursors in one transaction; how many were new."""
        return notifyqueue.enqueue(self, messages, queued_at=queued_at, cursors=cursors)

    def unsent(self, targets: Sequence[str] | None = None) -> list[Queued]:
        """The queued messages not sent yet, oldest first."""
        return notifyqueue.unsent(self, targets)

    def mark_sent(self, ids: Sequence[int], *, sent_at: str, attempts: int) -> None:
        """Mark queued messages sent."""
        notifyqueue.mark_sent(self, ids, sent_at=sent_at, attempts=attempts)

    def mark_failed(self, ids: Sequence[int], *, error: str, attempts: int) -> None:
        """Count a failed send of queued messages, keeping them unsent."""
        notifyqueue.mark_failed(self, ids, error=error, attempts=attempts)
