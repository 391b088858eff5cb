"""The shared frontier on PostgreSQL: due pages claimed under per-host leases by several
workers (processes here, machines in production), politeness held across them, a dead
worker's pages taken over when its leases expire."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from scraper.archive.postgres import schema
from scraper.archive.postgres.connect import connect
from scraper.archive.postgres.frontier import LeaseLostError, SharedFrontier
from scraper.archive.records import NewPage
from tests.pgworker import LATER, NOW
from tests.server import LocalServer

ROOT = Path(__file__).resolve().parents[1]
BUDGET_SECONDS = 300.0  # what a worker run may take on a slow, busy machine (it needs seconds)


@pytest.fixture
def archive_url(pg_url: str) -> str:
    with connect(pg_url, autocommit=True) as conn:
        schema.migrate(conn, now=NOW)
    return pg_url


@pytest.fixture
def servers() -> Iterator[list[LocalServer]]:
    """Four hosts (one server each, on its own port), five pages each."""
    started = [LocalServer().start() for _ in range(4)]
    for srv in started:
        for n in range(5):
            srv.route(f"/p{n}", body=b"<html><body><p>page</p></body></html>")
    yield started
    for srv in started:
        srv.stop()


_open: list[SharedFrontier] = []
_procs: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _close_frontiers_and_workers() -> Iterator[None]:
    """Close the test's connections; kill the worker processes it left running."""
    yield
    while _open:
        _open.pop().close()
    while _procs:
        proc = _procs.pop()
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=BUDGET_SECONDS)


def _finish(proc: subprocess.Popen[str]) -> int:
    """Wait for a worker to end by itself; its exit code."""
    proc.communicate(timeout=BUDGET_SECONDS)
    return proc.returncode


def _frontier(url: str, worker: str, *, lease: float = 60.0) -> SharedFrontier:
    frontier = SharedFrontier.open(
        url, worker_id=worker, lease_seconds=lease, margin_seconds=lease / 3
    )
    _open.append(frontier)
    return frontier


def _pages(hosts: list[str], per_host: int) -> list[NewPage]:
    return [
        NewPage(url=f"{h}/p{n}", site="s", host=h, depth=0, source="start")
        for h in hosts
        for n in range(per_host)
    ]


def test_workers_claim_disjoint_hosts_and_never_a_page_twice(archive_url: str) -> None:
    hosts = [f"http://h{i}.test" for i in range(4)]
    a, b = _frontier(archive_url, "a"), _frontier(archive_url, "b")
    assert len(a.enqueue(_pages(hosts, 3), now=NOW)) == 12
    assert a.enqueue(_pages(hosts, 3), now=NOW) == []  # known pages are not new
    got_a = a.claim(now=NOW, limit=100, max_hosts=2)
    got_b = b.claim(now=NOW, limit=100, max_hosts=2)
    hosts_a, hosts_b = {p.host for p in got_a}, {p.host for p in got_b}
    assert len(hosts_a) == len(hosts_b) == 2
    assert hosts_a.isdisjoint(hosts_b)
    assert len(got_a) == len(got_b) == 6
    assert a.hosts_held() == sorted(hosts_a)
    # claimed pages are not handed out again, to the holder or anyone
    assert a.claim(now=NOW, limit=100, max_hosts=4) == []
    assert b.claim(now=NOW, limit=100, max_hosts=4) == []
    # a page not yet due is not claimed
    c = _frontier(archive_url, "c")
    c.enqueue([NewPage(url="http://h9.test/x", site="s", host="http://h9.test", depth=0,
                       source="start")], now="2030-01-01T00:00:00Z")  # fmt: skip
    assert c.claim(now=NOW, limit=100) == []


def test_claims_are_fair_across_a_workers_hosts(archive_url: str) -> None:
    hosts = ["http://x.test", "http://y.test"]
    a = _frontier(archive_url, "a")
    a.enqueue(_pages(hosts, 4), now=NOW)
    got = a.claim(now=NOW, limit=4, max_hosts=2)
    assert Counter(p.host for p in got) == {"http://x.test": 2, "http://y.test": 2}


