"""Export: JSON Lines of snapshots, WARC 1.1 of the raw captures, Datasette metadata.

The archive is the fixture of tests/fixtures/archive_site/; expected counts and values are
written by hand from its captures.json.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path
from typing import IO, Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from scraper.archive import Archive
from scraper.archive.sqlite.query import run_sql
from scraper.errors import ScraperError
from scraper.export import (
    IDENTICAL_PAYLOAD_PROFILE,
    datasette_metadata,
    write_atomically,
)
from tests.fixtures.archive_site.build import CAPTURES, HERE, build_archive
from tests.server import LocalServer
from tests.sites import run

BUDGET = "https://daily.example/news/budget"
SEOUL = "https://daily.example/news/seoul"
MOSCOW = "https://weekly.example/p/moscow"
ABOUT = "https://weekly.example/p/about"
WARCIO = Path(sys.executable).parent / "warcio"
SITE = HERE


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("export") / "archive.db")


def records(path: Path) -> list[dict[str, Any]]:
    """Every WARC record: its WARC headers, HTTP header block and payload (as stored)."""
    out = []
    with path.open("rb") as stream:
        for record in ArchiveIterator(stream):
            out.append(
                {
                    "type": record.rec_type,
                    "headers": dict(record.rec_headers.headers),
                    "http": record.http_headers,
                    "payload": record.raw_stream.read(),
                }
            )
    return out


# --- JSON Lines ---------------------------------------------------------------------------


def test_jsonl_export(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots.jsonl"
    result = run("export", "--db", str(fixture_db), "--format", "jsonl", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"exported 10 snapshots to {out}\n"
    lines = out.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == 10
    rows = [json.loads(line) for line in lines]
    assert [row["snapshot_id"] for row in rows] == list(range(1, 11))
    first = rows[0]
    assert first["url"] == BUDGET
    assert first["fetched_at"] == "2026-05-01T08:00:00Z"
    assert first["cause"] == "fetch"
    assert first["site"] == "daily"
    assert first["title"] == "Council approves budget"
    assert first["author"] == "Ann Lee"
    assert first["authors"] == ["Ann Lee"]
    assert first["published"] == "2026-05-01"
    assert first["language"] == "en"
    assert first["text"] == (
        "The city council approved the budget on Monday.\n\n"
        "The vote was close, with five members in favour and four against."
    )
    assert first["markdown"].startswith("# Council approves budget")
    for field in ("description", "site_name", "canonical_url", "tags", "word_count", "updated"):
        assert field in first
    reextracted = rows[8]
    assert (reextracted["url"], reextracted["cause"]) == (SEOUL, "reextract")
    assert reextracted["text"].endswith("사진: 시청 앞 광장")  # UTF-8, not \\u escapes
    assert "사진" in lines[8]


def test_jsonl_to_stdout_with_filters(fixture_db: Path) -> None:
    result = run("export", "--db", str(fixture_db), "--site", "weekly")
    assert result.exit_code == 0
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["url"], row["snapshot_id"]) for row in rows] == [
        (MOSCOW, 4),
        (ABOUT, 5),
        (MOSCOW, 10),
    ]
    result = run("export", "--db", str(fixture_db), "--since", "2026-05-06", "-o", "-")
    assert [json.loads(line)["snapshot_id"] for line in result.stdout.splitlines()] == [8, 9, 10]
    assert result.stderr == "exported 3 snapshots to stdout\n"


# --- WARC ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warc_file(fixture_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("warc") / "archive.warc.gz"
    result = run("export", "--db", str(fixture_db), "--format", "warc", "-o", str(out))
    assert result.exit_code == 0, result.output
    # 9 distinct bodies; revisits: budget unchanged (05-02), budget 304 (05-03), about unchanged
    # (05-08); a request record beside each; errors (404, 410, timeout) stored no exchange.
    assert result.stderr == f"exported 9 responses, 3 revisits and 12 requests to {out}\n"
    return out


def test_warc_passes_warcio_check(warc_file: Path) -> None:
    check = subprocess.run(
        [str(WARCIO), "check", "-v", str(warc_file)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout
    assert "fail" not in check.stdout.lower()


def test_warc_one_gzip_member_per_record(warc_file: Path) -> None:
    data = warc_file.read_bytes()
    members = 0
    while data:
        inflater = zlib.decompressobj(zlib.MAX_WBITS | 16)
        inflater.decompress(data)
        assert inflater.eof
        data = inflater.unused_data
        members += 1
    assert members == 1 + 9 + 3 + 12 + 1  # + the metadata record of the 304


def test_warc_records_and_links(warc_file: Path) -> None:
    recs = records(warc_file)
    assert recs[0]["type"] == "warcinfo"
    assert recs[0]["headers"]["WARC-Filename"] == "archive.warc.gz"
    assert b"WARC File Format 1.1" in recs[0]["payload"]
    assert all(r["headers"].get("WARC-Type") == r["type"] for r in recs)
    assert {r["headers"]["WARC-Record-ID"] for r in recs}.__len__() == len(recs)
    # the 304's metadata record (its answer as received) follows its request
    [metadata] = [r for r in recs if r["type"] == "metadata"]
    assert recs[recs.index(metadata) - 1]["type"] == "request"
    body = [r for r in recs[1:] if r["type"] != "metadata"]
    # every request directly follows its response (or revisit) and names it
    for answer, request in zip(body[::2], body[1::2], strict=True):
        assert answer["type"] in ("response", "revisit")
        assert request["type"] == "request"
        assert request["headers"]["WARC-Concurrent-To"] == answer["headers"]["WARC-Record-ID"]
        assert request["headers"]["WARC-Target-URI"] == answer["headers"]["WARC-Target-URI"]
        assert request["headers"]["WARC-Date"] == answer["headers"]["WARC-Date"]
        assert request["http"].protocol == "GET"
    # WARC-Date is the fetch time; the records follow the fetches in time
    answers = [(r["headers"]["WARC-Target-URI"], r["headers"]["WARC-Date"]) for r in body[::2]]
    expected = [
        (c["url"], c["at"])
        for c in CAPTURES
        if "version" in c or c.get("status") == 304  # fetches with a stored answer
    ]
    assert answers == expected


def test_warc_revisits(warc_file: Path) -> None:
    recs = records(warc_file)
    by_date = {
        (r["headers"]["WARC-Target-URI"], r["headers"]["WARC-Date"]): r
        for r in recs
        if r["type"] in ("response", "revisit")
    }
    original = by_date[(BUDGET, "2026-05-01T08:00:00Z")]
    assert original["type"] == "response"
    unchanged = by_date[(BUDGET, "2026-05-02T08:00:00Z")]
    assert unchanged["type"] == "revisit"
    assert unchanged["headers"]["WARC-Profile"] == IDENTICAL_PAYLOAD_PROFILE
    assert unchanged["headers"]["WARC-Refers-To"] == original["headers"]["WARC-Record-ID"]
    assert unchanged["headers"]["WARC-Refers-To-Target-URI"] == BUDGET
    assert unchanged["headers"]["WARC-Refers-To-Date"] == "2026-05-01T08:00:00Z"
    assert unchanged["headers"]["WARC-Payload-Digest"] == original["headers"]["WARC-Payload-Digest"]
    assert unchanged["payload"] == b""
    # a 304 is a revisit of the 200 it confirmed, with that payload's digest, so that replay
    # tools resolve it to the page; its headers are the 200's updated by the 304's
    not_modified = by_date[(BUDGET, "2026-05-03T08:00:00Z")]
    assert not_modified["type"] == "revisit"
    assert not_modified["headers"]["WARC-Profile"] == IDENTICAL_PAYLOAD_PROFILE
    assert not_modified["headers"]["WARC-Refers-To"] == original["headers"]["WARC-Record-ID"]
    assert not_modified["headers"]["WARC-Refers-To-Date"] == "2026-05-01T08:00:00Z"
    assert (
        not_modified["headers"]["WARC-Payload-Digest"] == original["headers"]["WARC-Payload-Digest"]
    )
    assert not_modified["http"].statusline == "200 OK"
    assert not_modified["http"].get_header("Content-Type") == "text/html; charset=utf-8"
    assert not_modified["http"].get_header("ETag") == '"v1"'  # the 304's, not budget.v1's
    assert not_modified["http"].get_header("Date") == "2026-05-03T08:00:00Z"
    # the 304 as received is kept in a metadata record beside the revisit
    [metadata] = [r for r in recs if r["type"] == "metadata"]
    assert metadata["headers"]["WARC-Concurrent-To"] == not_modified["headers"]["WARC-Record-ID"]
    assert metadata["headers"]["Content-Type"] == "application/warc-fields"
    assert metadata["payload"] == (
        b"http-status-line: HTTP/1.1 304 Not Modified\r\n"
        b"http-header: Date: 2026-05-03T08:00:00Z\r\n"
        b"http-header: Server: fixture/1.0\r\n"
        b'http-header: ETag: "v1"\r\n'
    )
    about = by_date[(ABOUT, "2026-05-08T00:30:00Z")]
    assert about["headers"]["WARC-Profile"] == IDENTICAL_PAYLOAD_PROFILE
    assert about["headers"]["WARC-Refers-To-Date"] == "2026-05-02T12:30:00Z"


def test_warc_payloads_and_headers_are_the_stored_bytes(warc_file: Path, fixture_db: Path) -> None:
    recs = records(warc_file)
    flat = gzip.decompress(warc_file.read_bytes())
    with Archive(fixture_db, readonly=True) as archive:
        fetches = {
            (row["url"], row["fetched_at"]): row
            for row in archive.db.query("SELECT * FROM fetches WHERE headers_sha256 IS NOT NULL")
        }
        responses = [r for r in recs if r["type"] == "response"]
        assert len(responses) == 9
        for record in responses:
            key = (record["headers"]["WARC-Target-URI"], record["headers"]["WARC-Date"])
            fetch = fetches[key]
            assert record["payload"] == archive.raw(fetch["raw_sha256"])
            if key != (MOSCOW, "2026-05-07T12:00:00Z"):
                # the header block is exactly as stored
                assert archive.raw(fetch["headers_sha256"]) + record["payload"] in flat
        for record in recs:
            if record["type"] == "request":
                key = (record["headers"]["WARC-Target-URI"], record["headers"]["WARC-Date"])
                assert archive.raw(fetches[key]["request_sha256"]) in flat


def test_warc_decoded_body_has_its_encoding_headers_renamed(warc_file: Path) -> None:
    """moscow.v2 came with Content-Encoding: gzip; the archive keeps the decoded body."""
    [record] = [
        r
        for r in records(warc_file)
        if r["type"] == "response" and r["headers"]["WARC-Date"] == "2026-05-07T12:00:00Z"
    ]
    http = record["http"]
    assert http.get_header("Content-Encoding") is None
    assert http.get_header("X-Archive-Orig-Content-Encoding") == "gzip"
    assert http.get_header("Content-Length") == str(len(record["payload"]))
    assert http.get_header("X-Archive-Orig-Content-Length") != http.get_header("Content-Length")
    assert "Москва отмечает праздник".encode() in record["payload"]
    # a reader that decodes content gets the same page (nothing is decoded twice)
    decoded = []
    with warc_file.open("rb") as stream:
        for rec in ArchiveIterator(stream):
            date = rec.rec_headers.get_header("WARC-Date")
            if date == "2026-05-07T12:00:00Z" and rec.rec_type == "response":
                decoded.append(rec.content_stream().read())
    assert decoded == [record["payload"]]


def test_warc_site_and_since_filters(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "weekly.warc.gz"
    result = run(
        "export", "--db", str(fixture_db), "--format", "warc", "--site", "weekly", "-o", str(out)
    )
    assert result.stderr == f"exported 3 responses, 1 revisits and 4 requests to {out}\n"
    uris = {r["headers"].get("WARC-Target-URI") for r in records(out)[1:]}
    assert uris == {MOSCOW, ABOUT}
    out = tmp_path / "late.warc.gz"
    run(
        "export",
        "--db",
        str(fixture_db),
        "--format",
        "warc",
        "--since",
        "2026-05-07",
        "-o",
        str(out),
    )
    recs = records(out)
    # the about page's unchanged body refers to a response outside the export: written in full
    assert [
        (r["type"], r["headers"].get("WARC-Date")) for r in recs[1:] if r["type"] != "request"
    ] == [
        ("response", "2026-05-07T12:00:00Z"),
        ("response", "2026-05-08T00:30:00Z"),
    ]


def test_warc_to_stdout(fixture_db: Path, tmp_path: Path) -> None:
    result = run("export", "--db", str(fixture_db), "--format", "warc", "--site", "weekly")
    assert result.exit_code == 0
    path = tmp_path / "stdout.warc.gz"
    path.write_bytes(result.stdout_bytes)
    assert len(records(path)) == 1 + 3 + 1 + 4


# --- atomic writes ------------------------------------------------------------------------


def test_export_replaces_a_file_only_when_complete(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")

    def fail_halfway(out: IO[bytes]) -> None:
        out.write(b"partial")
        raise ScraperError("disk on fire")

    with pytest.raises(ScraperError, match="disk on fire"):
        write_atomically(target, fail_halfway)
    assert target.read_bytes() == b"old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]

    assert write_atomically(target, lambda out: out.write(b"new\n")) == 4
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


def test_export_into_a_missing_directory_is_one_line(fixture_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "no" / "such" / "dir.jsonl"
    result = run("export", "--db", str(fixture_db), "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {out}: cannot write: ")
    assert len(result.stderr.splitlines()) == 1


# --- Datasette ----------------------------------------------------------------------------


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info([{table}])")}


def test_datasette_metadata_describes_what_exists(tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.db"
    Archive(fresh).close()
    metadata = datasette_metadata()
    tables = metadata["databases"]["archive"]["tables"]
    assert {"pages", "fetches", "snapshots", "changes", "latest_snapshots"} <= set(tables)
    with sqlite3.connect(fresh) as conn:
        names = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
            )
        }
        for table, info in tables.items():
            assert table in names, table
            assert info["description"]
            missing = set(info.get("columns", {})) - _columns(conn, table)
            assert not missing, (table, missing)
    conn.close()


def test_datasette_canned_queries_run(fixture_db: Path) -> None:
    queries = datasette_metadata()["databases"]["archive"]["queries"]
    params = {"q": "budget", "url": BUDGET}
    assert len(queries) >= 4
    results = {}
    for name, query in queries.items():
        assert query["title"]
        results[name] = run_sql(fixture_db, query["sql"], params, max_rows=0).rows
    assert [row[1] for row in results["headline_rewrites"]] == [MOSCOW, BUDGET]
    assert results["most_edited"][0][:2] == (BUDGET, 2)
    assert [row[0] for row in results["search"]] == [BUDGET]
    assert len(results["page_history"]) == 5
    assert len(results["recent_changes"]) == 5


def test_archive_needs_no_extension(fixture_db: Path) -> None:
    """Datasette opens the file as it is: only FTS5 (built into SQLite) is used."""
    conn = sqlite3.connect(f"{fixture_db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        virtual = conn.execute(
            "SELECT sql FROM sqlite_master WHERE sql LIKE 'CREATE VIRTUAL TABLE%'"
        ).fetchall()
        assert [s.split("USING")[1].split("(")[0].strip().upper() for (s,) in virtual] == ["FTS5"]
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
        ):
            conn.execute(f"SELECT * FROM [{name}] LIMIT 1").fetchall()
    finally:
        conn.close()


def test_cli_datasette_metadata_is_keyed_to_the_db_name(tmp_path: Path) -> None:
    result = run("datasette-metadata", "--db", str(tmp_path / "news.db"))
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert list(data["databases"]) == ["news"]
    assert data["databases"]["news"]["tables"]["snapshots"]["columns"]["cause"].startswith("fetch")


# --- end to end: scraper fetch against a local server, then the query commands ------------


def test_fetched_pages_can_be_searched_and_exported(server: LocalServer, tmp_path: Path) -> None:
    """Real fetches through the CLI: two versions of one page, one of another, then
    changes, search and a WARC export whose payloads are the bodies the server sent."""
    db = str(tmp_path / "archive.db")
    budget, seoul = server.url("/news/budget"), server.url("/news/seoul")
    sent = {
        "budget.v1": (SITE / "budget.v1.html").read_bytes(),
        "budget.v2": (SITE / "budget.v2.html").read_bytes(),
        "seoul.v1": (SITE / "seoul.v1.html").read_bytes(),
    }
    server.route("/news/budget", body=sent["budget.v1"])
    server.route("/news/seoul", body=sent["seoul.v1"])
    for url in (budget, seoul):
        result = run("fetch", "--db", db, "--allow-private", "--ignore-robots", url)
        assert result.exit_code == 0, result.output
    server.route("/news/budget", body=sent["budget.v2"])
    result = run("fetch", "--db", db, "--allow-private", "--ignore-robots", budget)
    assert result.exit_code == 0, result.output

    data = json.loads(run("changes", "--db", db, "--format", "json").stdout)
    assert [(row["url"], row["title_changed"], row["title"]) for row in data] == [
        (budget, True, "Council approves record budget after late-night vote")
    ]
    hits = json.loads(run("search", "--db", db, "투표소에", "--format", "json").stdout)
    assert [hit["url"] for hit in hits] == [seoul]
    hits = json.loads(run("search", "--db", db, '"budget on monday"', "--format", "json").stdout)
    assert [(hit["url"], hit["latest"]) for hit in hits] == [(budget, False)]

    out = tmp_path / "fetched.warc.gz"
    result = run("export", "--db", db, "--format", "warc", "-o", str(out))
    assert result.exit_code == 0, result.output
    check = subprocess.run([str(WARCIO), "check", str(out)], capture_output=True, check=False)
    assert check.returncode == 0, check.stdout
    payloads = {
        (r["headers"]["WARC-Target-URI"], r["payload"])
        for r in records(out)
        if r["type"] == "response"
    }
    assert payloads == {
        (budget, sent["budget.v1"]),
        (budget, sent["budget.v2"]),
        (seoul, sent["seoul.v1"]),
    }
