"""SQLite archive, the web view's questions: what the Datasette plugin's pages read.

Datasette serves SQLite files, so the plugin (:mod:`scraper.web`) reads through Datasette's
own read-only connection rather than an :class:`~scraper.archive.sqlite.store.Archive`. Each
function takes a Datasette ``Database`` and runs one SELECT through it; nothing here writes,
and nothing here renders. sqlite3 errors (a database that is not a scraper archive) leave as
:class:`scraper.errors.ArchiveError`.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.records import FetchRecord, PageRecord
from scraper.archive.sql.rows import record_from_row
from scraper.errors import ArchiveError
from scraper.models import Snapshot

if TYPE_CHECKING:
    from datasette.database import Database, Results

#: at most this many fetches on a timeline page (the newest)
MAX_CAPTURES = 1000

_SNAPSHOT_COLUMNS = """s.id, s.page_id, p.url, s.fetched_at, s.content_hash, s.title, s.author,
    s.published, s.updated, s.language, s.description, s.text, s.markdown, s.metadata,
    s.raw_sha256, s.cause"""


async def page(
    db: Database, *, url: str | None = None, page_id: int | None = None
) -> PageRecord | None:
    """The page with this URL (or id), or None."""
    if page_id is not None:
        rows = await _execute(db, "SELECT * FROM pages WHERE id = ?", [page_id])
    else:
        rows = await _execute(db, "SELECT * FROM pages WHERE url = ?", [url])
    row = rows.first()
    return None if row is None else record_from_row(PageRecord, dict(row))


async def recently_changed(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The pages whose content changed last, newest first."""
    rows = await _execute(
        db,
        "SELECT url, site, last_changed FROM pages WHERE last_changed IS NOT NULL"
        f" ORDER BY last_changed DESC, id DESC LIMIT {int(limit)}",
    )
    return [dict(row) for row in rows.rows]


async def versions(db: Database, page_id: int) -> list[dict[str, Any]]:
    """Every snapshot of a page, newest first, with the words it added and removed."""
    rows = await _execute(
        db,
        """SELECT s.id, s.fetched_at, s.title, s.word_count, s.cause,
                  c.words_added, c.words_removed, c.previous_id, c.title_changed
           FROM snapshots s LEFT JOIN changes c ON c.snapshot_id = s.id
           WHERE s.page_id = ? ORDER BY s.id DESC""",
        [page_id],
    )
    return [dict(row) for row in rows.rows]


async def captures(db: Database, page_id: int) -> list[FetchRecord]:
    """The newest fetches of a page (at most MAX_CAPTURES), newest first."""
    rows = await _execute(
        db,
        f"""SELECT f.id, f.page_id, f.fetched_at, f.status_code, f.not_modified, f.error,
                   f.snapshot_id, f.url, f.bytes
            FROM fetches f WHERE f.page_id = ?
            ORDER BY f.fetched_at DESC, f.id DESC LIMIT {MAX_CAPTURES}""",
        [page_id],
    )
    return [record_from_row(FetchRecord, dict(row)) for row in rows.rows]


async def snapshot(db: Database, snapshot_id: int) -> Snapshot | None:
    """One snapshot with its page's URL, or None."""
    rows = await _execute(
        db,
        f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id"
        " WHERE s.id = ?",
        [snapshot_id],
    )
    row = rows.first()
    return None if row is None else _snapshot(tuple(row))


async def snapshot_as_of(db: Database, page_id: int, moment: str) -> Snapshot | None:
    """The page's newest snapshot fetched at or before ``moment`` (UTC ISO 8601), or None."""
    rows = await _execute(
        db,
        f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id"
        " WHERE s.page_id = ? AND s.fetched_at <= ? ORDER BY s.fetched_at DESC, s.id DESC"
        " LIMIT 1",
        [page_id, moment],
    )
    row = rows.first()
    return None if row is None else _snapshot(tuple(row))


def _snapshot(r: tuple[Any, ...]) -> Snapshot:
    try:
        metadata = json.loads(r[13]) if r[13] else {}
    except ValueError:
        metadata = {}
    return Snapshot(
        id=r[0],
        page_id=r[1],
        url=r[2],
        fetched_at=r[3],
        content_hash=r[4],
        title=r[5],
        author=r[6],
        published=r[7],
        updated=r[8],
        language=r[9],
        description=r[10],
        text=r[11] or "",
        markdown=r[12] or "",
        metadata=metadata if isinstance(metadata, dict) else {},
        raw_sha256=r[14],
        cause=r[15] or "fetch",
    )


async def _execute(db: Database, sql: str, params: Sequence[Any] = ()) -> Results:
    try:
        return await db.execute(sql, list(params))
    except sqlite3.Error as exc:
        raise ArchiveError(str(exc)) from exc
