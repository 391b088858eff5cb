"""`scraper history`, `diff` and `show` through CliRunner, on an archive filled by save_fetch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive.sqlite.store import Archive
from scraper.cli import cli
from scraper.errors import FetchTimeoutError
from scraper.models import Article, FetchResult

URL = "https://news.example/council"

OLD_TEXT = """The council met on Monday.
It approved the budget of 3 million.
Residents asked about the bridge.
The next meeting is in June."""

NEW_TEXT = """The council met on Monday.
It approved the revised budget of 4 million.
Residents asked about the bridge.
A vote on the bridge is due in May."""


def result(body: bytes, status: int = 200, *, not_modified: bool = False) -> FetchResult:
    return FetchResult(
        url=URL,
        final_url=URL,
        status_code=status,
        fetched_at="2024-05-01T08:00:00Z",
        elapsed_ms=20,
        headers=(("Content-Type", "text/html"), ("ETag", '"e1"')),
        body=body,
        content_type="text/html",
        not_modified=not_modified,
    )


def article(text: str, title: str, updated: str | None = None) -> Article:
    return Article(
        url=URL,
        title=title,
        author="Jo Reporter",
        published="2024-05-01",
        updated=updated,
        text=text,
        markdown=text,
        word_count=len(text.split()),
        found=True,
    )


V1 = article(OLD_TEXT, "Council approves budget")
V2 = article(NEW_TEXT, "Council approves revised budget", updated="2024-05-03")


@pytest.fixture
def filled(db_path: Path) -> Path:
    """Two versions, five fetches: new, unchanged, 304, changed, a timeout."""
    with Archive(db_path) as arc:
        arc.save_fetch(
            URL, fetched_at="2024-05-01T08:00:00Z", result=result(b"v1"), article=V1, site="council"
        )
        arc.save_fetch(URL, fetched_at="2024-05-02T08:00:00Z", result=result(b"v1"), article=V1)
        arc.save_fetch(
            URL, fetched_at="2024-05-02T12:00:00Z", result=result(b"", 304, not_modified=True)
        )
        arc.save_fetch(URL, fetched_at="2024-05-03T08:00:00Z", result=result(b"v2"), article=V2)
        arc.save_fetch(
            URL,
            fetched_at="2024-05-04T08:00:00Z",
            error=FetchTimeoutError(URL, "read timeout after 10s"),
        )
    return db_path


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.stdout, res.stderr


# --- history -------------------------------------------------------------------------------
def test_history_table(filled: Path) -> None:
    code, out, err = run("history", URL, "--db", str(filled))
    assert (code, err) == (0, "")
    assert out == (
        "https://news.example/council\n"
        "site: council · first seen 2024-05-01T08:00:00Z · 2 snapshots · 5 fetches\n"
        "\n"
        "Snapshots (newest first)\n"
        "ID  FETCHED               WORDS  ADDED  REMOVED  CHANGED         TITLE\n"
        " 2  2024-05-03T08:00:00Z     27     +9       -5  title, updated  "
        "Council approves revised budget\n"
        " 1  2024-05-01T08:00:00Z     23    +23       -0  first           "
        "Council approves budget\n"
        "\n"
        "Captures (newest first)\n"
        "FETCHED               STATUS  RESULT\n"
        "2024-05-04T08:00:00Z       -  error: timeout: read timeout after 10s\n"
        "2024-05-03T08:00:00Z     200  changed -> snapshot 2\n"
        "2024-05-02T12:00:00Z     304  not modified\n"
        "2024-05-02T08:00:00Z     200  unchanged\n"
        "2024-05-01T08:00:00Z     200  new -> snapshot 1\n"
    )


def test_history_json(filled: Path) -> None:
    code, out, _ = run("history", URL, "--db", str(filled), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert (data["url"], data["site"], data["last_changed"]) == (
        URL,
        "council",
        "2024-05-03T08:00:00Z",
    )
    assert [s["id"] for s in data["snapshots"]] == [2, 1]
    assert data["snapshots"][0]["changed_fields"] == ["title", "updated"]
    assert (data["snapshots"][0]["words_added"], data["snapshots"][0]["words_removed"]) == (9, 5)
    assert [(f["result"], f["status_code"], f["snapshot_id"]) for f in data["fetches"]] == [
        ("error", None, None),
        ("changed", 200, 2),
        ("not_modified", 304, None),
        ("unchanged", 200, None),
        ("new", 200, 1),
    ]
    assert data["fetches"][0]["error"] == "timeout: read timeout after 10s"
    assert data["fetches"][2]["not_modified"] is True


def test_history_finds_the_url_in_its_stored_form(filled: Path) -> None:
    code, out, _ = run("history", "HTTPS://NEWS.example/council#comments", "--db", str(filled))
    assert code == 0
    assert out.startswith(f"{URL}\n")


def test_history_of_a_page_with_failed_fetches_only(db_path: Path) -> None:
    with Archive(db_path) as arc:
        arc.save_fetch(URL, fetched_at="2024-05-01T08:00:00Z", error="status: server answered 500")
    code, out, _ = run("history", URL, "--db", str(db_path))
    assert code == 0
    assert "No snapshots yet" in out
    assert "2024-05-01T08:00:00Z       -  error: status: server answered 500\n" in out


def test_history_of_an_unknown_page(filled: Path) -> None:
    code, out, err = run("history", "https://news.example/other", "--db", str(filled))
    assert (code, out) == (1, "")
    assert err == f"Error: https://news.example/other: not in the archive {filled}\n"


def test_missing_archive_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "none.db"
    for command in ("history", "diff", "show"):
        code, out, err = run(command, URL, "--db", str(path))
        assert (code, out) == (1, "")
        assert err == f"Error: no archive at {path} (run scraper fetch or crawl first)\n"
    assert not path.exists()


def test_db_from_environment(filled: Path) -> None:
    res = CliRunner(env={"SCRAPER_DB": str(filled)}).invoke(
        cli, ["history", URL, "--format", "json"], catch_exceptions=False
    )
    assert res.exit_code == 0
    assert json.loads(res.stdout)["url"] == URL


# --- diff ----------------------------------------------------------------------------------
UNIFIED = (
    "title: 'Council approves budget' -> 'Council approves revised budget'\n"
    "updated: None -> '2024-05-03'\n"
    "--- snapshot 1 (2024-05-01T08:00:00Z)\n"
    "+++ snapshot 2 (2024-05-03T08:00:00Z)\n"
    "@@ -1,4 +1,4 @@\n"
    " The council met on Monday.\n"
    "-It approved the budget of 3 million.\n"
    "+It approved the revised budget of 4 million.\n"
    " Residents asked about the bridge.\n"
    "-The next meeting is in June.\n"
    "+A vote on the bridge is due in May.\n"
)


def test_diff_defaults_to_the_last_two_snapshots(filled: Path) -> None:
    code, out, err = run("diff", URL, "--db", str(filled))
    assert (code, out, err) == (0, UNIFIED, "")


@pytest.mark.parametrize(
    "refs",
    [
        ["--from", "1", "--to", "2"],
        ["--from", "-2", "--to", "-1"],
        ["--from", "2024-05-02", "--to", "2024-05-03T09:00:00Z"],
        ["--from", "2024-05-01"],
    ],
)
def test_diff_refs(filled: Path, refs: list[str]) -> None:
    code, out, _ = run("diff", URL, "--db", str(filled), *refs)
    assert (code, out) == (0, UNIFIED)


def test_diff_word_format_plain_and_coloured(filled: Path) -> None:
    code, out, _ = run("diff", URL, "--db", str(filled), "--format", "word")
    assert code == 0
    assert out == (
        "title: 'Council approves budget' -> 'Council approves revised budget'\n"
        "updated: None -> '2024-05-03'\n"
        "...\n"
        "It approved the {+revised+} budget of [-3-]{+4+} million.\n"
        "...\n"
        "[-The next meeting-]{+A vote on the bridge+} is {+due+} in [-June.-]{+May.+}\n"
    )
    code, out, _ = run("diff", URL, "--db", str(filled), "--format", "word", "--color")
    assert code == 0
    assert (
        "It approved the \x1b[32mrevised\x1b[0m budget of \x1b[31m3\x1b[0m\x1b[32m4\x1b[0m" in out
    )


def test_diff_json(filled: Path) -> None:
    code, out, _ = run("diff", URL, "--db", str(filled), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["from"] == {"id": 1, "fetched_at": "2024-05-01T08:00:00Z"}
    assert data["to"] == {"id": 2, "fetched_at": "2024-05-03T08:00:00Z"}
    assert data["metadata"] == {
        "title": {"old": "Council approves budget", "new": "Council approves revised budget"},
        "updated": {"old": None, "new": "2024-05-03"},
    }
    assert (data["words_added"], data["words_removed"]) == (9, 5)
    assert {"op": "insert", "new": ["revised"]} in data["ops"]
    assert {"op": "replace", "old": ["3"], "new": ["4"]} in data["ops"]


def test_diff_of_a_page_with_one_snapshot_says_so(db_path: Path) -> None:
    with Archive(db_path) as arc:
        arc.save_fetch(URL, fetched_at="2024-05-01T08:00:00Z", article=V1)
    code, out, err = run("diff", URL, "--db", str(db_path))
    assert (code, out) == (0, "")
    assert err == (
        f"{URL} has only one snapshot (1, fetched 2024-05-01T08:00:00Z): nothing to compare yet\n"
    )


def test_diff_of_the_same_snapshot_says_they_do_not_differ(filled: Path) -> None:
    code, out, err = run("diff", URL, "--db", str(filled), "--from", "2", "--to", "2")
    assert (code, out) == (0, "")
    assert err == f"{URL}: snapshots 2 and 2 do not differ\n"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("7", f"{URL}: no snapshot with id 7 (its snapshots: 2, 1)"),
        ("-3", f"{URL}: no snapshot -3: the page has 2 snapshots"),
        ("last-tuesday", f"{URL}: unknown snapshot reference 'last-tuesday'"),
    ],
)
def test_diff_bad_ref_is_a_usage_error(filled: Path, ref: str, message: str) -> None:
    code, out, err = run("diff", URL, "--db", str(filled), "--from", ref)
    assert (code, out) == (2, "")
    assert err.startswith(f"Error: {message}")
    assert err.count("\n") == 1


# --- show ----------------------------------------------------------------------------------
def test_show_latest_and_at_a_time(filled: Path) -> None:
    code, out, err = run("show", URL, "--db", str(filled))
    assert code == 0
    assert "A vote on the bridge is due in May." in out
    assert "Council approves revised budget" in out
    assert err == f"{URL}: snapshot 2, fetched 2024-05-03T08:00:00Z\n"

    code, out, err = run("show", URL, "--db", str(filled), "--at", "2024-05-02T23:59:59Z")
    assert code == 0
    assert "The next meeting is in June." in out
    assert "revised" not in out
    assert err == f"{URL}: snapshot 1, fetched 2024-05-01T08:00:00Z\n"


def test_show_markdown(filled: Path) -> None:
    code, out, _ = run(
        "show", URL, "--db", str(filled), "--at", "2024-05-01", "--format", "markdown"
    )
    assert (code, out) == (0, OLD_TEXT + "\n")


def test_show_json(filled: Path) -> None:
    code, out, _ = run("show", URL, "--db", str(filled), "--format", "json", "--at", "2024-05-03")
    assert code == 0
    data = json.loads(out)
    assert (data["snapshot_id"], data["fetched_at"], data["cause"]) == (
        2,
        "2024-05-03T08:00:00Z",
        "fetch",
    )
    assert (data["title"], data["author"], data["updated"]) == (
        "Council approves revised budget",
        "Jo Reporter",
        "2024-05-03",
    )
    assert data["text"] == NEW_TEXT
    assert data["word_count"] == 27


def test_show_before_the_first_snapshot(filled: Path) -> None:
    code, out, err = run("show", URL, "--db", str(filled), "--at", "2024-04-30")
    assert (code, out) == (2, "")
    assert err == (
        f"Error: {URL}: no snapshot on or before 2024-04-30 (the first is from "
        "2024-05-01T08:00:00Z)\n"
    )
