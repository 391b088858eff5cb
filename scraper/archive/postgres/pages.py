"""PostgreSQL archive, pages: what fetch, crawl and reextract write, and one page's reads.

The PageStore writes are the archive core's (:mod:`scraper.archive.sql.writes`, shared with
SQLite) in PostgreSQL's transaction; raw bodies are BYTEA. And the reads of one page: its
record, versions and their references, fetches, raw blobs, captures for re-extraction,
boilerplate. It never fetches or reads the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import zstandard

from scraper.admission import Known
from scraper.archive.postgres.base import PgConnection
from scraper.archive.records import Capture, ChangeRecord, FetchRecord, PageRecord
from scraper.archive.sql.rows import (
    SNAPSHOT_COLUMNS,
    parse_when,
    record_from_row,
    snapshot_from_row,
)
from scraper.archive.sql.versions import find_page_id, known_of
from scraper.archive.sql.writes import ArchiveWrites
from scraper.archive.sqlite.reads import PageReads as _SqliteReads
from scraper.models import Snapshot


class PgWrites(PgConnection, ArchiveWrites):
    """The page store's writes on PostgreSQL: the archive core's, in PostgreSQL's transaction."""


class PgPages(PgWrites):
    """One page's reads on PostgreSQL (and the writes, from :class:`PgWrites`)."""

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) from the page's last successful fetch, for a conditional GET."""
        rows = self._rows("SELECT etag, last_modified FROM pages WHERE url = %s", (url,))
        if not rows:
            return None, None
        return rows[0]["etag"], rows[0]["last_modified"]

    def known(self, url: str) -> Known:
        """What the admission gate needs to know of the page (nothing for an unknown page)."""
        with self.session() as db:
            page_id = find_page_id(db, url)
            return Known() if page_id is None else known_of(db, page_id)

    def page(self, url: str) -> PageRecord | None:
        """The page with this URL, or None."""
        rows = self._rows("SELECT * FROM pages WHERE url = %s", (url,))
        return record_from_row(PageRecord, rows[0]) if rows else None

    def snapshots(self, url: str) -> list[Snapshot]:
        """Every snapshot of the page, newest first (empty when the page is unknown)."""
        rows = self._rows(
            f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE p.url = %s ORDER BY s.id DESC",
            (url,),
        )
        return [snapshot_from_row(row) for row in rows]

    def snapshot_by_id(self, snapshot_id: int) -> Snapshot | None:
        """The snapshot with this id, or None."""
        rows = self._rows(
            f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE s.id = %s",
            (snapshot_id,),
        )
        return snapshot_from_row(rows[0]) if rows else None

    def snapshot_changes(self, url: str) -> dict[int, ChangeRecord]:
        """The change records of the page's snapshots, by snapshot id."""
        rows = self._rows(
            "SELECT c.* FROM changes c JOIN snapshots s ON s.id = c.snapshot_id "
            "JOIN pages p ON p.id = s.page_id WHERE p.url = %s",
            (url,),
        )
        return {int(row["snapshot_id"]): record_from_row(ChangeRecord, row) for row in rows}

    def fetches(self, url: str) -> list[FetchRecord]:
        """Every fetch of the page, newest first."""
        rows = self._rows(
            "SELECT f.* FROM fetches f JOIN pages p ON p.id = f.page_id WHERE p.url = %s "
            "ORDER BY f.id DESC",
            (url,),
        )
        return [record_from_row(FetchRecord, row) for row in rows]

    def raw(self, sha256: str) -> bytes:
        """The uncompressed raw blob with this sha256 (KeyError if absent)."""
        rows = self._rows("SELECT compression, data FROM raw WHERE sha256 = %s", (sha256,))
        if not rows:
            raise KeyError(sha256)
        data = bytes(rows[0]["data"])
        if rows[0]["compression"] == "zstd":
            return zstandard.ZstdDecompressor().decompress(data)
        return data

    def snapshot(self, url: str, ref: str | int) -> Snapshot:
        """The snapshot of ``url`` that ``ref`` names: an id, ``-1`` (latest), ``-2``..., or a
        date or datetime (the newest not after it); an unknown one is a UsageError."""
        return _SqliteReads.snapshot(self, url, ref)  # type: ignore[arg-type]

    def snapshot_at(self, url: str, when: str | date | datetime) -> Snapshot | None:
        """The newest snapshot of ``url`` fetched not after ``when`` (a bare date: its end)."""
        limit = parse_when(when)
        for snapshot in self.snapshots(url):  # newest first
            if parse_when(snapshot.fetched_at) <= limit:
                return snapshot
        return None

    _newest_not_after = staticmethod(_SqliteReads._newest_not_after)

    def latest_captures(self, site: str | None = None) -> Iterator[Capture]:
        """The newest stored capture of each page that has a snapshot (see the SQLite
        archive's ``latest_captures``); the pages are read first, so the caller may write
        while iterating."""
        site_clause = "" if site is None else "AND p.site = %s"
        rows = self._rows(
            f"""
            SELECT p.url, p.site, s.id AS snapshot_id,
                COALESCE(f.raw_sha256, s.raw_sha256) AS raw_sha256,
                COALESCE(f.fetched_at, s.fetched_at) AS fetched_at,
                f.charset, f.headers_sha256
            FROM pages p
            JOIN snapshots s ON s.id = (SELECT MAX(id) FROM snapshots WHERE page_id = p.id)
            LEFT JOIN fetches f ON f.id = (
                SELECT MAX(id) FROM fetches
                WHERE page_id = p.id AND raw_sha256 IS NOT NULL AND error IS NULL
                    AND (url IS NULL OR url = p.url)
            )
            WHERE COALESCE(f.raw_sha256, s.raw_sha256) IS NOT NULL {site_clause}
            ORDER BY p.id
            """,
            () if site is None else (site,),
        )
        for row in rows:
            yield Capture(
                url=row["url"],
                site=row["site"],
                snapshot_id=int(row["snapshot_id"]),
                body=self.raw(row["raw_sha256"]),
                raw_sha256=row["raw_sha256"],
                fetched_at=row["fetched_at"],
                charset=row["charset"],
                content_type=(
                    self._stored_content_type(row["headers_sha256"])
                    if row["charset"] is None
                    else None
                ),
            )

    def _stored_content_type(self, headers_sha256: str | None) -> str | None:
        return _SqliteReads._stored_content_type(self, headers_sha256)  # type: ignore[arg-type]

    def site_texts(self, site: str, *, limit: int = 200) -> list[str]:
        """The text of the latest snapshot of up to ``limit`` pages of ``site``, newest first."""
        rows = self._rows(
            """
            SELECT s.text FROM snapshots s JOIN pages p ON p.id = s.page_id
            WHERE p.site = %s AND s.id = (SELECT MAX(id) FROM snapshots WHERE page_id = p.id)
            ORDER BY s.id DESC LIMIT %s
            """,
            (site, limit),
        )
        return [row["text"] for row in rows]

    def boilerplate(self, site: str) -> frozenset[str]:
        """The learned boilerplate lines of a site."""
        rows = self._rows("SELECT line FROM boilerplate WHERE site = %s", (site,))
        return frozenset(row["line"] for row in rows)

    def boilerplate_learned_from(self, site: str) -> int | None:
        """How many pages the site's boilerplate was last learned from; None: never learned."""
        rows = self._rows("SELECT pages FROM boilerplate_sites WHERE site = %s", (site,))
        return int(rows[0]["pages"]) if rows else None

    def site_page_count(self, site: str) -> int:
        """How many pages of ``site`` have at least one snapshot."""
        rows = self._rows(
            "SELECT COUNT(DISTINCT s.page_id) AS n FROM snapshots s "
            "JOIN pages p ON p.id = s.page_id WHERE p.site = %s",
            (site,),
        )
        return int(rows[0]["n"])
