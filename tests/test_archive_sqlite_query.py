"""Questions to the archive: changes, full-text search and read-only SQL, as functions and commands.

The archive is the fixture of tests/fixtures/archive_site/ (five pages, two sites, May 2026);
expected values are written by hand from its captures.json and versions.json.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import hashlib
import io
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.archive import Archive
from scraper.archive.sqlite.query import changes, fts_query, run_sql, search
from scraper.errors import ArchiveError, UsageError
from scraper.models import Article
from tests.fixtures.archive_site.build import build_archive
from tests.sites import run

BUDGET = "https://daily.example/news/budget"
SEOUL = "https://daily.example/news/seoul"
BRIDGE = "https://daily.example/news/bridge"
MOSCOW = "https://weekly.example/p/moscow"
ABOUT = "https://weekly.example/p/about"


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture archive, shared by the read-only tests of this module."""
    return build_archive(tmp_path_factory.mktemp("query") / "archive.db")


@pytest.fixture
def archive(fixture_db: Path) -> Iterator[Archive]:
    with Archive(fixture_db, readonly=True) as opened:
        yield opened


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


# --- changes ------------------------------------------------------------------------------


def test_changes_newest_first_with_sizes_title_and_cause(archive: Archive) -> None:
    rows = changes(archive)
    assert [(r.url, r.fetched_at, r.cause) for r in rows] == [
        (MOSCOW, "2026-05-07T12:00:00Z", "fetch"),
        (SEOUL, "2026-05-06T23:00:00Z", "reextract"),
        (BUDGET, "2026-05-06T08:00:00Z", "fetch"),
        (SEOUL, "2026-05-05T09:00:00Z", "fetch"),
        (BUDGET, "2026-05-04T08:00:00Z", "fetch"),
    ]
    moscow, reextract, correction, _, rewrite = rows
    assert moscow.title_changed
    assert (moscow.previous_title, moscow.title) == (
        "Москва готовится к празднику",
        "Москва отмечает праздник",
    )
    assert rewrite.title_changed
    assert rewrite.previous_fetched_at == "2026-05-01T08:00:00Z"
    # v3 only appends a 13-word correction and sets the updated date.
    assert (correction.words_added, correction.words_removed) == (13, 0)
    assert correction.updated_changed
    assert not correction.title_changed
    # the re-extraction picked up a 4-word photo caption: "사진: 시청 앞 광장"
    assert (reextract.words_added, reextract.words_removed) == (4, 0)
    assert rewrite.words_added > 0
    assert rewrite.words_removed > 0


def test_changes_filters(archive: Archive) -> None:
    since = changes(archive, since=when("2026-05-06T00:00:00+00:00"))
    assert [r.snapshot_id for r in since] == [10, 9, 8]
    assert [r.url for r in changes(archive, site="weekly")] == [MOSCOW]
    assert len(changes(archive, limit=2)) == 2
    # a since in another time zone means the same instant
    assert [r.snapshot_id for r in changes(archive, since=when("2026-05-06T02:00:00+02:00"))] == [
        10,
        9,
        8,
    ]


def test_cli_changes_table_and_json(fixture_db: Path) -> None:
    result = run("changes", "--db", str(fixture_db), "--site", "daily")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["fetched_at", "site", "+words", "-words", "cause", "url", "title"]
    assert len(lines) == 2 + 4
    assert "Council approves budget → Council approves record budget" in result.stdout
    result = run("changes", "--db", str(fixture_db), "--since", "2026-05-07", "--format", "json")
    data = json.loads(result.stdout)
    assert [(row["url"], row["words_added"], row["title_changed"]) for row in data] == [
        (MOSCOW, 4, True)
    ]


def test_cli_changes_since_duration_reads_the_clock(fixture_db: Path) -> None:
    """The fixture is from May 2026; a duration counts back from now, so it finds nothing."""
    result = run("changes", "--db", str(fixture_db), "--since", "1d")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr.strip() == "no changes"
    assert (
        json.loads(
            run("changes", "--db", str(fixture_db), "--format", "json", "--since", "2h").stdout
        )
        == []
    )


