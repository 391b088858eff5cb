"""``scraper crawl`` on PostgreSQL: several crawl processes at once against one archive, over a
local site of several hosts (one 127.0.0.1 server each). Checked from the database and from
each server's request log: every page archived once per change, no duplicate snapshots, each
host's delay held across the workers, a SIGKILLed worker's pages taken over by the others, a
recrawl of unchanged pages storing nothing new; and the lock-free, lease-checked CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from scraper.cli import cli
from tests.server import LocalServer, respond

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 300.0  #: what a crawl may take on a slow, busy machine (it needs seconds)
HOSTS = 4
ARTICLES = 4  #: per host, beside its index page
DELAY = 0.3  #: seconds between two requests to one host


def _article(host: int, n: int, version: str) -> bytes:
    """Story ``n`` of a host: the same bytes on every host (syndicated), so workers archiving
    different hosts at once write the same content-addressed rows (the deadlock of two open
    transactions that wrote them in opposite orders)."""
    del host
    prose = " ".join(
        f"Paragraph {k} of story {n} tells the {version} account of the "
        "harbour works and the ferries that keep the islands connected."
        for k in range(5)
    )
    return (
        f"<html><head><title>Story {n} {version}</title></head><body><article>"
        f"<h1>Story {n} {version}</h1><p>{prose}</p><p>{prose}</p>"
        '</article><a href="/">home</a></body></html>'
    ).encode()


def _index(n_articles: int) -> bytes:
    links = "".join(f'<li><a href="/a{n}">story {n}</a></li>' for n in range(n_articles))
    return f"<html><head><title>Index</title></head><body><ul>{links}</ul></body></html>".encode()


@pytest.fixture
def site() -> Iterator[list[LocalServer]]:
    """HOSTS servers, each an index page linking to ARTICLES articles."""
    servers = [LocalServer().start() for _ in range(HOSTS)]
    for h, srv in enumerate(servers):
        srv.route("/", body=_index(ARTICLES), headers={"Content-Type": "text/html"})
        for n in range(ARTICLES):
            srv.route(f"/a{n}", body=_article(h, n, "first"), headers={"Content-Type": "text/html"})
    yield servers
    for srv in servers:
        srv.stop()


def _config(tmp_path: Path, servers: list[LocalServer], **extra: float) -> Path:
    settings = {
        "delay_seconds": DELAY,
        "concurrency": 2,
        "concurrency_per_host": 1,
        # a fetch's deadline far above what a page needs on a slow, busy machine (a page cut
        # short makes its host's links never found); a test of takeover sets a short lease
        "lease_seconds": 40.0,
        "lease_margin_seconds": 20.0,
        "deadline_seconds": 15.0,
        "retries": 0,
        **extra,
    }
    lines = ["[defaults]", *(f"{k} = {v}" for k, v in settings.items())]
    starts = ", ".join(f'"{srv.url("/")}"' for srv in servers)
    lines += ["allow_private = true", "", "[[site]]", 'name = "multi"', f"start_urls = [{starts}]"]
    path = tmp_path / "sites.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


_procs: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _kill_leftovers() -> Iterator[None]:
    yield
    while _procs:
        proc = _procs.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=BUDGET_SECONDS)


def _start(config: Path, db: str, name: str, *args: str) -> subprocess.Popen[str]:
    """One ``scraper crawl`` process; its User-Agent names it in the servers' logs."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SCRAPER_USER_AGENT": f"{name}/1.0"}
    env.pop("SCRAPER_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "scraper", "crawl", "--quiet", "--config", str(config),
         "--db", db, *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )  # fmt: skip
    _procs.append(proc)
    return proc


def _finish(proc: subprocess.Popen[str]) -> str:
    """Wait for a crawl to end by itself; its stderr (it must have succeeded)."""
    _, err = proc.communicate(timeout=BUDGET_SECONDS)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    return err


def _pages(servers: list[LocalServer]) -> set[str]:
    return {srv.url(p) for srv in servers for p in ["/", *(f"/a{n}" for n in range(ARTICLES))]}


def _check_delay_held(servers: list[LocalServer]) -> set[str]:
    """No two requests to one host closer than DELAY (the server's arrival times, whichever
    workers sent them); the User-Agents seen."""
    agents: set[str] = set()
    for srv in servers:
        times = sorted(r.at for r in srv.requests)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= DELAY - 0.002, gaps  # microsecond rounding of the stored times
        agents |= {r.headers.get("User-Agent", "").split("/")[0] for r in srv.requests}
    return agents


