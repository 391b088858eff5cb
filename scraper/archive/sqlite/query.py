"""Query: SQLite's own read-only questions: full-text search (FTS5) and ad-hoc SQL.

Changes and export rows are the archive core's (:mod:`scraper.archive.sql.questions`).
Nothing in this module writes. Every function only reads: the ones that take an ``Archive``
run SELECTs on its connection, and :func:`run_sql` opens its own connection with SQLite's
``mode=ro`` and ``PRAGMA query_only``, so a write is refused by SQLite itself. sqlite3 errors
are translated here into :class:`~scraper.errors.ArchiveError`; they never leave this package.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.archive.records import PageChange, SearchHit, SqlResult
from scraper.archive.sql.rows import search_hit
from scraper.archive.sql.searchterms import HANGUL, QUERY_TOKEN, WORD
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
    """The pages whose content changed, newest first (the archive core's
    :meth:`~scraper.archive.sql.questions.ArchiveQuestions.changes`). Read-only."""
    return archive.changes(since=since, site=site, limit=limit)


# --- full-text search ---------------------------------------------------------------------


def fts_query(text: str) -> str:
    """An FTS5 MATCH expression for what a user typed; never an FTS5 syntax error.

    Every word is quoted, so punctuation and FTS5 keywords in the text are taken literally;
    ``"two words"`` is a phrase; ``word*`` is a prefix search; ``OR`` between two terms is
    kept as the operator; the terms are otherwise all required (AND). A Korean word is
    searched as a prefix, because particles attach to it (``서울`` finds ``서울에서``).
    """
    terms: list[str] = []
    for match in QUERY_TOKEN.finditer(text):
        phrase, word = match.group(1), match.group(2)
        if phrase is not None:
            if WORD.search(phrase):
                terms.append(_quote(phrase))
            continue
        assert word is not None
        if word == "OR":
            if terms and terms[-1] != "OR":
                terms.append("OR")
            continue
        prefix = word.endswith("*")
        word = word.rstrip("*")
        if not WORD.search(word):
            continue
        if HANGUL.match(word):
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
    return [search_hit(r) for r in rows]


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


# --- helpers ------------------------------------------------------------------------------


def _select(archive: Archive, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    return list(archive._iterate(sql, params))
