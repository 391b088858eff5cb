"""The archive's cheaper writes keep what it stores and answers: page size, WAL bound, old files."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.archive.sql.versions import count_words
from scraper.archive.sqlite.connection import PAGE_SIZE, WAL_CHECKPOINT_BYTES
from scraper.archive.sqlite.store import Archive
from scraper.models import Article
from tests.contract.values import BODY_V1, URL
from tests.contract.values import result as make_result

TEXT = "Zebras crossed the river at dawn\nThe herd moved on to the southern plain"


def _article(text: str = TEXT, title: str = "Zebras") -> Article:
    return Article(
        url=URL, title=title, text=text, markdown=text, word_count=len(text.split()), found=True
    )


def _pragma(path: Path, name: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"PRAGMA {name}").fetchone()[0])
    finally:
        conn.close()


def test_a_new_archive_has_8k_pages_and_a_4mb_wal_bound(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    with Archive(path) as arc:
        assert arc.db.execute("PRAGMA page_size").fetchone()[0] == 8192 == PAGE_SIZE
        # 1,000 frames of 4 KB before: the same bytes of WAL before a checkpoint
        assert arc.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 500
        assert WAL_CHECKPOINT_BYTES == 4096 * 1000
    assert _pragma(path, "page_size") == 8192


def test_an_archive_with_4k_pages_keeps_them_and_answers_as_before(tmp_path: Path) -> None:
    """A file made before (SQLite's default 4 KB pages) is written and searched as it was."""
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL").fetchone()  # writes the file's header
    conn.close()
    assert _pragma(path, "page_size") == 4096
    with Archive(path) as arc:
        assert arc.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert arc.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
        saved = arc.save_fetch(
            URL, fetched_at="2026-01-01T00:00:00Z", result=make_result(BODY_V1), article=_article()
        )
        assert saved.snapshot_id is not None
        hits = arc.search("zebras")
        assert [hit.url for hit in hits] == [URL]
    assert _pragma(path, "page_size") == 4096


def test_a_second_open_keeps_the_page_size_and_the_data(tmp_path: Path) -> None:
    path = tmp_path / "archive.db"
    with Archive(path) as arc:
        arc.save_fetch(
            URL, fetched_at="2026-01-01T00:00:00Z", result=make_result(BODY_V1), article=_article()
        )
    with Archive(path) as arc:
        assert arc.db.execute("PRAGMA page_size").fetchone()[0] == 8192
        assert arc.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = arc.db.execute("SELECT title, text FROM snapshots").fetchall()
        assert rows == [("Zebras", TEXT)]


def test_raw_bodies_are_zstd_level_2_and_older_blobs_read_the_same(tmp_path: Path) -> None:
    """What ``raw`` holds decompresses to the bytes fetched, whatever level wrote it."""
    body = b"<html><body>" + b"<p>A paragraph of the article, with its words.</p>\n" * 400
    with Archive(tmp_path / "archive.db") as arc:
        arc.save_fetch(
            URL, fetched_at="2026-01-01T00:00:00Z", result=make_result(body), article=_article()
        )
        sha = hashlib.sha256(body).hexdigest()
        size, compression, data = arc.db.execute(
            "SELECT size, compression, data FROM raw WHERE sha256 = ?", [sha]
        ).fetchone()
        assert (size, compression) == (len(body), "zstd")
        assert data == zstandard.ZstdCompressor(level=2).compress(body)
        assert zstandard.ZstdDecompressor().decompress(data) == body
        assert arc.raw(sha) == body
        # a blob an older archive wrote at level 3 reads back the same
        older = b"<html><body>" + b"<p>An older page, stored before.</p>\n" * 300
        older_sha = hashlib.sha256(older).hexdigest()
        arc.db.execute(
            "INSERT INTO raw (sha256, size, compression, data) VALUES (?, ?, 'zstd', ?)",
            [older_sha, len(older), zstandard.ZstdCompressor(level=3).compress(older)],
        )
        assert arc.raw(older_sha) == older


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F)) | st.text())
def test_count_words_is_len_of_split(text: str) -> None:
    assert count_words(text) == len(text.split())