def test_done_reschedules_and_frees_the_host_for_others(archive_url: str) -> None:
    a, b = _frontier(archive_url, "a"), _frontier(archive_url, "b")
    a.enqueue(_pages(["http://h.test"], 2), now=NOW)
    first = a.claim(now=NOW, limit=1)
    assert b.claim(now=NOW, limit=10) == []  # a holds the only host
    a.done(first[0].id, crawled_at=NOW, next_fetch_at=LATER, revisit_seconds=None,
           unchanged_count=0)  # fmt: skip
    [second] = a.claim(now=NOW, limit=10)
    assert second.id != first[0].id
    a.release([second.id])
    assert a.claim(now=NOW, limit=10) == [second]  # released: due again
    a.done(second.id, crawled_at=NOW, next_fetch_at=LATER, revisit_seconds=None,
           unchanged_count=0)  # fmt: skip
    assert a.claim(now=NOW, limit=10) == []  # nothing due: a gives the host up
    assert a.hosts_held() == []
    with psycopg.connect(archive_url) as conn:
        rows = conn.execute("SELECT next_fetch_at, crawled_at FROM pages").fetchall()
        assert rows == [(LATER, NOW), (LATER, NOW)]
        assert conn.execute("SELECT count(*) FROM page_claims").fetchone() == (0,)


def test_an_expired_lease_returns_the_pages_and_refuses_the_old_holder(archive_url: str) -> None:
    a, b = _frontier(archive_url, "a", lease=3.0), _frontier(archive_url, "b")
    a.enqueue(_pages(["http://h.test"], 2), now=NOW)
    taken = a.claim(now=NOW, limit=10)
    assert len(taken) == 2
    deadline = time.monotonic() + BUDGET_SECONDS
    while not (again := b.claim(now=NOW, limit=10)):  # a stops renewing: wait for its expiry
        assert time.monotonic() < deadline, "the lease never expired"
        time.sleep(0.1)
    assert sorted(p.id for p in again) == sorted(p.id for p in taken)
    with pytest.raises(LeaseLostError):
        a.slot("http://h.test")
    with pytest.raises(LeaseLostError):
        a.done(taken[0].id, crawled_at=NOW, next_fetch_at=LATER, revisit_seconds=None,
               unchanged_count=0)  # fmt: skip
    with psycopg.connect(archive_url) as conn:  # a wrote nothing
        assert conn.execute(
            "SELECT count(*) FROM pages WHERE crawled_at IS NOT NULL"
        ).fetchone() == (0,)


def test_the_next_holder_waits_for_the_delay_crawl_delay_and_retry_after(archive_url: str) -> None:
    a, b = _frontier(archive_url, "a"), _frontier(archive_url, "b")
    a.enqueue(_pages(["http://h.test", "http://k.test"], 2), now=NOW)
    a.claim(now=NOW, limit=10, max_hosts=1)
    [host] = a.hosts_held()
    assert a.slot(host).wait_seconds == 0.0  # never requested: at once
    a.request_done(host, delay_seconds=10.0)  # shorter than the lease margin (20 s)
    assert 0.0 < a.slot(host).wait_seconds <= 10.0
    a.release_hosts()
    b.claim(now=NOW, limit=10, max_hosts=2)
    assert host in b.hosts_held()
    assert 0.0 < b.slot(host).wait_seconds <= 10.0  # the gap holds across workers
    [other] = [h for h in b.hosts_held() if h != host]
    with psycopg.connect(archive_url, autocommit=True) as conn:
        conn.execute("INSERT INTO hosts (host, crawl_delay_seconds) VALUES (%s, 200)", (other,))
    b.request_done(other, delay_seconds=0.0)
    assert 100.0 < b.slot(other).wait_seconds <= 200.0  # robots.txt Crawl-delay wins
    b.defer(other, seconds=3600)
    assert 3000.0 < b.slot(other).wait_seconds <= 3600.0  # Retry-After
    with psycopg.connect(archive_url, autocommit=True) as conn:
        conn.execute("UPDATE hosts SET next_allowed_at = '2999-01-01T00:00:00Z'")
    assert b.slot(other).wait_seconds > 3600.0  # hosts.next_allowed_at (backoff) too


