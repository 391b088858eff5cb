"""Every fault through the real paths that write the archive: `scraper fetch` and `scraper crawl`.

For each fault the command finishes, the attempt is recorded in ``fetches`` with its specific
error kind, no snapshot is written for a failure, and an article's good snapshot is never
replaced by a block page.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper import errors
from scraper.archive import open_archive
from scraper.cli import cli
from tests.faults import FAULTS, Fault, FaultServer, fault_server
from tests.server import LocalServer

__all__ = ["fault_server"]

HTML_FAULTS = [f for f in FAULTS if f.accept is None]
#: faults that are the host's trouble, not the page's: a crawl backs off from the whole host
#: after a few of them (tested in test_crawl_engine.py), so they get a crawl of their own below
HOST_TROUBLE = {"FetchTimeoutError", "FetchError"}
PAGE_FAULTS = [
    f for f in HTML_FAULTS if f.expect not in HOST_TROUBLE and f.path not in ("/429", "/503-date")
]

#: budgets far above what a fault that ends needs, on a slow and busy machine too (as in
#: tests/test_fetch_faults.py): a fault must end with its own outcome, not with a timeout
LIMITS = """
[defaults]
user_agent = "faultbot/1.0"
delay_seconds = 0
max_bytes = 4194304
connect_timeout_seconds = 30
read_timeout_seconds = {read}
deadline_seconds = {deadline}
extract_timeout_seconds = 120
retries = 2
retry_max_wait_seconds = 0.05
"""
#: faults that never end (/hang never answers; /trickle sends a byte a second for 1,000 s):
#: any budget ends them, so theirs are short
NEVER_ENDS = {"/hang", "/hang-headers", "/trickle"}


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def write_config(tmp_path: Path, extra: str = "", *, short: bool = False) -> Path:
    path = tmp_path / "sites.toml"
    budgets = {"read": 0.5, "deadline": 2.5} if short else {"read": 30, "deadline": 60}
    path.write_text(LIMITS.format(**budgets) + extra, encoding="utf-8")
    return path


def crawl_faults(
    fault_server: FaultServer, tmp_path: Path, faults: list[Fault], *, exit_code: int = 0
) -> Path:
    """Crawl a site whose start URLs are ``faults`` (robots.txt absent); return the archive."""
    fault_server.robots = "404"
    starts = ", ".join(f'"{fault_server.url(f.path)}"' for f in faults)
    config = write_config(
        tmp_path,
        short=any(f.path in NEVER_ENDS for f in faults),
        extra=f"""
