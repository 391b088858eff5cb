"""The diff stage on hand-written snapshot pairs, with hand-written expected output."""

from __future__ import annotations

from typing import Any

import pytest

from scraper.diff import diff_ops, unified_diff, word_counts, word_diff
from scraper.models import Snapshot

OLD_TEXT = """The council met on Monday.
It approved the budget of 3 million.
Residents asked about the bridge.
The next meeting is in June."""

NEW_TEXT = """The council met on Monday.
It approved the revised budget of 4 million.
Residents asked about the bridge.
A vote on the bridge is due in May."""


def snap(snapshot_id: int, text: str, fetched_at: str, **kw: Any) -> Snapshot:
    fields: dict[str, Any] = {
        "title": "Council approves budget",
        "author": "Jo Reporter",
        "published": "2024-05-01",
        "updated": None,
        "language": "en",
        "description": None,
    }
    fields.update(kw)
    return Snapshot(
        id=snapshot_id,
        page_id=1,
        url="https://news.example/council",
        fetched_at=fetched_at,
        content_hash=f"hash{snapshot_id}",
        text=text,
        markdown=text,
        metadata={},
        raw_sha256=None,
        **fields,
    )


OLD = snap(3, OLD_TEXT, "2024-05-01T08:00:00+00:00")
NEW = snap(
    7,
    NEW_TEXT,
    "2024-05-02T09:15:00+00:00",
    title="Council approves revised budget",
    updated="2024-05-02",
)


def test_unified_diff_with_metadata_lines() -> None:
    assert unified_diff(OLD, NEW) == (
        "title: 'Council approves budget' -> 'Council approves revised budget'\n"
        "updated: None -> '2024-05-02'\n"
        "--- snapshot 3 (2024-05-01T08:00:00+00:00)\n"
        "+++ snapshot 7 (2024-05-02T09:15:00+00:00)\n"
        "@@ -1,4 +1,4 @@\n"
        " The council met on Monday.\n"
        "-It approved the budget of 3 million.\n"
        "+It approved the revised budget of 4 million.\n"
        " Residents asked about the bridge.\n"
        "-The next meeting is in June.\n"
        "+A vote on the bridge is due in May.\n"
    )


def test_unified_diff_of_equal_snapshots_is_empty() -> None:
    assert unified_diff(OLD, OLD) == ""


def test_unified_diff_ignores_blank_lines_and_trailing_spaces() -> None:
    spaced = snap(
        4, "The council met on Monday.  \n\n\n" + OLD_TEXT.split("\n", 1)[1], "2024-05-01"
    )
    assert unified_diff(OLD, spaced) == ""


def test_word_diff_plain_markers() -> None:
    assert word_diff(OLD, NEW) == (
        "title: 'Council approves budget' -> 'Council approves revised budget'\n"
        "updated: None -> '2024-05-02'\n"
        "...\n"
        "It approved the {+revised+} budget of [-3-]{+4+} million.\n"
        "...\n"
        "[-The next meeting-]{+A vote on the bridge+} is {+due+} in [-June.-]{+May.+}\n"
    )


def test_word_diff_coloured() -> None:
    red, green, reset = "\x1b[31m", "\x1b[32m", "\x1b[0m"
    old = snap(1, "one two three", "2024-05-01")
    new = snap(2, "one 2 three four", "2024-05-02")
    assert word_diff(old, new, color=True) == (
        f"one {red}two{reset}{green}2{reset} three {green}four{reset}\n"
    )


def test_word_diff_whole_paragraphs_inserted_and_deleted() -> None:
    old = snap(1, "Intro.\nGone paragraph here.\nMiddle.\nTail.", "2024-05-01")
    new = snap(2, "Intro.\nMiddle.\nBrand new paragraph.\nTail.", "2024-05-02")
    assert word_diff(old, new) == (
        "...\n[-Gone paragraph here.-]\n...\n{+Brand new paragraph.+}\n...\n"
    )


def test_word_diff_of_equal_snapshots_is_empty() -> None:
    assert word_diff(OLD, OLD) == ""


def test_diff_ops_json() -> None:
    old = snap(1, "Alpha beta gamma.\nSecond line stays.", "2024-05-01T00:00:00Z")
    new = snap(
        2, "Alpha delta gamma epsilon.\nSecond line stays.", "2024-05-02T00:00:00Z", author="Al"
    )
    assert diff_ops(old, new) == {
        "from": {"id": 1, "fetched_at": "2024-05-01T00:00:00Z"},
        "to": {"id": 2, "fetched_at": "2024-05-02T00:00:00Z"},
        "metadata": {"author": {"old": "Jo Reporter", "new": "Al"}},
        "words_added": 3,
        "words_removed": 2,
        "ops": [
            {"op": "equal", "words": ["Alpha"]},
            {"op": "replace", "old": ["beta", "gamma."], "new": ["delta", "gamma", "epsilon."]},
            {"op": "equal", "words": ["\n", "Second", "line", "stays.", "\n"]},
        ],
    }


def test_diff_ops_insert_and_delete() -> None:
    old = snap(1, "Keep.\nDrop me.", "2024-05-01")
    new = snap(2, "New first.\nKeep.", "2024-05-02")
    assert diff_ops(old, new)["ops"] == [
        {"op": "insert", "new": ["New", "first.", "\n"]},
        {"op": "equal", "words": ["Keep.", "\n"]},
        {"op": "delete", "old": ["Drop", "me.", "\n"]},
    ]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("", "", (0, 0)),
        ("", "three new words", (3, 0)),
        ("three old words", "", (0, 3)),
        ("a b c\nd e", "a b c\nd e", (0, 0)),
        ("a b c\nd e", "a x c\nd e f", (2, 1)),
        ("first\nsecond", "second\nfirst", (1, 1)),  # a moved paragraph: removed and added
        (OLD_TEXT, NEW_TEXT, (9, 5)),
    ],
)
def test_word_counts(old: str, new: str, expected: tuple[int, int]) -> None:
    assert word_counts(old, new) == expected


def test_long_article_with_few_edits_counts_only_the_edits() -> None:
    paragraphs = [f"Paragraph {n} says something about item {n} today." for n in range(600)]
    edited = list(paragraphs)
    edited[100] = "Paragraph 100 says something new about item 100 today."
    edited[450] = "Paragraph 450 says nothing."
    assert word_counts("\n".join(paragraphs), "\n".join(edited)) == (2, 5)
