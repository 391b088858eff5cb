"""Archive core, notification queue: ``notify_queue``, ``notify_cursor`` and the questions that
fill it (which of a site's snapshots are edits not yet queued, which pages are gone), once.

scraper.notify composes and sends the messages. Rows are queued in one transaction with the
cursor that says they are queued, so a change is queued exactly once; a row stays unsent until
a send succeeds. Both backends inherit :class:`ArchiveNotifyQueue`; each gives it ``_rows``,
``session`` and ``dialect``. It never reads the clock (times are arguments), never sends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any

from scraper.archive.records import Edit, Gone, Queued
from scraper.archive.sql.dialect import Db, Dialect
from scraper.archive.sql.questions import in_list

#: the statuses that say a page is gone
GONE_STATUSES = (404, 410)

_QUEUE_COLUMNS = (
    "event_key",
    "target",
    "kind",
    "site",
    "url",
    "snapshot_id",
    "previous_id",
    "title",
    "body",
    "digest",
    "queued_at",
)


class ArchiveNotifyQueue:
    """The notification queue, on whichever backend gives ``_rows`` and ``session``."""

    dialect: Dialect

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of a query in the backend's placeholder style, as dicts."""
        raise NotImplementedError

    def session(self) -> AbstractContextManager[Db]:
        """One write transaction of the backend (a savepoint inside an open one)."""
        raise NotImplementedError

    def _queue_rows(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._rows(self.dialect.sql(sql), tuple(params))

    def site_cursor(self, site: str) -> int | None:
        """The id up to which the site's snapshots are queued (None: never queued)."""
        rows = self._queue_rows("SELECT snapshot_id FROM notify_cursor WHERE site = ?", (site,))
        return int(rows[0]["snapshot_id"]) if rows else None

    def edits_since(
        self, site: str | None, *, after_id: int | None, fetched_since: str
    ) -> list[Edit]:
        """The site's snapshots that are edits (``changes.kind = 'edit'``), by id: those after
        ``after_id``, or (no cursor yet) those fetched at or after ``fetched_since``. ``site``
        None: one-off fetches of pages without a site."""
        where = "s.id > ?" if after_id is not None else "s.fetched_at >= ?"
        rows = self._queue_rows(
            "SELECT s.id, c.previous_id, p.url FROM snapshots s "
            "JOIN pages p ON p.id = s.page_id JOIN changes c ON c.snapshot_id = s.id "
            f"WHERE p.site {self.dialect.same_as} ? AND {where} AND c.kind = 'edit' "
            "AND c.previous_id IS NOT NULL AND s.cause = 'fetch' ORDER BY s.id",
            (site, after_id if after_id is not None else fetched_since),
        )
        return [Edit(int(r["id"]), int(r["previous_id"]), r["url"]) for r in rows]

    def latest_snapshot_id(self, site: str | None) -> int:
        """The site's newest snapshot id (0: none)."""
        rows = self._queue_rows(
            "SELECT MAX(s.id) AS n FROM snapshots s JOIN pages p ON p.id = s.page_id "
            f"WHERE p.site {self.dialect.same_as} ?",
            (site,),
        )
        return int(rows[0]["n"] or 0)

    def gone_pages(self, site: str | None, urls: Sequence[str] | None = None) -> list[Gone]:
        """The site's pages (or only ``urls``) with versions whose last two fetches answered
        404/410."""
        sql = (
            "SELECT p.id, p.url, p.last_status, "
            "(SELECT MAX(id) FROM snapshots WHERE page_id = p.id) AS snap FROM pages p "
            f"WHERE p.site {self.dialect.same_as} ? "
            f"AND {in_list('p.last_status', GONE_STATUSES)} "
            "AND EXISTS (SELECT 1 FROM snapshots s WHERE s.page_id = p.id)"
        )
        params: list[object] = [site, *GONE_STATUSES]
        if urls is not None:
            sql += f" AND {in_list('p.url', urls)}"
            params.extend(urls)
        found = []
        for row in self._queue_rows(sql, params):
            last = self._queue_rows(
                "SELECT id, status_code FROM fetches WHERE page_id = ? ORDER BY id DESC LIMIT 2",
                (row["id"],),
            )
            if len(last) < 2 or any(f["status_code"] not in GONE_STATUSES for f in last):
                continue
            start = self._queue_rows(
                "SELECT MIN(id) AS n FROM fetches WHERE page_id = ? AND id > COALESCE((SELECT "
                "MAX(id) FROM fetches WHERE page_id = ? AND (status_code IS NULL OR NOT "
                f"{in_list('status_code', GONE_STATUSES)})), 0)",
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

    def queue_notifications(
        self,
        messages: Iterable[Queued],
        *,
        queued_at: str,
        cursors: dict[str, int] | None = None,
    ) -> int:
        """Queue ``messages`` (an event already queued for a target is skipped) and move the
        sites' cursors, in one transaction; returns how many rows were added."""
        added = 0
        with self.session() as db:
            insert = db.dialect.insert_ignore("notify_queue", _QUEUE_COLUMNS, "event_key, target")
            for m in messages:
                added += db.run(
                    insert,
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
            for site, snapshot_id in (cursors or {}).items():
                db.run(
                    "INSERT INTO notify_cursor (site, snapshot_id) VALUES (?, ?) "
                    "ON CONFLICT (site) DO UPDATE SET snapshot_id = "
                    f"{db.dialect.greatest}(notify_cursor.snapshot_id, excluded.snapshot_id)",
                    (site, snapshot_id),
                )
        return added

    def unsent(self, targets: Sequence[str] | None = None) -> list[Queued]:
        """The queued messages not sent yet (only to ``targets`` when given), oldest first."""
        sql = "SELECT * FROM notify_queue WHERE sent_at IS NULL"
        params: tuple[object, ...] = ()
        if targets is not None:
            sql += f" AND {in_list('target', targets)}"
            params = tuple(targets)
        return [_queued(r) for r in self._queue_rows(sql + " ORDER BY id", params)]

    def mark_sent(self, ids: Sequence[int], *, sent_at: str, attempts: int) -> None:
        """Mark queued messages sent."""
        with self.session() as db:
            db.run_many(
                "UPDATE notify_queue SET sent_at = ?, attempts = attempts + ?, last_error = NULL "
                "WHERE id = ?",
                [(sent_at, attempts, i) for i in ids],
            )

    def mark_failed(self, ids: Sequence[int], *, error: str, attempts: int) -> None:
        """Count a failed send of queued messages, keeping them unsent."""
        with self.session() as db:
            db.run_many(
                "UPDATE notify_queue SET attempts = attempts + ?, last_error = ? WHERE id = ?",
                [(attempts, error, i) for i in ids],
            )


def _queued(row: Mapping[str, Any]) -> Queued:
    return Queued(
        event_key=str(row["event_key"]),
        target=str(row["target"]),
        kind=str(row["kind"]),
        title=str(row["title"]),
        body=str(row["body"]),
        site=row["site"],
        url=row["url"],
        snapshot_id=row["snapshot_id"],
        previous_id=row["previous_id"],
        digest=bool(row["digest"]),
        id=int(row["id"]),
        attempts=int(row["attempts"]),
        last_error=row["last_error"],
        sent_at=row["sent_at"],
    )
