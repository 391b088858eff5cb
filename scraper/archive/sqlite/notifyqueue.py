"""Archive: the notification queue (``notify_queue``, ``notify_cursor``) and the questions that
fill it: which of a site's snapshots are edits not yet queued, which pages are gone.

Every SQL statement that change monitoring needs lives here; scraper.notify composes and sends
the messages. Rows are queued in one transaction with the cursor that says they are queued, so
a change is queued exactly once; a row stays unsent until a send succeeds. It never reads the
clock (times are arguments) and never sends anything.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from scraper.archive.records import Edit, FeedEntry, Gone, Queued

if TYPE_CHECKING:
    from scraper.archive.sqlite.store import Archive

#: the statuses that say a page is gone
GONE_STATUSES = (404, 410)


def site_cursor(archive: Archive, site: str) -> int | None:
    """The id up to which the site's snapshots are queued (None: never queued)."""
    rows = archive._rows("SELECT snapshot_id FROM notify_cursor WHERE site = ?", (site,))
    return int(rows[0]["snapshot_id"]) if rows else None


def edits_since(
    archive: Archive, site: str | None, *, after_id: int | None, fetched_since: str
) -> list[Edit]:
    """The site's snapshots that are edits (``changes.kind = 'edit'``), by id: those after
    ``after_id``, or (no cursor yet) those fetched at or after ``fetched_since``. ``site``
    None: one-off fetches of pages without a site."""
    where = "s.id > ?" if after_id is not None else "s.fetched_at >= ?"
    rows = archive._rows(
        "SELECT s.id, c.previous_id, p.url FROM snapshots s JOIN pages p ON p.id = s.page_id "
        "JOIN changes c ON c.snapshot_id = s.id "
        f"WHERE p.site IS ? AND {where} AND c.kind = 'edit' AND c.previous_id IS NOT NULL "
        "AND s.cause = 'fetch' ORDER BY s.id",
        (site, after_id if after_id is not None else fetched_since),
    )
    return [Edit(int(r["id"]), int(r["previous_id"]), r["url"]) for r in rows]


def latest_snapshot_id(archive: Archive, site: str | None) -> int:
    """The site's newest snapshot id (0: none)."""
    rows = archive._rows(
        "SELECT MAX(s.id) AS n FROM snapshots s JOIN pages p ON p.id = s.page_id WHERE p.site IS ?",
        (site,),
    )
    return int(rows[0]["n"] or 0)


def gone_pages(archive: Archive, site: str | None, urls: Sequence[str] | None = None) -> list[Gone]:
    """The site's pages (or only ``urls``) with versions whose last two fetches answered
    404/410."""
    marks = ", ".join("?" for _ in GONE_STATUSES)
    sql = (
        "SELECT p.id, p.url, p.last_status, (SELECT MAX(id) FROM snapshots WHERE page_id = p.id) "
        f"AS snap FROM pages p WHERE p.site IS ? AND p.last_status IN ({marks}) "
        "AND EXISTS (SELECT 1 FROM snapshots s WHERE s.page_id = p.id)"
    )
    params: list[object] = [site, *GONE_STATUSES]
    if urls is not None:
        sql += f" AND p.url IN ({', '.join('?' for _ in urls)})"
        params.extend(urls)
    found = []
    for row in archive._rows(sql, tuple(params)):
        last = archive._rows(
            "SELECT id, status_code FROM fetches WHERE page_id = ? ORDER BY id DESC LIMIT 2",
            (row["id"],),
        )
        if len(last) < 2 or any(f["status_code"] not in GONE_STATUSES for f in last):
            continue
        start = archive._rows(
            f"SELECT MIN(id) AS n FROM fetches WHERE page_id = ? AND id > COALESCE((SELECT "
            f"MAX(id) FROM fetches WHERE page_id = ? AND (status_code IS NULL OR status_code "
            f"NOT IN ({marks}))), 0)",
            (row["id"], row["id"], *GONE_STATUSES),
        )
        found.append(
            Gone(
                int(row["id"]),
                row["url"],
                int(start[0]["n"]),
                int(row["last_status"]),
                int(row["snap"]),
            )
        )
    return found


