"""``scraper crawl`` starts its helpers' forkserver first (scraper.forkserver): a forkserver
killed before its first use, or one that could not start early, is started again by the first
helper that needs it; a crawl that stops before it runs (its lock is held, its config is
wrong) says so in one line and leaves no process behind. Each crawl is a real process."""

from __future__ import annotations

import asyncio
import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.crawl.lock import CrawlLock
from scraper.crawl.pool import Extracted, ExtractPool
from scraper.discover import PageLinks
from scraper.models import Article
from tests.server import LocalServer

REPO = Path(__file__).resolve().parents[1]
#: pages of the site: enough known pages for a recrawl to start the fetch helper (128)
PAGES = 140


@pytest.fixture(scope="module")
def big_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    root = tmp_path_factory.mktemp("site")
    links = "".join(f'<a href="/p{n}.html">page {n}</a>' for n in range(PAGES))
    (root / "index.html").write_text(f"<html><body><nav>{links}</nav></body></html>")
    for n in range(PAGES):
        words = " ".join(f"w{n}x{k}" for k in range(80))
        (root / f"p{n}.html").write_text(
            f"<html><head><title>Page {n}</title></head><body>"
            f"<article><h1>Page {n}</h1><p>{words}.</p></article></body></html>"
        )
    server = LocalServer(root).start()
    yield server
    server.stop()


def _config(tmp_path: Path, server: LocalServer) -> Path:
    config = tmp_path / "sites.toml"
    config.write_text(
        "[defaults]\ndelay_seconds = 0\nallow_private = true\n\n"
        f'[[site]]\nname = "big"\nstart_urls = ["{server.url("/index.html")}"]\n'
    )
    return config


