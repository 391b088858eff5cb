"""Archive backends: which implementation of the storage protocols a ``--db`` value names.

A file path is the SQLite archive (:mod:`scraper.archive.sqlite`); a URL (``scheme://...``) is
looked up by its scheme in :data:`BACKENDS`, each entry the module that implements it, imported
only when asked for (a backend's driver is not imported by a SQLite run). Anything else is one
line: "unsupported database URL". This module holds no SQL and imports no driver itself.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from scraper.errors import ArchiveError, UsageError

if TYPE_CHECKING:
    from types import ModuleType

    from scraper.archive.protocols import Storage
    from scraper.archive.records import SqlResult

#: URL scheme -> the module that implements the backend. It provides the functions below with
#: the same names and signatures: ``open_archive(db, *, readonly, create, adopt)``,
#: ``check_not_foreign(db)``, ``run_sql(db, sql, params, *, max_rows, timeout_seconds)`` and
#: ``sender_lock(db)``.
#: A new backend adds its scheme here (see README, "Where to add a storage backend").
BACKENDS: dict[str, str] = {
    "postgresql": "scraper.archive.postgres.backend",
    "postgres": "scraper.archive.postgres.backend",
}

_SQLITE = "scraper.archive.sqlite.backend"
# ":/" too: click's Path type makes "postgresql://h/db" "postgresql:/h/db" (2+ letters: not C:/)
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/")


def backend_module(db: str | os.PathLike[str]) -> ModuleType:
    """The module that implements the backend ``db`` names (UsageError for an unknown URL)."""
    text = os.fspath(db)
    match = _URL.match(text)
    if match is None:
        return importlib.import_module(_SQLITE)
    return importlib.import_module(check_scheme(match.group(1), _shown(text)))


def check_scheme(scheme: str, shown: str | None = None) -> str:
    """The module of the backend for URL ``scheme``; UsageError naming ``shown`` (the URL as
    a message may show it) when no backend serves it."""
    name = BACKENDS.get(scheme.lower())
    if name is not None:
        return name
    shown = shown or f"{scheme}://..."
    if scheme.lower() in ("file", "sqlite"):
        raise UsageError(f"{shown}: unsupported database URL (give a SQLite file as a path)")
    known = ", ".join(f"{s}://" for s in sorted(BACKENDS)) or "none yet"
    raise UsageError(
        f"{shown}: unsupported database URL (a file path is a SQLite archive; "
        f"URL schemes supported: {known})"
    )


def open_archive(
    db: str | os.PathLike[str],
    *,
    readonly: bool = False,
    create: bool = True,
    adopt: bool = False,
) -> Storage:
    """Open the archive ``db`` names: a path (SQLite) or a URL of a registered backend.

    ``readonly`` opens it for reading only (nothing is created or migrated); ``create=False``
    refuses a missing archive; ``adopt`` adds scraper's schema to another program's database
    (``scraper init``). Errors are one line: :class:`scraper.errors.ArchiveError` (exit 1) or
    :class:`scraper.errors.UsageError` (exit 2).
    """
    opened: Storage = backend_module(db).open_archive(
        db, readonly=readonly, create=create, adopt=adopt
    )
    return opened


def is_database_url(db: str | os.PathLike[str]) -> bool:
    """Whether ``db`` is a database URL (``scheme://...``) rather than a SQLite file path."""
    return _URL.match(os.fspath(db)) is not None


def sender_lock(db: str | os.PathLike[str]) -> AbstractContextManager[object]:
    """One sender of the notification queue at a time, for the block (``scraper crawl``,
    ``fetch`` and ``notify`` take it around their sending): the backend's own lock. PostgreSQL's
    is an advisory lock that waits for another holder; SQLite's is none here, as its senders
    hold the crawl's file lock beside the archive."""
    lock: AbstractContextManager[object] = backend_module(db).sender_lock(db)
    return lock


def require_file(db: str | os.PathLike[str]) -> None:
    """ArchiveError when ``db`` is a database URL: for what needs a file (the SQLite archive
    itself, the crawl's file lock), and the crawl, which runs on SQLite only until it takes its
    turns per host from the PostgreSQL leases."""
    if _URL.match(str(db)):
        shown = _shown(str(db))
        raise ArchiveError(
            f"{shown}: this command needs a SQLite archive file for now, not a database URL"
        )


def check_not_foreign(db: str | os.PathLike[str]) -> None:
    """UsageError when ``db`` is another program's database; reads only, creates nothing."""
    backend_module(db).check_not_foreign(db)


def run_sql(
    db: str | os.PathLike[str],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    **limits: Any,
) -> SqlResult:
    """``scraper sql``: one statement through the backend's own read-only door (``max_rows``,
    ``timeout_seconds``)."""
    result: SqlResult = backend_module(db).run_sql(db, sql, params, **limits)
    return result


def _shown(text: str) -> str:
    """A URL for a message: without its password."""
    return re.sub(r"(:/+)([^:/@]*):[^@/]*@", r"\1\2:***@", text)


__all__ = [
    "BACKENDS",
    "backend_module",
    "check_not_foreign",
    "check_scheme",
    "open_archive",
    "require_file",
    "run_sql",
    "sender_lock",
]
