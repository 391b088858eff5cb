"""Archive core, questions: changes, export rows and the feed, once for both backends.

Read-only: nothing in this module writes. Both backends inherit :class:`ArchiveQuestions`;
each gives it ``_iterate`` (a read's rows as tuples, in batches, on a cursor of its own),
``_rows``, ``dialect`` and ``_has_column``. Full-text search is each backend's own (FTS5,
tsvector); what the user typed is split by the same patterns (:mod:`.searchterms`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from scraper.archive.records import Exchange, FeedEntry, PageChange
from scraper.archive.sql.dialect import Dialect
from scraper.archive.sql.rows import json_object
from scraper.models import iso_utc

if TYPE_CHECKING:
    import datetime as dt


def in_list(column: str, values: Sequence[Any]) -> str:
    """``column IN (?, ...)``; an empty list matches nothing (PostgreSQL has no ``IN ()``)."""
    if not values:
        return "1 = 0"
    return f"{column} IN ({', '.join('?' for _ in values)})"


class ArchiveQuestions:
    """Changes, export rows and the feed, on whichever backend gives ``_iterate``."""

    dialect: Dialect

    def _iterate(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of a read in the backend's placeholder style, in batches."""
        raise NotImplementedError

    def _has_column(self, table: str, column: str) -> bool:
        """Whether the table has the column (an archive opened read-only may predate it)."""
        raise NotImplementedError

    def _select(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        return self._iterate(self.dialect.sql(sql), tuple(params))

    def changes(
        self,
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
            for r in list(self._select(sql, params))
        ]

    def snapshot_records(
        self, *, site: str | None = None, since: dt.datetime | None = None
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
        for r in self._select(sql, params):
            record: dict[str, Any] = {
                "url": r[2],
                "snapshot_id": r[0],
                "page_id": r[1],
                "site": r[3],
                "fetched_at": r[4],
                "cause": r[5],
                "content_hash": r[6],
            }
            meta = json_object(r[18])
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
        self, *, site: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Exchange]:
        """The fetches whose response headers were stored, oldest first (for WARC). Read-only."""
        where, params = _filters("f.fetched_at", site, since)
        # an archive opened read-only is not migrated: one from before m007 has no such column
        ip_address = "f.ip_address" if self._has_column("fetches", "ip_address") else "NULL"
        sql = f"""
            SELECT f.id, f.page_id, COALESCE(f.url, p.url), f.fetched_at, f.status_code,
                   f.not_modified, f.raw_sha256, f.headers_sha256, f.request_sha256, {ip_address}
            FROM fetches f JOIN pages p ON p.id = f.page_id
            WHERE f.headers_sha256 IS NOT NULL AND {where}
            ORDER BY f.fetched_at, f.id
        """
        for r in self._select(sql, params):
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

    def feed_entries(
        self, sites: Sequence[str] | None, *, since: str | None, limit: int
    ) -> list[FeedEntry]:
        """The newest ``limit`` versions found by fetching (not re-extraction) of ``sites``
        (None: every page), newest first: snapshot id, previous id, url, site, fetched_at,
        title, kind."""
        sql = (
            "SELECT s.id, c.previous_id, p.url, p.site, s.fetched_at, s.title, c.kind "
            "FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "LEFT JOIN changes c ON c.snapshot_id = s.id WHERE s.cause = 'fetch'"
        )
        params: list[object] = []
        if sites is not None:
            sql += f" AND {in_list('p.site', sites)}"
            params.extend(sites)
        if since is not None:
            sql += " AND s.fetched_at >= ?"
            params.append(since)
        sql += " ORDER BY s.fetched_at DESC, s.id DESC LIMIT ?"
        params.append(limit)
        return [
            FeedEntry(
                snapshot_id=int(r[0]),
                previous_id=r[1],
                url=r[2],
                site=r[3],
                fetched_at=r[4],
                title=r[5],
                kind=r[6],
            )
            for r in list(self._select(sql, params))
        ]


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
