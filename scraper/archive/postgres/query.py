"""``scraper sql`` on a PostgreSQL archive: one statement in a read-only transaction. Never writes.

The statement runs as a prepared statement (PostgreSQL then refuses a second statement in the
text, so a ``COMMIT; DELETE ...`` cannot step out of the transaction) inside
``SET TRANSACTION READ ONLY``, so INSERT, UPDATE, DELETE, DDL and ``nextval`` are refused by
PostgreSQL itself; ``statement_timeout`` stops a long query. A role with SELECT rights only
(README, "More than one machine") is the stronger guard, for users who can reach the database
with other tools too. ``:name`` placeholders are the SQLite archive's; they become psycopg's.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from scraper.archive.postgres import schema
from scraper.archive.postgres.connect import connect, display_url, one_line
from scraper.archive.records import SqlResult
from scraper.errors import ArchiveError

#: a quoted string, a quoted identifier, a ``::`` cast, a ``:name`` placeholder, a ``%``,
#: a ``?`` (in that order: what is inside quotes is left alone)
_TOKENS = re.compile(r"""('(?:[^']|'')*'|"(?:[^"]|"")*"|::|:([A-Za-z_]\w*)|%|\?)""")


def to_psycopg(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, Any]:
    """The statement and parameters as psycopg takes them: ``:name`` to ``%(name)s`` (a
    mapping), ``?`` to ``%s`` (a sequence), every literal ``%`` to ``%%``; placeholders inside
    quotes are left alone. No parameters and no ``:name``: the text as it is (psycopg then
    reads no placeholders in it).

    :raises ArchiveError: a ``:name`` in the statement that ``params`` has no value for.
    """
    names = [m.group(2) for m in _TOKENS.finditer(sql) if m.group(2) is not None]
    named = isinstance(params, Mapping) or (not params and bool(names))
    if named:
        missing = [n for n in names if n not in params]
        if missing:
            raise ArchiveError(f"sql: no value for :{missing[0]} (pass -p NAME VALUE)")
    if not params:
        return sql, None

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "%" or token[0] in "'\"":  # psycopg reads % inside quotes too
            return token.replace("%", "%%")
        if match.group(2) is not None and named:
            return f"%({match.group(2)})s"
        if token == "?" and not named:
            return "%s"
        return token

    return _TOKENS.sub(swap, sql), dict(params) if isinstance(params, Mapping) else list(params)


def run_sql(
    url: str,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    *,
    max_rows: int,
    timeout_seconds: float,
) -> SqlResult:
    """Run one SQL statement on the archive at ``url`` in a read-only transaction.

    :param max_rows: return at most this many rows (0: no cap); ``truncated`` says if more existed.
    :param timeout_seconds: stop the query after this long (0: no limit).
    :raises ArchiveError: ``sql: <PostgreSQL's message>`` for a bad query, a refused write or
        the time limit; ``<url>: cannot connect: ...``.
    """
    if max_rows < 0:
        raise ValueError("max_rows must be 0 (no cap) or positive")
    import psycopg

    query, values = to_psycopg(sql, params)
    conn = connect(url, application="scraper sql")
    try:
        conn.execute("SET TRANSACTION READ ONLY")
        ours = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (schema.MIGRATIONS_TABLE,)
        ).fetchone()
        if not (ours and ours[0]):
            raise ArchiveError(
                f"{display_url(url)}: no scraper archive in this database "
                f"(scraper init --db URL creates one)"
            )
        conn.execute(
            "SELECT set_config('statement_timeout', %s, true)",
            (str(int(timeout_seconds * 1000)),),
        )
        try:
            cursor = conn.execute(query, values, prepare=True)
            columns = tuple(d.name for d in cursor.description or ())
            if not cursor.description:
                rows: list[tuple[Any, ...]] = []
                truncated = False
            elif max_rows:
                rows = cursor.fetchmany(max_rows + 1)
                truncated = len(rows) > max_rows
                rows = rows[:max_rows]
            else:
                rows = cursor.fetchall()
                truncated = False
        except psycopg.errors.QueryCanceled as exc:
            raise ArchiveError(
                f"sql: the query ran longer than {timeout_seconds:g} s"
                " (raise it with --timeout, 0 for no limit)"
            ) from exc
        except (
            psycopg.errors.ReadOnlySqlTransaction,
            psycopg.errors.ActiveSqlTransaction,  # SET TRANSACTION READ WRITE, too late
        ) as exc:
            raise ArchiveError(f"sql: {one_line(exc)} (scraper sql is read-only)") from exc
        except (psycopg.errors.SyntaxError, psycopg.errors.UndefinedTable) as exc:
            raise ArchiveError(f"sql: {one_line(exc)}") from exc
        except psycopg.ProgrammingError as exc:
            raise ArchiveError(f"sql: {one_line(exc)}") from exc
        except psycopg.Error as exc:
            raise ArchiveError(f"sql: {one_line(exc)} ({display_url(url)})") from exc
        return SqlResult(columns=columns, rows=[tuple(r) for r in rows], truncated=truncated)
    finally:
        conn.close()  # the read-only transaction ends unfinished: nothing to keep
