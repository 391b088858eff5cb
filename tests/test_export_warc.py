"""WARC-IP-Address: real fetches and crawls against local servers, exported as WARC, read back
with warcio. Each record says the address of the server that answered it (two servers on two
loopback addresses, one reached by host name), a 304's revisit included; fetches archived
before the address was recorded, or with a stored value that is not an address, say nothing."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlite_utils import Database
from warcio.archiveiterator import ArchiveIterator

from scraper.archive import Archive
from scraper.archive.sqlite.schema import migrations
from tests.conftest import FIXTURES
from tests.fixtures.archive_site.build import build_archive
from tests.server import LocalServer, with_etag
from tests.sites import run, write_sites
from tests.tools import tool

PAGE = "/blog/lighthouse.html"
V1 = (FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes()
IP = "WARC-IP-Address"


def serve_with_etag(server: LocalServer, etag: str = '"v1"') -> None:
    """PAGE answers V1 with an ETag, and 304 when the client already has it."""
    server.route(PAGE, handler=with_etag(V1, etag))


def next_second() -> None:
    """Wait until the wall clock's second changes, so two fetches get distinct WARC-Dates."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def fetch(db: Path, url: str) -> None:
    result = run("fetch", url, "--db", str(db), "--allow-private", "--ignore-robots")
    assert result.exit_code == 0, result.output


def export(db: Path, out: Path, *extra: str) -> list[tuple[str, str, str | None]]:
    """Export ``db`` as WARC to ``out``, check it with ``warcio check``, and return each
    record's (type, target URI, WARC-IP-Address or None), warcinfo left out."""
    result = run("export", "--db", str(db), "--format", "warc", "-o", str(out), *extra)
    assert result.exit_code == 0, result.output
    check = subprocess.run(
        [str(tool("warcio")), "check", "-v", str(out)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "fail" not in check.stdout.lower()
    with out.open("rb") as stream:
        return [
            (
                record.rec_type,
                record.rec_headers.get_header("WARC-Target-URI"),
                record.rec_headers.get_header(IP),
            )
            for record in ArchiveIterator(stream)
            if record.rec_type != "warcinfo"
        ]


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """A second server, on 127.0.0.2: another loopback address than the usual one."""
    srv = LocalServer(host="127.0.0.2").start()
    yield srv
    srv.stop()


def test_records_carry_the_address_of_the_server_that_answered(
    server: LocalServer, other_server: LocalServer, tmp_path: Path
) -> None:
    """A 200 then a 304 from 127.0.0.1 (reached as ``localhost``), a 200 from 127.0.0.2."""
    serve_with_etag(server)
    other_server.route("/other", V1.replace(b"lamp", b"lens"))
    db = tmp_path / "archive.db"
    here = f"http://localhost:{server.port}{PAGE}"
    there = other_server.url("/other")
    fetch(db, here)
    next_second()
    fetch(db, here)
    assert server.requests_to(PAGE)[-1].headers.get("If-None-Match") == '"v1"'
    fetch(db, there)
    with sqlite3.connect(db) as conn:
        stored = conn.execute(
            "SELECT url, not_modified, ip_address FROM fetches ORDER BY id"
        ).fetchall()
    conn.close()
    assert stored == [(here, 0, "127.0.0.1"), (here, 1, "127.0.0.1"), (there, 0, "127.0.0.2")]

    records = export(db, tmp_path / "archive.warc.gz")
    assert records == [
        ("response", here, "127.0.0.1"),
        ("request", here, "127.0.0.1"),
        ("revisit", here, "127.0.0.1"),  # the 304, revisiting the 200
        ("request", here, "127.0.0.1"),
        ("metadata", here, None),  # the 304 as received: no network content of its own
        ("response", there, "127.0.0.2"),
        ("request", there, "127.0.0.2"),
    ]
    latest = export(db, tmp_path / "latest.warc.gz", "--latest")
    assert latest == [
        ("response", here, "127.0.0.1"),
        ("request", here, "127.0.0.1"),
        ("response", there, "127.0.0.2"),
        ("request", there, "127.0.0.2"),
    ]


def test_a_crawl_records_the_address(other_server: LocalServer, tmp_path: Path) -> None:
    """The crawl's own fetch path (helper process, its transport) stores the address too."""
    serve_with_etag(other_server)
    other_server.route(
        "/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"}
    )
    config = write_sites(tmp_path, other_server.url(PAGE), name="local", retries=None)
    db = tmp_path / "archive.db"
    crawled = run("crawl", "--config", str(config), "--db", str(db), "--quiet")
    assert crawled.exit_code == 0, crawled.output
    records = export(db, tmp_path / "crawl.warc.gz")
    pages = [r for r in records if r[0] in ("response", "request")]
    assert pages == [
        ("response", other_server.url(PAGE), "127.0.0.2"),
        ("request", other_server.url(PAGE), "127.0.0.2"),
    ]


def _forget_the_address(db: Path) -> None:
    """Make ``db`` an archive as written before m007: no ``fetches.ip_address`` column."""
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE fetches DROP COLUMN ip_address")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm007_ip_address'")
    conn.close()


