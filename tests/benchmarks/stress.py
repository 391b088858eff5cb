"""``make stress``: the whole fault matrix through fetch(), then a crawl of a faulty local site.

Run with ``make stress`` (``python -m tests.benchmarks.stress``). Three parts:

1. **Fault matrix.** Every fault of tests/faults.py (and every robots.txt failure) through
   :func:`scraper.fetch.fetch` with the default 10 MB cap and short deadlines: the outcome
   against the expected one, seconds, body bytes pulled off the wire. Then the whole matrix five
   times over, all at once through one client, for peak memory under concurrency.
2. **Crawl.** ``--pages`` article pages (5,000 by default) spread over five local hosts, with
   ``--faulty`` of them (10%) answering with a fault, crawled by ``python -m scraper crawl``.
   A second crawl (``--revisit 0``) finds the good pages unchanged (304) except that another
   10% of them now answer with a fault (captcha pages, resets, bombs, 500s...). Checked from the
   archive: every faulty answer is recorded as a failed fetch (or left for a later run), no
   good snapshot is lost or replaced, no snapshot is made of a fault, and SQLite's
   integrity_check is ok.

3. **Admission gate** (tests/benchmarks/stress_gate.py): pages that turn into redirects, block
   pages, cut bodies, glitches and real rewrites on a revisit, through crawl, fetch and
   reextract; prints "bogus snapshots: 0" and "good snapshots replaced: 0", counted from the
   archive (``--skip-gate``, ``--gate-pages N``).

The table printed at the end has: faults tried, handled, snapshots lost (must be 0), bogus
snapshots (must be 0), peak RSS, seconds. Options: ``--pages N``, ``--faulty F``,
``--skip-crawl``, ``--keep`` (leave the temporary folder).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import functools
import random
import resource
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from scraper import errors
from scraper.config import Settings
from scraper.fetch import fetch, fetch_robots, make_client
from tests.benchmarks.bench_crawl import WORDS
from tests.benchmarks.stress_gate import GateReport, gate_ok, print_gate, stress_gate
from tests.faults import FAULTS, Fault, FaultServer
from tests.test_fetch_faults import CountingTransport

REPO = Path(__file__).resolve().parents[2]
MATRIX_SETTINGS = Settings(
    allow_private=True,
    connect_timeout_seconds=2.0,
    read_timeout_seconds=2.0,
    deadline_seconds=5.0,
    retries=2,
    retry_max_wait_seconds=0.2,
    concurrency=64,
)
#: faults used on crawl pages: the ones that must fail (Retry-After faults defer the whole host
#: for the run, which the crawl tests cover; the matrix covers them for fetch)
CRAWL_FAULTS = tuple(
    f.path for f in FAULTS if f.expect != "ok" and f.path not in ("/429", "/503-date")
)
HOSTS = 5
MATRIX_RSS_MB: list[float] = []  #: peak RSS after the sequential matrix, after the burst


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


# --- part 1: the fault matrix ---------------------------------------------------------------


@dataclasses.dataclass
class Row:
    what: str
    expect: str
    got: str
    seconds: float
    wire: int

    @property
    def handled(self) -> bool:
        deadline_ok = self.seconds <= MATRIX_SETTINGS.deadline_seconds + 1.0
        return self.got == self.expect and deadline_ok


async def _one(server: FaultServer, fault: Fault) -> Row:
    transport = CountingTransport()
    kwargs = {} if fault.accept is None else {"accept": fault.accept}
    start = time.monotonic()
    async with make_client(MATRIX_SETTINGS, transport=transport) as client:
        try:
            await fetch(client, server.url(fault.path), MATRIX_SETTINGS, **kwargs)
            got = "ok"
        except errors.FetchError as exc:
            got = type(exc).__name__
    return Row(fault.path, fault.expect, got, time.monotonic() - start, transport.received)


async def _robots_row(server: FaultServer, mode: str, expect_allowed: bool) -> Row:
    server.robots = mode
    start = time.monotonic()
    async with make_client(MATRIX_SETTINGS) as client:
        robots = await fetch_robots(client, server.base, MATRIX_SETTINGS)
    allowed = robots.allowed(server.url("/ok"), MATRIX_SETTINGS.user_agent)
    got = "allowed" if allowed else "not now"
    expect = "allowed" if expect_allowed else "not now"
    return Row(f"robots.txt {mode}", expect, got, time.monotonic() - start, len(robots.body))


async def _burst(server: FaultServer, copies: int) -> tuple[int, int, float]:
    """Every fault ``copies`` times at once through one client: (tried, as expected, seconds)."""
    jobs = [f for f in FAULTS if not f.path.startswith("/flaky")] * copies
    start = time.monotonic()
    async with make_client(MATRIX_SETTINGS) as client:

        async def one(fault: Fault) -> bool:
            kwargs = {} if fault.accept is None else {"accept": fault.accept}
            try:
                await fetch(client, server.url(fault.path), MATRIX_SETTINGS, **kwargs)
                return fault.expect == "ok"
            except errors.FetchError as exc:
                return type(exc).__name__ == fault.expect

        results = await asyncio.gather(*(one(f) for f in jobs))
    return len(jobs), sum(results), time.monotonic() - start


def fault_matrix() -> tuple[list[Row], tuple[int, int, float]]:
    server = FaultServer().start()
    try:
        rows = [asyncio.run(_one(server, fault)) for fault in FAULTS]
        for mode, allowed in (("huge", True), ("5xx", False), ("404", True), ("hang", False)):
            rows.append(asyncio.run(_robots_row(server, mode, allowed)))
        MATRIX_RSS_MB.append(rss_mb())
        server.robots = "allow"
        burst = asyncio.run(_burst(server, 5))
        MATRIX_RSS_MB.append(rss_mb())
    finally:
        server.stop()
    return rows, burst


# --- part 2: the crawl -----------------------------------------------------------------------


class SiteServer(FaultServer):
    """One host of the stress site: /sitemap.xml, /p/<i> articles with ETags, faulty pages."""

    def __init__(self, host_index: int, pages: list[int], faulty: dict[int, str]) -> None:
        super().__init__()
        self.host_index = host_index
        self.pages = pages
        self.faulty = faulty  # page -> fault path, in force now
        self.robots = "404"
        self.fault_answers = 0

    def _answer(self, conn: socket.socket, path: str) -> None:
        send = functools.partial(self._send, conn, path)
        if path == "/sitemap.xml":
            urls = "".join(f"<url><loc>{self.url(f'/p/{i}')}</loc></url>" for i in self.pages)
            body = f'<?xml version="1.0"?><urlset xmlns="{SITEMAP_NS}">{urls}</urlset>'
            send(body.encode(), content_type="application/xml")
        elif path.startswith("/p/"):
            page = int(path.removeprefix("/p/"))
            fault = self.faulty.get(page)
            if fault is not None:
                with self._lock:
                    self.fault_answers += 1
                super()._answer(conn, fault)
                return
            etag = f'"v1-{page}"'
            if self.request_headers.get("if-none-match") == etag:
                head = f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n"
                self._write(conn, path, head.encode())
            else:
                send(article(page), headers={"ETag": etag})
        else:
            super()._answer(conn, path)


SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


@functools.cache
def article(page: int) -> bytes:
    rng = random.Random(page)
    title = f"Notes from the harbour, number {page}"
    paragraphs = "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(60)).capitalize() + ".</p>"
        for _ in range(6)
    )
    return (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        f"</head><body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>"
        f"<p>Page {page} of the stress site.</p>{paragraphs}</article></body></html>"
    ).encode()


def _config(servers: list[SiteServer], path: Path) -> None:
    lines = [
        "[defaults]",
        'user_agent = "scraper-stress/1.0"',
        "delay_seconds = 0",
        "concurrency_per_host = 4",
        "concurrency = 32",
        "max_pages = 100000",
        "connect_timeout_seconds = 2.0",
        "read_timeout_seconds = 2.0",
        "deadline_seconds = 5.0",
        "retries = 1",
        "retry_max_wait_seconds = 0.2",
        "",
    ]
    for server in servers:
        lines += [
            "[[site]]",
            f'name = "host{server.host_index}"',
            f'sitemaps = ["{server.url("/sitemap.xml")}"]',
            "max_depth = 0",
            "allow_private = true",
            "",
        ]
    path.write_text("\n".join(lines))


def _tree_rss_kb(pid: int) -> tuple[int, int]:
    """(VmHWM of ``pid``, VmRSS summed over ``pid`` and its children) in KB, from /proc."""

    def status(p: int) -> dict[str, int]:
        out = {}
        with contextlib.suppress(OSError), open(f"/proc/{p}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                if key in ("VmHWM", "VmRSS"):
                    out[key] = int(value.split()[0])
        return out

    children: list[int] = []
    with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{pid}/children") as fh:
        children = [int(c) for c in fh.read().split()]
    main = status(pid)
    total = main.get("VmRSS", 0) + sum(status(c).get("VmRSS", 0) for c in children)
    return main.get("VmHWM", 0), total


def _crawl(config: Path, db: Path, *extra: str) -> tuple[float, float, float, str]:
    """Run one crawl: (seconds, peak RSS of the crawl process MB, peak RSS of its tree MB,
    summary line)."""
    start = time.monotonic()
    command = [sys.executable, "-m", "scraper", "crawl", "--config", str(config), "--db", str(db)]
    proc = subprocess.Popen(
        [*command, *extra], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak_main = peak_tree = 0
    while proc.poll() is None:
        hwm, tree = _tree_rss_kb(proc.pid)
        peak_main, peak_tree = max(peak_main, hwm), max(peak_tree, tree)
        time.sleep(0.05)
    _, stderr = proc.communicate()
    seconds = time.monotonic() - start
    # 1 with a summary: some site got none of its pages (a host the faults made the crawl
    # back off from), which the stress provokes on purpose; anything else is a failure
    if proc.returncode not in (0, 1) or "crawl #" not in stderr:
        raise SystemExit(f"crawl failed ({proc.returncode}): {stderr.strip()}")
    return seconds, peak_main / 1024, peak_tree / 1024, stderr.strip()


def _snapshots(db: Path) -> dict[str, list[str]]:
    """url -> snapshot texts, oldest first."""
    with sqlite3.connect(db) as conn:
        out: dict[str, list[str]] = {}
        query = (
            "select p.url, s.text from snapshots s join pages p on p.id = s.page_id order by s.id"
        )
        for url, text in conn.execute(query):
            out.setdefault(url, []).append(text or "")
        return out


def _fetch_outcomes(db: Path, since: str) -> dict[str, bool]:
    """url -> whether any of its fetches since ``since`` failed."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select p.url, max(f.error is not null) from fetches f join pages p "
            "on p.id = f.page_id where f.fetched_at >= ? group by p.url",
            (since,),
        )
        return {url: bool(failed) for url, failed in rows}


