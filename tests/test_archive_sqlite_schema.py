"""The columns issue 10 adds: ``fetches.charset`` (reextract decodes as the fetch did) and
``snapshots.confidence`` (written on every snapshot write, in the JSON outputs; NULL for
older rows)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlite_utils import Database

from scraper.archive import Archive
from scraper.archive.sqlite.schema import migrations
from scraper.extract import extract
from tests.conftest import FIXTURES
from tests.server import LocalServer
from tests.sites import run

RU_TEXT = (FIXTURES / "charset" / "bridge-ru.html").read_text(encoding="utf-8")
RU_SENTENCE = "После двух лет ремонта мост через гавань снова открыт для пешеходов"
LIGHTHOUSE = (FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes()


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def serve_misdeclared_cp1251(server: LocalServer) -> str:
    """A windows-1251 page whose <meta> wrongly says windows-1252; the header is right (and,
    as in browsers, wins): only what the fetch used reads it correctly."""
    html = RU_TEXT.replace("<head>", '<head><meta charset="windows-1252">')
    server.route(
        "/ru.html",
        body=html.encode("cp1251"),
        headers={"Content-Type": "text/html; charset=windows-1251"},
    )
    return server.url("/ru.html")


def test_reextract_decodes_with_the_charset_the_fetch_used(
    server: LocalServer, db_path: Path
) -> None:
    url = serve_misdeclared_cp1251(server)
    fetched = run("fetch", "--db", str(db_path), "--allow-private", "--format", "json", url)
    assert fetched.exit_code == 0, fetched.stderr
    assert RU_SENTENCE in json.loads(fetched.stdout)["text"]
    assert rows(db_path, "select charset from fetches") == [("cp1251",)]

    again = run("reextract", "--db", str(db_path))
    assert again.exit_code == 0, again.stderr
    assert "0 changed, 1 unchanged" in again.stderr
    assert rows(db_path, "select count(*) from snapshots") == [(1,)]


def test_reextract_of_a_capture_without_charset_uses_its_stored_header(
    server: LocalServer, db_path: Path
) -> None:
    """Captures archived before the charset was recorded: the stored Content-Type decides."""
    url = serve_misdeclared_cp1251(server)
    assert run("fetch", "--db", str(db_path), "--allow-private", url).exit_code == 0
    with sqlite3.connect(db_path) as conn:
        conn.execute("update fetches set charset = null")
    again = run("reextract", "--db", str(db_path))
    assert again.exit_code == 0, again.stderr
    assert "0 changed, 1 unchanged" in again.stderr
    with Archive(db_path, readonly=True) as archive:
        (capture,) = archive.latest_captures()
        assert capture.charset is None
        assert RU_SENTENCE in capture.text()


def test_confidence_is_stored_and_printed(server: LocalServer, db_path: Path) -> None:
    url = server.url("/blog/lighthouse.html")
    expected = extract(LIGHTHOUSE, url).confidence
    fetched = run("fetch", "--db", str(db_path), "--allow-private", "--format", "json", url)
    assert fetched.exit_code == 0, fetched.stderr
    assert json.loads(fetched.stdout)["confidence"] == expected
    assert rows(db_path, "select confidence from snapshots") == [(expected,)]
    assert rows(db_path, "select confidence from latest_snapshots") == [(expected,)]

    shown = json.loads(run("show", url, "--db", str(db_path), "--format", "json").stdout)
    assert shown["confidence"] == expected
    history = json.loads(run("history", url, "--db", str(db_path), "--format", "json").stdout)
    assert [s["confidence"] for s in history["snapshots"]] == [expected]
    assert [f["charset"] for f in history["fetches"]] == ["utf-8"]
    out = db_path.parent / "snapshots.jsonl"
    assert run("export", "--format", "jsonl", "--db", str(db_path), "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["confidence"] == expected

    # a 304 prints the stored snapshot, with its stored confidence
    with sqlite3.connect(db_path) as conn:
        conn.execute("update snapshots set confidence = 0.25")
    server.route(
        "/blog/lighthouse.html",
        status=304,
        headers={"Content-Type": "text/html"},
    )
    cached = run("fetch", "--db", str(db_path), "--allow-private", "--format", "json", url)
    assert cached.exit_code == 0, cached.stderr
    assert json.loads(cached.stdout)["confidence"] == 0.25


def test_older_rows_get_null_columns(db_path: Path) -> None:
    """An archive written before the migration: its rows keep NULL, and the outputs say null."""
    db = Database(db_path)
    migrations.apply(db, stop_before="m005_confidence_and_charset")
    db.execute(
        "insert into pages (id, url, first_seen) values (1, 'https://example.org/a', "
        "'2026-01-01T00:00:00Z')"
    )
    db.execute(
        "insert into snapshots (id, page_id, fetched_at, content_hash, title, text) values "
        "(1, 1, '2026-01-01T00:00:00Z', 'h', 'Old page', 'Old text.')"
    )
    db.execute(
        "insert into fetches (page_id, fetched_at, status_code, snapshot_id) values "
        "(1, '2026-01-01T00:00:00Z', 200, 1)"
    )
    db.conn.commit()
    db.close()

    with Archive(db_path) as archive:  # migrates
        (snapshot,) = archive.snapshots("https://example.org/a")
        assert snapshot.confidence is None
    assert rows(db_path, "select confidence from snapshots") == [(None,)]
    assert rows(db_path, "select charset from fetches") == [(None,)]
    shown = run("show", "https://example.org/a", "--db", str(db_path), "--format", "json")
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["confidence"] is None
    history = run("history", "https://example.org/a", "--db", str(db_path), "--format", "json")
    assert json.loads(history.stdout)["snapshots"][0]["confidence"] is None
    out = db_path.parent / "snapshots.jsonl"
    exported = run("export", "--format", "jsonl", "--db", str(db_path), "-o", str(out))
    assert exported.exit_code == 0, exported.stderr
    (record,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert record["confidence"] is None


def test_the_new_columns_are_documented_for_datasette(tmp_path: Path) -> None:
    """Every table and column that m005 adds has a description in datasette-metadata.json."""

    def columns(db: Database) -> set[tuple[str, str]]:
        return {(t.name, c.name) for t in db.tables for c in t.columns}

    before = Database(tmp_path / "before.db")
    migrations.apply(before, stop_before="m005_confidence_and_charset")
    after = Database(tmp_path / "after.db")
    migrations.apply(after)
    added = columns(after) - columns(before)
    assert ("snapshots", "confidence") in added
    assert ("fetches", "charset") in added
    metadata = json.loads(run("datasette-metadata", "--db", str(tmp_path / "a.db")).stdout)
    tables = metadata["databases"]["a"]["tables"]
    for table, column in added:
        assert tables[table]["columns"][column], (table, column)
    assert tables["run_extraction"]["description"]