def test_cli_changes_bad_since_and_missing_archive(fixture_db: Path, tmp_path: Path) -> None:
    result = run("changes", "--db", str(fixture_db), "--since", "last tuesday")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --since: expected a duration like 7d or a date like 2026-05-01, got 'last tuesday'"
    )
    result = run("changes", "--db", str(tmp_path / "none.db"))
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "none.db" in result.stderr


# --- search -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("budget", '"budget"'),
        ("record budget", '"record" "budget"'),
        ('"late-night vote" council', '"late-night vote" "council"'),
        ("budg*", '"budg"*'),
        ("budget OR bridge", '"budget" OR "bridge"'),
        ("OR budget OR", '"budget"'),
        ('say "hi', '"say" "hi"'),
        ('a"b', '"a""b"'),
        ("C++ NEAR( x:y -z ^w", '"C++" "NEAR(" "x:y" "-z" "^w"'),
        ("서울", '"서울"*'),
    ],
)
def test_fts_query_quotes_what_the_user_typed(typed: str, expected: str) -> None:
    assert fts_query(typed) == expected


@pytest.mark.parametrize("typed", ["", "   ", "***", '""', "-- ++", "OR"])
def test_fts_query_with_no_words_is_a_usage_error(typed: str) -> None:
    with pytest.raises(UsageError, match="no words to look for"):
        fts_query(typed)


@pytest.mark.parametrize(
    "typed",
    [
        '"',
        "(",
        ")",
        "AND",
        "NOT",
        "NEAR(a b)",
        "title:budget",
        "{title}: x",
        "a AND",
        "*budget",
        "budget)",
        "'quoted'",
        "col:",
        "^",
        "\\",
        "🙂 budget",
        "budget -bridge",
    ],
)
def test_search_never_raises_a_syntax_error(archive: Archive, typed: str) -> None:
    with contextlib.suppress(UsageError):  # only "no words to look for"
        search(archive, typed)


def test_search_ranks_and_highlights(archive: Archive) -> None:
    hits = search(archive, "budget")
    assert [h.url for h in hits] == [BUDGET]
    hit = hits[0]
    assert hit.snapshot_id == 8
    assert hit.latest
    assert "**budget**" in hit.snippet
    hits = search(archive, "council OR bridge")
    assert {h.url for h in hits} == {BUDGET, BRIDGE}
    assert search(archive, "budget", highlight=("<b>", "</b>"))[0].snippet.count("<b>budget</b>")


def test_search_phrase(archive: Archive) -> None:
    assert [h.url for h in search(archive, '"late on monday night"')] == [BUDGET]
    assert search(archive, '"monday late"') == []


def test_search_finds_words_later_edited_out(archive: Archive) -> None:
    hits = search(archive, '"budget on monday"')
    assert [(h.url, h.snapshot_id, h.latest) for h in hits] == [(BUDGET, 1, False)]


def test_search_all_versions(archive: Archive) -> None:
    hits = search(archive, "correction OR vote", all_versions=True)
    assert sorted(h.snapshot_id for h in hits) == [1, 6, 8]
    assert [h.snapshot_id for h in search(archive, "correction OR vote")] == [8]


def test_search_russian_any_case(archive: Archive) -> None:
    for typed in ("москва", "МОСКВА", "Москва"):
        hits = search(archive, typed)
        assert [(h.url, h.snapshot_id) for h in hits] == [(MOSCOW, 10)], typed
        assert "**Москва**" in hits[0].snippet
    # an edited-out word finds the older version
    assert [(h.snapshot_id, h.latest) for h in search(archive, "готовятся")] == [(4, False)]


def test_search_korean(archive: Archive) -> None:
    # words separated by spaces match as they are ...
    hits = search(archive, "투표소에")
    assert [(h.url, h.snapshot_id) for h in hits] == [(SEOUL, 9)]
    assert "**투표소에**" in hits[0].snippet
    # ... and a Korean word also matches with a particle attached (시민 -> 시민들이)
    assert [h.url for h in search(archive, "시민")] == [SEOUL]
    assert [h.snapshot_id for h in search(archive, "역대 최고였다")] == [9]
    assert [(h.snapshot_id, h.latest) for h in search(archive, "높았다")] == [(2, False)]