def _integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("pragma integrity_check").fetchone()[0])


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))


@dataclasses.dataclass
class CrawlReport:
    pages: int
    tried: int = 0  #: faulty answers due, both runs
    failed: int = 0  #: of them, recorded as a failed fetch
    deferred: int = 0  #: of them, left for a later run (host backing off)
    fetched_as_good: int = 0  #: of them, fetched without an error (must be 0)
    lost: int = 0
    bogus: int = 0
    good_missing: int = 0
    integrity: str = ""
    seconds: list[float] = dataclasses.field(default_factory=list)
    peak_rss_mb: float = 0.0  #: the crawl process
    peak_tree_rss_mb: float = 0.0  #: the crawl process and its extraction workers together
    summaries: list[str] = dataclasses.field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.failed + self.deferred


def stress_crawl(pages: int, faulty_share: float, workdir: Path) -> CrawlReport:
    every = max(1, round(1 / faulty_share))
    all_pages = list(range(pages))
    first = {i: CRAWL_FAULTS[(i // every) % len(CRAWL_FAULTS)] for i in all_pages if i % every == 3}
    good = [i for i in all_pages if i not in first]
    second = {i: CRAWL_FAULTS[(i // every + 7) % len(CRAWL_FAULTS)] for i in good if i % every == 7}
    servers = [SiteServer(h, [i for i in all_pages if i % HOSTS == h], {}) for h in range(HOSTS)]
    for server in servers:
        server.faulty = {i: f for i, f in first.items() if i % HOSTS == server.host_index}
        server.start()
    url_of = {i: servers[i % HOSTS].url(f"/p/{i}") for i in all_pages}
    config, db = workdir / "sites.toml", workdir / "archive.db"
    _config(servers, config)
    report = CrawlReport(pages)
    try:
        snaps_before: dict[str, list[str]] = {}
        for run, faulty in enumerate((first, {**first, **second}), 1):
            for server in servers:
                server.faulty = {i: f for i, f in faulty.items() if i % HOSTS == server.host_index}
            since = _now_iso()
            extra = ("--quiet",) if run == 1 else ("--quiet", "--revisit", "0")
            seconds, rss, tree, summary = _crawl(config, db, *extra)
            report.seconds.append(seconds)
            report.peak_rss_mb = max(report.peak_rss_mb, rss)
            report.peak_tree_rss_mb = max(report.peak_tree_rss_mb, tree)
            report.summaries.append(summary)
            outcomes = _fetch_outcomes(db, since)
            for i in faulty:
                report.tried += 1
                failed = outcomes.get(url_of[i])
                if failed is None:
                    report.deferred += 1
                elif failed:
                    report.failed += 1
                else:
                    report.fetched_as_good += 1
            snaps = _snapshots(db)
            if run == 1:
                snaps_before = snaps
                report.good_missing = sum(1 for i in good if url_of[i] not in snaps)
        report.integrity = _integrity(db)
    finally:
        for server in servers:
            server.stop()
    # a snapshot of a page that was answering with a fault, or one whose text is a fault's
    report.bogus = sum(len(snaps.get(url_of[i], [])) for i in first)
    report.bogus += sum(max(0, len(snaps.get(url_of[i], [])) - 1) for i in second)
    markers = ("Just a moment", "Access Denied", "oops", "\x89PNG", "%PDF")
    report.bogus += sum(
        1 for texts in snaps.values() for t in texts if any(m in t for m in markers)
    )
    # a good page whose run-1 snapshot is gone or no longer its latest
    report.lost = sum(
        1
        for i in good
        if url_of[i] in snaps_before
        and snaps.get(url_of[i], [""])[-1] != snaps_before[url_of[i]][-1]
    )
    return report


# --- report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--faulty", type=float, default=0.10)
    parser.add_argument("--skip-crawl", action="store_true")
    parser.add_argument("--skip-gate", action="store_true", help="skip the admission part")
    parser.add_argument("--gate-pages", type=int, default=400)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args(argv)

    started = time.monotonic()
    rows, (burst_tried, burst_ok, burst_seconds) = fault_matrix()
    matrix_seconds = time.monotonic() - started
    print(f"{'fault':<28} {'expected':<22} {'got':<22} {'s':>6} {'wire bytes':>11}")
    for row in rows:
        mark = "" if row.handled else "   <-- NOT HANDLED"
        print(
            f"{row.what:<28} {row.expect:<22} {row.got:<22} {row.seconds:>6.2f} "
            f"{row.wire:>11,}{mark}"
        )
    handled = sum(r.handled for r in rows)
    print(
        f"\nburst: {burst_tried} fetches of every fault at once, {burst_ok} as expected, "
        f"{burst_seconds:.1f} s"
    )

    crawl: dict[str, object] | None = None
    gate: GateReport | None = None
    workdir = Path(tempfile.mkdtemp(prefix="scraper-stress-"))
    try:
        if not args.skip_crawl:
            crawl = stress_crawl(args.pages, args.faulty, workdir)
        if not args.skip_gate:
            gate = stress_gate(args.gate_pages, workdir)
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(
        "\n| part | faults tried | handled | snapshots lost | bogus snapshots | peak RSS "
        "| seconds |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| fetch matrix ({len(rows)} faults + a burst of {burst_tried}) "
        f"| {len(rows) + burst_tried} | {handled + burst_ok} | - | - "
        f"| {MATRIX_RSS_MB[0]:.0f} MB one at a time, {MATRIX_RSS_MB[1]:.0f} MB in the burst "
        f"(this process, server included) | {matrix_seconds:.1f} |"
    )
    if crawl is not None:
        print(
            f"| crawl, {crawl.pages} pages on {HOSTS} hosts, 2 runs | {crawl.tried} "
            f"| {crawl.handled} ({crawl.failed} failed, {crawl.deferred} deferred) "
            f"| {crawl.lost} | {crawl.bogus} | {crawl.peak_rss_mb:.0f} MB (crawl process; "
            f"{crawl.peak_tree_rss_mb:.0f} MB with its workers) "
            f"| {' + '.join(f'{s:.1f}' for s in crawl.seconds)} |"
        )
        print(f"\nfaulty answers fetched as if good: {crawl.fetched_as_good}")
        print(f"good pages without a snapshot after run 1: {crawl.good_missing}")
        print(f"integrity_check: {crawl.integrity}")
        for i, summary in enumerate(crawl.summaries, 1):
            print(f"crawl {i}: {' '.join(summary.split())}")
    else:
        print("| crawl | skipped | | | | | |")
    if gate is not None:
        print_gate(gate)
    ok = handled == len(rows) and burst_ok == burst_tried
    if crawl is not None:
        ok = ok and crawl.lost == 0 and crawl.bogus == 0 and crawl.fetched_as_good == 0
    if gate is not None:
        ok = ok and gate_ok(gate)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
