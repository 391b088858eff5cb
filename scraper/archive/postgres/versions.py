"""PostgreSQL archive, versions: the SQL of one page's snapshots and changes (as SQLite's).

Find a page, judge whether an article is a new version (scraper.noise against the last few),
insert a snapshot with its ``changes`` row, what the admission gate knows of a page. Every
function takes the connection inside the caller's transaction; none commits or reads the clock.
The row-to-record helpers that hold no SQL are the SQLite archive's (one definition).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from scraper.admission import Known, suspect_content
from scraper.archive.sqlite.versions import FLAGGED_FIELDS
from scraper.diff import word_counts
from scraper.models import Article
from scraper.noise import NoiseRules, Verdict, Version, judge

if TYPE_CHECKING:
    import psycopg


def find_page_id(conn: psycopg.Connection, url: str) -> int | None:
    """The id of the page with this URL, or None."""
    row = conn.execute("SELECT id FROM pages WHERE url = %s", (url,)).fetchone()
    return None if row is None else int(row[0])


def write_snapshot(
    conn: psycopg.Connection,
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
        "FROM snapshots WHERE page_id = %s ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    if previous is not None and previous[1] == content_hash:
        return None
    metadata = article.to_dict()
    del metadata["text"], metadata["markdown"]
    row = conn.execute(
        """
        INSERT INTO snapshots (page_id, fetched_at, content_hash, title, author, published,
            updated, language, description, site_name, canonical_url, word_count, text,
            markdown, metadata, raw_sha256, extractor_version, cause, confidence)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        RETURNING id
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
    ).fetchone()
    snapshot_id = int(row[0]) if row else 0
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
            tuple(previous[3:]),
            new_values,
            cause,
            change_kind,
        )
    return snapshot_id


def judge_change(
    conn: psycopg.Connection, page_id: int, article: Article, rules: NoiseRules | None
) -> Verdict:
    """Is ``article`` a new version of the page? (scraper.noise, against its last few)."""
    latest = conn.execute(
        "SELECT content_hash FROM snapshots WHERE page_id = %s ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    if latest is not None and latest[0] == article.content_hash():
        return Verdict("unchanged")
    limit = (rules or NoiseRules()).compared_versions
    recent = [
        Version(int(r[0]), r[1], r[2], r[3])
        for r in conn.execute(
            "SELECT id, title, author, text FROM snapshots WHERE page_id = %s "
            "ORDER BY id DESC LIMIT %s",
            (page_id, limit),
        )
    ]
    return judge(Version(None, article.title, article.author, article.text), recent, rules)


def known_of(conn: psycopg.Connection, page_id: int) -> Known:
    """What the admission gate needs to know of the page with this id."""
    latest = conn.execute(
        "SELECT title, text, confidence, content_hash "
        "FROM snapshots WHERE page_id = %s ORDER BY id DESC LIMIT 1",
        (page_id,),
    ).fetchone()
    suspect = conn.execute(
        "SELECT error FROM fetches WHERE page_id = %s AND error LIKE 'suspect:%%' AND id > "
        "COALESCE((SELECT MAX(id) FROM fetches WHERE page_id = %s AND snapshot_id IS NOT NULL"
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


def insert_change(
    conn: psycopg.Connection,
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
        INSERT INTO changes (snapshot_id, previous_id, words_added, words_removed,
            title_changed, author_changed, published_changed, updated_changed,
            description_changed, cause, kind)
        VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
        ON CONFLICT (snapshot_id) DO UPDATE SET previous_id = EXCLUDED.previous_id,
            words_added = EXCLUDED.words_added, words_removed = EXCLUDED.words_removed,
            title_changed = EXCLUDED.title_changed, author_changed = EXCLUDED.author_changed,
            published_changed = EXCLUDED.published_changed,
            updated_changed = EXCLUDED.updated_changed,
            description_changed = EXCLUDED.description_changed, cause = EXCLUDED.cause,
            kind = EXCLUDED.kind
        """,
        (snapshot_id, previous_id, added, removed, *flags, cause, kind),
    )
