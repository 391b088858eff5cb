"""Benchmark: ``scraper crawl`` by 1, 2 and 3 processes at once on PostgreSQL, beside one on SQLite.

Run with ``make bench-scale`` (``python -m tests.benchmarks.bench_scale``). It

1. starts a throwaway PostgreSQL cluster (tests/pgcluster.py) and a local multi-host site:
   ``--hosts`` servers on 127.0.0.1 (one host each), each an index page linking to
   ``--pages`` articles (real prose, so each page is extracted and archived);
2. for 1, 2 and 3 workers: a new database, then that many ``scraper crawl`` processes started
   together with one config (``delay_seconds`` ``--delay``, ``concurrency`` ``--concurrency``,
   one request per host at a time, so each worker holds ``--concurrency`` hosts at a time),
   timed from the start until the last one exits (start-up included);
3. then one ``scraper crawl`` on a SQLite archive over the same site;
4. prints pages/s for each (pages archived / seconds), the minimum gap seen between two
   requests to one host (from the servers' request logs; it must not be below ``--delay``),
   and pages fetched more than once; ``--store`` adds the store-level figures (worker
   processes of tests/pgworker.py that only claim, wait for the slot, GET and reschedule).

On this 2-core machine every worker, its extraction processes, the database and the site
share two cores: the figures say how the workers share the CPU; on several machines each
worker brings its own.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from scraper.archive import open_archive
from scraper.archive.postgres.backend import migrate_archive
from scraper.archive.postgres.frontier import SharedFrontier
from scraper.archive.records import NewPage
from tests.pgcluster import PgCluster, running_cluster
from tests.pgworker import LATER, NOW
from tests.server import LocalServer

ROOT = Path(__file__).resolve().parents[2]


def _article(host: int, n: int) -> bytes:
    prose = " ".join(
        f"Paragraph {k} of story {n} on host {host} tells how the harbour works went on "
        "and what the ferries that keep the islands connected will cost next year."
        for k in range(6)
    )
    return (
        f"<html><head><title>Story {host}-{n}</title></head><body><article>"
        f"<h1>Story {host}-{n}</h1><p>{prose}</p><p>{prose}</p></article>"
        '<a href="/">home</a></body></html>'
    ).encode()


def _crawl_site(hosts: int, pages: int) -> list[LocalServer]:
    """Each host: an index page linking to its ``pages`` articles."""
    servers = [LocalServer().start() for _ in range(hosts)]
    html = {"Content-Type": "text/html; charset=utf-8"}
    for h, srv in enumerate(servers):
        links = "".join(f'<li><a href="/a{n}">story {n}</a></li>' for n in range(pages))
        srv.route("/", body=f"<html><body><ul>{links}</ul></body></html>", headers=html)
        for n in range(pages):
            srv.route(f"/a{n}", body=_article(h, n), headers=html)
    return servers


def _config(directory: Path, servers: list[LocalServer], args: argparse.Namespace) -> Path:
    starts = ", ".join(f'"{srv.url("/")}"' for srv in servers)
    path = directory / "sites.toml"
    path.write_text(
        f"[defaults]\ndelay_seconds = {args.delay}\nconcurrency = {args.concurrency}\n"
        "concurrency_per_host = 1\nallow_private = true\n"
        f"max_pages = {10 * len(servers) * (args.pages + 1)}\n\n"
        f'[[site]]\nname = "bench"\nstart_urls = [{starts}]\n'
    )
    return path


def _crawls(config: Path, db: str, workers: int) -> tuple[float, float]:
    """``workers`` ``scraper crawl`` processes at once; seconds until the last one ended, and
    the CPU seconds they used (their extraction processes included)."""
    env = {k: v for k, v in os.environ.items() if k != "SCRAPER_DB"}
    cpu = _children_cpu()
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "scraper",
                "crawl",
                "--quiet",
                "--config",
                str(config),
                "--db",
                db,
            ],
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )  # fmt: skip
        for _ in range(workers)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"a crawl failed with exit code {proc.returncode}: {err.strip()}")
    return time.perf_counter() - started, _children_cpu() - cpu


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _archived(db: str) -> int:
    """Pages with a snapshot (and that every page has one at most)."""
    with open_archive(db, readonly=True) as archive:
        sql = "SELECT count(DISTINCT page_id), count(*) FROM snapshots"
        rows = archive.run_sql(sql, max_rows=1).rows
    pages, snapshots = rows[0]
    if pages != snapshots:
        raise SystemExit(f"{db}: {snapshots} snapshots of {pages} pages: a page twice")
    return int(pages)


def _row(
    label: str,
    pages: int,
    seconds: float,
    servers: list[LocalServer] | tuple[float, int],
    cpu: float | None = None,
    idle: float | None = None,
) -> None:
    gap, twice = servers if isinstance(servers, tuple) else _figures(servers)
    per_page = "" if cpu is None else f"{1000 * cpu / pages:>12.1f}"
    fixed = "" if idle is None else f"{idle:>11.2f}"
    print(f"{label:<24}{pages / seconds:>10.1f}{seconds:>10.2f}{gap:>12.3f}{twice:>8}{per_page}"
          f"{fixed}")  # fmt: skip


def _real_crawls(args: argparse.Namespace, cluster: PgCluster, directory: Path) -> None:
    total = args.hosts * (args.pages + 1)
    print(
        f"bench-scale: scraper crawl, {args.hosts} hosts x {args.pages + 1} pages = {total} "
        f"pages, delay {args.delay:g} s per host, concurrency {args.concurrency} a worker"
    )
    print(f"{'backend':<24}{'pages/s':>10}{'seconds':>10}{'min gap s':>12}{'twice':>8}"
          f"{'CPU ms/page':>12}{'idle CPU s':>11}")  # fmt: skip
    for workers in (1, 2, 3):
        servers = _crawl_site(args.hosts, args.pages)
        try:
            db = cluster.create_database(f"crawl_{workers}_{int(time.time() * 1000)}")
            config = _config(directory, servers, args)
            seconds, cpu = _crawls(config, db, workers)
            label = f"postgres, {workers} worker{'s' if workers > 1 else ''}"
            pages, figures = _archived(db), _figures(servers)
            # the same workers again with nothing due: the CPU a worker costs whatever it does
            # (start-up, imports, extraction processes, the end), in all
            _, idle = _crawls(config, db, workers)
            _row(label, pages, seconds, figures, cpu, idle)
        finally:
            for srv in servers:
                srv.stop()
    servers = _crawl_site(args.hosts, args.pages)
    try:
        db = str(directory / "bench.db")
        config = _config(directory, servers, args)
        seconds, cpu = _crawls(config, db, 1)
        pages, figures = _archived(db), _figures(servers)
        _, idle = _crawls(config, db, 1)
        _row("sqlite, 1 process", pages, seconds, figures, cpu, idle)
    finally:
        for srv in servers:
            srv.stop()


def _site(hosts: int, pages: int) -> list[LocalServer]:
    servers = [LocalServer().start() for _ in range(hosts)]
    for srv in servers:
        for n in range(pages):
            srv.route(f"/p{n}", body=b"<html><body><p>a page</p></body></html>")
    return servers


def _pages(servers: list[LocalServer], pages: int) -> list[NewPage]:
    return [
        NewPage(url=srv.url(f"/p{n}"), site="bench", host=srv.url("/").rstrip("/"), depth=0,
                source="start")
        for srv in servers
        for n in range(pages)
    ]  # fmt: skip


def _figures(servers: list[LocalServer]) -> tuple[float, int]:
    """The smallest gap between two requests to one host, and how many pages were fetched
    more than once."""
    gaps: list[float] = []
    twice = 0
    for srv in servers:
        times = sorted(r.at for r in srv.requests)
        gaps += [b - a for a, b in zip(times, times[1:], strict=False)]
        paths = Counter(r.path for r in srv.requests if r.path != "/robots.txt")
        twice += sum(1 for n in paths.values() if n > 1)
    return (min(gaps) if gaps else float("nan")), twice


def _postgres_run(
    cluster: PgCluster, servers: list[LocalServer], pages: int, workers: int, delay: float
) -> float:
    url = cluster.create_database(f"bench_{workers}_{int(time.time() * 1000)}")
    migrate_archive(url, now=NOW)
    with SharedFrontier.open(url, worker_id="seeder") as seeder:
        seeder.enqueue(_pages(servers, pages), now=NOW)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.pgworker", url, f"w{i}", str(delay), "60"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )  # fmt: skip
        for i in range(workers)
    ]
    for proc in procs:  # connected and ready: the clock starts when all are
        assert proc.stdout is not None
        if proc.stdout.readline() != "ready\n":
            raise SystemExit("a worker did not start")
    started = time.perf_counter()
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    for proc in procs:
        proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"a worker failed with exit code {proc.returncode}")
    return time.perf_counter() - started


def _sqlite_run(servers: list[LocalServer], pages: int, delay: float, directory: Path) -> float:
    with open_archive(directory / "bench.db") as archive:
        state = archive.crawl_state()
        state.enqueue(_pages(servers, pages), now=NOW)
        run = state.start_run(started_at=NOW, pid=0, sites=["bench"])
        next_at: dict[str, float] = {}
        started = time.perf_counter()
        with httpx.Client() as client:
            while due := state.claim_due("bench", now=NOW, limit=4, run_id=run):
                for page in due:
                    time.sleep(max(0.0, next_at.get(page.host, 0.0) - time.monotonic()))
                    client.get(page.url)
                    next_at[page.host] = time.monotonic() + delay
                    state.reschedule(page.id, crawled_at=NOW, next_fetch_at=LATER,
                                     revisit_seconds=None, unchanged_count=0)  # fmt: skip
        return time.perf_counter() - started


def _store_level(args: argparse.Namespace, cluster: PgCluster) -> None:
    total = args.hosts * args.pages
    print(f"\nbench-scale --store: the store-level workers, {args.hosts} hosts x {args.pages} "
          f"pages = {total} pages, delay {args.delay:g} s per host")  # fmt: skip
    print(f"{'backend':<24}{'pages/s':>10}{'seconds':>10}{'min gap s':>12}{'twice':>8}")
    for workers in (1, 2, 3):
        servers = _site(args.hosts, args.pages)
        try:
            seconds = _postgres_run(cluster, servers, args.pages, workers, args.delay)
            label = f"postgres, {workers} worker{'s' if workers > 1 else ''}"
            _row(label, total, seconds, servers)
        finally:
            for srv in servers:
                srv.stop()
    servers = _site(args.hosts, args.pages)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = _sqlite_run(servers, args.pages, args.delay, Path(tmp))
        _row("sqlite, 1 process", total, seconds, servers)
    finally:
        for srv in servers:
            srv.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=12)
    parser.add_argument("--pages", type=int, default=30, help="articles per host")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between requests")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight a worker")
    parser.add_argument("--store", action="store_true", help="also the store-level workers")
    args = parser.parse_args()
    with running_cluster() as cluster, tempfile.TemporaryDirectory() as tmp:
        _real_crawls(args, cluster, Path(tmp))
        if args.store:
            _store_level(args, cluster)


if __name__ == "__main__":
    main()
