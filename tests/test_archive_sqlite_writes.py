"""The archive writer: versioning by content hash, raw storage, refs, errors, re-extraction."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from scraper.archive.sqlite.store import Archive
from scraper.errors import ArchiveError, BadStatusError, FetchTimeoutError
from scraper.models import Article
from tests.contract.values import BODY_V1, BODY_V2, URL
from tests.contract.values import result as make_result


def make_article(text: str = "The quick brown fox\nJumps over the dog", **kw: Any) -> Article:
    fields: dict[str, Any] = {"url": URL, "title": "Foxes", "author": "Ann", "found": True}
    fields.update(kw)
    return Article(text=text, markdown=text, word_count=len(text.split()), **fields)


def count(archive: Archive, table: str) -> int:
    return int(archive.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


@pytest.fixture
def archive(fresh_archive: Archive) -> Archive:
    """A new archive at ``db_path`` (the shared ``fresh_archive``: no migrations run)."""
    return fresh_archive


# --- opening -------------------------------------------------------------------------------
def test_open_creates_parent_dirs_wal_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "archive.db"
    with Archive(path) as arc:
        assert arc.path == path
        assert arc.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert arc.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert arc.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert arc.db.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
        names = set(arc.db.table_names()) | set(arc.db.view_names())
        assert {"pages", "fetches", "snapshots", "raw", "changes", "boilerplate"} <= names
        assert {"latest_snapshots", "snapshot_changes"} <= names
    assert path.is_file()


def test_not_a_database_is_one_line_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not SQLite\n" * 50)
    with pytest.raises(ArchiveError) as info:
        Archive(path)
    assert str(info.value) == f"{path}: file is not a database"
    with pytest.raises(ArchiveError, match="file is not a database"):
        Archive(path, readonly=True)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        Archive(tmp_path)
    assert str(info.value) == f"{tmp_path}: is a directory, not an archive file"


def test_readonly_missing_file_says_so(tmp_path: Path) -> None:
    path = tmp_path / "nothing.db"
    with pytest.raises(ArchiveError) as info:
        Archive(path, readonly=True)
    assert str(info.value) == f"no archive at {path} (run scraper fetch or crawl first)"
    assert not path.exists()


def test_readonly_refuses_writes_through_sqlite(db_path: Path) -> None:
    with Archive(db_path) as arc:
        arc.save_fetch(URL, fetched_at="2024-05-01T10:00:00+00:00", article=make_article())
    with Archive(db_path, readonly=True) as ro:
        assert [s.title for s in ro.snapshots(URL)] == ["Foxes"]
        with pytest.raises(ArchiveError) as info:
            ro.save_fetch(URL, fetched_at="2024-05-02T10:00:00+00:00", error="x: y")
        assert str(info.value) == f"{db_path}: attempt to write a readonly database"
        with pytest.raises(ArchiveError, match="readonly"):
            ro.set_boilerplate("s", {"Share this": 3}, learned_at="2024-05-02T10:00:00+00:00")
    with Archive(db_path, readonly=True) as ro:
        assert len(ro.fetches(URL)) == 1


def test_readonly_never_migrates(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE things (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(ArchiveError, match="not a scraper archive"):
        Archive(path, readonly=True)
    conn = sqlite3.connect(path)
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    conn.close()
    assert tables == ["things"]


# --- save_fetch: versioning ----------------------------------------------------------------


def test_first_fetch_writes_page_fetch_snapshot_raw_and_change(archive: Archive) -> None:
    out = archive.save_fetch(
        URL,
        fetched_at="2024-05-01T10:00:00+00:00",
        result=make_result(),
        article=make_article(canonical_url=URL),
        site="news",
    )
    assert out.outcome == "new"
    assert (out.new_page, out.changed) == (True, False)
    assert (count(archive, "pages"), count(archive, "fetches"), count(archive, "snapshots")) == (
        1,
        1,
        1,
    )
    page = archive.page(URL)
    assert page is not None
    assert page.site == "news"
    assert page.first_seen == page.last_fetched == page.last_changed
    assert page.first_seen == "2024-05-01T10:00:00+00:00"
    assert (page.etag, page.last_status, page.failures) == ('"v1"', 200, 0)
    assert page.canonical_url == URL

    (fetch,) = archive.fetches(URL)
    assert fetch.snapshot_id == out.snapshot_id
    assert (fetch.status_code, fetch.not_modified, fetch.error) == (200, 0, None)
    assert (fetch.bytes, fetch.elapsed_ms, fetch.content_type) == (
        len(BODY_V1),
        12,
        "text/html",
    )
    assert fetch.raw_sha256 == hashlib.sha256(BODY_V1).hexdigest()

    (snap,) = archive.snapshots(URL)
    assert snap.id == out.snapshot_id
    assert (snap.title, snap.author, snap.cause) == ("Foxes", "Ann", "fetch")
    assert snap.text == "The quick brown fox\nJumps over the dog"
    assert snap.raw_sha256 == fetch.raw_sha256
    assert "text" not in snap.metadata
    assert "markdown" not in snap.metadata
    assert snap.metadata["canonical_url"] == URL
    assert snap.metadata["word_count"] == 8

    change = archive.db.execute(
        "SELECT previous_id, words_added, words_removed, title_changed, cause FROM changes"
    ).fetchone()
    assert change == (None, 8, 0, 0, "fetch")


def test_unchanged_refetch_adds_a_fetch_only(archive: Archive) -> None:
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    out = archive.save_fetch(
        URL, fetched_at="2024-05-02T10:00:00+00:00", result=make_result(), article=make_article()
    )
    assert out.outcome == "unchanged"
    assert out.snapshot_id is None
    assert (count(archive, "fetches"), count(archive, "snapshots"), count(archive, "changes")) == (
        2,
        1,
        1,
    )
    page = archive.page(URL)
    assert page is not None
    assert page.last_fetched == "2024-05-02T10:00:00+00:00"
    assert page.last_changed == "2024-05-01T10:00:00+00:00"
    assert archive.fetches(URL)[0].snapshot_id is None


def test_changed_page_adds_a_snapshot_and_a_changes_row(archive: Archive) -> None:
    first = archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    out = archive.save_fetch(
        URL,
        fetched_at="2024-05-03T09:30:00+00:00",
        result=make_result(BODY_V2, etag='"v2"'),
        article=make_article("The quick red fox\nJumps over the lazy dog", title="Red foxes"),
    )
    assert out.outcome == "changed"
    assert (out.new_page, out.changed) == (False, True)
    assert count(archive, "snapshots") == 2
    # brown -> red (1 added, 1 removed), + lazy (1 added)
    change = archive.db.execute(
        "SELECT previous_id, words_added, words_removed, title_changed, author_changed, "
        "published_changed, updated_changed, description_changed, cause "
        "FROM changes WHERE snapshot_id = ?",
        [out.snapshot_id],
    ).fetchone()
    assert change == (first.snapshot_id, 2, 1, 1, 0, 0, 0, 0, "fetch")
    view = archive.db.execute(
        "SELECT previous_title, title, words_added FROM snapshot_changes WHERE snapshot_id = ?",
        [out.snapshot_id],
    ).fetchone()
    assert view == ("Foxes", "Red foxes", 2)
    page = archive.page(URL)
    assert page is not None
    assert (page.etag, page.last_changed) == ('"v2"', "2024-05-03T09:30:00+00:00")
    assert [s.title for s in archive.snapshots(URL)] == ["Red foxes", "Foxes"]
    latest = archive.db.execute("SELECT url, title FROM latest_snapshots").fetchall()
    assert latest == [(URL, "Red foxes")]


def test_not_modified_adds_a_fetch_row_and_touches_last_fetched_only(archive: Archive) -> None:
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    raws = count(archive, "raw")
    out = archive.save_fetch(
        URL,
        fetched_at="2024-05-02T10:00:00+00:00",
        result=make_result(b"", status=304, etag='"other"', not_modified=True),
    )
    assert out.snapshot_id is None
    assert (count(archive, "fetches"), count(archive, "snapshots")) == (2, 1)
    fetch = archive.fetches(URL)[0]
    assert (fetch.status_code, fetch.not_modified, fetch.raw_sha256, fetch.bytes) == (
        304,
        1,
        None,
        None,
    )
    # the 304's header block is the one new blob (its request block equals the first one's)
    assert count(archive, "raw") == raws + 1
    assert archive.raw(fetch.headers_sha256).startswith(b"HTTP/1.1 304 Not Modified\r\n")
    page = archive.page(URL)
    assert page is not None
    assert page.last_fetched == "2024-05-02T10:00:00+00:00"
    assert page.last_changed == "2024-05-01T10:00:00+00:00"
    assert page.etag == '"v1"'


def test_failed_fetch_is_recorded_and_never_touches_snapshots(archive: Archive) -> None:
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    error = BadStatusError(URL, "server answered 503", status_code=503, elapsed_ms=40)
    out = archive.save_fetch(URL, fetched_at="2024-05-02T10:00:00+00:00", error=error)
    assert out.snapshot_id is None
    archive.save_fetch(
        URL,
        fetched_at="2024-05-02T11:00:00+00:00",
        error=FetchTimeoutError(URL, "read timeout after 10s"),
        article=make_article("something else entirely"),
    )
    assert count(archive, "snapshots") == 1
    failed = archive.fetches(URL)[:2]
    assert [(f.error, f.status_code, f.elapsed_ms) for f in failed] == [
        ("timeout: read timeout after 10s", None, None),
        ("status: server answered 503", 503, 40),
    ]
    assert all(f.snapshot_id is None for f in failed)
    page = archive.page(URL)
    assert page is not None
    assert (page.failures, page.last_error) == (2, "timeout: read timeout after 10s")
    assert page.etag == '"v1"'
    archive.save_fetch(
        URL, fetched_at="2024-05-03T10:00:00+00:00", result=make_result(), article=make_article()
    )
    page = archive.page(URL)
    assert page is not None
    assert (page.failures, page.last_error, page.last_status) == (0, None, 200)


def test_failed_first_fetch_creates_the_page_without_snapshot(archive: Archive) -> None:
    out = archive.save_fetch(URL, fetched_at="2024-05-01T10:00:00+00:00", error="dns: unknown host")
    assert out.snapshot_id is None
    assert (count(archive, "pages"), count(archive, "fetches"), count(archive, "snapshots")) == (
        1,
        1,
        0,
    )
    assert archive.fetches(URL)[0].error == "dns: unknown host"


def test_article_not_found_stores_the_fetch_and_raw_but_no_snapshot(archive: Archive) -> None:
    out = archive.save_fetch(
        URL,
        fetched_at="2024-05-01T10:00:00+00:00",
        result=make_result(),
        article=Article(url=URL, found=False),
    )
    assert out.snapshot_id is None
    assert count(archive, "snapshots") == 0
    assert archive.raw(archive.fetches(URL)[0].raw_sha256) == BODY_V1


# --- raw storage ---------------------------------------------------------------------------
def test_raw_bodies_are_stored_once_per_sha256_and_round_trip(archive: Archive) -> None:
    other = "https://news.example/post/2"
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    archive.save_fetch(
        other,
        fetched_at="2024-05-01T10:01:00+00:00",
        result=make_result(url=other),
        article=make_article("Another text"),
    )
    sha = hashlib.sha256(BODY_V1).hexdigest()
    rows = archive.db.execute(
        "SELECT size, compression FROM raw WHERE sha256 = ?", [sha]
    ).fetchall()
    assert rows == [(len(BODY_V1), "zstd")]
    assert {s.raw_sha256 for s in archive.snapshots(URL) + archive.snapshots(other)} == {sha}
    assert archive.raw(sha) == BODY_V1
    with pytest.raises(KeyError):
        archive.raw("0" * 64)


def test_header_and_request_blocks_are_http_wire_format(archive: Archive) -> None:
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    fetch = archive.fetches(URL)[0]
    assert archive.raw(fetch.headers_sha256) == (
        b'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nETag: "v1"\r\n\r\n'
    )
    assert archive.raw(fetch.request_sha256) == (
        b"GET /post/1 HTTP/1.1\r\nHost: news.example\r\nUser-Agent: scraper-test\r\n\r\n"
    )


# --- crash safety --------------------------------------------------------------------------
class ExplodingArticle(Article):
    """An article whose hashing fails half-way through save_fetch (after page and raw rows)."""

    def content_hash(self) -> str:
        raise RuntimeError("boom")


def test_an_exception_inside_save_fetch_leaves_nothing_half_written(archive: Archive) -> None:
    bad = ExplodingArticle(url=URL, text="text", found=True)
    with pytest.raises(RuntimeError, match="boom"):
        archive.save_fetch(
            URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=bad
        )
    for table in ("pages", "fetches", "snapshots", "raw", "changes"):
        assert count(archive, table) == 0, table
    # the archive is usable afterwards
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:05:00+00:00", result=make_result(), article=make_article()
    )
    assert (count(archive, "pages"), count(archive, "snapshots")) == (1, 1)


def test_a_second_connection_sees_nothing_until_commit(db_path: Path, archive: Archive) -> None:
    """A reader beside the writer (WAL) sees each save_fetch whole."""
    archive.save_fetch(
        URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result(), article=make_article()
    )
    with Archive(db_path, readonly=True) as reader:
        assert len(reader.snapshots(URL)) == 1
        assert len(reader.fetches(URL)) == 1


# --- boilerplate, re-extraction, migration -------------------------------------------------


def test_latest_captures_and_save_reextracted(archive: Archive) -> None:
    archive.save_fetch(
        URL,
        fetched_at="2024-05-01T10:00:00+00:00",
        result=make_result(),
        article=make_article(),
        site="news",
    )
    archive.save_fetch(
        URL,
        fetched_at="2024-05-02T10:00:00+00:00",
        result=make_result(BODY_V2),
        article=make_article(),
        site="news",
    )
    archive.save_fetch(
        "https://other.example/", fetched_at="2024-05-01T10:00:00+00:00", article=make_article("x")
    )
    captures = list(archive.latest_captures("news"))
    assert len(captures) == 1
    (cap,) = captures
    assert (cap.url, cap.site, cap.body, cap.fetched_at) == (
        URL,
        "news",
        BODY_V2,
        "2024-05-02T10:00:00+00:00",
    )
    assert cap.raw_sha256 == hashlib.sha256(BODY_V2).hexdigest()
    assert cap.snapshot_id == archive.snapshots(URL)[0].id
    assert list(archive.latest_captures()) == captures  # the other page has no raw capture

    same = archive.save_reextracted(
        URL, make_article(), at="2024-06-01T00:00:00+00:00", raw_sha256=cap.raw_sha256
    )
    assert same is None
    new_id = archive.save_reextracted(
        URL,
        make_article("The quick brown fox\nJumps over the dog\nA caption we used to miss"),
        at="2024-06-01T00:00:00+00:00",
        raw_sha256=cap.raw_sha256,
    )
    assert new_id is not None
    latest = archive.snapshots(URL)[0]
    assert (latest.id, latest.cause, latest.raw_sha256) == (new_id, "reextract", cap.raw_sha256)
    change = archive.db.execute(
        "SELECT previous_id, words_added, words_removed, cause FROM changes WHERE snapshot_id = ?",
        [new_id],
    ).fetchone()
    assert change == (cap.snapshot_id, 6, 0, "reextract")
    with pytest.raises(ValueError, match="not in the archive"):
        archive.save_reextracted(
            "https://nowhere.example/", make_article(), at="2024", raw_sha256=None
        )


def test_migration_backfills_missing_changes_rows(db_path: Path) -> None:
    with Archive(db_path) as arc:
        for day, text, title in (
            ("01", "a b c", "T"),
            ("02", "a b d e", "T"),
            ("03", "z a b d e", "U"),
        ):
            arc.save_fetch(
                URL, fetched_at=f"2024-05-{day}T00:00:00Z", article=make_article(text, title=title)
            )
        arc.db.execute("DELETE FROM changes")
        arc.db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm002_backfill_changes'")
    for _ in range(2):  # applying it twice changes nothing the second time
        with Archive(db_path) as arc:
            rows = arc.db.execute(
                "SELECT snapshot_id, previous_id, words_added, words_removed, title_changed, cause "
                "FROM changes ORDER BY snapshot_id"
            ).fetchall()
            assert rows == [
                (1, None, 3, 0, 0, "fetch"),
                (2, 1, 2, 1, 0, "fetch"),
                (3, 2, 1, 0, 1, "fetch"),
            ]
            arc.db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm002_backfill_changes'")


def test_a_path_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "data"
    blocker.write_text("a file where a directory should be")
    with pytest.raises(ArchiveError) as info:
        Archive(blocker / "archive.db")
    assert str(info.value) == (
        f"{blocker / 'archive.db'}: cannot create directory {blocker}: File exists"
    )


def test_a_full_disk_is_a_clear_error_and_the_archive_stays_consistent(archive: Archive) -> None:
    archive.save_fetch(URL, fetched_at="2024-05-01T10:00:00+00:00", article=make_article())
    pages = archive.db.execute("PRAGMA page_count").fetchone()[0]
    archive.db.execute(f"PRAGMA max_page_count = {pages}")  # the "disk" is now full
    big = make_article(" ".join(f"word{n}" for n in range(20_000)))
    with pytest.raises(ArchiveError) as info:
        archive.save_fetch(URL, fetched_at="2024-05-02T10:00:00+00:00", article=big)
    assert str(info.value) == f"{archive.path}: database or disk is full"
    assert (count(archive, "fetches"), count(archive, "snapshots")) == (1, 1)


# --- records from rows ---------------------------------------------------------------------
def test_records_of_an_archive_from_before_a_column_existed(db_path: Path) -> None:
    """A read-only archive is not migrated: a column a later migration added reads as None."""
    with Archive(db_path) as arc:
        arc.save_fetch(URL, fetched_at="2024-05-01T10:00:00+00:00", result=make_result())
        arc.db.execute("ALTER TABLE fetches DROP COLUMN ip_address")
        arc.db.execute("ALTER TABLE pages DROP COLUMN crawled_at")
    with Archive(db_path, readonly=True) as ro:
        (fetch,) = ro.fetches(URL)
        assert (fetch.status_code, fetch.ip_address) == (200, None)
        page = ro.page(URL)
        assert page is not None
        assert (page.url, page.crawled_at) == (URL, None)


def test_a_run_row_without_sites_reads_as_no_sites(archive: Archive) -> None:
    cursor = archive.db.execute("INSERT INTO runs (started_at) VALUES ('2024-05-01T10:00:00Z')")
    run = archive.crawl_state().run(int(cursor.lastrowid or 0))
    assert run is not None
    assert (run.sites, run.pages_fetched, run.exit_code) == ((), 0, None)