def test_search_filters(archive: Archive) -> None:
    assert search(archive, "праздник", site="daily") == []
    assert [h.url for h in search(archive, "праздник", site="weekly")] == [MOSCOW]
    assert search(archive, "bridge", since=when("2026-05-02T00:00:00+00:00")) == []
    assert [h.url for h in search(archive, "bridge", since=when("2026-05-01T00:00:00+00:00"))] == [
        BRIDGE
    ]
    assert len(search(archive, "the OR москва OR 서울", limit=2)) == 2


def test_fts_index_follows_new_snapshots_and_reextraction(tmp_path: Path) -> None:
    db = build_archive(tmp_path / "archive.db")
    with Archive(db) as archive:
        assert search(archive, "lighthouse") == []
        archive.save_fetch(
            BRIDGE,
            fetched_at="2026-05-09T10:00:00Z",
            article=Article(
                title="Bridge reopens", text="The lighthouse road is open.", found=True
            ),
            site="daily",
        )
        assert [(h.url, h.latest) for h in search(archive, "lighthouse")] == [(BRIDGE, True)]
        # the old version stays searchable
        assert [(h.snapshot_id, h.latest) for h in search(archive, "repairs")] == [(3, False)]
        archive.save_reextracted(
            BRIDGE,
            Article(
                title="Bridge reopens", text="The lighthouse road is open to cars.", found=True
            ),
            at="2026-05-10T00:00:00Z",
            raw_sha256=None,
        )
        hits = search(archive, "cars")
        assert [(h.url, h.latest) for h in hits] == [(BRIDGE, True)]
        assert [c.cause for c in changes(archive, limit=1)] == ["reextract"]
    with sqlite3.connect(db) as conn:  # FTS5's own check that the index matches the table
        conn.execute("INSERT INTO snapshots_fts (snapshots_fts) VALUES ('integrity-check')")
    conn.close()


def test_cli_search(fixture_db: Path) -> None:
    result = run("search", "--db", str(fixture_db), "record", "budget")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:3] == [
        "1. Council approves record budget after late-night vote",
        f"   {BUDGET}  ·  2026-05-06T08:00:00Z",
        "   The city council approved a **record** **budget** late on Monday night. The vote was"
        " close, with five members in favour and four against. Correction…",
    ]
    result = run("search", "--db", str(fixture_db), "높았다", "--format", "json")
    [hit] = json.loads(result.stdout)
    assert (hit["url"], hit["snapshot_id"], hit["latest"]) == (SEOUL, 2, False)
    assert "**높았다**" in hit["snippet"]
    result = run("search", "--db", str(fixture_db), "nothing-like-this")
    assert (result.exit_code, result.stdout, result.stderr.strip()) == (0, "", "no matches")
    result = run("search", "--db", str(fixture_db), "++")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: search: '++' has no words to look for"


# --- read-only SQL ------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO pages (url, first_seen) VALUES ('x', 'y')",
        "UPDATE snapshots SET title = 'hacked'",
        "DELETE FROM fetches",
        "DROP TABLE raw",
        "DROP VIEW latest_snapshots",
        "CREATE TABLE evil (x)",
        "CREATE INDEX evil ON pages (site)",
        "ALTER TABLE pages ADD COLUMN evil TEXT",
        "INSERT INTO snapshots_fts (snapshots_fts) VALUES ('rebuild')",
        "REPLACE INTO hosts (host) VALUES ('x')",
        "PRAGMA user_version = 7",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA query_only = 0",
        "VACUUM",
        "VACUUM INTO '{dir}/copy.db'",
        "ATTACH DATABASE '{dir}/other.db' AS other",
        "ATTACH 'file:{dir}/other.db?mode=rwc' AS other",
        "SELECT 1; DELETE FROM pages",
        "WITH x AS (SELECT 1) DELETE FROM pages",
    ],
)
def test_sql_cannot_modify_the_archive(tmp_path: Path, statement: str) -> None:
    db = build_archive(tmp_path / "archive.db")
    before = _digest(db)
    statement = statement.format(dir=tmp_path)
    if statement == "PRAGMA query_only = 0":
        run_sql(db, statement)  # accepted, but the file is still opened read-only
        with pytest.raises(ArchiveError, match="readonly"):
            run_sql(db, "DELETE FROM pages")
    else:
        with pytest.raises(ArchiveError, match="^sql: "):
            run_sql(db, statement)
    assert _digest(db) == before
    assert not (tmp_path / "other.db").exists()
    assert not (tmp_path / "copy.db").exists()
    assert run_sql(db, "SELECT COUNT(*) FROM pages").rows == [(5,)]


