"""PostgreSQL archive: :class:`PgArchive`, every storage protocol on one PostgreSQL connection.

The page store and one page's reads (:mod:`.pages`), the questions and the notification queue
(:mod:`.reads`) on one connection (:mod:`.base`), plus the crawl state (:mod:`.crawlstore`,
one instance one worker of the shared frontier) and read-only ``scraper sql`` (:mod:`.query`,
on a connection of its own). It never fetches, parses HTML or reads the clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.postgres import query, schema
from scraper.archive.postgres.connect import translated
from scraper.archive.postgres.crawlstore import PgCrawlState
from scraper.archive.postgres.reads import PgReads
from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS

if TYPE_CHECKING:
    from scraper.archive.records import SqlResult


class PgArchive(PgReads):
    """A versioned archive of pages in a PostgreSQL database (see :class:`PgConnection` for
    ``readonly``, ``create`` and ``adopt``)."""

    _state: PgCrawlState | None = None

    def crawl_state(self) -> PgCrawlState:
        """The crawl's view of this archive, on the same connection (so its writes join an
        open group); this archive is one worker of the shared frontier."""
        if self._state is None:
            self._state = PgCrawlState(self.conn, location=self.location)
        return self._state

    def schema_version(self) -> int:
        """How many of this backend's migrations the database has applied."""
        with translated(self.location):
            return schema.schema_version(self.conn)

    def run_sql(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> SqlResult:
        """One SQL statement in a read-only transaction on a connection of its own."""
        return query.run_sql(
            self.url, sql, params, max_rows=max_rows, timeout_seconds=timeout_seconds
        )


if TYPE_CHECKING:  # mypy proves here that PgArchive implements the protocol
    from scraper.archive.protocols import Storage

    def _conforms(archive: PgArchive) -> Storage:
        return archive
