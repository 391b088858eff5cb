"""The one-off path end to end: `scraper extract` and `scraper fetch` through the real CLI,
against a local server and a real archive file."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive import open_archive
from scraper.cli import cli
from tests.conftest import FIXTURES
from tests.server import LocalServer, with_etag

PAGE = "/blog/lighthouse.html"
V1 = (FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes()
V2 = (FIXTURES / "lighthouse-v2.html").read_bytes()
CHANGED_SENTENCE = "automated in April, and the keeper's cottage will become a museum"


def run(*args: str, input: bytes | None = None) -> object:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def serve_with_etag(server: LocalServer, body: bytes, etag: str) -> None:
    """PAGE answers ``body`` with an ETag, and 304 when the client already has it."""
    server.route(PAGE, handler=with_etag(body, etag, not_modified_headers={"Content-Length": "0"}))


# --- extract ------------------------------------------------------------------------------


def test_extract_seed_page_json(seed_dir: Path) -> None:
    expected = json.loads((seed_dir / "expected.json").read_text(encoding="utf-8"))
    result = run(
        "extract", str(seed_dir / "post.html"), "--url", expected["url"], "--format", "json"
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    for key in ("title", "author", "published", "reading_time_minutes", "site_name", "language"):
        assert data[key] == expected[key], key
    for key in ("url", "updated", "description", "canonical_url", "tags", "word_count", "markdown"):
        assert key in data
    text = data["text"]
    positions = [text.find(p) for p in expected["paragraphs"]]
    assert -1 not in positions, "a paragraph of the article is missing"
    assert positions == sorted(positions), "paragraphs are out of order"
    for chrome in expected["chrome"]:
        assert chrome not in text, chrome


def test_extract_reads_stdin_and_prints_text() -> None:
    result = run("extract", "-", "--url", "http://127.0.0.1/blog/lighthouse.html", input=V1)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("The lighthouse keeper's last winter\n")
    assert "twice a night to check the lamp" in result.stdout
    assert "Recent Posts" not in result.stdout


def test_extract_missing_file_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.html"
    result = run("extract", str(missing))
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_extract_page_without_article() -> None:
    result = run("extract", "-", input=b"<html><body><nav><a href='/'>Home</a></nav></body></html>")
    assert result.exit_code == 1
    assert "no article found" in result.stderr


# --- fetch --------------------------------------------------------------------------------


def test_fetch_archives_then_304_then_change(server: LocalServer, db_path: Path) -> None:
    url = server.url(PAGE)
    serve_with_etag(server, V1, '"v1"')

    first = run("fetch", url, "--db", str(db_path), "--allow-private")
    assert first.exit_code == 0, first.stderr
    assert "The lighthouse keeper's last winter" in first.stdout
    assert "twice a night to check the lamp" in first.stdout
    with open_archive(db_path, readonly=True) as archive:
        assert len(archive.fetches(url)) == 1
        [snapshot] = archive.snapshots(url)
    assert snapshot.title == "The lighthouse keeper's last winter"

    second = run("fetch", url, "--db", str(db_path), "--allow-private")
    assert second.exit_code == 0, second.stderr
    assert server.requests_to(PAGE)[-1].headers.get("If-None-Match") == '"v1"'
    assert "twice a night" in second.stdout  # the archived article is printed
    with open_archive(db_path, readonly=True) as archive:
        assert sorted(f.not_modified for f in archive.fetches(url)) == [False, True]
        assert len(archive.snapshots(url)) == 1

    serve_with_etag(server, V2, '"v2"')
    third = run("fetch", url, "--db", str(db_path), "--allow-private")
    assert third.exit_code == 0, third.stderr
    with open_archive(db_path, readonly=True) as archive:
        snapshots = archive.snapshots(url)
        assert len(snapshots) == 2
        bodies = {archive.raw(s.raw_sha256) for s in snapshots if s.raw_sha256}
    assert bodies == {V1, V2}

    diff = run("diff", url, "--db", str(db_path))
    assert diff.exit_code == 0, diff.stderr
    assert any(
        line.startswith("+") and CHANGED_SENTENCE in line for line in diff.stdout.splitlines()
    )
    history = run("history", url, "--db", str(db_path))
    assert history.exit_code == 0, history.stderr


def test_fetch_json_no_store(server: LocalServer, tmp_path: Path) -> None:
    db = tmp_path / "never.db"
    result = run(
        "fetch",
        server.url(PAGE),
        "--db",
        str(db),
        "--no-store",
        "--format",
        "json",
        "--allow-private",
    )
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["title"] == "The lighthouse keeper's last winter"
    assert data["author"] == "Ines Okafor"
    assert data["site_name"] == "Coastline Notes"
    assert not db.exists()


def test_fetch_refuses_loopback_without_opt_in(server: LocalServer, db_path: Path) -> None:
    result = run("fetch", server.url(PAGE), "--db", str(db_path))
    assert result.exit_code == 1
    assert server.url(PAGE) in result.stderr
    assert server.requests == []  # refused before connecting
    with open_archive(db_path, readonly=True) as archive:
        assert archive.snapshots(server.url(PAGE)) == []
        [fetch] = archive.fetches(server.url(PAGE))
    assert (fetch.error or "").startswith("blocked_address")


@pytest.mark.parametrize(
    ("status", "ctype", "needle"),
    [
        (404, "text/html", "404"),
        (503, "text/html", "503"),
        (200, "application/pdf", "application/pdf"),
    ],
)
def test_fetch_bad_answers_are_recorded(
    server: LocalServer, db_path: Path, status: int, ctype: str, needle: str
) -> None:
    server.route(
        "/bad",
        b"%PDF-1.4 nope" if status == 200 else b"<html>no</html>",
        status,
        {"Content-Type": ctype, "Retry-After": "0"},
    )
    url = server.url("/bad")
    result = run("fetch", url, "--db", str(db_path), "--allow-private")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert url in lines[0]
    assert needle in lines[0]
    assert "Traceback" not in result.stderr
    with open_archive(db_path, readonly=True) as archive:
        [fetch] = archive.fetches(url)
    assert fetch.error
    assert fetch.snapshot_id is None


def test_fetch_refused_connection(db_path: Path) -> None:
    url = "http://127.0.0.1:9/nothing-listens-here"
    result = run("fetch", url, "--db", str(db_path), "--allow-private")
    assert result.exit_code == 1
    assert url in result.stderr
    assert "refused" in result.stderr.lower()
    with open_archive(db_path, readonly=True) as archive:
        [fetch] = archive.fetches(url)
    assert fetch.error


def test_one_failed_url_does_not_stop_the_others(server: LocalServer, db_path: Path) -> None:
    server.route("/gone", b"gone", 404)
    good, bad = server.url(PAGE), server.url("/gone")
    result = run("fetch", bad, good, "--db", str(db_path), "--allow-private")
    assert result.exit_code == 1
    assert bad in result.stderr
    with open_archive(db_path, readonly=True) as archive:
        assert [s.url for s in archive.snapshots(good)] == [good]
        assert archive.snapshots(bad) == []


def test_fetch_invalid_url_is_a_usage_error(db_path: Path) -> None:
    result = run("fetch", "not a url", "--db", str(db_path))
    assert result.exit_code == 2
    assert "not a url" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["directory", "not-a-database"])
def test_fetch_bad_database_path(server: LocalServer, tmp_path: Path, kind: str) -> None:
    db = tmp_path / "archive.db"
    if kind == "directory":
        db.mkdir()
    else:
        db.write_bytes(b"this is not sqlite " * 100)
    result = run("fetch", server.url(PAGE), "--db", str(db), "--allow-private")
    assert result.exit_code == 1
    assert str(db) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_fetch_malformed_config(server: LocalServer, tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text("[defaults]\ndelay_seconds = 'soon'\n", encoding="utf-8")
    result = run("fetch", server.url(PAGE), "--config", str(config), "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2
    assert str(config) in result.stderr
    assert "delay_seconds" in result.stderr


def test_fetch_honours_robots(server: LocalServer, db_path: Path) -> None:
    server.route(
        "/robots.txt", "User-agent: *\nDisallow: /blog/\n", headers={"Content-Type": "text/plain"}
    )
    result = run("fetch", server.url(PAGE), "--db", str(db_path), "--allow-private")
    assert result.exit_code == 1
    assert "robots.txt" in result.stderr
    assert server.requests_to(PAGE) == []


@pytest.fixture
def immutable() -> Iterator[Callable[[Path], None]]:
    """Make files immutable with chattr +i (read-only even for root), undone after the test."""
    import shutil
    import subprocess

    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    done: list[Path] = []

    def make(path: Path) -> None:
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
            pytest.skip("this filesystem or user cannot make a file immutable")
        done.append(path)

    yield make
    for path in done:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_read_only_archive_is_a_clear_error_and_stays_intact(
    server: LocalServer, db_path: Path, immutable: Callable[[Path], None]
) -> None:
    url = server.url(PAGE)
    args = ["fetch", url, "--db", str(db_path), "--allow-private"]
    assert run(*args).exit_code == 0
    before = rows(db_path, "select count(*) from fetches")
    config = db_path.parent / "sites.toml"
    config.write_text(
        f'[[site]]\nname = "coast"\nstart_urls = ["{url}"]\nallow_private = true\n',
        encoding="utf-8",
    )
    immutable(db_path)
    immutable(db_path.parent)  # no -wal, -shm or lock file can be created beside it either
    crawl = ["crawl", "--db", str(db_path), "--config", str(config), "--revisit", "0"]
    for command in (args, crawl):
        result = run(*command)
        assert result.exit_code == 1, (command, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert str(db_path) in result.stderr
        assert "Traceback" not in result.stderr
    assert rows(db_path, "pragma integrity_check") == [("ok",)]
    assert rows(db_path, "select count(*) from fetches") == before
