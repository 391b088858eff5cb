"""Archive core, writes: what fetch, crawl and reextract store (the PageStore writes), once.

One transaction per call: a fetch row always, a snapshot only when the admission gate admits
the article and the noise rules call it a real change, raw bodies once per sha256
(zstd-compressed), the page's row updated. Both backends inherit :class:`ArchiveWrites`; each
gives it only :meth:`ArchiveWrites.session` (its transaction as a :class:`~.dialect.Db`). It
never fetches, parses HTML or reads the clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from contextlib import AbstractContextManager

import zstandard

from scraper.admission import Decision, decide
from scraper.archive.sql.blocks import error_text as _error_text
from scraper.archive.sql.blocks import request_block, response_block
from scraper.archive.sql.dialect import POSTGRESQL, SQLITE, Db
from scraper.archive.sql.versions import find_page_id, judge_change, known_of, write_snapshot
from scraper.errors import FetchError
from scraper.models import Article, FetchResult, SaveOutcome
from scraper.noise import NoiseRules

#: zstd level 2 for raw bodies, on both backends: on the 2,000 pages of ``make bench-crawl``
#: 0.16 ms of CPU a page against level 3's 0.28, for the same ratio (3.76 and 3.75); on the
#: real pages of ``../shared/bench`` (273 KB) 0.56 against 0.77 ms, for a ratio of 6.6 against
#: 6.8. A blob of any level is read the same way: the stored bytes come back unchanged.
ZSTD_LEVEL = 2
#: raw blocks up to this size (headers) are inserted without looking first
_SMALL_RAW_BYTES = 4096
_RAW_COLUMNS = ("sha256", "size", "compression", "data")


#: each backend's insert-or-ignore of a ``raw`` row, by dialect name (made once, not twice a fetch)
_RAW_INSERTS = {
    d.name: d.insert_ignore("raw", _RAW_COLUMNS, "sha256") for d in (SQLITE, POSTGRESQL)
}


class ArchiveWrites:
    """The writing half of an archive, on whichever backend gives :meth:`session`."""

    _compressor: zstandard.ZstdCompressor

    def session(self) -> AbstractContextManager[Db]:
        """One write transaction of the backend (a savepoint inside an open one)."""
        raise NotImplementedError

    def _store_raw(self, db: Db, data: bytes) -> str:
        """Store ``data`` once by sha256 (zstd-compressed); return the sha256."""
        sha = hashlib.sha256(data).hexdigest()
        insert = _RAW_INSERTS[db.dialect.name]
        if len(data) <= _SMALL_RAW_BYTES:
            # a header block: compressing it costs less than asking first whether it is there
            db.run(insert, (sha, len(data), "zstd", self._compressor.compress(data)))
        elif db.one("SELECT 1 FROM raw WHERE sha256 = ?", (sha,)) is None:
            db.run(insert, (sha, len(data), "zstd", self._compressor.compress(data)))
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
        with self.session() as db:
            # the page and whether it has a snapshot, in one statement (a recrawl's 304s are
            # mostly statements like this one)
            row = db.one(
                "SELECT id, EXISTS (SELECT 1 FROM snapshots WHERE page_id = pages.id) "
                "FROM pages WHERE url = ?",
                (url,),
            )
            new_page = row is None
            if row is None:
                page_id = db.insert(
                    "INSERT INTO pages (url, site, first_seen, source) VALUES (?, ?, ?, ?)",
                    (url, site, fetched_at, "cli" if site is None else None),
                    conflict="url",
                )
                # a row another session added just now (PostgreSQL) may have its snapshots
                had_snapshot = (
                    db.one("SELECT 1 FROM snapshots WHERE page_id = ? LIMIT 1", (page_id,))
                    is not None
                )
            else:
                page_id, had_snapshot = int(row[0]), bool(row[1])

            status_code: int | None = None
            elapsed_ms: int | None = None
            body_sha = headers_sha = request_sha = None
            if result is not None:
                status_code, elapsed_ms = result.status_code, result.elapsed_ms
                if not not_modified:
                    body_sha = self._store_raw(db, result.body)
                headers_sha = self._store_raw(db, response_block(result))
                if result.request_headers:
                    request_sha = self._store_raw(db, request_block(result))
            error_text = None if error is None else _error_text(error)
            if isinstance(error, FetchError):
                status_code = error.status_code if error.status_code is not None else status_code
                elapsed_ms = error.elapsed_ms if error.elapsed_ms is not None else elapsed_ms

            snapshot_id = None
            verdict = None
            if not failed and not not_modified and article is not None and article.found:
                if decision is None:
                    decision = decide(url, result, article, known_of(db, page_id))
                if not decision.admitted:
                    error_text, failed = decision.error, True
            if not failed and not not_modified and article is not None and article.found:
                verdict = judge_change(db, page_id, article, noise)
                if verdict.writes:
                    snapshot_id = write_snapshot(
                        db,
                        page_id,
                        article,
                        fetched_at=fetched_at,
                        raw_sha256=body_sha,
                        cause="fetch",
                        change_kind=verdict.kind,
                    )

            fetch_id = db.insert(
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

            # the page's site: set when given (a crawl), kept when not (a one-off fetch)
            if failed:
                db.run(
                    "UPDATE pages SET site = COALESCE(?, site), last_fetched = ?, "
                    "last_status = ?, last_error = ?, failures = failures + 1 WHERE id = ?",
                    (site, fetched_at, status_code, error_text, page_id),
                )
            elif not_modified:
                db.run(
                    "UPDATE pages SET site = COALESCE(?, site), last_fetched = ?, "
                    "last_status = ?, last_error = NULL, failures = 0 WHERE id = ?",
                    (site, fetched_at, status_code, page_id),
                )
            else:
                db.run(
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
        with self.session() as db:
            page_id = find_page_id(db, url)
            if page_id is None:
                raise ValueError(f"{url} is not in the archive; save_fetch it first")
            if not article.found:
                return None
            if decision is None:
                decision = decide(url, None, article, known_of(db, page_id), confirm=False)
            if not decision.admitted:
                return None
            return write_snapshot(
                db, page_id, article, fetched_at=at, raw_sha256=raw_sha256, cause="reextract"
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
        with self.session() as db:
            db.run("DELETE FROM boilerplate WHERE site = ?", (site,))
            db.run_many(
                "INSERT INTO boilerplate (site, line, pages, learned_at) VALUES (?, ?, ?, ?)",
                [(site, line, pages, learned_at) for line, pages in lines.items()],
            )
            if learned_from is not None:
                db.run(
                    db.dialect.upsert("boilerplate_sites", ("site", "learned_at", "pages"), "site"),
                    (site, learned_at, learned_from),
                )
