"""SQLite archive, the crawl's state: its schedule (:mod:`.schedule`), hosts, sources, runs.

The schedule is SQLite's own; hosts, sources, runs and their extraction health are the archive
core's (:mod:`scraper.archive.sql.crawlstate`, shared with PostgreSQL), run here in the
archive's transactions. It never fetches, parses or reads the clock: every timestamp is passed
in. Each method is one short transaction, so a killed crawl leaves the state as of its last
finished page.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from scraper.archive.sql.crawlstate import CrawlStateCore
from scraper.archive.sql.dialect import Db
from scraper.archive.sqlite.schedule import Schedule


class CrawlState(Schedule, CrawlStateCore):
    """The crawl's view of an :class:`Archive`: frontier, hosts, sources and runs."""

    @contextmanager
    def session(self) -> Iterator[Db]:
        """One write transaction of the archive."""
        with self.archive.session() as db:
            yield db

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """The archive's connection to read with."""
        with self.archive.reading() as db:
            yield db
