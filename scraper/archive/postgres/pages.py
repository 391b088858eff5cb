"""PostgreSQL archive, pages: what fetch, crawl and reextract write, and one page's reads.

The PageStore writes with the SQLite archive's meanings (``scraper.archive.sqlite.writes``):
one transaction per call, a fetch row always, a snapshot only when the admission gate admits
the article and the noise rules call it a real change, raw bodies once per sha256
(zstd-compressed, BYTEA). And the reads of one page: its record, versions and their references,
fetches, raw blobs, captures for re-extraction, boilerplate. It never fetches or reads the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING

import zstandard

from scraper.admission import Decision, Known, decide
from scraper.archive.postgres.base import PgConnection
from scraper.archive.postgres.versions import find_page_id, judge_change, known_of, write_snapshot
from scraper.archive.records import Capture, ChangeRecord, FetchRecord, PageRecord
from scraper.archive.sqlite.reads import PageReads as _SqliteReads
from scraper.archive.sqlite.versions import (
    SNAPSHOT_COLUMNS,
    parse_when,
    record_from_row,
    snapshot_from_row,
)
from scraper.archive.sqlite.writes import _error_text, request_block, response_block
from scraper.errors import FetchError
from scraper.models import Article, FetchResult, SaveOutcome, Snapshot
from scraper.noise import NoiseRules

if TYPE_CHECKING:
    import psycopg


class PgWrites(PgConnection):
    """The page store's writes on PostgreSQL."""

    def _store_raw(self, conn: psycopg.Connection, data: bytes) -> str:
        """Store ``data`` once by sha256 (zstd-compressed); return the sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if conn.execute("SELECT 1 FROM raw WHERE sha256 = %s", (sha,)).fetchone() is None:
            conn.execute(
                "INSERT INTO raw (sha256, size, compression, data) VALUES (%s, %s, 'zstd', %s) "
                "ON CONFLICT (sha256) DO NOTHING",
                (sha, len(data), self._compressor.compress(data)),
            )
        return sha

    def save_fetch(
        self,
        url: str,
        *,
        fetched_at: str,
        result: FetchResult | None = None,
        article: Article | None = None,
        error: FetchError | str | None = None,
        site: str | None = None,
        run_id: int | None = None,
        decision: Decision | None = None,
        noise: NoiseRules | None = None,
    ) -> SaveOutcome:
        """Record one fetch attempt of ``url`` (normalised already), in one transaction; the
        same rules as the SQLite archive's ``save_fetch``."""
        if decision is not None and not decision.admitted and error is None:
            error = decision.error
        failed = error is not None
        not_modified = bool(result is not None and result.not_modified and not failed)
        with self.transaction() as conn:
            page_id = find_page_id(conn, url)
            new_page = page_id is None
            if page_id is None:
                row = conn.execute(
                    "INSERT INTO pages (url, site, first_seen, source) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (url) DO UPDATE SET url = EXCLUDED.url RETURNING id",
                    (url, site, fetched_at, "cli" if site is None else None),
                ).fetchone()
                page_id = int(row[0]) if row else 0
            had_snapshot = (
                conn.execute(
                    "SELECT 1 FROM snapshots WHERE page_id = %s LIMIT 1", (page_id,)
                ).fetchone()
                is not None
            )

            status_code: int | None = None
            elapsed_ms: int | None = None
            body_sha = headers_sha = request_sha = None
            if result is not None:
                status_code, elapsed_ms = result.status_code, result.elapsed_ms
                if not not_modified:
                    body_sha = self._store_raw(conn, result.body)
                headers_sha = self._store_raw(conn, response_block(result))
                if result.request_headers:
                    request_sha = self._store_raw(conn, request_block(result))
            error_text = None if error is None else _error_text(error)
            if isinstance(error, FetchError):
                status_code = error.status_code if error.status_code is not None else status_code
                elapsed_ms = error.elapsed_ms if error.elapsed_ms is not None else elapsed_ms

            snapshot_id = None
            verdict = None
            if not failed and not not_modified and article is not None and article.found:
                if decision is None:
                    decision = decide(url, result, article, known_of(conn, page_id))
                if not decision.admitted:
                    error_text, failed = decision.error, True
            if not failed and not not_modified and article is not None and article.found:
                verdict = judge_change(conn, page_id, article, noise)
                if verdict.writes:
                    snapshot_id = write_snapshot(
                        conn,
                        page_id,
                        article,
                        fetched_at=fetched_at,
                        raw_sha256=body_sha,
                        cause="fetch",
                        change_kind=verdict.kind,
                    )

            row = conn.execute(
                """
                INSERT INTO fetches (page_id, run_id, fetched_at, url, status_code, not_modified,
                    elapsed_ms, bytes, content_type, error, snapshot_id, raw_sha256,
                    headers_sha256, request_sha256, http_version, charset, change_kind,
                    same_as_snapshot_id, ip_address)
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s,
                    %s)
                RETURNING id
                """,
                (
                    page_id,
                    run_id,
                    fetched_at,
                    None if result is None else result.final_url,
                    status_code,
                    int(not_modified),
                    elapsed_ms,
                    None if result is None or not_modified else len(result.body),
                    None if result is None else (result.content_type or None),
                    error_text,
                    snapshot_id,
                    body_sha,
                    headers_sha,
                    request_sha,
                    None if result is None else result.http_version,
                    None if body_sha is None or result is None else result.encoding,
                    None if verdict is None else verdict.kind,
                    None if verdict is None else verdict.same_as,
                    None if result is None else result.ip_address,
                ),
            ).fetchone()
            fetch_id = int(row[0]) if row else 0

            if failed:
                conn.execute(
                    "UPDATE pages SET site = COALESCE(%s, site), last_fetched = %s, "
                    "last_status = %s, last_error = %s, failures = failures + 1 WHERE id = %s",
                    (site, fetched_at, status_code, error_text, page_id),
                )
            elif not_modified:
                conn.execute(
                    "UPDATE pages SET site = COALESCE(%s, site), last_fetched = %s, "
                    "last_status = %s, last_error = NULL, failures = 0 WHERE id = %s",
                    (site, fetched_at, status_code, page_id),
                )
            else:
                changed_now = snapshot_id is not None
                conn.execute(
                    """
                    UPDATE pages SET site = COALESCE(%s, site), last_fetched = %s,
                        last_status = %s, last_error = NULL, failures = 0,
                        last_changed = CASE WHEN %s THEN %s ELSE last_changed END,
                        etag = CASE WHEN %s THEN %s ELSE etag END,
                        last_modified = CASE WHEN %s THEN %s ELSE last_modified END,
                        canonical_url = COALESCE(%s, canonical_url)
                    WHERE id = %s
                    """,
                    (
                        site,
                        fetched_at,
                        status_code,
                        changed_now,
                        fetched_at,
                        result is not None,
                        None if result is None else result.etag,
                        result is not None,
                        None if result is None else result.last_modified,
                        None if article is None else article.canonical_url,
                        page_id,
                    ),
                )
        return SaveOutcome(
            page_id=page_id,
            fetch_id=fetch_id,
            snapshot_id=snapshot_id,
            new_page=new_page or not had_snapshot,
            changed=snapshot_id is not None and had_snapshot,
            change_kind=None if verdict is None else verdict.kind,
        )

    def save_reextracted(
        self,
        url: str,
        article: Article,
        *,
        at: str,
        raw_sha256: str | None,
        decision: Decision | None = None,
    ) -> int | None:
        """Store a re-extraction of the page's stored capture as a snapshot when it differs
        (cause ``reextract``); a page not in the archive is a ``ValueError``."""
        with self.transaction() as conn:
            page_id = find_page_id(conn, url)
            if page_id is None:
                raise ValueError(f"{url} is not in the archive; save_fetch it first")
            if not article.found:
                return None
            if decision is None:
                decision = decide(url, None, article, known_of(conn, page_id), confirm=False)
            if not decision.admitted:
                return None
            return write_snapshot(
                conn, page_id, article, fetched_at=at, raw_sha256=raw_sha256, cause="reextract"
            )

    def set_boilerplate(
        self,
        site: str,
        lines: Mapping[str, int],
        *,
        learned_at: str,
        learned_from: int | None = None,
    ) -> None:
        """Replace the learned boilerplate of a site (line -> number of pages it was seen on)."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM boilerplate WHERE site = %s", (site,))
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO boilerplate (site, line, pages, learned_at) "
                    "VALUES (%s, %s, %s, %s)",
                    [(site, line, pages, learned_at) for line, pages in lines.items()],
                )
            if learned_from is not None:
                conn.execute(
                    "INSERT INTO boilerplate_sites (site, learned_at, pages) VALUES (%s, %s, %s) "
                    "ON CONFLICT (site) DO UPDATE SET learned_at = EXCLUDED.learned_at, "
                    "pages = EXCLUDED.pages",
                    (site, learned_at, learned_from),
                )


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
        with self.transaction() as conn:
            page_id = find_page_id(conn, url)
            return Known() if page_id is None else known_of(conn, page_id)

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
