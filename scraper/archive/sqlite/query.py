"""Query: read-only questions to the archive (changes, full-text search, ad-hoc SQL, export rows).

Nothing in this module writes. Every function only reads: the ones that take an ``Archive``
run SELECTs on its connection, and :func:`run_sql` opens its own connection with SQLite's
``mode=ro`` and ``PRAGMA query_only``, so a write is refused by SQLite itself. sqlite3 errors
are translated here into :class:`~scraper.errors.ArchiveError`; they never leave this package.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.records import Exchange, PageChange, SearchHit, SqlResult
from scraper.errors import ArchiveError, UsageError
from scraper.models import iso_utc

if TYPE_CHECKING:
    import datetime as dt

    from scraper.archive.sqlite.store import Archive

#: SQLite VM instructions between two checks of the time limit
_PROGRESS_STEPS = 2000


# --- changes ------------------------------------------------------------------------------


def changes(
    archive: Archive,
    *,
    since: dt.datetime | None = None,
    site: str | None = None,
    limit: int | None = None,
) -> list[PageChange]:
    """The pages whose content changed, newest first. Read-only: never writes.

    A page's first snapshot is not a change; only snapshots with a previous one are listed.
    :param since: only changes fetched at or after this moment.
    :param limit: at most this many rows (None: all).
    """
    where = ["previous_id IS NOT NULL"]
    params: list[Any] = []
    if since is not None:
        where.append("fetched_at >= ?")
        params.append(iso_utc(since))
    if site is not None:
        where.append("site = ?")
        params.append(site)
    sql = (
        "SELECT snapshot_id, previous_id, page_id, url, site, fetched_at, previous_fetched_at,"
        " title, previous_title, words_added, words_removed, title_changed, author_changed,"
        " published_changed, updated_changed, description_changed, cause"
        f" FROM snapshot_changes WHERE {' AND '.join(where)}"
        " ORDER BY fetched_at DESC, snapshot_id DESC"
    )
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = _select(archive, sql, params)
    return [
        PageChange(
            snapshot_id=r[0],
            previous_id=r[1],
            page_id=r[2],
            url=r[3],
            site=r[4],
            fetched_at=r[5],
            previous_fetched_at=r[6],
            title=r[7],
            previous_title=r[8],
            words_added=int(r[9]),
            words_removed=int(r[10]),
            title_changed=bool(r[11]),
            author_changed=bool(r[12]),
            published_changed=bool(r[13]),
            updated_changed=bool(r[14]),
            description_changed=bool(r[15]),
            cause=r[16],
        )
        for r in rows
    ]


# --- full-text search ---------------------------------------------------------------------


# A double-quoted phrase (the closing quote may be missing) or a bare word.
_QUERY_TOKEN = re.compile(r'"([^"]*)"?|(\S+)')
_WORD = re.compile(r"\w", re.UNICODE)
_HANGUL = re.compile(r"^[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+$")


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for what a user typed; never an FTS5 syntax error.

    Every word is quoted, so punctuation and FTS5 keywords in the text are taken literally;
    ``"two words"`` is a phrase; ``word*`` is a prefix search; ``OR`` between two terms is
    kept as the operator; the terms are otherwise all required (AND). A Korean word is
    searched as a prefix, because particles attach to it (``서울`` finds ``서울에서``).
    """
    terms: list[str] = []
    for match in _QUERY_TOKEN.finditer(text):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            if _WORD.search(phrase):
                terms.append(_quote(phrase))
            continue
        assert word is not None
        if word == "OR":
            if terms and terms[-1] != "OR":
                terms.append("OR")
            continue
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if not _WORD.search(word):
            continue
        if _HANGUL.match(word):
            prefix = True
        terms.append(_quote(word) + ("*" if prefix else ""))
    while terms and terms[-1] == "OR":
        terms.pop()
    if not terms:
        raise UsageError(f"search: {text!r} has no words to look for")
    return " ".join(terms)


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def search(
    archive: Archive,
    query: str,
    *,
    site: str | None = None,
    since: dt.datetime | None = None,
    limit: int | None = 20,
    all_versions: bool = False,
    highlight: tuple[str, str] = ("**", "**"),
) -> list[SearchHit]:
    """Full-text search over snapshot titles and text, best match first. Read-only: never writes.

    The snippet is taken from the text (the title is returned beside it). By default each
    page appears once, as its newest snapshot that matches (so a word that was later edited
    out still finds the page, at the version that had it); ``all_versions`` lists every
    matching snapshot.
    :param query: what the user typed (see :func:`fts_query`).
    :param since: only snapshots fetched at or after this moment.
    :param highlight: the markers put around matched words in the snippet.
    """
    match = fts_query(query)
    inner_where = ["snapshots_fts MATCH ?"]
    params: list[Any] = [highlight[0], highlight[1], match]
    if since is not None:
        inner_where.append("s.fetched_at >= ?")
        params.append(iso_utc(since))
    outer_where = ["1 = 1"] if all_versions else ["n = 1"]
    if site is not None:
        outer_where.append("p.site = ?")
        params.append(site)
    # snippet() and bm25() cannot sit beside a window function, hence the materialised step.
    sql = f"""
        WITH hits AS MATERIALIZED (
            SELECT s.id, s.page_id, s.fetched_at, s.title,
                   snippet(snapshots_fts, 1, ?, ?, '…', 24) AS snippet,
                   bm25(snapshots_fts, 5.0, 1.0) AS rank
            FROM snapshots_fts JOIN snapshots s ON s.rowid = snapshots_fts.rowid
            WHERE {" AND ".join(inner_where)}
        ),
        numbered AS (
            SELECT hits.*, ROW_NUMBER() OVER (PARTITION BY page_id ORDER BY id DESC) AS n
            FROM hits
        )
        SELECT numbered.id, numbered.page_id, p.url, p.site, numbered.fetched_at,
               numbered.title, numbered.snippet, numbered.rank,
               numbered.id = (SELECT MAX(id) FROM snapshots WHERE page_id = numbered.page_id)
        FROM numbered JOIN pages p ON p.id = numbered.page_id
        WHERE {" AND ".join(outer_where)}
        ORDER BY numbered.rank, numbered.id DESC
    """
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    rows = _select(archive, sql, params)
    return [
        SearchHit(
            snapshot_id=r[0],
            page_id=r[1],
            url=r[2],
            site=r[3],
            fetched_at=r[4],
            title=r[5],
            snippet=r[6] or "",
            rank=float(r[7]),
            latest=bool(r[8]),
        )
        for r in rows
    ]


