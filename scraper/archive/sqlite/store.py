"""SQLite archive: the :class:`Archive` class, every storage protocol on one SQLite file.

:class:`Archive` is the writes (:mod:`.writes`) and reads (:mod:`.reads`) on one connection
(:mod:`.connection`), plus the crawl state (:mod:`.crawlstate`), the read-only questions
(:mod:`.query`) and the notification queue (:mod:`.notifyqueue`) as methods, so that it
satisfies :class:`scraper.archive.protocols.Storage`. It never fetches, parses HTML or reads
the clock (every timestamp is passed in).
"""

from __future__ import annotations

from scraper.archive.sqlite.connection import check_not_foreign
from scraper.archive.sqlite.reads import PageReads
from scraper.archive.sqlite.writes import PageWrites

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
    modules of the ``scraper.archive`` package.
    """
