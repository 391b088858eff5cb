"""The README's SQL examples run, read-only, against the fixture archive and give the right answers.

Each ```sql block in the "Query the archive with SQL" section starts with a ``-- comment`` that
names it; the expected rows below are written by hand from tests/fixtures/archive_site/.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from scraper.archive.sqlite.query import run_sql
from tests.fixtures.archive_site.build import build_archive

README = Path(__file__).resolve().parents[1] / "README.md"
#: the README's queries that say 'now' run as if it were this moment (the fixture is from May 2026)
FIXED_NOW = "'2026-05-12T00:00:00'"

BUDGET = "https://daily.example/news/budget"
SEOUL = "https://daily.example/news/seoul"
BRIDGE = "https://daily.example/news/bridge"
MOSCOW = "https://weekly.example/p/moscow"
ABOUT = "https://weekly.example/p/about"


def _sql_blocks() -> dict[str, str]:
    text = README.read_text("utf-8")
    start = text.index("<!-- BEGIN sql-section")
    end = text.index("<!-- END sql-section -->")
    blocks = re.findall(r"```sql\n(.*?)```", text[start:end], re.DOTALL)
    named = {}
    for block in blocks:
        first = block.splitlines()[0]
        assert first.startswith("-- "), f"a README sql block has no '-- name' line: {block[:60]!r}"
        named[first[3:].strip()] = block
    return named


def _check_changes_per_day(rows: list[tuple[Any, ...]]) -> None:
    assert rows == [
        ("daily", "2026-05-04", 1),
        ("daily", "2026-05-05", 1),
        ("daily", "2026-05-06", 1),
        ("weekly", "2026-05-07", 1),
    ]


def _check_headline_rewrites(rows: list[tuple[Any, ...]]) -> None:
    # A week before 2026-05-12 excludes the budget rewrite of 2026-05-04.
    assert rows == [
        ("2026-05-07T12:00:00Z", MOSCOW, "Москва готовится к празднику", "Москва отмечает праздник")
    ]


def _check_most_edited(rows: list[tuple[Any, ...]]) -> None:
    assert [(url, edits) for url, edits, _, _ in rows] == [(BUDGET, 2), (SEOUL, 1), (MOSCOW, 1)]
    budget = rows[0]
    assert budget[2] > 0  # words were added, ...
    assert budget[3] > 0  # ... and removed (v1 -> v2 rewrote the first sentence)


def _check_longest_lived(rows: list[tuple[Any, ...]]) -> None:
    assert [(url, days) for url, _, _, days in rows] == [
        (ABOUT, 5.5),
        (BUDGET, 5.0),
        (MOSCOW, 5.0),
        (SEOUL, 4.0),
        (BRIDGE, 0.0),
    ]
    assert rows[0][1:3] == ("2026-05-02T12:30:00Z", "2026-05-08T00:30:00Z")


def _check_disappeared(rows: list[tuple[Any, ...]]) -> None:
    assert rows == [
        (BRIDGE, 410, "2026-05-06T10:00:00Z", "Bridge closed for repairs", "2026-05-01T10:00:00Z")
    ]


def _check_fts(rows: list[tuple[Any, ...]]) -> None:
    assert len(rows) == 1
    url, title, snippet = rows[0]
    assert (url, title) == (MOSCOW, "Москва отмечает праздник")
    assert "[Москва]" in snippet


def _check_once_said(rows: list[tuple[Any, ...]]) -> None:
    assert rows == [(BUDGET, "2026-05-01T08:00:00Z")]


def _check_errors_by_host(rows: list[tuple[Any, ...]]) -> None:
    assert rows == [
        ("https://daily.example", "status", 2, "2026-05-06T10:00:00Z"),
        ("https://weekly.example", "timeout", 1, "2026-05-08T12:30:00Z"),
    ]


def _check_on_date(rows: list[tuple[Any, ...]]) -> None:
    assert len(rows) == 1
    fetched_at, title, text = rows[0]
    assert (fetched_at, title) == (
        "2026-05-04T08:00:00Z",
        "Council approves record budget after late-night vote",
    )
    assert text.startswith("The city council approved a record budget late on Monday night.")
    assert "Correction" not in text


def _check_captures(rows: list[tuple[Any, ...]]) -> None:
    assert rows == [
        ("2026-05-01T08:00:00Z", 200, 0, None, 1),
        ("2026-05-02T08:00:00Z", 200, 0, None, 0),
        ("2026-05-03T08:00:00Z", 304, 1, None, 0),
        ("2026-05-04T08:00:00Z", 200, 0, None, 1),
        ("2026-05-06T08:00:00Z", 200, 0, None, 1),
    ]


def _check_by_cause(rows: list[tuple[Any, ...]]) -> None:
    assert [(cause, versions) for cause, versions, _ in rows] == [("fetch", 4), ("reextract", 1)]
    assert rows[1][2] == 4  # the re-extraction picked up a 4-word photo caption


EXPECTATIONS: dict[str, Callable[[list[tuple[Any, ...]]], None]] = {
    "Changes per site per day (edits by the sites, not re-extractions)": _check_changes_per_day,
    "Headline rewrites this week": _check_headline_rewrites,
    "The 10 most-edited pages": _check_most_edited,
    "The longest-lived articles: days from the first to the last successful fetch": (
        _check_longest_lived
    ),
    "Pages that disappeared: the last fetch was a 404 or 410, and we have what they said": (
        _check_disappeared
    ),
    "Full-text search: the current version of pages that mention Moscow (in Russian)": _check_fts,
    "Pages that once said something they no longer say": _check_once_said,
    "Fetch errors by host and kind (status, timeout, robots, ...)": _check_errors_by_host,
    "What a page said on a given date: the newest version fetched before it": _check_on_date,
    "Every capture of a page: status, 304s, and which fetches changed it": _check_captures,
    "Who changed what: edits by the sites versus changes in our own extraction": _check_by_cause,
}


@pytest.fixture(scope="module")
def fixture_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("readme") / "archive.db")


def test_every_readme_query_has_an_expectation() -> None:
    blocks = _sql_blocks()
    assert len(blocks) >= 8
    assert set(blocks) == set(EXPECTATIONS)


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_readme_query(name: str, fixture_archive: Path) -> None:
    sql = _sql_blocks()[name].replace("'now'", FIXED_NOW)
    result = run_sql(fixture_archive, sql, max_rows=0)
    EXPECTATIONS[name](result.rows)
