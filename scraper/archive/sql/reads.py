"""Archive core, reads: one page's versions, fetches and raw captures; boilerplate; once.

Both backends inherit :class:`ArchiveReads`; each gives it ``_rows`` (a query's rows as
mappings), ``dialect`` and ``reading`` (a :class:`~.dialect.Db` to read with). Nothing here
writes. Rows become records (:mod:`scraper.archive.records`) or snapshots
(:class:`~scraper.models.Snapshot`) before they leave.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import Any

import zstandard

from scraper.admission import Known
from scraper.archive.records import Capture, ChangeRecord, FetchRecord, PageRecord
from scraper.archive.sql.dialect import Db, Dialect
from scraper.archive.sql.rows import (
    SNAPSHOT_COLUMNS,
    parse_when,
    record_from_row,
    snapshot_from_row,
)
from scraper.archive.sql.versions import find_page_id, known_of
from scraper.errors import UsageError
from scraper.models import Snapshot


class ArchiveReads:
    """The reading half of an archive, on whichever backend gives ``_rows`` and ``reading``."""

    dialect: Dialect

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows of a query in the backend's placeholder style, as dicts."""
        raise NotImplementedError

    def reading(self) -> AbstractContextManager[Db]:
        """A :class:`Db` to read with (errors translated to ArchiveError)."""
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return self._rows(self.dialect.sql(sql), tuple(params))

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) from the page's last successful fetch, for a conditional GET."""
        rows = self._read("SELECT etag, last_modified FROM pages WHERE url = ?", (url,))
        if not rows:
            return None, None
        return rows[0]["etag"], rows[0]["last_modified"]

    # --- admission -----------------------------------------------------------------------
    def known(self, url: str) -> Known:
        """What the admission gate needs to know of the page (nothing for an unknown page)."""
        with self.reading() as db:
            page_id = find_page_id(db, url)
            return Known() if page_id is None else known_of(db, page_id)

    # --- reading -------------------------------------------------------------------------
    def page(self, url: str) -> PageRecord | None:
        """The page with this URL, or None."""
        rows = self._read("SELECT * FROM pages WHERE url = ?", (url,))
        return record_from_row(PageRecord, rows[0]) if rows else None

    def snapshots(self, url: str) -> list[Snapshot]:
        """Every snapshot of the page, newest first (empty when the page is unknown)."""
        rows = self._read(
            f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE p.url = ? ORDER BY s.id DESC",
            (url,),
        )
        return [snapshot_from_row(row) for row in rows]

    def snapshot_by_id(self, snapshot_id: int) -> Snapshot | None:
        """The snapshot with this id, or None."""
        rows = self._read(
            f"SELECT {SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE s.id = ?",
            (snapshot_id,),
        )
        return snapshot_from_row(rows[0]) if rows else None

    def snapshot_changes(self, url: str) -> dict[int, ChangeRecord]:
        """The change records of the page's snapshots, by snapshot id."""
        rows = self._read(
            "SELECT c.* FROM changes c JOIN snapshots s ON s.id = c.snapshot_id "
            "JOIN pages p ON p.id = s.page_id WHERE p.url = ?",
            (url,),
        )
        return {int(row["snapshot_id"]): record_from_row(ChangeRecord, row) for row in rows}

    def fetches(self, url: str) -> list[FetchRecord]:
        """Every fetch of the page, newest first."""
        rows = self._read(
            "SELECT f.* FROM fetches f JOIN pages p ON p.id = f.page_id WHERE p.url = ? "
            "ORDER BY f.id DESC",
            (url,),
        )
        return [record_from_row(FetchRecord, row) for row in rows]

    def raw(self, sha256: str) -> bytes:
        """The uncompressed raw blob with this sha256 (KeyError if absent)."""
        rows = self._read("SELECT compression, data FROM raw WHERE sha256 = ?", (sha256,))
        if not rows:
            raise KeyError(sha256)
        data = bytes(rows[0]["data"])
        if rows[0]["compression"] == "zstd":
            return zstandard.ZstdDecompressor().decompress(data)
        return data

    def snapshot(self, url: str, ref: str | int) -> Snapshot:
        """The snapshot of ``url`` that ``ref`` names.

        ``ref`` is a snapshot id (``42``), a relative reference (``-1`` the latest, ``-2`` the
        one before...), or a date or datetime (``2024-05-01``, ``2024-05-01T12:00:00Z``): the
        newest snapshot fetched not after it (a bare date counts to the end of that day, UTC).
        An unknown reference is a :class:`UsageError` saying what exists.
        """
        snapshots = self.snapshots(url)
        if not snapshots:
            raise UsageError(f"{url}: no snapshots in the archive")
        text = str(ref).strip()
        if text.lstrip("-").isdigit():
            number = int(text)
            if number < 0:
                if -number > len(snapshots):
                    raise UsageError(
                        f"{url}: no snapshot {number}: the page has {len(snapshots)} "
                        f"snapshot{'s' if len(snapshots) != 1 else ''}"
                    )
                return snapshots[-number - 1]
            for snapshot in snapshots:
                if snapshot.id == number:
                    return snapshot
            ids = ", ".join(str(s.id) for s in snapshots)
            raise UsageError(f"{url}: no snapshot with id {number} (its snapshots: {ids})")
        try:
            found = self._newest_not_after(snapshots, text)
        except ValueError as exc:
            raise UsageError(
                f"{url}: unknown snapshot reference {text!r} (use a snapshot id, -1 for the "
                "latest, -2 for the one before, or a date such as 2024-05-01)"
            ) from exc
        if found is None:
            raise UsageError(
                f"{url}: no snapshot on or before {text} (the first is from "
                f"{snapshots[-1].fetched_at})"
            )
        return found

    def snapshot_at(self, url: str, when: str | date | datetime) -> Snapshot | None:
        """The newest snapshot of ``url`` fetched not after ``when`` (a bare date: its end).

        ``ValueError`` when ``when`` is not a date or datetime.
        """
        return self._newest_not_after(self.snapshots(url), when)

    @staticmethod
    def _newest_not_after(
        snapshots: list[Snapshot], when: str | date | datetime
    ) -> Snapshot | None:
        limit = parse_when(when)
        for snapshot in snapshots:  # newest first
            if parse_when(snapshot.fetched_at) <= limit:
                return snapshot
        return None

    # --- re-extraction -------------------------------------------------------------------
    def latest_captures(self, site: str | None = None) -> Iterator[Capture]:
        """The newest stored capture of each page that has a snapshot (of ``site``, or all).

        The body is the newest successful fetch's raw body (falling back to the body the latest
        snapshot came from): never a capture the admission gate refused (an alias, a block page,
        a suspect: their rows carry the reason as error) nor one whose final URL is another.
        The list of pages is read first, so the caller may write (for
        instance ``save_reextracted``) while iterating.
        """
        site_clause = "" if site is None else "AND p.site = ?"
        rows = self._read(
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
        """The Content-Type of a stored response header block, or None."""
        if headers_sha256 is None:
            return None
        try:
            block = self.raw(headers_sha256).decode("latin-1")
        except KeyError:
            return None
        for line in block.split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-type":
                return value.strip()
        return None

    # --- boilerplate learning -------------------------------------------------------------
    def site_texts(self, site: str, *, limit: int = 200) -> list[str]:
        """The text of the latest snapshot of up to ``limit`` pages of ``site``, newest first."""
        rows = self._read(
            """
            SELECT s.text FROM snapshots s JOIN pages p ON p.id = s.page_id
            WHERE p.site = ? AND s.id = (SELECT MAX(id) FROM snapshots WHERE page_id = p.id)
            ORDER BY s.id DESC LIMIT ?
            """,
            (site, limit),
        )
        return [row["text"] for row in rows]

    def boilerplate(self, site: str) -> frozenset[str]:
        """The learned boilerplate lines of a site."""
        rows = self._read("SELECT line FROM boilerplate WHERE site = ?", (site,))
        return frozenset(row["line"] for row in rows)

    def boilerplate_learned_from(self, site: str) -> int | None:
        """How many pages the site's boilerplate was last learned from; None: never learned."""
        rows = self._read("SELECT pages FROM boilerplate_sites WHERE site = ?", (site,))
        return int(rows[0]["pages"]) if rows else None

    def site_page_count(self, site: str) -> int:
        """How many pages of ``site`` have at least one snapshot."""
        rows = self._read(
            "SELECT COUNT(DISTINCT s.page_id) AS n FROM snapshots s "
            "JOIN pages p ON p.id = s.page_id WHERE p.site = ?",
            (site,),
        )
        return int(rows[0]["n"])