[[site]]
name = "faults"
start_urls = [{starts}]
max_depth = 0
allow_private = true
concurrency_per_host = 8
""",
    )
    db = tmp_path / "archive.db"
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config), "--db", str(db), "-q"])
    assert result.exit_code == exit_code, result.stderr
    assert "Traceback" not in result.stderr
    return db


@pytest.mark.parametrize("fault", HTML_FAULTS, ids=[f.path for f in HTML_FAULTS])
def test_fetch_records_each_fault_and_never_a_bogus_snapshot(
    fault_server: FaultServer, tmp_path: Path, fault: Fault
) -> None:
    db = tmp_path / "archive.db"
    url = fault_server.url(fault.path)
    args = ["fetch", url, "--db", str(db), "--allow-private"]
    config = write_config(tmp_path, short=fault.path in NEVER_ENDS)
    result = CliRunner().invoke(cli, [*args, "--config", str(config)])
    assert "Traceback" not in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)
    fetches = rows(db, "select error, status_code, snapshot_id from fetches order by id")
    if fault.expect == "ok" and fault.path.startswith("/redirect"):
        # a redirect is an alias of the URL asked for; the answer is the target's own page
        alias, *fetches = fetches
        assert str(alias[0]).startswith("alias: redirects to ")
        assert alias[2] is None
    ((error, status, snapshot_id),) = fetches
    snapshots = rows(db, "select text from snapshots")
    if fault.expect == "ok":
        assert error is None
        assert status == 200
        if snapshots:  # a page with an article
            assert result.exit_code == 0
            assert snapshot_id is not None
            assert snapshots[0][0].strip()
        else:  # fetched fine, but nothing that is an article: said so, nothing stored
            assert result.exit_code == 1
            assert "no article found" in result.stderr
    else:
        kind = getattr(errors, fault.expect).kind
        assert result.exit_code == 1
        assert isinstance(error, str)
        assert error.startswith(f"{kind}: ")
        assert snapshots == []
        assert snapshot_id is None
        assert url in result.stderr
    assert rows(db, "pragma integrity_check") == [("ok",)]


def test_a_block_page_never_replaces_a_good_snapshot(server: LocalServer, db_path: Path) -> None:
    article = (
        Path(__file__).parent / "fixtures" / "site" / "blog" / "lighthouse.html"
    ).read_bytes()
    captcha = (
        b"<html><head><title>Just a moment...</title></head><body>"
        b"<p>Checking your browser before accessing the site.</p>"
        b"<p>Please verify you are human by completing the captcha.</p></body></html>"
    )
    server.route("/post", article)
    url = server.url("/post")
    args = ["fetch", url, "--db", str(db_path), "--allow-private"]
    assert CliRunner().invoke(cli, args).exit_code == 0
    server.route("/post", captcha)
    blocked = CliRunner().invoke(cli, args)
    assert blocked.exit_code == 1
    assert "captcha" in blocked.stderr
    with open_archive(db_path, readonly=True) as archive:
        [snapshot] = archive.snapshots(url)
        fetched = list(reversed(archive.fetches(url)))  # oldest first
    assert "twice a night to check the lamp" in snapshot.text
    assert [(f.error or "").startswith("block_page:") for f in fetched] == [False, True]


def test_crawl_of_every_fault_records_each_and_keeps_the_good_pages(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """One crawl whose start URLs are every fault of a page (not of its host): each is recorded
    with its own error, and only articles are stored."""
    db = crawl_faults(fault_server, tmp_path, PAGE_FAULTS)
    with open_archive(db, readonly=True) as archive:
        for fault in PAGE_FAULTS:
            url = fault_server.url(fault.path)
            if fault.path.startswith(("/redirect-chain/3", "/redirect-relative")):
                continue  # stored under the URL the redirect ends at
            fetched = archive.fetches(url)
            assert fetched, f"{fault.path} was not attempted"
            error = fetched[0].error
            if fault.expect == "ok":
                assert error is None, fault.path
            else:
                kind = getattr(errors, fault.expect).kind
                assert str(error).startswith(f"{kind}: "), (fault.path, error)
                assert archive.snapshots(url) == [], fault.path
        assert archive.snapshots(fault_server.url("/ok"))
    assert rows(db, "pragma integrity_check") == [("ok",)]


def test_crawl_backs_off_a_host_in_trouble_and_stores_nothing_bogus(
    fault_server: FaultServer, tmp_path: Path
) -> None:
    """Timeouts, resets, truncations and 429/503: each attempt is recorded with its error, the
    host is deferred (kept in the archive), and nothing half-read becomes a snapshot."""
    trouble = [f for f in HTML_FAULTS if f not in PAGE_FAULTS and f.expect != "ok"]
    db = crawl_faults(fault_server, tmp_path, trouble, exit_code=1)  # no page of it could be had
    with open_archive(db, readonly=True) as archive:
        urls = [fault_server.url(fault.path) for fault in trouble]
        errors_seen = [f.error for url in urls for f in archive.fetches(url)]
        assert errors_seen, "nothing was attempted"
        assert all(isinstance(e, str) and e for e in errors_seen)
        assert [s for url in urls for s in archive.snapshots(url)] == []
        host = archive.crawl_state().host(fault_server.base)
    assert host is not None
    assert host.next_allowed_at is not None
    assert rows(db, "pragma integrity_check") == [("ok",)]
