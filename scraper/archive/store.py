"""Archive: the one writer of the SQLite archive (WAL, a transaction per page, versioning).

It stores what fetch and extract produced; it never fetches, parses HTML or reads the clock
(every timestamp is passed in). sqlite3 errors never leave this package: they are raised as
:class:`scraper.errors.ArchiveError`, one line naming the file.

Threads: an ``Archive`` holds one sqlite3 connection and must be used from the thread that
opened it (the crawl calls it from its event-loop thread only). Several processes may open the
same file at once: WAL lets readers work beside the writer, and writers wait up to
``BUSY_TIMEOUT_MS`` for each other.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import zstandard
from sqlite_utils import Database

from scraper.admission import Decision, Known, decide, suspect_content
from scraper.archive.records import Capture
from scraper.archive.schema import migrate
from scraper.diff import word_counts
from scraper.errors import ArchiveError, FetchError, UsageError
from scraper.models import Article, FetchResult, Headers, SaveOutcome, Snapshot
from scraper.noise import NoiseRules, Verdict, Version, judge

#: how long a write waits for another process's write to finish before failing
BUSY_TIMEOUT_MS = 30_000
#: zstd level 3: zlib-6's ratio for a fraction of the CPU (PERF-NOTES.md)
ZSTD_LEVEL = 3
#: raw blocks up to this size (headers) are inserted without looking first
_SMALL_RAW_BYTES = 4096
#: the metadata columns whose change a ``changes`` row flags
FLAGGED_FIELDS = ("title", "author", "published", "updated", "description")

_SNAPSHOT_COLUMNS = (
    "s.id, s.page_id, p.url, s.fetched_at, s.content_hash, s.title, s.author, s.published, "
    "s.updated, s.language, s.description, s.text, s.markdown, s.metadata, s.raw_sha256, s.cause, "
    "s.confidence"
)


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


def _parse_when(value: str | date | datetime) -> datetime:
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


def _error_text(error: FetchError | str) -> str:
    if isinstance(error, FetchError):
        return f"{error.kind}: {error.message}"
    return error


def _refuse_foreign(conn: sqlite3.Connection, path: Path) -> None:
    """Raise UsageError when the database holds tables but was not made by scraper (no
    ``scraper`` migrations recorded): adding our tables to another program's file needs
    ``scraper init``. Reads only."""
    names = [
        str(row[0])
        for row in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    if not [n for n in names if n != "_sqlite_migrations"]:
        # an empty database (or a 0-byte file): a new archive; with the migrations table alone,
        # an archive whose creation was cut short before its first migration committed
        return
    if "_sqlite_migrations" in names:
        row = conn.execute(
            "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'scraper' LIMIT 1"
        ).fetchone()
        if row is not None:
            return
    shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
    raise UsageError(
        f"{path}: not a scraper archive but another program's SQLite database (tables: {shown});"
        f" refusing to add scraper's tables to it (scraper init --db {path} adopts it)"
    )


def check_not_foreign(path: str | Path) -> None:
    """Raise UsageError when ``path`` is an existing SQLite database of another program (see
    :class:`Archive`), reading it only; anything else (missing, empty, an archive, not SQLite at
    all) is left for ``Archive(path)`` to open or report."""
    file = Path(path)
    try:
        if not file.is_file() or file.stat().st_size == 0:
            return
        conn = sqlite3.connect(f"{file.resolve().as_uri()}?mode=ro", uri=True)
    except (OSError, sqlite3.Error):
        return
    try:
        _refuse_foreign(conn, file)
    except sqlite3.Error:
        return
    finally:
        conn.close()


class Archive:
    """A versioned archive of pages in one SQLite file.

    ``Archive(path)`` opens (creating directories and the file when missing, unless
    ``create=False``) and migrates; ``Archive(path, readonly=True)`` opens with ``mode=ro`` and
    never writes or migrates. An existing database that holds tables but not scraper's schema
    (another program's file) is refused with :class:`scraper.errors.UsageError` before anything
    is written to it, unless ``adopt=True`` (``scraper init``); an empty database, or a 0-byte
    file, is taken as a new archive. sqlite3 errors are raised as
    :class:`scraper.errors.ArchiveError` naming the file.

    ``archive.db`` (a ``sqlite_utils.Database``) and ``archive.path`` are public for the other
    modules of the ``scraper.archive`` package.
    """

    def __init__(
        self, path: str | Path, *, readonly: bool = False, create: bool = True, adopt: bool = False
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        if self.path.is_dir():
            raise ArchiveError(f"{self.path}: is a directory, not an archive file")
        if (readonly or not create) and not self.path.exists():
            raise ArchiveError(f"no archive at {self.path} (run scraper fetch or crawl first)")
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                conn = sqlite3.connect(uri, uri=True)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(self.path)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise ArchiveError(
                f"{self.path}: cannot create directory {self.path.parent}: {reason}"
            ) from exc
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path}: cannot open: {exc}") from exc
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA foreign_keys = ON")
            # Reading the schema is what fails on a file that is not a database.
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            if not readonly and not adopt:
                _refuse_foreign(conn, self.path)
            if not readonly:
                conn.execute("PRAGMA journal_mode = WAL").fetchone()
                conn.execute("PRAGMA synchronous = NORMAL")
            self.db = Database(conn)
            if not readonly:
                migrate(self.db)
            elif not self.db["pages"].exists():
                raise ArchiveError(f"{self.path}: not a scraper archive (no pages table)")
        except sqlite3.Error as exc:
            conn.close()
            raise ArchiveError(f"{self.path}: {exc}") from exc
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self.db.conn.close()

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        mode = ", readonly=True" if self.readonly else ""
        return f"Archive({str(self.path)!r}{mode})"

    # --- plumbing ------------------------------------------------------------------------
    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Translate sqlite3 errors into one-line ArchiveErrors naming the file."""
        try:
            yield
        except sqlite3.Error as exc:
            raise ArchiveError(f"{self.path}: {exc}") from exc

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``; a savepoint when one is already open).

        Everything written inside commits together or not at all.
        """
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                conn.execute("SAVEPOINT scraper_archive")
                try:
                    yield conn
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK TO SAVEPOINT scraper_archive")
                        conn.execute("RELEASE SAVEPOINT scraper_archive")
                    raise
                conn.execute("RELEASE SAVEPOINT scraper_archive")
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            self._commit(conn)

    @staticmethod
    def _commit(conn: sqlite3.Connection) -> None:
        """COMMIT; a commit that fails (a full disk) is rolled back, not left open."""
        try:
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    # A group: one write transaction held open over several transaction() blocks (each then a
    # savepoint), so that many small writes share one commit. The crawl uses it for outcomes
    # that only update bookkeeping (a 304); see ``crawl._CommitGroup``.
    @property
    def in_group(self) -> bool:
        """True while a group (or any transaction) is open on the connection."""
        return self.db.conn.in_transaction

    def begin_group(self) -> None:
        """Open a write transaction that stays open until :meth:`commit_group`."""
        conn = self.db.conn
        with self._errors():
            if not conn.in_transaction:
                conn.execute("BEGIN IMMEDIATE")

    def commit_group(self) -> None:
        """Commit the open group (nothing when none is open); on failure it is rolled back."""
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                self._commit(conn)

    def rollback_group(self) -> None:
        """Drop everything written since :meth:`begin_group` (nothing when none is open)."""
        conn = self.db.conn
        with self._errors():
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        with self._errors():
            cursor = self.db.conn.execute(sql, params)
            keys = [d[0] for d in cursor.description]
            return [dict(zip(keys, row, strict=True)) for row in cursor.fetchall()]

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

    @staticmethod
    def _page_id(conn: sqlite3.Connection, url: str) -> int | None:
        row = conn.execute("SELECT id FROM pages WHERE url = ?", (url,)).fetchone()
        return None if row is None else int(row[0])

    def _write_snapshot(
        self,
        conn: sqlite3.Connection,
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
            "FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
            (page_id,),
        ).fetchone()
        if previous is not None and previous[1] == content_hash:
            return None
        metadata = article.to_dict()
        del metadata["text"], metadata["markdown"]
        cursor = conn.execute(
            """
            INSERT INTO snapshots (page_id, fetched_at, content_hash, title, author, published,
                updated, language, description, site_name, canonical_url, word_count, text,
                markdown, metadata, raw_sha256, extractor_version, cause, confidence)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
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
        )
        snapshot_id = int(cursor.lastrowid or 0)
        if previous is None:
            _insert_change(conn, snapshot_id, None, "", article.text, (), (), cause, change_kind)
        else:
            new_values = tuple(getattr(article, name) for name in FLAGGED_FIELDS)
            _insert_change(
                conn,
                snapshot_id,
                previous[0],
                previous[2],
                article.text,
                previous[3:],
                new_values,
                cause,
                change_kind,
            )
        return snapshot_id

    @staticmethod
    def _judge_change(
        conn: sqlite3.Connection, page_id: int, article: Article, rules: NoiseRules | None
    ) -> Verdict:
        """Is ``article`` a new version of the page? (scraper.noise, against its last few)."""
        latest = conn.execute(
            "SELECT content_hash FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
            (page_id,),
        ).fetchone()
        if latest is not None and latest[0] == article.content_hash():
            return Verdict("unchanged")
        limit = (rules or NoiseRules()).compared_versions
        recent = [
            Version(int(r[0]), r[1], r[2], r[3])
            for r in conn.execute(
                "SELECT id, title, author, text FROM snapshots WHERE page_id = ? "
                "ORDER BY id DESC LIMIT ?",
                (page_id, limit),
            )
        ]
        return judge(Version(None, article.title, article.author, article.text), recent, rules)

    # --- writing -------------------------------------------------------------------------
    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) from the page's last successful fetch, for a conditional GET."""
        rows = self._rows("SELECT etag, last_modified FROM pages WHERE url = ?", (url,))
        if not rows:
            return None, None
        return rows[0]["etag"], rows[0]["last_modified"]

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
            page_id = self._page_id(conn, url)
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
                    decision = decide(url, result, article, self._known(conn, page_id))
                if not decision.admitted:
                    error_text, failed = decision.error, True
            if not failed and not not_modified and article is not None and article.found:
                verdict = self._judge_change(conn, page_id, article, noise)
                if verdict.writes:
                    snapshot_id = self._write_snapshot(
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
            page_id = self._page_id(conn, url)
            if page_id is None:
                raise ValueError(f"{url} is not in the archive; save_fetch it first")
            if not article.found:
                return None
            if decision is None:
                decision = decide(url, None, article, self._known(conn, page_id), confirm=False)
            if not decision.admitted:
                return None
            return self._write_snapshot(
                conn, page_id, article, fetched_at=at, raw_sha256=raw_sha256, cause="reextract"
            )

    # --- admission -----------------------------------------------------------------------
    def known(self, url: str) -> Known:
        """What the admission gate needs to know of the page (nothing for an unknown page)."""
        with self._errors():
            page_id = self._page_id(self.db.conn, url)
            return Known() if page_id is None else self._known(self.db.conn, page_id)

    @staticmethod
    def _known(conn: sqlite3.Connection, page_id: int) -> Known:
        latest = conn.execute(
            "SELECT title, text, confidence, content_hash "
            "FROM snapshots WHERE page_id = ? ORDER BY id DESC LIMIT 1",
            (page_id,),
        ).fetchone()
        suspect = conn.execute(
            "SELECT error FROM fetches WHERE page_id = ? AND error LIKE 'suspect:%' AND id > "
            "COALESCE((SELECT MAX(id) FROM fetches WHERE page_id = ? AND snapshot_id IS NOT NULL"
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

    # --- reading -------------------------------------------------------------------------
    def page(self, url: str) -> dict[str, Any] | None:
        """The ``pages`` row of ``url``, or None."""
        rows = self._rows("SELECT * FROM pages WHERE url = ?", (url,))
        return rows[0] if rows else None

    def snapshots(self, url: str) -> list[Snapshot]:
        """Every snapshot of the page, newest first (empty when the page is unknown)."""
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE p.url = ? ORDER BY s.id DESC",
            (url,),
        )
        return [_snapshot(row) for row in rows]

    def snapshot_by_id(self, snapshot_id: int) -> Snapshot | None:
        """The snapshot with this id, or None."""
        rows = self._rows(
            f"SELECT {_SNAPSHOT_COLUMNS} FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE s.id = ?",
            (snapshot_id,),
        )
        return _snapshot(rows[0]) if rows else None

    def snapshot_changes(self, url: str) -> dict[int, dict[str, Any]]:
        """The ``changes`` rows of the page's snapshots, by snapshot id."""
        rows = self._rows(
            "SELECT c.* FROM changes c JOIN snapshots s ON s.id = c.snapshot_id "
            "JOIN pages p ON p.id = s.page_id WHERE p.url = ?",
            (url,),
        )
        return {int(row["snapshot_id"]): row for row in rows}

    def fetches(self, url: str) -> list[dict[str, Any]]:
        """Every fetch of the page, newest first, as dicts of the ``fetches`` row."""
        return self._rows(
            "SELECT f.* FROM fetches f JOIN pages p ON p.id = f.page_id WHERE p.url = ? "
            "ORDER BY f.id DESC",
            (url,),
        )

    def raw(self, sha256: str) -> bytes:
        """The uncompressed raw blob with this sha256 (KeyError if absent)."""
        rows = self._rows("SELECT compression, data FROM raw WHERE sha256 = ?", (sha256,))
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
        limit = _parse_when(when)
        for snapshot in snapshots:  # newest first
            if _parse_when(snapshot.fetched_at) <= limit:
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
        rows = self._rows(
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
        rows = self._rows("SELECT line FROM boilerplate WHERE site = ?", (site,))
        return frozenset(row["line"] for row in rows)

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

    def boilerplate_learned_from(self, site: str) -> int | None:
        """How many pages the site's boilerplate was last learned from; None: never learned."""
        rows = self._rows("SELECT pages FROM boilerplate_sites WHERE site = ?", (site,))
        return int(rows[0]["pages"]) if rows else None

    def site_page_count(self, site: str) -> int:
        """How many pages of ``site`` have at least one snapshot."""
        rows = self._rows(
            "SELECT COUNT(DISTINCT s.page_id) AS n FROM snapshots s "
            "JOIN pages p ON p.id = s.page_id WHERE p.site = ?",
            (site,),
        )
        return int(rows[0]["n"])


def _snapshot(row: dict[str, Any]) -> Snapshot:
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


def _insert_change(
    conn: sqlite3.Connection,
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
        INSERT OR REPLACE INTO changes (snapshot_id, previous_id, words_added, words_removed,
            title_changed, author_changed, published_changed, updated_changed,
            description_changed, cause, kind)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        (snapshot_id, previous_id, added, removed, *flags, cause, kind),
    )