def _workers(
    url: str,
    count: int,
    *,
    delay: float,
    lease: float,
    prefix: str = "w",
    hang: bool = False,
    mode: str | None = None,
) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for i in range(count):
        worker = f"{prefix}{i}"
        args = [sys.executable, "-m", "tests.pgworker", url, worker, str(delay), str(lease)]
        if hang:
            args.append("hang")
        if mode is not None:
            args += mode.split()
        _procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, env=env, cwd=ROOT))  # fmt: skip
    procs = _procs[-count:]
    for proc in procs:  # each is connected and ready: start them together
        assert proc.stdout is not None
        assert proc.stdout.readline() == "ready\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    return procs


def _enqueue_site(url: str, servers: list[LocalServer]) -> None:
    frontier = _frontier(url, "seeder")
    pages = [
        NewPage(url=srv.url(f"/p{n}"), site="s", host=srv.url("/").rstrip("/"), depth=0,
                source="start")
        for srv in servers
        for n in range(5)
    ]  # fmt: skip
    assert len(frontier.enqueue(pages, now=NOW)) == 20


def _check_fetched_once_and_spaced(servers: list[LocalServer], delay: float) -> set[str]:
    workers: set[str] = set()
    for srv in servers:
        paths = Counter(r.path for r in srv.requests)
        assert paths == {f"/p{n}": 1 for n in range(5)}  # every page once, none twice
        times = sorted(r.at for r in srv.requests)
        gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
        assert min(gaps) >= delay - 0.002, gaps  # microsecond rounding of the stored times
        workers |= {r.headers.get("User-Agent", "") for r in srv.requests}
    return workers


@pytest.mark.parametrize("count", [2, 3])
def test_processes_share_the_frontier_and_hold_each_hosts_delay(
    archive_url: str, servers: list[LocalServer], count: int
) -> None:
    _enqueue_site(archive_url, servers)
    delay = 0.4
    procs = _workers(archive_url, count, delay=delay, lease=30.0)
    for proc in procs:
        assert _finish(proc) == 0
    workers = _check_fetched_once_and_spaced(servers, delay)
    assert len(workers) >= 2  # four hosts, at most two per worker at a time: shared
    with psycopg.connect(archive_url) as conn:
        assert conn.execute("SELECT count(*) FROM page_claims").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pages WHERE next_fetch_at = %s", (LATER,)
        ).fetchone() == (20,)


def test_a_sigkilled_workers_pages_are_taken_over(
    archive_url: str, servers: list[LocalServer]
) -> None:
    _enqueue_site(archive_url, servers)
    [hung] = _workers(archive_url, 1, delay=0.2, lease=3.0, prefix="dead", hang=True)
    assert hung.stdout is not None
    while (line := hung.stdout.readline()) == "claimed 0\n":
        pass
    assert line.startswith("claimed ")
    assert line != "claimed 0\n"
    hung.send_signal(signal.SIGKILL)
    assert _finish(hung) == -signal.SIGKILL
    with psycopg.connect(archive_url) as conn:
        held = conn.execute("SELECT count(*) FROM page_claims WHERE worker_id = 'dead0'").fetchone()
    assert held is not None
    assert held[0] > 0  # it died holding pages
    procs = _workers(archive_url, 2, delay=0.2, lease=30.0)
    for proc in procs:
        assert _finish(proc) == 0
    workers = _check_fetched_once_and_spaced(servers, 0.2)
    assert "dead0" not in workers  # it fetched nothing: its claimed pages were taken over


