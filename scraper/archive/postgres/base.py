"""PostgreSQL archive, connection: opening the database, transactions and the group commit.

Opens (migrating, refusing another program's database unless adopting; read-only sessions
for readers), runs write transactions (nested ones are savepoints) and the group commit.
psycopg errors never leave the package: they become one-line :class:`ArchiveError` naming the
database without its password.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any, Self

import zstandard

from scraper.archive.postgres import schema
from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.sql.dialect import POSTGRESQL, Db
from scraper.archive.sql.writes import ZSTD_LEVEL
from scraper.errors import ArchiveError, UsageError
from scraper.models import iso_utc

if TYPE_CHECKING:
    import psycopg


class PgConnection:
    """One connection to a PostgreSQL archive (autocommit between transactions).

    :param readonly: a read-only session (nothing is created or migrated; writes are refused).
    :param create: create the schema in an empty database (False: refuse one without it).
    :param adopt: add the schema to a database that holds other tables (``scraper init``).
    """

    dialect = POSTGRESQL

    def __init__(
        self, url: str, *, readonly: bool = False, create: bool = True, adopt: bool = False
    ) -> None:
        self.url = normalise_url(url)
        self.readonly = readonly
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._group: AbstractContextManager[Any] | None = None
        self.conn: psycopg.Connection = connect(self.url, autocommit=True)
        try:
            with translated(self.location):
                if (readonly or not create) and schema.MIGRATIONS_TABLE not in schema.tables(
                    self.conn
                ):
                    raise ArchiveError(
                        f"{self.location}: no scraper archive in this database "
                        "(scraper init --db URL creates one)"
                    )
                if readonly:
                    self.conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                else:
                    try:
                        schema.migrate(self.conn, now=iso_utc(dt.datetime.now(dt.UTC)), adopt=adopt)
                    except ArchiveError as exc:
                        if "is not a scraper archive" in str(exc):
                            raise UsageError(
                                f"{self.location}: {exc} (scraper init --db URL adopts it)"
                            ) from exc
                        raise
        except BaseException:
            self.conn.close()
            raise

    @property
    def location(self) -> str:
        """The database's URL without its password, for messages."""
        return display_url(self.url)

    def close(self) -> None:
        """Close the connection (idempotent); an open group is rolled back."""
        self._group = None
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", readonly=True" if self.readonly else ""
        return f"{type(self).__name__}({self.location!r}{mode})"

    # --- plumbing ------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """One write transaction (a savepoint when one is already open): what is written
        inside commits together or not at all."""
        with translated(self.location), self.conn.transaction():
            yield self.conn

    @contextmanager
    def session(self) -> Iterator[Db]:
        """One write transaction (:meth:`transaction`) for the archive's shared SQL."""
        with self.transaction() as conn:
            yield Db(conn, POSTGRESQL)

    def reading(self) -> AbstractContextManager[Db]:
        """A transaction for the archive's shared reads (one snapshot of the database)."""
        return self.session()

    @property
    def in_group(self) -> bool:
        """True while a group is open."""
        return self._group is not None

    def begin_group(self) -> None:
        """Open a transaction that stays open until :meth:`commit_group`."""
        if self._group is None:
            with translated(self.location):
                group = self.conn.transaction()
                group.__enter__()
            self._group = group

    def commit_group(self) -> None:
        """Commit the open group (nothing when none is open)."""
        group, self._group = self._group, None
        if group is not None:
            with translated(self.location):
                group.__exit__(None, None, None)

    def rollback_group(self) -> None:
        """Drop everything written since :meth:`begin_group` (nothing when none is open)."""
        import psycopg

        group, self._group = self._group, None
        if group is not None:
            with translated(self.location):
                stop = psycopg.Rollback()  # the innermost transaction: the group's own
                group.__exit__(type(stop), stop, None)

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with translated(self.location):
            cursor = self.conn.execute(sql, params)
            keys = [d.name for d in cursor.description or ()]
            return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]

    def _has_column(self, table: str, column: str) -> bool:
        """Whether ``table`` has ``column`` (a read-only session does not migrate)."""
        rows = self._rows(
            "SELECT 1 FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = %s AND column_name = %s",
            (table, column),
        )
        return bool(rows)

    def _iterate(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of a read in batches, on a cursor of its own (the caller may write between)."""
        with translated(self.location):
            cursor = self.conn.cursor()
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(200):
                yield from batch
