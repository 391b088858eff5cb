"""SQLite archive, connection: opening the file, transactions and the group commit.

Opens (creating, refusing another program's database, migrating), sets WAL and the busy
timeout, and runs write transactions. sqlite3 errors never leave the package: they are raised
as :class:`scraper.errors.ArchiveError`, one line naming the file.

Threads: a connection must be used from the thread that opened it (the crawl calls it from its
event-loop thread only). Several processes may open the same file at once: WAL lets readers
work beside the writer, and writers wait up to ``BUSY_TIMEOUT_MS`` for each other.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Self

import zstandard
from sqlite_utils import Database

from scraper.archive.backends import require_file
from scraper.archive.sql.dialect import SQLITE, Db
from scraper.archive.sql.writes import ZSTD_LEVEL
from scraper.archive.sqlite.schema import migrate
from scraper.errors import ArchiveError, UsageError

#: how long a write waits for another process's write to finish before failing
BUSY_TIMEOUT_MS = 30_000


@contextmanager
def translated(path: str | Path) -> Iterator[None]:
    """sqlite3 errors raised inside as one-line ArchiveError naming the file ``path``."""
    try:
        yield
    except sqlite3.Error as exc:
        raise ArchiveError(f"{path}: {exc}") from exc


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Raise UsageError when the database holds tables but was not made by scraper (no
    ``scraper`` migrations recorded): adding our tables to another program's file needs
    ``scraper init``. Reads only."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    if not [n for n in names if n != "_sqlite_migrations"]:
        # an empty database (or a 0-byte file): a new archive; with the migrations table alone,
        # an archive whose creation was cut short before its first migration committed
        return
    if "_sqlite_migrations" in names:
        row = conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'scraper' LIMIT 1"
        ).fetchone()
        if row is not None:
            return
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise UsageError(
        f"{path}: not a scraper archive but another program's SQLite database (tables: {shown});"
        f" refusing to add scraper's tables to it (scraper init --db {path} adopts it)"
    )


def check_not_foreign(path: str | Path) -> None:
    """Raise UsageError when ``path`` is an existing SQLite database of another program (see
    :class:`Archive`), reading it only; anything else (missing, empty, an archive, not SQLite at
    all) is left for ``Archive(path)`` to open or report."""
    file = Path(path)
    try:
        if not file.is_file() or file.stat().st_size == 0:
            return
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return
    try:
        _refuse_foreign(conn, file)
    except sqlite3.Error:
        return
    finally:
        conn.close()


class Connection:
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

    dialect = SQLITE

    def __init__(
        self, path: str | Path, *, readonly: bool = False, create: bool = True, adopt: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        require_file(path)  # a command that opens files only, given a URL: no file for it
        if self.path.is_dir():
            raise ArchiveError(f"{self.path}: is a directory, not an archive file")
        if (readonly or not create) and not self.path.exists():
            raise ArchiveError(f"no archive at {self.path} (run scraper fetch or crawl first)")
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ArchiveError(
                f"{self.path}: cannot create directory {self.path.parent}: {reason}"
            ) from exc
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path}: cannot open: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Reading the schema is what fails on a file that is not a database.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if not readonly and not adopt:
                _refuse_foreign(conn, self.path)
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA synchronous = NORMAL")
            self.db = Database(conn)
            if not readonly:
                migrate(self.db)
            elif not self.db["pages"].exists():
                raise ArchiveError(f"{self.path}: not a scraper archive (no pages table)")
        except sqlite3.Error as exc:
            conn.close()
            raise ArchiveError(f"{self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.db.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", readonly=True" if self.readonly else ""
        return f"{type(self).__name__}({str(self.path)!r}{mode})"

    # --- plumbing ------------------------------------------------------------------------
    def _errors(self) -> AbstractContextManager[None]:
        """Translate sqlite3 errors into one-line ArchiveErrors naming the file."""
        return translated(self.path)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``; a savepoint when one is already open).

        Everything written inside commits together or not at all.
        """
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                conn.execute("SAVEPOINT scraper_archive")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO SAVEPOINT scraper_archive")
                        conn.execute("RELEASE SAVEPOINT scraper_archive")
                    raise
                conn.execute("RELEASE SAVEPOINT scraper_archive")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._commit(conn)

    @contextmanager
    def session(self) -> Iterator[Db]:
        """One write transaction (:meth:`transaction`) for the archive's shared SQL."""
        with self.transaction() as conn:
            yield Db(conn, SQLITE)

    @contextmanager
    def reading(self) -> Iterator[Db]:
        """The connection for the archive's shared reads (no transaction of its own)."""
        with self._errors():
            yield Db(self.db.conn, SQLITE)

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        """COMMIT; a commit that fails (a full disk) is rolled back, not left open."""
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # A group: one write transaction held open over several transaction() blocks (each then a
    # savepoint), so that many small writes share one commit. The crawl uses it for outcomes
    # that only update bookkeeping (a 304); see ``crawl._CommitGroup``.
    @property
    def in_group(self) -> bool:
        """True while a group (or any transaction) is open on the connection."""
        return self.db.conn.in_transaction

    def begin_group(self) -> None:
        """Open a write transaction that stays open until :meth:`commit_group`."""
        conn = self.db.conn
        with self._errors():
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")

    def commit_group(self) -> None:
        """Commit the open group (nothing when none is open); on failure it is rolled back."""
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                self._commit(conn)

    def rollback_group(self) -> None:
        """Drop everything written since :meth:`begin_group` (nothing when none is open)."""
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _iterate(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of a read in batches, on a cursor of its own (the caller may write between)."""
        with self._errors():
            cursor = self.db.conn.execute(sql, params)
            while batch := cursor.fetchmany(200):
                yield from batch

    def _has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` has ``column`` (a file opened read-only is not migrated)."""
        with self._errors():
            rows = self.db.conn.execute(f"PRAGMA table_info({table})").fetchall()
        return any(row[1] == column for row in rows)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._errors():
            cursor = self.db.conn.execute(sql, params)
            keys = [d[0] for d in cursor.description]
            return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]

    @property
    def location(self) -> str:
        """The archive file, for messages."""
        return str(self.path)
