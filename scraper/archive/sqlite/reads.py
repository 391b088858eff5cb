"""SQLite archive, reads: one page's versions, fetches and raw captures; boilerplate.

The queries and their rows-to-records are the archive core's (:mod:`scraper.archive.sql.reads`),
shared with the PostgreSQL archive; they run here on SQLite's connection. Nothing here writes.
"""

from __future__ import annotations

from scraper.archive.sql.reads import ArchiveReads
from scraper.archive.sqlite.connection import Connection


class PageReads(Connection, ArchiveReads):
    """The reading half of the SQLite archive."""