def _versions(db: str) -> dict[str, int]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT p.url, count(s.id) FROM pages p LEFT JOIN snapshots s ON s.page_id = p.id "
            "GROUP BY p.url"
        ).fetchall()
    return dict(rows)


def _no_twin_snapshots(db: str) -> None:
    with psycopg.connect(db) as conn:
        twins = conn.execute(
            "SELECT count(*) FROM (SELECT page_id, content_hash FROM snapshots "
            "GROUP BY page_id, content_hash HAVING count(*) > 1) AS t"
        ).fetchone()
        claims = conn.execute("SELECT count(*) FROM page_claims").fetchone()
        held = conn.execute(
            "SELECT count(*) FROM host_leases WHERE worker_id IS NOT NULL"
        ).fetchone()
    assert twins == (0,)
    assert claims == (0,)  # every run ended and gave back what it held
    assert held == (0,)


@pytest.mark.parametrize("workers", [2, 3])
def test_workers_share_the_crawl_once_per_change_and_hold_each_hosts_delay(
    postgres_db: str, site: list[LocalServer], tmp_path: Path, workers: int
) -> None:
    config = _config(tmp_path, site)  # no lease expires: 2.5 s of deadline cut pages short
    procs = [_start(config, postgres_db, f"w{i}") for i in range(workers)]
    for proc in procs:
        _finish(proc)
    pages = _pages(site)
    for srv in site:  # every page fetched once, by one worker or another
        fetched = Counter(r.path for r in srv.requests if r.path != "/robots.txt")
        assert fetched == {"/": 1, **{f"/a{n}": 1 for n in range(ARTICLES)}}
    agents = _check_delay_held(site)
    assert len(agents) >= 2, agents  # shared: no single worker did it all
    assert _versions(postgres_db) == dict.fromkeys(pages, 1)
    _no_twin_snapshots(postgres_db)

    # some pages change; a recrawl of every known page stores a version for those only
    for h, srv in enumerate(site):
        srv.route("/a0", body=_article(h, 0, "second"), headers={"Content-Type": "text/html"})
    before = {srv.url("/"): len(srv.requests) for srv in site}
    with psycopg.connect(postgres_db, autocommit=True) as conn:  # every page due again
        conn.execute("UPDATE pages SET next_fetch_at = '2000-01-01T00:00:00Z'")
    procs = [_start(config, postgres_db, f"r{i}") for i in range(workers)]
    for proc in procs:
        _finish(proc)
    for srv in site:
        again = Counter(r.path for r in srv.requests[before[srv.url("/")] :])
        again.pop("/robots.txt", None)
        assert again == {"/": 1, **{f"/a{n}": 1 for n in range(ARTICLES)}}
    _check_delay_held(site)
    changed = {srv.url("/a0") for srv in site}
    assert _versions(postgres_db) == {u: 2 if u in changed else 1 for u in pages}
    _no_twin_snapshots(postgres_db)
    with psycopg.connect(postgres_db) as conn:
        runs = conn.execute("SELECT count(*) FROM runs WHERE exit_code = 0").fetchone()
    assert runs == (2 * workers,)


def _worker_of(proc: subprocess.Popen[str]) -> str:
    return f"%:{proc.pid}:%"


def test_a_sigkilled_workers_pages_are_taken_over(
    postgres_db: str, site: list[LocalServer], tmp_path: Path
) -> None:
    """A worker that dies in the middle of a request to one host (holding that host and
    another, with pages claimed) loses them when its lease expires; the others archive every
    page, each once."""
    release = threading.Event()
    arrived = threading.Event()
    hung = site[0]

    def hang(handler: BaseHTTPRequestHandler) -> None:
        if not release.is_set():
            arrived.set()
            release.wait(BUDGET_SECONDS)
        respond(_article(0, 2, "first"))(handler)

    hung.route("/a2", handler=hang)
    # a deadline far above the moment the test takes to kill it (the lease outlasts it)
    config = _config(
        tmp_path, site, lease_seconds=20.0, lease_margin_seconds=10.0, deadline_seconds=8.0
    )
    dead = _start(config, postgres_db, "dead")
    assert arrived.wait(BUDGET_SECONDS), "the first worker never reached the hanging page"
    with psycopg.connect(postgres_db) as conn:
        claimed = conn.execute(
            "SELECT count(*) FROM page_claims WHERE worker_id LIKE %s", (_worker_of(dead),)
        ).fetchone()
    assert claimed is not None
    assert claimed[0] > 0  # it holds pages as it dies
    dead.send_signal(signal.SIGKILL)
    dead.communicate(timeout=BUDGET_SECONDS)
    killed_at = time.monotonic()
    release.set()

    procs = [_start(config, postgres_db, f"w{i}") for i in range(2)]
    for proc in procs:
        _finish(proc)
    pages = _pages(site)
    assert _versions(postgres_db) == dict.fromkeys(pages, 1)  # every page archived, once
    _no_twin_snapshots(postgres_db)
    _check_delay_held(site)
    late = [
        r for srv in site for r in srv.requests if r.at > killed_at
        and r.headers.get("User-Agent", "").startswith("dead/")
    ]  # fmt: skip
    assert late == []
    # the page the dead worker was fetching was fetched again, by a worker that took over
    takers = {r.headers.get("User-Agent", "") for r in hung.requests_to("/a2")}
    assert len(hung.requests_to("/a2")) == 2
    assert any(agent.startswith("w") for agent in takers), takers