def test_an_archive_from_before_the_column_exports_without_the_header(
    server: LocalServer, tmp_path: Path
) -> None:
    """Export opens the archive read-only, unmigrated: no column, so no header; once migrated
    the old rows are NULL, and still no header."""
    serve_with_etag(server)
    db = tmp_path / "archive.db"
    fetch(db, server.url(PAGE))
    next_second()
    fetch(db, server.url(PAGE))
    _forget_the_address(db)
    old = export(db, tmp_path / "old.warc.gz")
    assert [r[0] for r in old] == ["response", "request", "revisit", "request", "metadata"]
    assert {r[2] for r in old} == {None}

    Archive(db).close()  # migrates: the column is back, NULL for the rows written before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT ip_address FROM fetches").fetchall() == [(None,), (None,)]
    conn.close()
    assert {r[2] for r in export(db, tmp_path / "migrated.warc.gz")} == {None}
    fetch(db, server.url(PAGE))  # a new fetch after the migration has it again
    new = export(db, tmp_path / "new.warc.gz")
    assert {r[2] for r in new[:5]} == {None}
    assert new[5:] == [
        ("revisit", server.url(PAGE), "127.0.0.1"),
        ("request", server.url(PAGE), "127.0.0.1"),
        ("metadata", server.url(PAGE), None),
    ]


def test_a_stored_value_that_is_not_an_address_is_left_out(tmp_path: Path) -> None:
    """The archive is a file anyone can edit: what is not an IP address is never written."""
    db = build_archive(tmp_path / "archive.db")
    values = ["not an address", "127.0.0.1\r\nWARC-Injected: yes", "", "2001:DB8::1"]
    with sqlite3.connect(db) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM fetches WHERE headers_sha256 IS NOT NULL ORDER BY id"
            )
        ]
        for fetch_id, value in zip(ids, values, strict=False):
            conn.execute("UPDATE fetches SET ip_address = ? WHERE id = ?", (value, fetch_id))
    conn.close()
    records = export(db, tmp_path / "edited.warc.gz")
    assert {r[2] for r in records} == {None, "2001:db8::1"}  # the one address, normalised


def test_the_fixture_archive_has_no_addresses(tmp_path: Path) -> None:
    """Fetch results made without a connection (no address known) export without the header."""
    db = build_archive(tmp_path / "archive.db")
    assert {r[2] for r in export(db, tmp_path / "fixture.warc.gz")} == {None}


def test_an_old_archive_made_by_the_migrations_stops_before_the_column(tmp_path: Path) -> None:
    """The schema before m007 has no fetches.ip_address; the migration adds it."""
    db = Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m007_ip_address")
    assert "ip_address" not in db["fetches"].columns_dict
    migrations.apply(db)
    assert db["fetches"].columns_dict["ip_address"] is str
    db.close()