# --- read-only SQL ------------------------------------------------------------------------


def run_sql(
    path: str | Path,
    sql: str,
    params: Sequence[Any] | Mapping[str, Any] = (),
    *,
    max_rows: int = DEFAULT_MAX_ROWS,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> SqlResult:
    """Run one SQL statement on the archive file, read-only. Never writes.

    The file is opened with ``mode=ro`` and ``PRAGMA query_only=1``, and attaching other
    databases is disabled (``SQLITE_LIMIT_ATTACHED`` = 0), so any write is refused by SQLite
    itself whatever the statement looks like.
    :param max_rows: return at most this many rows (0: no cap); ``truncated`` says if more existed.
    :param timeout_seconds: interrupt the query after this long (0: no limit).
    :raises ArchiveError: ``sql: <SQLite's message>`` for a bad query, a refused write or the
        time limit.
    """
    if max_rows < 0:
        raise ValueError("max_rows must be 0 (no cap) or positive")
    file = Path(path)
    if not file.is_file():
        raise ArchiveError(f"{file}: no archive there (run a fetch or crawl first, or pass --db)")
    try:
        conn = sqlite3.connect(file.resolve().as_uri() + "?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise ArchiveError(f"{file}: cannot open the archive: {exc}") from exc
    try:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.execute("PRAGMA query_only = 1")
        if timeout_seconds > 0:
            deadline = time.monotonic() + timeout_seconds
            conn.set_progress_handler(lambda: int(time.monotonic() > deadline), _PROGRESS_STEPS)
        try:
            cursor = conn.execute(sql, params)
            columns = tuple(d[0] for d in cursor.description or ())
            if max_rows:
                rows = cursor.fetchmany(max_rows + 1)
                truncated = len(rows) > max_rows
                rows = rows[:max_rows]
            else:
                rows = cursor.fetchall()
                truncated = False
        except (sqlite3.Error, sqlite3.Warning) as exc:
            message = str(exc)
            if message == "interrupted" and timeout_seconds > 0:
                message = (
                    f"the query ran longer than {timeout_seconds:g} s"
                    " (raise it with --timeout, 0 for no limit)"
                )
            elif "readonly" in message:
                message += " (scraper sql is read-only)"
            raise ArchiveError(f"sql: {message}") from exc
        return SqlResult(columns=columns, rows=rows, truncated=truncated)
    finally:
        conn.close()


# --- rows for export ----------------------------------------------------------------------


def snapshot_records(
    archive: Archive, *, site: str | None = None, since: dt.datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Every snapshot as a JSON-ready dict, oldest first. Read-only: never writes.

    The dict holds the Article fields (from the stored metadata, overridden by the
    snapshot's columns) plus ``url`` (the page), ``snapshot_id``, ``page_id``, ``site``,
    ``fetched_at``, ``cause`` and ``content_hash``.
    """
    where, params = _filters("s.fetched_at", site, since)
    sql = f"""
        SELECT s.id, s.page_id, p.url, p.site, s.fetched_at, s.cause, s.content_hash,
               s.title, s.author, s.published, s.updated, s.language, s.description,
               s.site_name, s.canonical_url, s.word_count, s.text, s.markdown, s.metadata,
               s.raw_sha256, s.confidence
        FROM snapshots s JOIN pages p ON p.id = s.page_id
        WHERE {where}
        ORDER BY s.id
    """
    for r in _iterate(archive, sql, params):
        record: dict[str, Any] = {
            "url": r[2],
            "snapshot_id": r[0],
            "page_id": r[1],
            "site": r[3],
            "fetched_at": r[4],
            "cause": r[5],
            "content_hash": r[6],
        }
        meta = _json_object(r[18])
        meta.pop("url", None)
        record.update(meta)
        record.update(
            title=r[7],
            author=r[8],
            published=r[9],
            updated=r[10],
            language=r[11],
            description=r[12],
            site_name=r[13] if r[13] is not None else meta.get("site_name"),
            canonical_url=r[14] if r[14] is not None else meta.get("canonical_url"),
            word_count=r[15] if r[15] is not None else meta.get("word_count"),
            text=r[16],
            markdown=r[17] if r[17] is not None else meta.get("markdown", ""),
            raw_sha256=r[19],
            confidence=r[20],  # the column: null for snapshots stored before it existed
        )
        record.pop("extractor", None)
        yield record


def exchanges(
    archive: Archive, *, site: str | None = None, since: dt.datetime | None = None
) -> Iterator[Exchange]:
    """The fetches whose response headers were stored, oldest first. Read-only: never writes."""
    where, params = _filters("f.fetched_at", site, since)
    # an archive opened read-only is not migrated: one from before m007 has no such column
    ip_address = "f.ip_address" if _has_column(archive, "fetches", "ip_address") else "NULL"
    sql = f"""
        SELECT f.id, f.page_id, COALESCE(f.url, p.url), f.fetched_at, f.status_code,
               f.not_modified, f.raw_sha256, f.headers_sha256, f.request_sha256, {ip_address}
        FROM fetches f JOIN pages p ON p.id = f.page_id
        WHERE f.headers_sha256 IS NOT NULL AND {where}
        ORDER BY f.fetched_at, f.id
    """
    for r in _iterate(archive, sql, params):
        yield Exchange(
            fetch_id=r[0],
            page_id=r[1],
            url=r[2],
            fetched_at=r[3],
            status_code=r[4],
            not_modified=bool(r[5]),
            body_sha256=r[6],
            headers_sha256=r[7],
            request_sha256=r[8],
            ip_address=r[9],
        )


# --- helpers ------------------------------------------------------------------------------


def _json_object(text: str | None) -> dict[str, Any]:
    """The stored metadata JSON as a dict ({} when absent or not an object)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _filters(column: str, site: str | None, since: dt.datetime | None) -> tuple[str, list[Any]]:
    where = ["1 = 1"]
    params: list[Any] = []
    if site is not None:
        where.append("p.site = ?")
        params.append(site)
    if since is not None:
        where.append(f"{column} >= ?")
        params.append(iso_utc(since))
    return " AND ".join(where), params


def _select(archive: Archive, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return list(_iterate(archive, sql, params))


def _has_column(archive: Archive, table: str, column: str) -> bool:
    try:
        rows = archive.db.execute(f"PRAGMA table_info({table})").fetchall()
    except sqlite3.Error as exc:
        raise ArchiveError(f"{archive.path}: {exc}") from exc
    return any(row[1] == column for row in rows)


def _iterate(archive: Archive, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    try:
        cursor = archive.db.execute(sql, params)
        while batch := cursor.fetchmany(200):
            yield from batch
    except sqlite3.Error as exc:
        raise ArchiveError(f"{archive.path}: {exc}") from exc