def test_a_crawl_on_a_url_takes_no_lock_file(
    postgres_db: str, site: list[LocalServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    config = _config(tmp_path, site[:1])
    out = CliRunner().invoke(
        cli, ["crawl", "--quiet", "--config", str(config), "--db", postgres_db]
    )
    assert out.exit_code == 0, out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.toml"]  # no lock file, no db
    assert _versions(postgres_db) == dict.fromkeys(_pages(site[:1]), 1)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lease_margin_seconds": 40.0}, "lease_margin_seconds (40) must be shorter than"),
        ({"deadline_seconds": 20.0}, "lease_margin_seconds (20) must be longer than deadline"),
    ],
)
def test_lease_settings_that_cannot_hold_are_refused_in_one_line(
    postgres_db: str,
    site: list[LocalServer],
    tmp_path: Path,
    settings: dict[str, float],
    message: str,
) -> None:
    config = _config(tmp_path, site[:1], **settings)
    out = CliRunner().invoke(cli, ["crawl", "--config", str(config), "--db", postgres_db])
    assert out.exit_code == 2, out.output
    assert message in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert not any(srv.requests for srv in site)  # refused before anything was fetched


def test_a_sqlite_crawl_ignores_the_lease_settings(site: list[LocalServer], tmp_path: Path) -> None:
    config = _config(tmp_path, site[:1], lease_margin_seconds=6.0)
    db = tmp_path / "archive.db"
    out = CliRunner().invoke(cli, ["crawl", "--quiet", "--config", str(config), "--db", str(db)])
    assert out.exit_code == 0, out.output