def test_count_words_on_every_kind_of_whitespace() -> None:
    spaces = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
    assert "\x1c" in spaces  # str.split() takes the file separators for whitespace too
    ascii_spaces = [c for c in spaces if ord(c) < 128]
    text = "".join(f"w{i}{c}{c}" for i, c in enumerate(ascii_spaces)) + "end"
    assert count_words(text) == len(text.split()) == len(ascii_spaces) + 1
    for c in spaces:
        mixed = f"one{c}two \u00e9three{c}"
        assert count_words(mixed) == len(mixed.split())
    assert count_words("") == count_words(" \n\t ") == 0


def test_a_first_snapshot_counts_every_word_added(tmp_path: Path) -> None:
    text = "Zebras\x1ccrossed  the river\n\nat\tdawn"  # 6 words, as str.split() sees them
    with Archive(tmp_path / "archive.db") as arc:
        saved = arc.save_fetch(
            URL, fetched_at="2026-01-01T00:00:00Z", result=make_result(), article=_article(text)
        )
        row = arc.db.execute(
            "SELECT previous_id, words_added, words_removed FROM changes WHERE snapshot_id = ?",
            [saved.snapshot_id],
        ).fetchone()
    assert row == (None, 6, 0)


_PAGES = {
    "https://news.example/a": [
        ("Zebra migration", "Zebras crossed the river at dawn.\n\nThe herd moved south."),
        ("Zebra migration", "Zebras crossed the river at dusk.\n\nThe herd moved south again."),
    ],
    "https://news.example/b": [("River levels", "The river rose by a metre; zebras waited.")],
    "https://news.example/c": [("Café été", "Les zèbres traversent la rivière à l'aube.")],
}
_QUERIES = ["zebras", "river", "zebra*", '"the herd moved"', "cafe", "zebres riviere", "dusk"]


def _fill(arc: Archive) -> None:
    """The same writes, in the same order, with the same clock, into ``arc``."""
    for day, version in enumerate(range(2), start=1):
        for url, versions in _PAGES.items():
            if version >= len(versions):
                continue
            title, text = versions[version]
            body = f"<html><title>{title}</title><body><p>{text}</p></body></html>".encode()
            arc.save_fetch(
                url,
                fetched_at=f"2026-01-0{day}T00:00:00Z",
                result=make_result(body, url=url),
                article=Article(
                    url=url, title=title, text=text, markdown=text, word_count=9, found=True
                ),
            )


def _contents(arc: Archive) -> dict[str, list[tuple[object, ...]]]:
    tables = ("pages", "fetches", "snapshots", "changes")
    rows = {t: arc.db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall() for t in tables}
    rows["raw"] = [
        (sha, size, compression, zstandard.ZstdDecompressor().decompress(data))
        for sha, size, compression, data in arc.db.execute(
            "SELECT sha256, size, compression, data FROM raw ORDER BY sha256"
        )
    ]
    return rows


def test_4k_and_8k_archives_store_and_answer_the_same(tmp_path: Path) -> None:
    """Every row (raw bodies decompressed) and every search answer, snippet and rank alike."""
    old_path = tmp_path / "old.db"
    conn = sqlite3.connect(old_path)
    conn.execute("PRAGMA page_size = 4096")
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    conn.close()
    with Archive(old_path) as old, Archive(tmp_path / "new.db") as new:
        assert old.db.execute("PRAGMA page_size").fetchone()[0] == 4096
        assert new.db.execute("PRAGMA page_size").fetchone()[0] == 8192
        _fill(old)
        _fill(new)
        assert _contents(old) == _contents(new)
        assert len(_contents(new)["snapshots"]) == 4
        for query in _QUERIES:
            answers = [h.to_dict() for h in old.search(query, all_versions=True)]
            assert answers == [h.to_dict() for h in new.search(query, all_versions=True)]
        assert {h.url for h in new.search("zebras")} == {
            "https://news.example/a",
            "https://news.example/b",
        }
        assert [h.url for h in new.search("cafe")] == ["https://news.example/c"]
        assert [h.url for h in new.search('"the herd moved"')] == ["https://news.example/a"]
        fts = "SELECT rowid FROM snapshots_fts WHERE snapshots_fts MATCH ? ORDER BY rank"
        for query in ("zebras", "river", "zeb*"):
            assert (
                old.db.execute(fts, [query]).fetchall() == new.db.execute(fts, [query]).fetchall()
            )
