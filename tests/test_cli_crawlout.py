"""What a cron user sees of a crawl: hosts that are down named with their cause, failed URLs
listed (--verbose, the log file), --quiet, and the exit code of a run that got nothing."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scraper.archive import open_archive
from scraper.cli import cli
from tests.server import LocalServer

ARTICLE = (
    "<html><head><title>Fine</title></head><body><article><h1>Fine</h1>{}</article></body></html>"
)


def article(words: str) -> str:
    return ARTICLE.format(
        "".join(f"<p>{words} sentence number {i} of the page.</p>" for i in range(8))
    )


@pytest.fixture
def refused() -> Iterator[str]:
    """An origin on 127.0.0.1 that refuses every connection: a port bound and never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.fixture
def silent() -> Iterator[str]:
    """An origin that accepts connections and never answers: no budget is enough for it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def site(name: str, start: str) -> str:
    return f'\n[[site]]\nname = "{name}"\nstart_urls = ["{start}"]\nmax_depth = 1\n'


def config(tmp_path: Path, *sites: str, extra: str = "") -> Path:
    path = tmp_path / "sites.toml"
    path.write_text(
        "[defaults]\ndelay_seconds = 0\nallow_private = true\nretries = 0\n"
        + extra
        + "\n"
        + "".join(sites)
    )
    return path


def crawl(cfg: Path, db: Path, *args: str) -> Result:
    return CliRunner().invoke(
        cli, ["crawl", "--config", str(cfg), "--db", str(db), *args], catch_exceptions=False
    )


def run_row(db: Path, result: Result) -> tuple[int, int, int | None]:
    """(pages fetched, failed, exit code) of the run whose summary ``result`` printed."""
    found = re.search(r"^crawl #(\d+): ", result.stderr, re.M)
    assert found, result.stderr
    with open_archive(db, readonly=True) as archive:
        run = archive.crawl_state().run(int(found[1]))
    assert run is not None
    return run.pages_fetched, run.failed, run.exit_code


def test_a_host_that_refuses_connections_is_named_with_its_cause_every_run(
    tmp_path: Path, refused: str
) -> None:
    cfg = config(tmp_path, site("down", f"{refused}/"))
    db = tmp_path / "a.db"
    # the third run is the one where the crawl starts to keep away from the host (backoff),
    # the fourth one runs while it keeps away: every one of them names host and cause
    for _ in range(4):
        result = crawl(cfg, db)
        assert result.exit_code == 1, result.stderr
        problems = [line for line in result.stderr.splitlines() if line.startswith("problem:")]
        assert any(refused in line and "connection refused" in line for line in problems), (
            result.stderr
        )
        assert any("site down: every page failed" in line for line in problems)
        assert "robots.txt could not be fetched" not in result.stderr
        assert "disallowed by robots.txt" not in result.stderr
        assert "Traceback" not in result.stderr
        assert run_row(db, result)[2] == 1


def test_a_host_that_never_answers_is_named_as_timed_out(tmp_path: Path, silent: str) -> None:
    cfg = config(
        tmp_path,
        site("mute", f"{silent}/"),
        extra="connect_timeout_seconds = 1\nread_timeout_seconds = 0.5\ndeadline_seconds = 2\n",
    )
    result = crawl(cfg, tmp_path / "a.db")
    assert result.exit_code == 1
    assert re.search(rf"^problem: {re.escape(silent)}: timed out", result.stderr, re.M), (
        result.stderr
    )


def test_a_site_without_robots_whose_pages_all_fail_exits_1(tmp_path: Path, refused: str) -> None:
    cfg = config(tmp_path, site("down", f"{refused}/"), extra="respect_robots = false\n")
    db = tmp_path / "a.db"
    result = crawl(cfg, db, "--verbose")
    assert result.exit_code == 1
    assert f"failed: {refused}/: fetch: connection refused" in result.stderr
    assert "problem: site down: every page failed (1 failed)" in result.stderr
    assert f"problem: {refused}: connection refused; 1 page failed" in result.stderr
    # a failed request counts as fetched, in the summary and in the runs row
    assert re.search(r"crawl #1: 1 pages fetched, .* 1 failed", result.stderr)
    assert run_row(db, result) == (1, 1, 1)


@pytest.fixture
def mixed(server: LocalServer) -> LocalServer:
    """A site with a good start page linking to one page that answers 404 and one 503."""
    server.route(
        "/start",
        article("A good page").replace(
            "</article>", '<a href="/gone">gone</a> <a href="/broken">broken</a></article>'
        ),
    )
    server.route("/gone", "<html><body>no</body></html>", status=404)
    server.route("/broken", "<html><body>oops</body></html>", status=503)
    server.route("/robots.txt", "User-agent: *\nAllow: /\n", headers={"Content-Type": "text/plain"})
    return server


def test_partial_failures_exit_0_and_verbose_lists_each_failed_url(
    tmp_path: Path, mixed: LocalServer
) -> None:
    cfg = config(tmp_path, site("mixed", mixed.url("/start")))
    db = tmp_path / "a.db"
    result = crawl(cfg, db, "--verbose")
    assert result.exit_code == 0, result.stderr
    failed = sorted(line for line in result.stderr.splitlines() if line.startswith("failed:"))
    assert failed == [
        f"failed: {mixed.url('/broken')}: status: HTTP 503 Service Unavailable",
        f"failed: {mixed.url('/gone')}: status: HTTP 404 Not Found",
    ]
    assert re.search(r"crawl #1: 3 pages fetched, 1 new, .* 2 failed", result.stderr)
    assert "problem:" not in result.stderr
    assert run_row(db, result) == (3, 2, 0)


def test_default_output_does_not_list_urls_and_quiet_prints_only_summary_and_problems(
    tmp_path: Path, mixed: LocalServer, refused: str
) -> None:
    cfg = config(tmp_path, site("mixed", mixed.url("/start")), site("down", f"{refused}/"))
    db = tmp_path / "a.db"
    first = crawl(cfg, db)
    assert first.exit_code == 1  # every page of the site "down" failed
    assert "failed:" not in first.stderr
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("UPDATE pages SET next_fetch_at = '2000-01-01T00:00:00Z'")
        conn.commit()
    (Path(f"{db}.lock")).write_text("999999\n")  # as if a crawl had been killed: a note
    quiet = crawl(cfg, db, "--quiet")
    assert quiet.exit_code == 1
    lines = quiet.stderr.splitlines()
    assert lines[0].startswith("crawl #2: ")
    assert all(line.startswith("problem: ") for line in lines[1:]), quiet.stderr
    assert any(refused in line and "connection refused" in line for line in lines[1:])
    assert quiet.stdout == ""


def test_the_log_file_gets_every_failed_url_and_the_summary_even_with_quiet(
    tmp_path: Path, mixed: LocalServer, refused: str
) -> None:
    log = tmp_path / "logs" / "crawl.log"
    log.parent.mkdir()
    cfg = config(
        tmp_path,
        site("mixed", mixed.url("/start")),
        site("down", f"{refused}/"),
        extra=f'log_file = "{log}"\n',
    )
    db = tmp_path / "a.db"
    for _run in (1, 2):
        result = crawl(cfg, db, "--quiet")
        assert result.exit_code == 1
        assert "failed:" not in result.stderr
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("UPDATE pages SET next_fetch_at = '2000-01-01T00:00:00Z'")
            conn.commit()
    text = log.read_text()
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    assert (
        len(
            re.findall(
                rf"^{stamp} failed: {re.escape(mixed.url('/gone'))}: status: HTTP 404", text, re.M
            )
        )
        == 2
    )
    assert re.search(rf"^{stamp} crawl #1: ", text, re.M)
    assert re.search(rf"^{stamp} crawl #2: ", text, re.M)
    assert (
        len(re.findall(rf"^{stamp} problem: {re.escape(refused)}: connection refused", text, re.M))
        == 2
    )


def test_log_file_is_a_defaults_setting_and_a_bad_one_is_one_line(
    tmp_path: Path, mixed: LocalServer
) -> None:
    in_site = config(tmp_path, site("mixed", mixed.url("/start")) + 'log_file = "x.log"\n')
    result = crawl(in_site, tmp_path / "a.db")
    assert result.exit_code == 2
    assert "log_file" in result.stderr
    assert "[defaults]" in result.stderr
    missing = tmp_path / "no" / "such" / "dir" / "crawl.log"
    bad = config(tmp_path, site("mixed", mixed.url("/start")), extra=f'log_file = "{missing}"\n')
    result = crawl(bad, tmp_path / "a.db")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert str(missing) in result.stderr
    assert "Traceback" not in result.stderr


def test_quiet_and_verbose_together_is_a_usage_error(tmp_path: Path, mixed: LocalServer) -> None:
    cfg = config(tmp_path, site("mixed", mixed.url("/start")))
    result = crawl(cfg, tmp_path / "a.db", "--quiet", "--verbose")
    assert result.exit_code == 2


def test_a_crawl_stopped_by_sigterm_says_so_records_the_run_and_exits_1(
    server: LocalServer, tmp_path: Path
) -> None:
    """``timeout 10m scraper crawl`` in a crontab ends a long run with SIGTERM: the pages done
    are kept, the run is recorded as ended with exit code 1, the summary says it stopped, and
    the next run does the rest."""
    pages = 12
    links = "".join(f'<a href="/p{n}">{n}</a>' for n in range(pages))
    server.route("/start", article("The start page").replace("</article>", links + "</article>"))
    for n in range(pages):
        server.route(f"/p{n}", article(f"Page number {n}"))
    # the gap makes the run last a few seconds at least, whatever the machine
    cfg = config(
        tmp_path, site("long", server.url("/start")).replace("max_depth = 1", "max_depth = 2")
    )
    cfg.write_text(cfg.read_text().replace("delay_seconds = 0", "delay_seconds = 0.3"))
    db = tmp_path / "a.db"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    command = [sys.executable, "-m", "scraper", "crawl", "--config", str(cfg), "--db", str(db)]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120  # a liveness guard: the event comes much sooner
        while time.monotonic() < deadline:
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                    (done,) = conn.execute("SELECT COUNT(*) FROM fetches").fetchone()
            except sqlite3.Error:
                done = 0
            if done >= 2:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert re.search(r"^crawl #1: ", err, re.M), err
    assert "problem: the run was stopped (SIGTERM) before it was done" in err
    with closing(sqlite3.connect(db)) as conn:
        ended, code, fetched = conn.execute(
            "SELECT ended_at, exit_code, pages_fetched FROM runs"
        ).fetchone()
        (stored,) = conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()
    assert ended is not None
    assert code == 1
    assert 2 <= stored < pages + 1  # the pages done are kept, the rest is not done
    assert fetched >= 2
    again = crawl(cfg, db)
    assert again.exit_code == 0, again.stderr
    with closing(sqlite3.connect(db)) as conn:
        (stored,) = conn.execute("SELECT COUNT(DISTINCT page_id) FROM snapshots").fetchone()
    assert stored == pages + 1


def test_a_log_file_that_cannot_be_written_any_more_is_said_once_and_the_crawl_goes_on(
    tmp_path: Path, mixed: LocalServer
) -> None:
    full = Path("/dev/full")  # every write fails with "No space left on device"
    if not full.exists():
        pytest.skip("no /dev/full here")
    cfg = config(tmp_path, site("mixed", mixed.url("/start")), extra=f'log_file = "{full}"\n')
    result = crawl(cfg, tmp_path / "a.db")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.count("cannot write the log any more") == 1
    assert "No space left on device" in result.stderr
    assert re.search(r"^crawl #1: 3 pages fetched", result.stderr, re.M)
    assert "Traceback" not in result.stderr
