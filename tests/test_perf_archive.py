"""The archive's cheaper writes keep what it stores: zstd level 2, a first version's word count."""

from __future__ import annotations

import hashlib
from pathlib import Path

import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from scraper.archive.sql.versions import count_words
from scraper.archive.sqlite.store import Archive
from scraper.models import Article
from tests.contract.values import URL
from tests.contract.values import result as make_result

TEXT = "Zebras crossed the river at dawn\nThe herd moved on to the southern plain"


def _article(text: str = TEXT, title: str = "Zebras") -> Article:
    return Article(
        url=URL, title=title, text=text, markdown=text, word_count=len(text.split()), found=True
    )


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