def test_the_lease_outlasts_the_wait_for_the_slot(archive_url: str) -> None:
    a = _frontier(archive_url, "a", lease=3.0)
    a.enqueue(_pages(["http://h.test"], 1), now=NOW)
    a.claim(now=NOW, limit=10)
    a.request_done("http://h.test", delay_seconds=600.0)
    assert a.slot("http://h.test").wait_seconds > 500.0
    with psycopg.connect(archive_url) as conn:
        row = conn.execute("SELECT lease_until - next_request_at FROM host_leases").fetchone()
    assert row is not None
    assert row[0].total_seconds() == pytest.approx(3.0)  # held until 3 s past the slot


def test_a_deferred_host_is_not_leased_until_it_is_ready(archive_url: str) -> None:
    a = _frontier(archive_url, "a")
    a.enqueue(_pages(["http://slow.test", "http://ok.test"], 2), now=NOW)
    a.defer("http://slow.test", seconds=3600)
    with psycopg.connect(archive_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO hosts (host, next_allowed_at) "
            "VALUES ('http://ok.test', '2999-01-01T00:00:00Z')"
        )
    assert a.claim(now=NOW, limit=10, max_hosts=2) == []  # both kept away: nothing leased
    assert a.hosts_held() == []
    with psycopg.connect(archive_url, autocommit=True) as conn:
        conn.execute("UPDATE hosts SET next_allowed_at = '2000-01-01T00:00:00Z'")
    got = a.claim(now=NOW, limit=10, max_hosts=2)
    assert {p.host for p in got} == {"http://ok.test"}


def test_a_page_rescheduled_while_being_claimed_is_not_claimed(archive_url: str) -> None:
    """The race of a takeover with the old holder's last done(): the claim re-reads the page
    once it holds its lock, and leaves it when it is no longer due."""
    a = _frontier(archive_url, "a")
    a.enqueue(_pages(["http://h.test"], 2), now=NOW)
    [first] = a.claim(now=NOW, limit=1)
    got: list[list[int]] = []
    with psycopg.connect(archive_url) as other:  # another worker, mid-way through its done()
        other.execute("UPDATE pages SET next_fetch_at = %s WHERE id <> %s", (LATER, first.id))
        claimer = threading.Thread(
            target=lambda: got.append([p.id for p in a.claim(now=NOW, limit=10)])
        )
        claimer.start()
        deadline = time.monotonic() + BUDGET_SECONDS
        while not _waiting_for_a_lock(archive_url):  # the claim has found the page due
            assert time.monotonic() < deadline, "the claim never reached the page's lock"
            assert claimer.is_alive(), got
            time.sleep(0.05)
        other.commit()
    claimer.join(timeout=BUDGET_SECONDS)
    assert got == [[]]


def _waiting_for_a_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return bool(row and row[0])


def _article(n: int, version: str) -> bytes:
    sentences = " ".join(
        f"Paragraph {k} of story {n} tells the {version} account of the harbour works."
        for k in range(6)
    )
    return (f"<html><head><title>Story {n} {version}</title></head><body><article>"
            f"<h1>Story {n} {version}</h1><p>{sentences}</p><p>{sentences}</p>"
            "</article></body></html>").encode()  # fmt: skip


