"""PostgreSQL archive, pages: what fetch, crawl and reextract write, and one page's reads.

Both are the archive core's (``scraper.archive.sql.writes`` and ``.reads``, shared with
SQLite) on PostgreSQL's connection, the writes in its transaction; raw bodies are BYTEA. It
never fetches or reads the clock.
"""

from __future__ import annotations

from scraper.archive.postgres.base import PgConnection
from scraper.archive.sql.reads import ArchiveReads
from scraper.archive.sql.writes import ArchiveWrites


class PgWrites(PgConnection, ArchiveWrites):
    """The page store's writes on PostgreSQL: the archive core's, in PostgreSQL's transaction."""


class PgPages(PgWrites, ArchiveReads):
    """One page's reads on PostgreSQL (the archive core's), and the writes."""