def enqueue(
    archive: Archive,
    messages: Iterable[Queued],
    *,
    queued_at: str,
    cursors: dict[str, int] | None = None,
) -> int:
    """Queue ``messages`` (an event already queued for a target is skipped) and move the sites'
    cursors, in one transaction; returns how many rows were added."""
    added = 0
    with archive.transaction() as conn:
        for m in messages:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO notify_queue (event_key, target, kind, site, url, "
                "snapshot_id, previous_id, title, body, digest, queued_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    m.event_key,
                    m.target,
                    m.kind,
                    m.site,
                    m.url,
                    m.snapshot_id,
                    m.previous_id,
                    m.title,
                    m.body,
                    int(m.digest),
                    queued_at,
                ),
            )
            added += cursor.rowcount
        for site, snapshot_id in (cursors or {}).items():
            conn.execute(
                "INSERT INTO notify_cursor (site, snapshot_id) VALUES (?, ?) "
                "ON CONFLICT (site) DO UPDATE SET "
                "snapshot_id = MAX(snapshot_id, excluded.snapshot_id)",
                (site, snapshot_id),
            )
    return added


def unsent(archive: Archive, targets: Sequence[str] | None = None) -> list[Queued]:
    """The queued messages not sent yet (only to ``targets`` when given), oldest first."""
    sql = "SELECT * FROM notify_queue WHERE sent_at IS NULL"
    params: tuple[object, ...] = ()
    if targets is not None:
        sql += f" AND target IN ({', '.join('?' for _ in targets)})"
        params = tuple(targets)
    return [_queued(r) for r in archive._rows(sql + " ORDER BY id", params)]


def mark_sent(archive: Archive, ids: Sequence[int], *, sent_at: str, attempts: int) -> None:
    with archive.transaction() as conn:
        conn.executemany(
            "UPDATE notify_queue SET sent_at = ?, attempts = attempts + ?, last_error = NULL "
            "WHERE id = ?",
            [(sent_at, attempts, i) for i in ids],
        )


def mark_failed(archive: Archive, ids: Sequence[int], *, error: str, attempts: int) -> None:
    with archive.transaction() as conn:
        conn.executemany(
            "UPDATE notify_queue SET attempts = attempts + ?, last_error = ? WHERE id = ?",
            [(attempts, error, i) for i in ids],
        )


def _queued(row: dict[str, object]) -> Queued:
    return Queued(
        event_key=str(row["event_key"]),
        target=str(row["target"]),
        kind=str(row["kind"]),
        title=str(row["title"]),
        body=str(row["body"]),
        site=row["site"],  # type: ignore[arg-type]
        url=row["url"],  # type: ignore[arg-type]
        snapshot_id=row["snapshot_id"],  # type: ignore[arg-type]
        previous_id=row["previous_id"],  # type: ignore[arg-type]
        digest=bool(row["digest"]),
        id=int(row["id"]),  # type: ignore[call-overload]
        attempts=int(row["attempts"]),  # type: ignore[call-overload]
        last_error=row["last_error"],  # type: ignore[arg-type]
        sent_at=row["sent_at"],  # type: ignore[arg-type]
    )


def feed_entries(
    archive: Archive, sites: Sequence[str] | None, *, since: str | None, limit: int
) -> list[FeedEntry]:
    """The newest ``limit`` versions found by fetching (not re-extraction) of ``sites`` (None:
    every page), newest first: snapshot id, previous id, url, site, fetched_at, title, kind."""
    sql = (
        "SELECT s.id, c.previous_id, p.url, p.site, s.fetched_at, s.title, c.kind "
        "FROM snapshots s JOIN pages p ON p.id = s.page_id "
        "LEFT JOIN changes c ON c.snapshot_id = s.id WHERE s.cause = 'fetch'"
    )
    params: list[object] = []
    if sites is not None:
        sql += f" AND p.site IN ({', '.join('?' for _ in sites)})"
        params.extend(sites)
    if since is not None:
        sql += " AND s.fetched_at >= ?"
        params.append(since)
    sql += " ORDER BY s.fetched_at DESC, s.id DESC LIMIT ?"
    params.append(limit)
    return [
        FeedEntry(
            snapshot_id=int(r["id"]),
            previous_id=r["previous_id"],
            url=r["url"],
            site=r["site"],
            fetched_at=r["fetched_at"],
            title=r["title"],
            kind=r["kind"],
        )
        for r in archive._rows(sql, tuple(params))
    ]
