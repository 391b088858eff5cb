"""The PostgreSQL backend's entry points, as ``scraper.archive.backends`` calls them by scheme.

``run_sql`` (read-only ``scraper sql``), ``check_not_foreign``, ``migrate_archive`` (create or
migrate the schema in place), ``open_archive`` and ``sender_lock`` (one notification sender).
Each opens its own connection and closes it.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.postgres import query, schema
from scraper.archive.postgres.connect import connect, display_url, normalise_url, translated
from scraper.archive.postgres.senderlock import sender_lock as sender_lock
from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.records import SqlResult
from scraper.errors import ArchiveError, UsageError
from scraper.models import iso_utc

if TYPE_CHECKING:
    from scraper.archive.protocols import Storage


def open_archive(
    db: str | os.PathLike[str], *, readonly: bool = False, create: bool = True, adopt: bool = False
) -> Storage:
    """The PostgreSQL archive at the URL ``db`` (see :class:`PgArchive`)."""
    from scraper.archive.postgres.store import PgArchive

    return PgArchive(os.fspath(db), readonly=readonly, create=create, adopt=adopt)


def migrate_archive(db: str | os.PathLike[str], *, now: str | None = None) -> list[str]:
    """Create the archive's schema in the (empty) database ``db``, or migrate it in place;
    the names of the migrations applied."""
    url = normalise_url(os.fspath(db))
    with connect(url, autocommit=True) as conn, translated(url):
        try:
            return schema.migrate(conn, now=now or iso_utc(dt.datetime.now(dt.UTC)))
        except ArchiveError as exc:  # schema.migrate does not know the URL: name it
            raise ArchiveError(f"{display_url(url)}: {exc}") from exc


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
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> SqlResult:
    """``scraper sql`` on the archive ``db``: one statement, read-only (see ``query.py``)."""
    return query.run_sql(
        normalise_url(os.fspath(db)),
        sql,
        params,
        max_rows=max_rows,
        timeout_seconds=timeout_seconds,
    )
