"""SQLite archive, writes: what fetch, crawl and reextract store (the PageStore writes).

One transaction per call: a fetch row always, a snapshot only when the admission gate admits
the article and the noise rules call it a real change, raw bodies once per sha256
(zstd-compressed), the page's row updated. It never fetches, parses HTML or reads the clock.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Mapping
from http import HTTPStatus
from urllib.parse import urlsplit

from scraper.admission import Decision, decide
from scraper.archive.sqlite.connection import Connection
from scraper.archive.sqlite.versions import find_page_id, judge_change, known_of, write_snapshot
from scraper.errors import FetchError
from scraper.models import Article, FetchResult, Headers, SaveOutcome
from scraper.noise import NoiseRules

#: raw blocks up to this size (headers) are inserted without looking first
_SMALL_RAW_BYTES = 4096


def header_block(status_line: str, headers: Headers) -> bytes:
    """A start line and headers in HTTP/1.1 wire format, ending with the blank line."""
    lines = [status_line, *(f"{name}: {value}" for name, value in headers), "", ""]
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def response_block(result: FetchResult) -> bytes:
    """The response status line and headers as received (``HTTP/1.1 200 OK`` ...)."""
    reason = result.reason
    if reason is None:
        try:
            reason = HTTPStatus(result.status_code).phrase
        except ValueError:
            reason = ""
    status_line = f"{result.http_version} {result.status_code} {reason}".rstrip()
    return header_block(status_line, result.headers)


def request_block(result: FetchResult) -> bytes:
    """The request line and headers as sent for the final URL (``GET /path HTTP/1.1`` ...)."""
    parts = urlsplit(result.final_url or result.url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return header_block(f"GET {target} {result.http_version}", result.request_headers)


def _error_text(error: FetchError | str) -> str:
    if isinstance(error, FetchError):
        return f"{error.kind}: {error.message}"
    return error


class PageWrites(Connection):
    """The writing half of the SQLite archive."""

    def _store_raw(self, conn: sqlite3.Connection, data: bytes) -> str:
        """Store ``data`` once by sha256 (zstd-compressed); return the sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if len(data) <= _SMALL_RAW_BYTES:
            # a header block: compressing it costs less than asking first whether it is there
            conn.execute(
                "INSERT OR IGNORE INTO raw (sha256, size, compression, data) "
                "VALUES (?, ?, 'zstd', ?)",
                (sha, len(data), self._compressor.compress(data)),
            )
        elif conn.execute("SELECT 1 FROM raw WHERE sha256 = ?", (sha,)).fetchone() is None:
            conn.execute(
                "INSERT INTO raw (sha256, size, compression, data) VALUES (?, ?, 'zstd', ?)",
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
        """Record one fetch attempt of ``url`` (normalised already), in one transaction.

        - always one ``fetches`` row (error, status, bytes, elapsed_ms, raw/header/request blobs);
        - a ``snapshots`` row (and ``changes`` row) only when ``article`` is found and is a
          real change from the page's last versions by the ``noise`` rules (scraper.noise;
          the verdict is the fetch's ``change_kind``);
        - a 304 (``result.not_modified``) adds the fetch row with ``not_modified`` = 1 only;
        - raw body and headers go to ``raw`` once per sha256, zstd-compressed;
        - ``pages`` is created or updated (last_fetched, last_changed, etag, last_modified...).

        A failed attempt (``error`` given) stores the error as ``kind: message`` and never
        touches snapshots; a 304 updates only the page's fetch time and status.

        An ``article`` becomes a snapshot only when the admission gate admits it: ``decision``
        is the caller's :func:`scraper.admission.decide` verdict, or the gate is asked here
        with what the archive knows of the page. A refused one (alias, block page, suspect) is
        recorded like a failure whose error is the gate's reason, and keeps the validators.
        """
        if decision is not None and not decision.admitted and error is None:
            error = decision.error
        failed = error is not None
        not_modified = bool(result is not None and result.not_modified and not failed)
        with self.transaction() as conn:
            page_id = find_page_id(conn, url)
            new_page = page_id is None
            if page_id is None:
                cursor = conn.execute(
                    "INSERT INTO pages (url, site, first_seen, source) VALUES (?, ?, ?, ?)",
                    (url, site, fetched_at, "cli" if site is None else None),
                )
                page_id = int(cursor.lastrowid or 0)
            had_snapshot = (
                conn.execute(
                    "SELECT 1 FROM snapshots WHERE page_id = ? LIMIT 1", (page_id,)
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

            cursor = conn.execute(
                """
                INSERT INTO fetches (page_id, run_id, fetched_at, url, status_code, not_modified,
                    elapsed_ms, bytes, content_type, error, snapshot_id, raw_sha256,
                    headers_sha256, request_sha256, http_version, charset, change_kind,
                    same_as_snapshot_id, ip_address)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
                    # the codec the stored body was read with: reextract reads it the same way
                    None if body_sha is None or result is None else result.encoding,
                    None if verdict is None else verdict.kind,
                    None if verdict is None else verdict.same_as,
                    None if result is None else result.ip_address,
                ),
            )
            fetch_id = int(cursor.lastrowid or 0)

            # the page's site: set when given (a crawl), kept when not (a one-off fetch)
            if failed:
                conn.execute(
                    "UPDATE pages SET site = COALESCE(?, site), last_fetched = ?, "
                    "last_status = ?, last_error = ?, failures = failures + 1 WHERE id = ?",
                    (site, fetched_at, status_code, error_text, page_id),
                )
            elif not_modified:
                conn.execute(
                    "UPDATE pages SET site = COALESCE(?, site), last_fetched = ?, "
                    "last_status = ?, last_error = NULL, failures = 0 WHERE id = ?",
                    (site, fetched_at, status_code, page_id),
                )
            else:
                conn.execute(
                    """
                    UPDATE pages SET site = COALESCE(?, site), last_fetched = ?,
                        last_status = ?, last_error = NULL, failures = 0,
                        last_changed = CASE WHEN ? THEN ? ELSE last_changed END,
                        etag = CASE WHEN ? THEN ? ELSE etag END,
                        last_modified = CASE WHEN ? THEN ? ELSE last_modified END,
                        canonical_url = COALESCE(?, canonical_url)
                    WHERE id = ?
                    """,
                    (
                        site,
                        fetched_at,
                        status_code,
                        snapshot_id is not None,
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
        """Store a re-extraction of the page's stored capture ``raw_sha256``.

        Writes a snapshot with cause ``reextract`` (and its ``changes`` row) only when the
        content hash differs from the page's latest snapshot; returns its id, else None.
        A page that is not in the archive is a ``ValueError``. The admission gate decides first
        (``decision``, or asked here): a block page found by the new extraction is not stored.
        """
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
        """Replace the learned boilerplate of a site (line -> number of pages it was seen on).

        :param learned_from: how many pages it was learned from (for a later relearn)
        """
        with self.transaction() as conn:
            conn.execute("DELETE FROM boilerplate WHERE site = ?", (site,))
            conn.executemany(
                "INSERT INTO boilerplate (site, line, pages, learned_at) VALUES (?, ?, ?, ?)",
                [(site, line, pages, learned_at) for line, pages in lines.items()],
            )
            if learned_from is not None:
                conn.execute(
                    "INSERT OR REPLACE INTO boilerplate_sites (site, learned_at, pages) "
                    "VALUES (?, ?, ?)",
                    (site, learned_at, learned_from),
                )
