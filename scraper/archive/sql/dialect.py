"""Archive core, dialect: what differs between SQLite and PostgreSQL, and the adapter over both.

The shared SQL is written once, in SQLite's form (``?`` placeholders, ``%`` as itself);
:class:`Dialect` turns it into the backend's (psycopg's ``%s``, ``%%``) and builds the few
statements whose wording differs (insert-or-ignore, upsert, a new row's id). A ``?`` in the
shared SQL is always a placeholder (never put one in a string literal: pass it as a value).
:class:`Db` runs it on a DB-API connection inside the caller's transaction; it never commits
or opens one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: how many translated statement texts a dialect keeps
_CACHED_STATEMENTS = 1024


@dataclass(frozen=True)
class Dialect:
    """One backend's wording of the shared SQL.

    :param name: ``sqlite`` or ``postgresql``
    :param format_params: placeholders are ``%s`` (and a literal ``%`` is ``%%``), not ``?``
    :param returning: a new row's id comes back by ``RETURNING id`` (else ``lastrowid``)
    :param same_as: the NULL-safe equality operator (``IS``; ``IS NOT DISTINCT FROM``)
    :param greatest: the larger of two values (SQLite's two-argument ``MAX``; ``GREATEST``)
    :param least: the smaller of two values (SQLite's two-argument ``MIN``; ``LEAST``)
    """

    name: str
    format_params: bool
    returning: bool
    same_as: str
    greatest: str
    least: str
    _cache: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def sql(self, text: str) -> str:
        """``text`` (written with ``?`` placeholders) in this backend's placeholder style."""
        if not self.format_params:
            return text
        done = self._cache.get(text)
        if done is None:
            if len(self._cache) >= _CACHED_STATEMENTS:
                self._cache.clear()  # texts built with a varying IN list: keep it bounded
            done = self._cache[text] = text.replace("%", "%%").replace("?", "%s")
        return done

    def insert_ignore(self, table: str, columns: Sequence[str], key: str) -> str:
        """An INSERT that does nothing when a row with the same ``key`` is there."""
        values = ", ".join("?" for _ in columns)
        if self.name == "sqlite":
            return f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) VALUES ({values})"
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({key}) DO NOTHING"
        )

    def upsert(self, table: str, columns: Sequence[str], key: str) -> str:
        """An INSERT that replaces the row with the same ``key`` (one column, or several
        separated by commas; every other column given)."""
        values = ", ".join("?" for _ in columns)
        if self.name == "sqlite":
            return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({values})"
        keys = {name.strip() for name in key.split(",")}
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in keys)
        return (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({values}) "
            f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
        )


SQLITE = Dialect(
    "sqlite", format_params=False, returning=False, same_as="IS", greatest="MAX", least="MIN"
)
POSTGRESQL = Dialect(
    "postgresql",
    format_params=True,
    returning=True,
    same_as="IS NOT DISTINCT FROM",
    greatest="GREATEST",
    least="LEAST",
)


class Db:
    """The shared SQL's view of a connection (sqlite3 or psycopg, rows as tuples).

    Every call runs inside the transaction the backend opened; errors are the driver's, for the
    backend to translate.
    """

    def __init__(self, conn: Any, dialect: Dialect) -> None:
        self.conn = conn
        self.dialect = dialect

    def run(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Execute a statement; how many rows it changed (0 when the driver cannot say)."""
        cursor = self.conn.execute(self.dialect.sql(sql), tuple(params))
        return max(int(cursor.rowcount), 0)

    def run_many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Execute a statement once per row of parameters."""
        cursor = self.conn.cursor()
        try:
            cursor.executemany(self.dialect.sql(sql), [tuple(r) for r in rows])
        finally:
            cursor.close()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        """The first row of a query, or None."""
        row = self.conn.execute(self.dialect.sql(sql), tuple(params)).fetchone()
        return None if row is None else tuple(row)

    def all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of a query."""
        return [tuple(r) for r in self.conn.execute(self.dialect.sql(sql), tuple(params))]

    def mappings(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Every row of a query as a dict by column name."""
        cursor = self.conn.execute(self.dialect.sql(sql), tuple(params))
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def insert(self, sql: str, params: Sequence[Any], *, conflict: str | None = None) -> int:
        """Run an INSERT of one row into a table with an ``id`` key; return the new id.

        :param conflict: PostgreSQL: a unique column another session may have just filled; the
            existing row's id comes back instead of an error (SQLite's writers are serialised).
        """
        if not self.dialect.returning:
            return int(self.conn.execute(self.dialect.sql(sql), tuple(params)).lastrowid or 0)
        if conflict is not None:
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {conflict} = EXCLUDED.{conflict}"
        row = self.conn.execute(self.dialect.sql(sql + " RETURNING id"), tuple(params)).fetchone()
        return int(row[0]) if row else 0
