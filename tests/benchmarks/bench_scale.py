"""Benchmark: one frontier shared by 1, 2 and 3 workers on PostgreSQL, beside one SQLite process.

Run with ``make bench-scale`` (``python -m tests.benchmarks.bench_scale``). It

1. starts a throwaway PostgreSQL cluster (tests/pgcluster.py) and a local multi-host site:
   ``--hosts`` servers on 127.0.0.1 (one host each), ``--pages`` pages per host;
2. for 1, 2 and 3 workers: a new database, every page due, then that many worker processes
   (tests/pgworker.py: claim under host leases, wait for the host's slot, GET, record the
   request, reschedule) started together, timed until the last one exits;
3. then one process on a SQLite archive claiming and rescheduling the same way through the
   SQLite CrawlState (its per-host delay kept in the process, as one crawl does);
4. prints pages/s for each, the minimum gap seen between two requests to one host (from the
   servers' request logs; it must not be below ``--delay``), and pages fetched more than once.

What it measures is the shared frontier and its politeness, not extraction: each worker fetches
one page at a time, so the figures are the claim/slot/reschedule round trips plus the per-host
delay. On this 2-core machine every worker and the database share two cores; on several
machines each worker brings its own.
"""

from __future__ import annotations

import argparse
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
        twice += sum(1 for n in Counter(r.path for r in srv.requests).values() if n > 1)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--hosts", type=int, default=8)
    parser.add_argument("--pages", type=int, default=40, help="pages per host")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds between requests")
    args = parser.parse_args()
    total = args.hosts * args.pages
    print(f"bench-scale: {args.hosts} hosts x {args.pages} pages = {total} pages, "
          f"delay {args.delay:g} s per host")  # fmt: skip
    print(f"{'backend':<24}{'pages/s':>10}{'seconds':>10}{'min gap s':>12}{'twice':>8}")
    with running_cluster() as cluster:
        for workers in (1, 2, 3):
            servers = _site(args.hosts, args.pages)
            try:
                seconds = _postgres_run(cluster, servers, args.pages, workers, args.delay)
                gap, twice = _figures(servers)
            finally:
                for srv in servers:
                    srv.stop()
            label = f"postgres, {workers} worker{'s' if workers > 1 else ''}"
            print(f"{label:<24}{total / seconds:>10.1f}{seconds:>10.2f}{gap:>12.3f}{twice:>8}")
    servers = _site(args.hosts, args.pages)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seconds = _sqlite_run(servers, args.pages, args.delay, Path(tmp))
        gap, twice = _figures(servers)
    finally:
        for srv in servers:
            srv.stop()
    print(
        f"{'sqlite, 1 process':<24}{total / seconds:>10.1f}{seconds:>10.2f}{gap:>12.3f}{twice:>8}"
    )


if __name__ == "__main__":
    main()
