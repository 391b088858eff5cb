"""Crash safety and concurrency of ``scraper crawl``, with real processes and SIGKILL.

A crawl is killed at several points; each time the archive must pass ``PRAGMA
integrity_check``, hold no duplicated snapshot (the same content twice in a row for a page),
and the next run must take the lock over and complete the rest. Also: two crawls at once,
and ``scraper sql`` / ``scraper fetch`` while a crawl writes.

The 20-kill variant is marked ``slow`` and runs only with ``SCRAPER_SLOW_TESTS=1`` or
``-m slow`` (``make stress``).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import cli
from scraper.crawl import _process_alive
from tests.benchmarks.bench_crawl import descendants
from tests.server import LocalServer

REPO = Path(__file__).resolve().parents[1]
PAGES = 120
WORDS = ("tide", "harbour", "pier", "storm", "council", "ferry", "market", "school", "vote")


def build_site(root: Path, pages: int) -> None:
    (root / "p").mkdir(parents=True)
    rng = random.Random(1)
    for number in range(pages):
        paragraphs = "".join(
            "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)) + f" (page {number}).</p>"
            for _ in range(6)
        )
        links = "".join(f'<a href="/p/{(number + k) % pages}.html">next</a>' for k in (1, 7))
        (root / "p" / f"{number}.html").write_text(
            f"<html><head><title>Page {number}</title></head><body><nav>{links}</nav>"
            f"<article><h1>Page {number}</h1>{paragraphs}</article></body></html>"
        )
    listing = "".join(f'<a href="/p/{n}.html">{n}</a>' for n in range(pages))
    (root / "index.html").write_text(f"<html><body>{listing}</body></html>")


@pytest.fixture
def big_site(tmp_path: Path) -> Iterator[LocalServer]:
    root = tmp_path / "site"
    build_site(root, PAGES)
    server = LocalServer(root).start()
    yield server
    server.stop()


def write_config(path: Path, server: LocalServer, delay: float = 0.02) -> Path:
    path.write_text(
        f"""
[defaults]
delay_seconds = {delay}
concurrency_per_host = 4
allow_private = true
retries = 0

[[site]]
name = "big"
start_urls = ["{server.base}/index.html"]
max_depth = 3
"""
    )
    return path


def crawl_process(
    config: Path, db: Path, *extra: str, output: int = subprocess.PIPE, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """``scraper crawl`` in a process of its own (``new_session``: and its own process group,
    as under timeout(1)), with no proxy; its stdout and stderr to ``output``."""
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "*"
    return subprocess.Popen(
        [sys.executable, "-m", "scraper", "crawl", "--config", str(config), "--db", str(db)]
        + list(extra),
        cwd=REPO,
        env=env,
        stdout=output,
        stderr=output,
        start_new_session=new_session,
    )


def check_archive(db: Path) -> None:
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        doubled = conn.execute(
            """
            SELECT COUNT(*) FROM (
                SELECT page_id, content_hash,
                    LAG(content_hash) OVER (PARTITION BY page_id ORDER BY id) AS previous
                FROM snapshots
            ) WHERE content_hash = previous
            """
        ).fetchone()[0]
        assert doubled == 0
        # every snapshot is whole: its fetch row and its raw body are there
        orphans = conn.execute(
            "SELECT COUNT(*) FROM snapshots s WHERE NOT EXISTS "
            "(SELECT 1 FROM fetches f WHERE f.snapshot_id = s.id) "
            "OR (s.raw_sha256 IS NOT NULL AND NOT EXISTS "
            "(SELECT 1 FROM raw r WHERE r.sha256 = s.raw_sha256))"
        ).fetchone()[0]
        assert orphans == 0


def archived_pages(db: Path) -> int:
    with closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(DISTINCT page_id) FROM snapshots").fetchone()[0])


def _latest_run(db: Path) -> tuple[int, int]:
    """(id of the newest run, fetches it wrote so far); (0, 0) before the schema exists."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            (run,) = conn.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()
            (done,) = conn.execute(
                "SELECT COUNT(*) FROM fetches WHERE run_id = ?", (run,)
            ).fetchone()
    except sqlite3.Error:  # no archive, or no schema yet
        return 0, 0
    return int(run), int(done)


def wait_for_pages(db: Path, proc: subprocess.Popen[bytes], after_run: int, pages: int) -> None:
    """Wait (for events, not for time) until the run after ``after_run`` has recorded at least
    ``pages`` fetches; 0: until it has recorded its start, so its schema exists."""
    deadline = time.monotonic() + 120  # a liveness guard only: the events come much sooner
    while time.monotonic() < deadline:
        run, done = _latest_run(db)
        if run > after_run and done >= pages:
            return
        assert proc.poll() is None, f"the crawl ended before {pages} pages: {proc.communicate()}"
        time.sleep(0.01)
    raise AssertionError(f"the crawl did not record {pages} pages")