def test_a_worker_whose_lease_passes_on_records_nothing_more_of_that_host(
    postgres_db: str, site: list[LocalServer], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a page of one host is being fetched, another worker takes the host (its lease
    handed over, as after an expiry): the page is not recorded, no other request goes to the
    host, and the run ends well, the host's pages due again for whoever holds it."""
    monkeypatch.chdir(tmp_path)
    stolen = site[0]
    stolen_at: list[float] = []

    def steal(handler: BaseHTTPRequestHandler) -> None:
        with psycopg.connect(postgres_db, autocommit=True) as conn:
            conn.execute(
                "UPDATE host_leases SET worker_id = 'thief', "
                "lease_until = clock_timestamp() + interval '3 seconds' WHERE host = %s",
                (stolen.url("/").rstrip("/"),),
            )
        stolen_at.append(time.monotonic())
        respond(_article(0, 1, "first"))(handler)

    stolen.route("/a1", handler=steal)
    config = _config(tmp_path, site[:2])
    out = CliRunner().invoke(
        cli, ["crawl", "--quiet", "--config", str(config), "--db", postgres_db]
    )
    assert out.exit_code == 0, out.output
    assert "Traceback" not in out.output
    assert stolen_at  # the page was requested, and the host taken away meanwhile
    assert [r.path for r in stolen.requests if r.at > stolen_at[0]] == []
    versions = _versions(postgres_db)
    assert versions[stolen.url("/a1")] == 0  # not recorded: the new holder's to fetch
    assert versions[stolen.url("/")] == 1
    assert all(versions[site[1].url(p)] == 1 for p in ["/", *(f"/a{n}" for n in range(ARTICLES))])
    with psycopg.connect(postgres_db) as conn:
        fetched = conn.execute(
            "SELECT count(*) FROM fetches f JOIN pages p ON p.id = f.page_id WHERE p.url = %s",
            (stolen.url("/a1"),),
        ).fetchone()
        claims = conn.execute("SELECT count(*) FROM page_claims").fetchone()
    assert fetched == (0,)
    assert claims == (0,)


def test_a_sigtermed_worker_gives_its_hosts_back_at_once(
    postgres_db: str, site: list[LocalServer], tmp_path: Path
) -> None:
    """SIGTERM (a systemd stop, cron's ``timeout``) ends a worker's run cleanly: it says so,
    and its leases and claims are free for the others at once, not after they expire."""
    release = threading.Event()
    arrived = threading.Event()

    def hang(handler: BaseHTTPRequestHandler) -> None:
        arrived.set()
        release.wait(BUDGET_SECONDS)
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    site[0].route("/a0", handler=hang)
    config = _config(
        tmp_path, site, lease_seconds=200.0, lease_margin_seconds=100.0, deadline_seconds=90.0
    )
    worker = _start(config, postgres_db, "stopped")
    assert arrived.wait(BUDGET_SECONDS), "the worker never reached the hanging page"
    worker.send_signal(signal.SIGTERM)
    _, err = worker.communicate(timeout=BUDGET_SECONDS)
    release.set()
    assert worker.returncode == 1, err  # stopped before it was done
    assert "stopped (SIGTERM)" in err
    assert "Traceback" not in err
    with psycopg.connect(postgres_db) as conn:
        held = conn.execute(
            "SELECT count(*) FROM host_leases WHERE worker_id IS NOT NULL "
            "AND lease_until > clock_timestamp()"
        ).fetchone()
        claims = conn.execute("SELECT count(*) FROM page_claims").fetchone()
    assert held == (0,)  # long leases (200 s), given back at once
    assert claims == (0,)
    # the next worker needs no wait for a lease to expire: it archives the rest at once
    _finish(_start(config, postgres_db, "next"))
    assert _versions(postgres_db)[site[0].url("/a1")] == 1


def test_a_worker_that_loses_the_database_stops_in_one_line(
    postgres_db: str, site: list[LocalServer], tmp_path: Path
) -> None:
    arrived = threading.Event()
    release = threading.Event()

    def cut(handler: BaseHTTPRequestHandler) -> None:
        arrived.set()
        release.wait(BUDGET_SECONDS)
        respond(_article(0, 0, "first"))(handler)

    site[0].route("/a0", handler=cut)
    config = _config(
        tmp_path, site, lease_seconds=200.0, lease_margin_seconds=100.0, deadline_seconds=90.0
    )
    worker = _start(config, postgres_db, "cut")
    assert arrived.wait(BUDGET_SECONDS)
    with psycopg.connect(postgres_db, autocommit=True) as admin:  # the server drops it
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    release.set()
    _, err = worker.communicate(timeout=BUDGET_SECONDS)
    assert worker.returncode == 1, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("Error: postgresql://")


def test_workers_read_sitemaps_on_hosts_they_do_not_hold(
    postgres_db: str, site: list[LocalServer], tmp_path: Path
) -> None:
    """A sitemap is a request of the worker's own: it takes the host's turn (and lease) like a
    page, so the delay holds for it too, and each page the sitemaps list is archived once."""
    for srv in site:
        urls = "".join(f"<url><loc>{srv.url(f'/s{n}')}</loc></url>" for n in range(3))
        srv.route("/sitemap.xml", headers={"Content-Type": "application/xml"}, body=(
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{urls}</urlset>"
        ))  # fmt: skip
        for n in range(3):
            srv.route(f"/s{n}", body=_article(9, 10 + n, "first"),
                      headers={"Content-Type": "text/html"})  # fmt: skip
    config = _config(tmp_path, site)
    sitemaps = ", ".join(f'"{srv.url("/sitemap.xml")}"' for srv in site)
    config.write_text(config.read_text() + f"sitemaps = [{sitemaps}]\n")
    procs = [_start(config, postgres_db, f"w{i}") for i in range(2)]
    for proc in procs:
        _finish(proc)
    _check_delay_held(site)
    versions = _versions(postgres_db)
    assert all(versions[srv.url(f"/s{n}")] == 1 for srv in site for n in range(3))
    assert set(versions.values()) == {1}
    for srv in site:
        listed = {f"/s{n}" for n in range(3)}
        assert Counter(r.path for r in srv.requests if r.path in listed) == dict.fromkeys(listed, 1)
        assert srv.requests_to("/sitemap.xml")
    with psycopg.connect(postgres_db) as conn:  # no host was taken for down (a busy robots.txt)
        backoffs = conn.execute("SELECT count(*) FROM hosts WHERE next_allowed_at IS NOT NULL")
        assert backoffs.fetchone() == (0,)
