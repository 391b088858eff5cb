"""SQLite archive, versions: the SQL that reads and writes one page's snapshots and changes.

Shared by the writer (:mod:`.writes`) and the reader (:mod:`.reads`): find a page, judge
whether an article is a new version, insert a snapshot with its ``changes`` row, turn a row
into a :class:`~scraper.models.Snapshot`. Every function takes the connection (the caller's
transaction); none commits, reads the clock or fetches.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

from scraper.admission import Known, suspect_content
from scraper.diff import word_counts
from scraper.models import Article, Snapshot
from scraper.noise import NoiseRules, Verdict, Version, judge

_R = TypeVar("_R")

#: the metadata columns whose change a ``changes`` row flags
FLAGGED_FIELDS = ("title", "author", "published", "updated", "description")
#: the fields of an Article kept in ``snapshots.metadata`` (all but its text and Markdown)
_METADATA_FIELDS = tuple(
    f.name for f in dataclasses.fields(Article) if f.name not in ("text", "markdown")
)

SNAPSHOT_COLUMNS = (
    "s.id, s.page_id, p.url, s.fetched_at, s.content_hash, s.title, s.author, s.published, "
    "s.updated, s.language, s.description, s.text, s.markdown, s.metadata, s.raw_sha256, s.cause, "
    "s.confidence"
)


def parse_when(value: str | date | datetime) -> datetime:
    """A date or datetime as an aware UTC datetime; a bare date means the end of that day."""
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: date | datetime = (
                date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
            )
        except ValueError as exc:
            raise ValueError(f"not a date or datetime: {value!r}") from exc
    else:
        parsed = value
    if not isinstance(parsed, datetime):
        parsed = datetime.combine(parsed, time.max)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def find_page_id(conn: sqlite3.Connection, url: str) -> int | None:
    """The id of the page with this URL, or None."""
    row = conn.execute("SELECT id FROM pages WHERE url = ?", (url,)).fetchone()
    return None if row is None else int(row[0])


def write_snapshot(
    conn: sqlite3.Connection,
    page_id: int,
    article: Article,
    *,
    fetched_at: str,
    raw_sha256: str | None,
    cause: str,
    change_kind: str | None = None,
) -> int | None:
    """Insert a snapshot and its ``changes`` row unless the content hash is the latest's."""
    content_hash = article.content_hash()
    previous = conn.execute(
        "SELECT id, content_hash, text, title, author, published, updated, description "
        "FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    if previous is not None and previous[1] == content_hash:
        return None
    # Article.to_dict() less text and Markdown, without copying them first (asdict copies
    # every field deeply): the same JSON
    metadata = {name: getattr(article, name) for name in _METADATA_FIELDS}
    metadata["authors"] = list(article.authors)
    metadata["tags"] = list(article.tags)
    cursor = conn.execute(
        """
        INSERT INTO snapshots (page_id, fetched_at, content_hash, title, author, published,
            updated, language, description, site_name, canonical_url, word_count, text,
            markdown, metadata, raw_sha256, extractor_version, cause, confidence)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (
            page_id,
            fetched_at,
            content_hash,
            article.title,
            article.author,
            article.published,
            article.updated,
            article.language,
            article.description,
            article.site_name,
            article.canonical_url,
            article.word_count,
            article.text,
            article.markdown,
            json.dumps(metadata, ensure_ascii=False, sort_keys=True),
            raw_sha256,
            json.dumps(article.extractor, sort_keys=True),
            cause,
            article.confidence,
        ),
    )
    snapshot_id = int(cursor.lastrowid or 0)
    if previous is None:
        insert_change(conn, snapshot_id, None, "", article.text, (), (), cause, change_kind)
    else:
        new_values = tuple(getattr(article, name) for name in FLAGGED_FIELDS)
        insert_change(
            conn,
            snapshot_id,
            previous[0],
            previous[2],
            article.text,
            previous[3:],
            new_values,
            cause,
            change_kind,
        )
    return snapshot_id


def judge_change(
    conn: sqlite3.Connection, page_id: int, article: Article, rules: NoiseRules | None
) -> Verdict:
    """Is ``article`` a new version of the page? (scraper.noise, against its last few)."""
    latest = conn.execute(
        "SELECT content_hash FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    if latest is not None and latest[0] == article.content_hash():
        return Verdict("unchanged")
    limit = (rules or NoiseRules()).compared_versions
    recent = [
        Version(int(r[0]), r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT id, title, author, text FROM snapshots WHERE page_id = ? "
            "ORDER BY id DESC LIMIT ?",
            (page_id, limit),
        )
    ]
    return judge(Version(None, article.title, article.author, article.text), recent, rules)


def known_of(conn: sqlite3.Connection, page_id: int) -> Known:
    """What the admission gate needs to know of the page with this id."""
    latest = conn.execute(
        "SELECT title, text, confidence, content_hash "
        "FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    suspect = conn.execute(
        "SELECT error FROM fetches WHERE page_id = ? AND error LIKE 'suspect:%' AND id > "
        "COALESCE((SELECT MAX(id) FROM fetches WHERE page_id = ? AND snapshot_id IS NOT NULL"
        "), 0) ORDER BY id DESC LIMIT 1",
        (page_id, page_id),
    ).fetchone()
    tag = suspect_content(suspect[0]) if suspect else None
    if latest is None:
        return Known(suspect_content=tag)
    confidence = latest[2] if isinstance(latest[2], int | float) else 0.0
    return Known(
        title=latest[0],
        text=latest[1] or "",
        confidence=float(confidence),
        suspect_content=tag,
        content_hash=latest[3],
    )


def snapshot_from_row(row: dict[str, Any]) -> Snapshot:
    return Snapshot(
        id=int(row["id"]),
        page_id=int(row["page_id"]),
        url=row["url"],
        fetched_at=row["fetched_at"],
        content_hash=row["content_hash"],
        title=row["title"],
        author=row["author"],
        published=row["published"],
        updated=row["updated"],
        language=row["language"],
        description=row["description"],
        text=row["text"],
        markdown=row["markdown"] or "",
        metadata=json.loads(row["metadata"]) if row["metadata"] else {},
        raw_sha256=row["raw_sha256"],
        cause=row["cause"],
        confidence=row["confidence"],
    )


def insert_change(
    conn: sqlite3.Connection,
    snapshot_id: int,
    previous_id: int | None,
    old_text: str,
    new_text: str,
    old_values: tuple[Any, ...],
    new_values: tuple[Any, ...],
    cause: str,
    kind: str | None = None,
) -> None:
    """The ``changes`` row of a snapshot against the one before it (none: every word added)."""
    added, removed = word_counts(old_text, new_text)
    flags = [int(a != b) for a, b in zip(old_values, new_values, strict=True)] or [0] * len(
        FLAGGED_FIELDS
    )
    conn.execute(
        """
        INSERT OR REPLACE INTO changes (snapshot_id, previous_id, words_added, words_removed,
            title_changed, author_changed, published_changed, updated_changed,
            description_changed, cause, kind)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (snapshot_id, previous_id, added, removed, *flags, cause, kind),
    )


def record_from_row(cls: type[_R], row: Mapping[str, Any]) -> _R:
    """A record dataclass from a row's columns of the same names.

    Columns the record does not name are left out; a field whose column the row lacks (an
    archive opened read-only before a migration added it) keeps its default. SQLite's 0/1
    become ``bool`` where the field is one.
    """
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        if field.name not in row:
            continue
        value = row[field.name]
        if value is None and field.default not in (dataclasses.MISSING, None):
            continue  # NULL in a column whose record has a non-NULL default (runs.sites)
        if field.type in ("bool", bool) and value is not None:
            value = bool(value)
        elif field.type == "tuple[str, ...]" and isinstance(value, str):
            value = tuple(json.loads(value))
        values[field.name] = value
    return cls(**values)