def kill_and_resume(config: Path, db: Path, kill_after_pages: list[int]) -> None:
    """Kill a crawl once it has recorded each number of pages, then check and resume.

    The kills wait for events (the run's row, its fetch rows) rather than for time, so that
    a slow machine moves them no later in the run and a fast one no earlier. Each number is
    well below the site's size: the remaining pages take at least their delay each, so the
    run is still going when the kill lands.
    """
    for pages in kill_after_pages:
        # --revisit 0: every run has the whole site to do, so every kill lands mid-run
        before, _ = _latest_run(db)
        proc = crawl_process(config, db, "--quiet", "--revisit", "0")
        wait_for_pages(db, proc, before, pages)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        check_archive(db)
    proc = crawl_process(config, db, "--quiet")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()  # the lock of the killed runs is free
    check_archive(db)
    assert archived_pages(db) == PAGES + 1  # every page and the index
    with closing(sqlite3.connect(db)) as conn:
        runs = conn.execute("SELECT COUNT(*), COUNT(ended_at) FROM runs").fetchone()
    assert runs[0] == len(kill_after_pages) + 1
    assert runs[1] < runs[0]  # killed runs have a start and no end


def test_sigkill_mid_run_then_resume(big_site: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path / "sites.toml", big_site)
    # at its start (schema and run row just written), early, and half-way through the site
    kill_and_resume(config, tmp_path / "archive.db", [0, 5, PAGES // 2])


@pytest.mark.slow
def test_sigkill_at_twenty_random_points(
    big_site: LocalServer, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if request.config.getoption("-m") != "slow" and not os.environ.get("SCRAPER_SLOW_TESTS"):
        pytest.skip("slow: run with -m slow or SCRAPER_SLOW_TESTS=1")
    config = write_config(tmp_path / "sites.toml", big_site)
    rng = random.Random(20)
    kill_and_resume(
        config, tmp_path / "archive.db", [rng.randrange(0, PAGES * 3 // 4) for _ in range(20)]
    )


def started(db: Path) -> bool:
    """The crawl has opened the archive and recorded its run."""
    try:
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            return bool(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
    except sqlite3.Error:
        return False


def wait_for_lock(db: Path, proc: subprocess.Popen[bytes]) -> None:
    lock = Path(f"{db}.lock")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if lock.exists() and lock.read_text().strip() == str(proc.pid) and started(db):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    raise AssertionError("the crawl never took its lock and started")


def test_second_crawl_exits_3_and_reads_work_meanwhile(
    big_site: LocalServer, tmp_path: Path
) -> None:
    db = tmp_path / "archive.db"
    config = write_config(tmp_path / "sites.toml", big_site, delay=0.03)
    proc = crawl_process(config, db, "--quiet")
    try:
        wait_for_lock(db, proc)
        runner = CliRunner()
        second = runner.invoke(
            cli, ["crawl", "--config", str(config), "--db", str(db)], catch_exceptions=False
        )
        assert second.exit_code == 3
        assert f"pid {proc.pid}" in second.stderr
        reads = 0
        while proc.poll() is None and reads < 15:
            result = runner.invoke(
                cli,
                ["sql", "SELECT COUNT(*) FROM fetches", "--db", str(db)],
                catch_exceptions=False,
            )
            assert result.exit_code == 0, result.stderr
            assert "locked" not in result.stderr
            reads += 1
            time.sleep(0.05)
        fetched = runner.invoke(
            cli,
            [
                "fetch",
                "--allow-private",
                "--db",
                str(db),
                "--format",
                "json",
                big_site.url("/p/3.html"),
            ],
            catch_exceptions=False,
        )
        assert fetched.exit_code == 0, fetched.stderr
        assert reads > 0
    finally:
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.decode()
    check_archive(db)


def _parent(pid: int) -> int | None:
    """The parent of ``pid`` (None when it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def _wait_for_helper(crawl: subprocess.Popen[bytes]) -> set[int]:
    """Wait (for the event) until the crawl runs a helper, forked by its forkserver (which the
    crawl starts first, with the resource tracker): a grandchild of the crawl. Returns the
    crawl's descendants then."""
    deadline = time.monotonic() + 60  # a liveness guard: the event comes much sooner
    while time.monotonic() < deadline:
        helpers = descendants(crawl.pid)
        if any(_parent(pid) not in {crawl.pid, None} for pid in helpers):
            return helpers
        assert crawl.poll() is None, f"the crawl ended before its helper started: {crawl.pid}"
        time.sleep(0.02)
    raise AssertionError("the crawl never started a helper")


def test_sigkill_while_the_fetch_helper_works(tmp_path: Path) -> None:
    """A recrawl big enough for the fetch helper is killed mid-run: the archive is whole, the
    helper does not outlive the crawl, and the next run does what the killed one left."""
    root = tmp_path / "site"
    build_site(root, 200)
    server = LocalServer(root).start()
    try:
        db = tmp_path / "archive.db"
        config = write_config(tmp_path / "sites.toml", server, delay=0.01)
        first = crawl_process(config, db, "--quiet")
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err.decode()

        recrawl = crawl_process(config, db, "--quiet", "--revisit", "0")
        helpers = _wait_for_helper(recrawl)
        # the helper has been started: kill once the run has recorded a good part of its pages
        before = _latest_run(db)[0] - 1
        wait_for_pages(db, recrawl, before, 60)
        recrawl.send_signal(signal.SIGKILL)
        recrawl.communicate(timeout=30)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_process_alive(pid) for pid in helpers):
            time.sleep(0.05)
        assert not any(_process_alive(pid) for pid in helpers)
        check_archive(db)

        last = crawl_process(config, db, "--quiet", "--revisit", "0")
        _, err = last.communicate(timeout=120)
        assert last.returncode == 0, err.decode()
        check_archive(db)
        with closing(sqlite3.connect(db)) as conn:
            per_run = dict(conn.execute("SELECT run_id, COUNT(*) FROM fetches GROUP BY run_id"))
            runs = [r[0] for r in conn.execute("SELECT id FROM runs ORDER BY id")]
            failed = conn.execute("SELECT COUNT(*) FROM fetches WHERE error IS NOT NULL")
            assert failed.fetchone()[0] == 0
        killed, final = runs[1], runs[2]
        assert 0 < per_run.get(killed, 0) < 201  # killed mid-run, its finished pages kept
        assert per_run[final] == 201  # the next run went through every page
    finally:
        server.stop()


def test_one_off_fetches_wait_out_a_recrawls_group_commits(
    big_site: LocalServer, tmp_path: Path
) -> None:
    """A recrawl of unchanged pages holds its write transaction open for up to a quarter of a
    second at a time (group commit); a one-off ``scraper fetch`` meanwhile waits its turn and
    succeeds, and readers are never held up."""
    db = tmp_path / "archive.db"
    config = write_config(tmp_path / "sites.toml", big_site, delay=0.02)
    first = crawl_process(config, db, "--quiet")
    _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err.decode()
    recrawl = crawl_process(config, db, "--quiet", "--revisit", "0")
    runner = CliRunner()
    fetched = 0
    try:
        wait_for_lock(db, recrawl)
        while recrawl.poll() is None and fetched < 5:
            url = big_site.url(f"/p/{fetched}.html")
            args = ["fetch", "--allow-private", "--db", str(db), "--format", "json", url]
            result = runner.invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 0, result.stderr
            read = runner.invoke(cli, ["sql", "SELECT COUNT(*) FROM fetches", "--db", str(db)])
            assert read.exit_code == 0, read.stderr
            fetched += 1
    finally:
        _, err = recrawl.communicate(timeout=120)
    assert recrawl.returncode == 0, err.decode()
    assert fetched > 0
    check_archive(db)
    with closing(sqlite3.connect(db)) as conn:
        last_run = conn.execute("SELECT MAX(id) FROM runs").fetchone()[0]
        unchanged = conn.execute("SELECT unchanged FROM runs WHERE id = ?", (last_run,))
        assert unchanged.fetchone()[0] == PAGES + 1  # bookkeeping only: grouped commits


@pytest.mark.parametrize("moment", ["first crawl", "recrawl, at its start", "recrawl, helper up"])
def test_sigterm_to_the_whole_process_group_stops_the_crawl_cleanly(
    tmp_path: Path, moment: str
) -> None:
    """``timeout`` in a crontab signals the command's whole process group, and a systemd stop
    its whole cgroup: the helpers get the SIGTERM too. The crawl stops as for its own SIGTERM
    (the summary, exit 1, what is done committed), fails no page (its forkserver does not take
    the signal: a helper that died of it is replaced, or the crawl fetches by itself), and says
    nothing else (no "Aborted!", no traceback)."""
    root = tmp_path / "site"
    build_site(root, 200)
    server = LocalServer(root).start()
    try:
        db = tmp_path / "archive.db"
        config = write_config(tmp_path / "sites.toml", server, delay=0.01)
        extra: tuple[str, ...] = ()
        if moment != "first crawl":
            first = crawl_process(config, db, "--quiet")
            _, err = first.communicate(timeout=120)
            assert first.returncode == 0, err.decode()
            extra = ("--revisit", "0")
        before = _latest_run(db)[0]
        proc = crawl_process(config, db, *extra, new_session=True)
        try:
            if moment == "recrawl, at its start":
                wait_for_pages(db, proc, before, 0)  # the run is recorded: its loop starts
            elif moment == "recrawl, helper up":
                _wait_for_helper(proc)
                wait_for_pages(db, proc, before, 10)
            else:
                wait_for_pages(db, proc, before, 10)  # the extraction workers are at work
            os.killpg(proc.pid, signal.SIGTERM)
            _, raw = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
        err = raw.decode()
        assert proc.returncode == 1, err
        assert "problem: the run was stopped (SIGTERM) before it was done" in err
        assert "Aborted" not in err
        assert "Traceback" not in err
        check_archive(db)
        with closing(sqlite3.connect(db)) as conn:
            failed = conn.execute(
                "SELECT url, error FROM fetches WHERE run_id > ? AND error IS NOT NULL", (before,)
            ).fetchall()
            (code,) = conn.execute("SELECT exit_code FROM runs WHERE id > ?", (before,)).fetchone()
        assert failed == []
        assert code == 1
        # and nothing of the group outlives the crawl (the helpers leave when it closes them)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("a process of the crawl's group outlived it")
    finally:
        server.stop()
