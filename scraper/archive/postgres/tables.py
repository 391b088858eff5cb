"""PostgreSQL archive, whole tables: what ``scraper migrate`` reads and writes of a database.

The table-copy interface of :mod:`scraper.archive.transfer` over one psycopg connection of its
own: the archive's tables with their columns, keys and foreign keys (read from the catalog),
rows in key order through a server-side cursor, inserts that keep the rows' own ids, identity
sequences set past them, and the state of a copy under way. Text keys are ordered by bytes
(``COLLATE "C"``), as SQLite orders them, whatever the database's locale. It knows nothing of
what the rows mean; the archive is opened (created, migrated) by ``PgArchive`` first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scraper.archive.postgres import schema
from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.sql.dialect import POSTGRESQL, Db

if TYPE_CHECKING:
    import psycopg

#: tables that are not archive content: migrations; the full-text index, which the target's
#: trigger builds as snapshots arrive; the live state of crawl workers (leases, claims)
_NOT_CONTENT = frozenset({schema.MIGRATIONS_TABLE, "snapshots_fts", "host_leases", "page_claims"})
#: bytes of rows fetched at a time from a server-side cursor, about
_FETCH_BYTES = 8 * 1024 * 1024
_TEXT_TYPES = frozenset({"text", "character varying", "character"})


class PgTables:
    """The tables of the PostgreSQL archive at ``url`` (``write``: opened to be written)."""

    dialect = POSTGRESQL
    #: PostgreSQL's text cannot hold a NUL character
    keeps_nul = False
    invalid_text = 0  #: the server checks UTF-8 on the way in: nothing invalid comes out

    def __init__(self, url: str | os.PathLike[str], *, write: bool) -> None:
        self.url = normalise_url(os.fspath(url))
        self.location = display_url(self.url)
        self.conn: psycopg.Connection = connect(
            self.url, autocommit=True, application="scraper migrate"
        )
        self._reading: Any = None
        self._cursors = 0
        if not write:
            with self.errors():
                self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")

    @property
    def identity(self) -> str:
        """What names this database on its server: the server's address and the database."""
        info = self.conn.info
        return f"postgresql://{info.host}:{info.port}/{info.dbname}"

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def errors(self) -> Iterator[None]:
        with translated(self.location):
            yield

    def db(self) -> Db:
        return Db(self.conn, POSTGRESQL)

    # --- the schema ---------------------------------------------------------------------
    def table_names(self) -> list[str]:
        with self.errors():
            rows = self.conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            ).fetchall()
        return sorted(str(row[0]) for row in rows)

    def content_tables(self) -> list[str]:
        return [
            name
            for name in self.table_names()
            if name not in _NOT_CONTENT and not name.startswith("_scraper_")
        ]

    def _columns(self, table: str) -> list[tuple[str, str]]:
        with self.errors():
            rows = self.conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = current_schema() AND table_name = %s "
                "ORDER BY ordinal_position",
                (table,),
            ).fetchall()
        return [(str(name), str(kind)) for name, kind in rows]

    def columns(self, table: str) -> list[str]:
        return [name for name, _ in self._columns(table)]

    def key(self, table: str) -> list[str]:
        with self.errors():
            rows = self.conn.execute(
                """
                SELECT a.attname FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                WHERE i.indrelid = to_regclass(%s) AND i.indisprimary
                ORDER BY array_position(i.indkey::int2[], a.attnum)
                """,
                (table,),
            ).fetchall()
        return [str(row[0]) for row in rows] or ["ctid"]

    def references(self, table: str) -> set[str]:
        with self.errors():
            rows = self.conn.execute(
                "SELECT confrelid::regclass::text FROM pg_constraint "
                "WHERE contype = 'f' AND conrelid = to_regclass(%s)",
                (table,),
            ).fetchall()
        return {str(row[0]).strip('"') for row in rows} - {table}

    def pending_migrations(self) -> list[str]:
        with self.errors():
            return schema.pending(self.conn)

    # --- rows ---------------------------------------------------------------------------
    def count(self, table: str) -> int:
        with self.errors():
            row = self.conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else 0

    def begin_reading(self) -> None:
        """One read-only REPEATABLE READ transaction from here on: every table as of one
        moment, as SQLite's read transaction gives."""
        with self.errors():
            self._reading = self.conn.transaction()
            self._reading.__enter__()
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _ordered(self, table: str, key: Sequence[str]) -> list[str]:
        kinds = dict(self._columns(table))
        return [f'"{k}" COLLATE "C"' if kinds.get(k) in _TEXT_TYPES else f'"{k}"' for k in key]

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        after: Sequence[Any] | None = None,
    ) -> Iterator[tuple[Any, ...]]:
        ordered = ", ".join(self._ordered(table, key))
        names = ", ".join(f'"{c}"' for c in columns)
        sql = f'SELECT {names} FROM "{table}"'
        params: tuple[Any, ...] = ()
        if after is not None:
            marks = ", ".join("%s" for _ in key)
            sql += f" WHERE ({ordered}) > ({marks})"
            params = tuple(after)
        sql += f" ORDER BY {ordered}"
        self._cursors += 1
        # a server-side cursor (in a transaction): a table of any size, fetched in pieces of
        # about _FETCH_BYTES whatever the size of its rows (raw bodies can be megabytes each)
        with (
            self.errors(),
            self.conn.transaction(),
            self.conn.cursor(name=f"scraper_rows_{self._cursors}") as cur,
        ):
            cur.execute(sql, params)
            wanted = 100
            while rows := cur.fetchmany(wanted):
                yield from rows
                size = sum(len(v) for row in rows for v in row if isinstance(v, str | bytes))
                wanted = max(1, min(1000, wanted * _FETCH_BYTES // max(size, 1)))

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        names = ", ".join(f'"{c}"' for c in columns)
        marks = ", ".join("%s" for _ in columns)
        with self.errors(), self.conn.cursor() as cur:
            cur.executemany(f'INSERT INTO "{table}" ({names}) VALUES ({marks})', rows)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.errors(), self.conn.transaction():
            yield

    def reset_ids(self, table: str) -> None:
        """Set each identity column's sequence past the largest id copied, so a new row's id
        does not collide with a copied one."""
        with self.errors():
            identities = self.conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = "
                "current_schema() AND table_name = %s AND is_identity = 'YES'",
                (table,),
            ).fetchall()
            for (column,) in identities:
                self.conn.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), "
                    f'COALESCE(max("{column}"), 0) + 1, false) FROM "{table}"',
                    (f'"{table}"', column),
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
