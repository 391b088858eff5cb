"""SQLite archive, writes: what fetch, crawl and reextract store (the PageStore writes).

The logic and SQL are the archive core's (:mod:`scraper.archive.sql.writes`), shared with the
PostgreSQL archive; this module gives them SQLite's transaction (``BEGIN IMMEDIATE``, a
savepoint inside a group). It never fetches, parses HTML or reads the clock.
"""

from __future__ import annotations

from scraper.archive.sql.writes import ArchiveWrites
from scraper.archive.sqlite.connection import Connection


class PageWrites(Connection, ArchiveWrites):
    """The writing half of the SQLite archive."""