def test_workers_through_the_protocols_archive_each_change_once(
    postgres_db: str, servers: list[LocalServer]
) -> None:
    """Three crawl workers (store protocols only: claim, slot, fetch, extract, save and
    reschedule in one transaction) crawl four hosts twice; between the rounds some pages
    change. Every page is fetched once a round, each change makes one version, no two
    versions of a page are alike, and each host's delay holds across the workers."""
    from scraper.archive import open_archive

    for srv in servers:
        for n in range(5):
            srv.route(f"/p{n}", body=_article(n, "first"), headers={"Content-Type": "text/html"})
    with open_archive(postgres_db) as store:
        pages = [
            NewPage(url=srv.url(f"/p{n}"), site="site", host=srv.url("/").rstrip("/"),
                    depth=0, source="start")
            for srv in servers for n in range(5)
        ]  # fmt: skip
        assert len(store.crawl_state().enqueue(pages, now=NOW)) == 20
    delay = 0.2
    for proc in _workers(postgres_db, 3, delay=delay, lease=30.0, mode="archive"):
        assert _finish(proc) == 0
    for srv in servers:  # two pages of each host change
        for n in (0, 1):
            srv.route(f"/p{n}", body=_article(n, "second"), headers={"Content-Type": "text/html"})
    with psycopg.connect(postgres_db, autocommit=True) as conn:
        conn.execute("UPDATE pages SET next_fetch_at = %s", (NOW,))
    for proc in _workers(postgres_db, 3, delay=delay, lease=30.0, mode="archive", prefix="r"):
        assert _finish(proc) == 0

    for srv in servers:
        assert Counter(r.path for r in srv.requests) == {f"/p{n}": 2 for n in range(5)}
        times = sorted(r.at for r in srv.requests)
        assert min(b - a for a, b in zip(times, times[1:], strict=False)) >= delay - 0.002
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM fetches").fetchone() == (40,)
        versions: dict[str, int] = dict(conn.execute(
            "SELECT p.url, count(*) FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "GROUP BY p.url"
        ).fetchall())  # fmt: skip
        assert versions == {
            srv.url(f"/p{n}"): 2 if n in (0, 1) else 1 for srv in servers for n in range(5)
        }
        alike = conn.execute(
            "SELECT count(*) FROM (SELECT page_id, content_hash FROM snapshots "
            "GROUP BY page_id, content_hash HAVING count(*) > 1) AS twice"
        ).fetchone()
        assert alike == (0,)
        assert conn.execute("SELECT count(*) FROM page_claims").fetchone() == (0,)


def test_a_worker_killed_inside_a_write_leaves_nothing_half_written(
    postgres_db: str, servers: list[LocalServer]
) -> None:
    """SIGKILL between a page's save and its reschedule, in one transaction: PostgreSQL rolls
    the page back whole, and once the dead worker's leases expire the others archive every
    page once."""
    from scraper.archive import open_archive

    for srv in servers:
        for n in range(5):
            srv.route(f"/p{n}", body=_article(n, "only"), headers={"Content-Type": "text/html"})
    with open_archive(postgres_db) as store:
        store.crawl_state().enqueue(
            [NewPage(url=srv.url(f"/p{n}"), site="site", host=srv.url("/").rstrip("/"),
                     depth=0, source="start") for srv in servers for n in range(5)],
            now=NOW,
        )  # fmt: skip
    [dying] = _workers(postgres_db, 1, delay=0.1, lease=3.0, prefix="dead", mode="archive die")
    assert _finish(dying) == -signal.SIGKILL
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(*) FROM fetches").fetchone() == (0,)  # rolled back
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (0,)
        assert conn.execute(
            "SELECT count(*) FROM pages WHERE crawled_at IS NOT NULL"
        ).fetchone() == (0,)
        held = conn.execute(
            "SELECT count(*) FROM host_leases WHERE worker_id IS NOT NULL"
        ).fetchone()
    assert held is not None
    assert held[0] > 0  # it died holding hosts
    for proc in _workers(postgres_db, 2, delay=0.1, lease=30.0, mode="archive"):
        assert _finish(proc) == 0
    with psycopg.connect(postgres_db) as conn:
        per_page = conn.execute(
            "SELECT count(DISTINCT f.id), count(DISTINCT s.id) FROM pages p "
            "LEFT JOIN fetches f ON f.page_id = p.id LEFT JOIN snapshots s ON s.page_id = p.id "
            "GROUP BY p.id"
        ).fetchall()
    assert per_page == [(1, 1)] * 20
