"""SQLite archive, the backend entry points that :mod:`scraper.archive.backends` calls.

``open_archive``, ``check_not_foreign``, ``run_sql`` and ``sender_lock`` for a ``--db`` value
that is a file path: the same four every backend module provides.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.records import SqlResult
from scraper.archive.sqlite import query
from scraper.archive.sqlite.connection import check_not_foreign as _check_not_foreign
from scraper.archive.sqlite.store import Archive

if TYPE_CHECKING:
    from scraper.archive.protocols import CrawlStore, Storage
    from scraper.archive.sqlite.crawlstate import CrawlState


def open_archive(
    db: str | os.PathLike[str], *, readonly: bool = False, create: bool = True, adopt: bool = False
) -> Archive:
    """The SQLite archive at the path ``db`` (see :class:`Archive`)."""
    return Archive(Path(db), readonly=readonly, create=create, adopt=adopt)


def sender_lock(db: str | os.PathLike[str]) -> AbstractContextManager[object]:
    """None needed here: a SQLite archive's senders (a crawl, ``scraper notify``) hold the
    crawl's file lock beside it (:class:`scraper.crawl.CrawlLock`), which this layer below the
    crawl cannot take."""
    return nullcontext()


def check_not_foreign(db: str | os.PathLike[str]) -> None:
    """UsageError when the file is another program's SQLite database; reads only."""
    _check_not_foreign(Path(db))


def run_sql(
    db: str | os.PathLike[str],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> SqlResult:
    """One statement on the file through its own ``mode=ro`` connection (see query.run_sql)."""
    return query.run_sql(Path(db), sql, params, max_rows=max_rows, timeout_seconds=timeout_seconds)


if TYPE_CHECKING:  # mypy proves here that the SQLite classes implement the protocols

    def _archive_conforms(archive: Archive) -> Storage:
        return archive

    def _crawl_state_conforms(state: CrawlState) -> CrawlStore:
        return state