def test_cli_sql_write_is_one_line_error_and_file_unchanged(tmp_path: Path) -> None:
    db = build_archive(tmp_path / "archive.db")
    before = _digest(db)
    result = run("sql", "--db", str(db), "DELETE FROM snapshots")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: sql: attempt to write a readonly database (scraper sql is read-only)\n"
    )
    assert _digest(db) == before


def test_cli_sql_bad_query(fixture_db: Path) -> None:
    result = run("sql", "--db", str(fixture_db), "SELECT * FROM foo")
    assert (result.exit_code, result.stdout, result.stderr) == (
        1,
        "",
        "Error: sql: no such table: foo\n",
    )
    result = run("sql", "--db", str(fixture_db), "SELEC 1")
    assert result.exit_code == 1
    assert result.stderr == 'Error: sql: near "SELEC": syntax error\n'


def test_cli_sql_formats(fixture_db: Path) -> None:
    query = "SELECT id, url, site FROM pages WHERE site = :site ORDER BY id"
    result = run("sql", "--db", str(fixture_db), query, "-p", "site", "weekly")
    assert result.stdout.splitlines() == [
        "id  url                              site",
        "--  -------------------------------  ------",
        f"4   {MOSCOW}  weekly",
        f"5   {ABOUT}   weekly",
    ]
    result = run("sql", "--db", str(fixture_db), query, "-p", "site", "weekly", "--format", "csv")
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["id", "url", "site"],
        ["4", MOSCOW, "weekly"],
        ["5", ABOUT, "weekly"],
    ]
    result = run("sql", "--db", str(fixture_db), query, "-p", "site", "daily", "--format", "json")
    assert json.loads(result.stdout) == [
        {"id": 1, "url": BUDGET, "site": "daily"},
        {"id": 2, "url": SEOUL, "site": "daily"},
        {"id": 3, "url": BRIDGE, "site": "daily"},
    ]
    result = run(
        "sql",
        "--db",
        str(fixture_db),
        "SELECT title FROM snapshots WHERE id = 2",
        "--format",
        "json",
    )
    assert json.loads(result.stdout) == [{"title": "서울 시장 선거"}]
    result = run("sql", "--db", str(fixture_db), "SELECT data FROM raw LIMIT 1", "--format", "json")
    assert json.loads(result.stdout)[0]["data"].endswith(" bytes>")


def test_cli_sql_row_cap(fixture_db: Path) -> None:
    query = "SELECT id FROM fetches ORDER BY id"
    result = run("sql", "--db", str(fixture_db), query, "--limit", "3", "--format", "csv")
    assert result.stdout.split() == ["id", "1", "2", "3"]
    assert result.stderr == "sql: only the first 3 rows are shown; --limit 0 shows all\n"
    result = run("sql", "--db", str(fixture_db), query, "--limit", "0", "--format", "csv")
    assert result.stdout.split() == ["id", *map(str, range(1, 16))]
    assert result.stderr == ""
    result = run("sql", "--db", str(fixture_db), query, "--limit", "15", "--format", "csv")
    assert result.stderr == ""


def test_cli_sql_time_limit(fixture_db: Path) -> None:
    endless = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT MAX(i) FROM n"
    result = run("sql", "--db", str(fixture_db), endless, "--timeout", "0.2")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: sql: the query ran longer than 0.2 s (raise it with --timeout, 0 for no limit)\n"
    )


def test_cli_sql_missing_archive(tmp_path: Path) -> None:
    result = run("sql", "--db", str(tmp_path / "nope.db"), "SELECT 1")
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ")
    assert "nope.db" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "nope.db").exists()
