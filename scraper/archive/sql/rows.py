"""Archive core, rows: rows read from either backend into records and snapshots; pure.

The snapshot columns every snapshot read selects, the metadata fields a ``changes`` row flags,
dates as the reads take them, and the row-to-record conversions. No SQL runs here.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

from scraper.archive.records import DuePage, SearchHit
from scraper.models import Snapshot

_R = TypeVar("_R")

#: the metadata columns whose change a ``changes`` row flags
FLAGGED_FIELDS = ("title", "author", "published", "updated", "description")

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


def snapshot_from_row(row: Mapping[str, Any]) -> Snapshot:
    """A snapshot from a row of :data:`SNAPSHOT_COLUMNS`."""
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


def json_object(text: str | None) -> dict[str, Any]:
    """The stored metadata JSON as a dict ({} when absent or not an object)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def search_hit(row: Sequence[Any]) -> SearchHit:
    """A search hit from a row of (snapshot id, page id, url, site, fetched_at, title, snippet,
    rank, latest), as both backends' searches select them."""
    return SearchHit(
        snapshot_id=row[0],
        page_id=row[1],
        url=row[2],
        site=row[3],
        fetched_at=row[4],
        title=row[5],
        snippet=row[6] or "",
        rank=float(row[7]),
        latest=bool(row[8]),
    )


#: the columns of ``pages`` a claim selects, in the order :func:`due_page` reads them
DUE_COLUMNS = (
    "id, url, site, host, depth, next_fetch_at, lastmod, revisit_seconds, "
    "unchanged_count, failures, last_fetched, etag, last_modified"
)


def due_page(row: Sequence[Any]) -> DuePage:
    """A claimed page from a row of :data:`DUE_COLUMNS`."""
    return DuePage(
        id=row[0],
        url=row[1],
        site=row[2],
        host=row[3],
        depth=row[4],
        next_fetch_at=row[5],
        lastmod=row[6],
        revisit_seconds=row[7],
        unchanged_count=row[8],
        failures=row[9],
        fetched=row[10] is not None,
        etag=row[11],
        last_modified=row[12],
    )