def _crawl(
    mark: str, *args: str, before: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``scraper crawl ARGS`` in a process of its own, after running ``before`` there."""
    code = textwrap.dedent(before) + "\nfrom scraper.cli import cli\ncli(sys.argv[1:])\n"
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + code, "crawl", *args],
        cwd=REPO,
        env={**os.environ, "SCRAPER_TEST_MARK": mark, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _marked(mark: str) -> list[int]:
    """The processes (a crawl, its forkserver, its helpers) started with ``mark``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                environ = Path(f"/proc/{entry}/environ").read_bytes()
            except OSError:
                continue
            if f"SCRAPER_TEST_MARK={mark}".encode() in environ.split(b"\0"):
                found.append(int(entry))
    return found


def _none_left(mark: str) -> list[int]:
    """Wait (a generous while) until no process with ``mark`` is left; return those left."""
    deadline = time.monotonic() + 60
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


#: kills the forkserver the crawl command starts early, as soon as it is started
KILL_EARLY_FORKSERVER = """
    import os, signal, time
    from multiprocessing import forkserver as mp_forkserver
    import scraper.forkserver
    start_early = scraper.forkserver.start_early
    def started_then_killed():
        start_early()
        pid = mp_forkserver._forkserver._forkserver_pid
        os.kill(pid, signal.SIGKILL)
        # dead (a zombie: nothing reaps it before multiprocessing itself looks)
        while open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z":
            time.sleep(0.01)
        print("forkserver killed", file=sys.stderr)
    scraper.forkserver.start_early = started_then_killed
"""

#: the crawl command's early start of the forkserver fails (as with no free process)
FAIL_EARLY_START = """
    from multiprocessing import forkserver as mp_forkserver
    ensure_running = mp_forkserver.ensure_running
    calls = []
    def fails_first(*args):
        calls.append(1)
        if len(calls) == 1:
            print("early start refused", file=sys.stderr)
            raise OSError(11, "Resource temporarily unavailable")
        return ensure_running(*args)
    mp_forkserver.ensure_running = fails_first
"""


@pytest.mark.parametrize("before", [KILL_EARLY_FORKSERVER, FAIL_EARLY_START])
def test_the_helpers_start_without_the_early_forkserver(
    before: str, big_site: LocalServer, tmp_path: Path
) -> None:
    """The first crawl's extraction workers and the recrawl's fetch helper come from a
    forkserver the first of them starts, when the early one is gone or never started."""
    config = _config(tmp_path, big_site)
    db = tmp_path / "archive.db"
    mark = uuid.uuid4().hex
    first = _crawl(mark, "--config", str(config), "--db", str(db), "--quiet", before=before)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[0] in {"forkserver killed", "early start refused"}
    assert f"{PAGES + 1} pages fetched, {PAGES + 1} new, 0 changed" in first.stderr
    assert " 0 failed" in first.stderr

    stages = tmp_path / "stages"
    again = _crawl(
        mark,
        *("--config", str(config), "--db", str(db), "--quiet", "--revisit", "0"),
        before=before,
        env={"SCRAPER_STAGE_CPU": str(stages)},
    )
    assert again.returncode == 0, again.stderr
    assert f"{PAGES + 1} pages fetched, 0 new" in again.stderr
    assert " 0 failed" in again.stderr
    helpers = [json.loads(p.read_text()) for p in stages.glob("fetch-helper-*.json")]
    assert len(helpers) == 1, sorted(p.name for p in stages.iterdir())
    assert helpers[0]["first_fetch_wall"] is not None  # it did fetch some of the pages
    assert _none_left(mark) == []


def test_a_crawl_refused_by_its_lock_says_so_and_leaves_no_process(
    big_site: LocalServer, tmp_path: Path
) -> None:
    config = _config(tmp_path, big_site)
    db = tmp_path / "archive.db"
    mark = uuid.uuid4().hex
    with CrawlLock(db):
        done = _crawl(mark, "--config", str(config), "--db", str(db), "--quiet")
    assert done.returncode == 3
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert done.stderr.startswith("Error: ")
    assert "Traceback" not in done.stderr
    assert _none_left(mark) == []  # the forkserver it started early left with it


def test_a_config_error_is_one_line_and_starts_no_helper(tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[defaults]\ndelay_seconds = "soon"\n\n[[site]]\nname = "x"\n')
    mark = uuid.uuid4().hex
    done = _crawl(mark, "--config", str(config), "--db", str(tmp_path / "a.db"), "--quiet")
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert str(config) in done.stderr
    assert _marked(mark) == []  # nothing was started: the crawl process itself is gone
    assert not (tmp_path / "a.db").exists()


def _forkserver_of(mark: str) -> int | None:
    for pid in _marked(mark):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"multiprocessing.forkserver" in command:
            return pid
    return None


def _signals(pid: int, field: str) -> int:
    """A signal mask of ``pid`` from /proc (SigBlk, SigIgn...)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1], 16)
    raise AssertionError(f"no {field} for {pid}")


def test_ctrl_c_at_the_start_reaches_the_crawl_not_its_importing_forkserver(
    big_site: LocalServer, tmp_path: Path
) -> None:
    """The forkserver starts with SIGINT blocked: a Ctrl-C (to the whole process group) while
    it still imports cannot kill it with a traceback; the crawl itself stops on it."""
    config = _config(tmp_path, big_site)
    mark = uuid.uuid4().hex
    code = "import sys\nfrom scraper.cli import cli\ncli(sys.argv[1:])\n"
    args = ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db"), "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env={**os.environ, "SCRAPER_TEST_MARK": mark},
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives a command
    )
    try:
        deadline = time.monotonic() + 60
        while (server := _forkserver_of(mark)) is None and proc.poll() is None:
            assert time.monotonic() < deadline, "no forkserver was started"
            time.sleep(0.01)
        assert server is not None
        sigint = 1 << (signal.SIGINT - 1)
        assert _signals(server, "SigBlk") & sigint
        # the crawl itself takes SIGINT (it blocks it, and every signal, only for a moment
        # while it starts a process)
        while _signals(proc.pid, "SigBlk") & sigint:
            assert time.monotonic() < deadline, "the crawl keeps SIGINT blocked"
            time.sleep(0.001)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != 0
    assert "Traceback" not in err
    assert _none_left(mark) == []


def freeze_count_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """The worker's count of frozen objects as the page's text (runs in the worker)."""
    return Extracted(Article(url=url, text=str(gc.get_freeze_count()), found=True), PageLinks())


def test_helpers_inherit_the_forkservers_imports_frozen() -> None:
    """The forkserver freezes what it preloaded before it forks (scraper.frozen): a helper's
    collections leave the inherited modules alone; this process's heap is not frozen."""
    pool = ExtractPool(1, job=freeze_count_page)

    async def run() -> Extracted:
        return await pool.extract(
            "<p>x</p>", "http://127.0.0.1/x", strip=(), boilerplate=(), timeout_seconds=60
        )

    try:
        done = asyncio.run(run())
    finally:
        pool.close()
    assert int(done.article.text) > 10_000  # the preloaded modules' objects
    assert gc.get_freeze_count() == 0
