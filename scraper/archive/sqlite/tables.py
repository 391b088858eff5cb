"""SQLite archive, whole tables: what ``scraper migrate`` reads and writes of a SQLite file.

The table-copy interface of :mod:`scraper.archive.transfer` (its ``Tables``) over one sqlite3
connection of its own: the archive's tables with their columns, keys and
foreign keys (read from the file's schema), rows in key order in batches, inserts with the
rows' own ids, and the state of a copy under way. It knows nothing of what the rows mean; the
archive is opened (created, migrated) by :class:`~scraper.archive.sqlite.store.Archive` first.
sqlite3 errors leave as :class:`scraper.errors.ArchiveError` naming the file.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from scraper.archive.sql.dialect import SQLITE, Db
from scraper.archive.sqlite.connection import BUSY_TIMEOUT_MS, translated
from scraper.errors import ArchiveError

#: tables that are not archive content: migrations, and the full-text index (FTS5 and its
#: shadow tables), which the target's triggers build as rows arrive
_NOT_CONTENT = ("_sqlite_migrations", "snapshots_fts")


class SqliteTables:
    """The tables of the SQLite archive at ``path`` (``write``: opened to be written)."""

    dialect = SQLITE
    #: what a text value can hold here: anything (SQLite keeps NUL characters)
    keeps_nul = True

    def __init__(self, path: str | os.PathLike[str], *, write: bool) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.invalid_text = 0  #: text values read that were not UTF-8 (U+FFFD put in)
        if not write and not self.path.is_file():
            raise ArchiveError(f"no archive at {self.path}")
        try:
            if write:
                self.conn = sqlite3.connect(self.path, isolation_level=None)
            else:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None)
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.conn.text_factory = self._text
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path}: {exc}") from exc

    def _text(self, data: bytes) -> str:
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self.invalid_text += 1
            return data.decode("utf-8", "replace")

    @property
    def identity(self) -> str:
        """What names this archive whatever the path's spelling: the real path."""
        return os.path.realpath(self.path)

    def close(self) -> None:
        self.conn.close()

    def errors(self) -> AbstractContextManager[None]:
        """sqlite3 errors raised inside as one-line ArchiveError naming the file."""
        return translated(self.path)

    def db(self) -> Db:
        return Db(self.conn, SQLITE)

    # --- the schema ---------------------------------------------------------------------
    def table_names(self) -> list[str]:
        """Every table of the file, the archive's and any other."""
        with self.errors():
            rows = self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            ).fetchall()
        return sorted(str(row[0]) for row in rows)

    def content_tables(self) -> list[str]:
        """The archive's tables that hold content (not migrations, not the FTS index)."""
        return [
            name
            for name in self.table_names()
            if not name.startswith(_NOT_CONTENT) and not name.startswith("_scraper_")
        ]

    def columns(self, table: str) -> list[str]:
        with self.errors():
            return [str(row[1]) for row in self.conn.execute(f'PRAGMA table_info("{table}")')]

    def key(self, table: str) -> list[str]:
        """The primary key's columns, in order (``rowid`` for a table without one)."""
        with self.errors():
            info = self.conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        keyed = sorted((int(row[5]), str(row[1])) for row in info if int(row[5]) > 0)
        return [name for _, name in keyed] or ["rowid"]

    def references(self, table: str) -> set[str]:
        """The tables ``table``'s foreign keys point at."""
        with self.errors():
            rows = self.conn.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()
        return {str(row[2]) for row in rows} - {table}

    def pending_migrations(self) -> list[str]:
        """scraper's migrations this file has not applied."""
        from sqlite_utils import Database

        from scraper.archive.sqlite.schema import migrations

        with self.errors():
            return [m.name for m in migrations.pending(Database(self.conn))]

    # --- rows ---------------------------------------------------------------------------
    def count(self, table: str) -> int:
        with self.errors():
            row = self.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0])

    def begin_reading(self) -> None:
        """One read transaction from here on: every table as of one moment."""
        with self.errors():
            self.conn.execute("BEGIN")
            self.conn.execute("SELECT 1 FROM sqlite_master LIMIT 1")

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        after: Sequence[Any] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        """The rows of ``columns``, in ``key`` order, from after the key ``after``."""
        keys = ", ".join(f'"{k}"' for k in key)
        sql = f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in columns)} FROM "{table}"'
        params: tuple[Any, ...] = ()
        if after is not None:
            marks = ", ".join("?" for _ in key)
            sql += f" WHERE ({keys}) > ({marks})"
            params = tuple(after)
        sql += f" ORDER BY {keys}"
        with self.errors():
            yield from self.conn.execute(sql, params)  # a row at a time, however large

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("?" for _ in columns)
        with self.errors():
            self.conn.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction: committed at the end, rolled back on an error."""
        with self.errors():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def reset_ids(self, table: str) -> None:
        """Make new rows' ids follow the copied ones: SQLite's rowid does by itself (max + 1);
        an AUTOINCREMENT table's counter is set in ``sqlite_sequence``."""
        with self.errors():
            has_sequence = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'"
            ).fetchone()
            if has_sequence:
                self.conn.execute(
                    "UPDATE sqlite_sequence SET seq = (SELECT max(rowid) FROM "
                    f'"{table}") WHERE name = ?',
                    (table,),
                )

    def create_state_table(self, ddl: str) -> None:
        with self.errors():
            self.conn.execute(ddl)

    def drop_table(self, table: str) -> None:
        with self.errors():
            self.conn.execute(f'DROP TABLE IF EXISTS "{table}"')

    def delete_all(self, table: str) -> None:
        with self.errors():
            self.conn.execute(f'DELETE FROM "{table}"')
