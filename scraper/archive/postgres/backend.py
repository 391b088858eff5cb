"""The PostgreSQL backend's entry points, as ``scraper.archive.backends`` calls them by scheme.

``run_sql`` (read-only ``scraper sql``), ``check_not_foreign`` and ``migrate_archive`` (create
or migrate the schema in place). Each opens its own connection and closes it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import Any

from scraper.archive.postgres import query, schema
from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.records import SqlResult
from scraper.errors import UsageError
from scraper.models import iso_utc


def migrate_archive(db: str | os.PathLike[str], *, now: str | None = None) -> list[str]:
    """Create the archive's schema in the (empty) database ``db``, or migrate it in place;
    the names of the migrations applied."""
    url = normalise_url(os.fspath(db))
    with connect(url, autocommit=True) as conn, translated(url):
        return schema.migrate(conn, now=now or iso_utc(dt.datetime.now(dt.UTC)))


def check_not_foreign(db: str | os.PathLike[str]) -> None:
    """UsageError when the database holds tables but is not a scraper archive. Reads only."""
    url = normalise_url(os.fspath(db))
    with connect(url, autocommit=True) as conn, translated(url):
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema()"
            )
        }
    if tables and schema.MIGRATIONS_TABLE not in tables:
        shown = ", ".join(sorted(tables)[:5])
        raise UsageError(
            f"{display_url(url)}: the database has tables ({shown}) but is not a scraper archive"
        )


def run_sql(
    db: str | os.PathLike[str],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    *,
    max_rows: int,
    timeout_seconds: float,
) -> SqlResult:
    """``scraper sql`` on the archive ``db``: one statement, read-only (see ``query.py``)."""
    return query.run_sql(
        normalise_url(os.fspath(db)),
        sql,
        params,
        max_rows=max_rows,
        timeout_seconds=timeout_seconds,
    )
