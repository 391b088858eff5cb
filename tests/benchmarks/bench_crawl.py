"""Benchmark: ``scraper crawl`` over a generated 2,000-page site on 127.0.0.1.

Run with ``make bench-crawl`` (``python -m tests.benchmarks.bench_crawl``). It

1. writes 2,000 article pages (30-80 KB each: nav, footer and sidebar chrome, 20-50 internal
   links) and a sitemap into a temporary folder;
2. serves them from a pre-forked asyncio static server (``serve`` below: keep-alive HTTP/1.1,
   ETag and Last-Modified, 304 on If-None-Match / If-Modified-Since), in separate processes
   so the crawl's figures do not include it;
3. runs ``python -m scraper crawl`` three times into a fresh archive, politeness delays off:
   the first crawl, a recrawl with nothing changed (``--revisit 0``: conditional GETs) and a
   recrawl after 5% of the pages changed, and prints for each: pages/s, CPU seconds, peak RSS
   and snapshots added (plus archive bytes per page after the first);
4. does it all ``--rounds`` times (3 by default), each round into a fresh archive and from the
   same site, and judges the goals on the medians of the rounds (a 1.5-second recrawl moves by
   10-20% from one run to the next on this shared machine; every round is printed too).

CPU and memory are those of the whole crawl process tree (the crawl, the forkserver, its
extraction workers and the fetch helper), sampled from /proc every 50 ms: CPU is the sum of
each process's last user+system time, peak RSS the largest sum of the tree's resident sizes
(an overestimate: the workers share pages with the forkserver). ``getrusage`` of the crawl
process (from ``wait4``) is printed beside it.

Options: ``--pages N``, ``--concurrency N`` (requests in flight, default 4), ``--rounds N``,
``--keep``.

Fetch model, as measured here: one ``httpx.AsyncClient`` per process (fetch.py's contract) on
httpcore over plain asyncio sockets (fetch/transport.py; anyio's scopes cost ~0.1 ms a request),
4 requests in flight. The first crawl is bound by extraction in the process pool, whatever the
fetch concurrency. The unchanged recrawl is bound by CPU per request: there the crawl hands up
to 3 requests at a time to a helper process (fetch/worker.py) and fetches the rest itself, so
both cores work, and 304s that change nothing are committed in groups (crawl._CommitGroup).
With the helper, 4, 5, 6 or 8 requests in flight gave the same recrawl speed within the noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
WORDS = [
    "harbour",
    "council",
    "pier",
    "repair",
    "storm",
    "winter",
    "board",
    "engineer",
    "option",
    "cost",
    "rebuild",
    "resident",
    "fisherman",
    "season",
    "landing",
    "chair",
    "decision",
    "month",
    "insurer",
    "consultation",
    "library",
    "hall",
    "morning",
    "budget",
    "report",
    "school",
    "teacher",
    "parent",
    "road",
    "bridge",
    "traffic",
    "river",
    "flood",
    "warning",
    "market",
    "trader",
    "festival",
    "music",
    "summer",
    "visitor",
    "hotel",
    "owner",
    "planning",
    "permission",
    "housing",
    "estate",
    "developer",
    "railway",
    "station",
    "timetable",
    "passenger",
    "service",
    "delay",
    "weather",
    "forecast",
    "rain",
    "wind",
    "coast",
    "path",
    "walker",
    "volunteer",
    "charity",
    "museum",
    "exhibition",
    "history",
    "archive",
    "photograph",
    "mayor",
    "election",
    "vote",
    "candidate",
    "policy",
    "tax",
    "rate",
    "business",
    "shop",
    "closure",
    "job",
    "worker",
    "union",
    "hospital",
    "nurse",
    "doctor",
    "patient",
    "ambulance",
    "police",
    "officer",
    "crime",
    "court",
    "judge",
    "sentence",
    "appeal",
    "garden",
    "allotment",
    "prize",
]
GOALS = {"pages_per_s": 60.0, "recrawl_speedup": 10.0, "peak_rss_mb": 300.0}


# --- the site ------------------------------------------------------------------------------


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 22))]
    return " ".join(words).capitalize() + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 7)))


def render_page(number: int, total: int, edition: int = 0) -> str:
    """One article page; ``edition`` > 0 changes a paragraph (what a real edit looks like)."""
    rng = random.Random(number)
    target = rng.randint(30_000, 80_000)
    title = " ".join(rng.choice(WORDS) for _ in range(6)).capitalize()
    nav = "".join(
        f'<li><a href="/section/{name}.html">{name.title()}</a></li>'
        for name in ("news", "sport", "business", "opinion", "culture", "weather", "jobs", "about")
    )
    related = "".join(
        f'<li><a href="/a/{(number + rng.randint(1, total - 1)) % total:04d}.html">'
        f"{_sentence(rng)[:60]}</a></li>"
        for _ in range(rng.randint(12, 42))
    )
    head = (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{title} | The "
        f"Harbour Gazette</title><meta name='description' content='{_sentence(rng)}'>"
        f"<meta property='og:title' content='{title}'><link rel='stylesheet' href='/s.css'>"
        "<style>body{font-family:serif}.nav li{display:inline}.promo{color:#c00}</style>"
        "<script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}"
        "</script></head><body>"
        f"<header><div class='logo'>The Harbour Gazette</div><ul class='nav'>{nav}</ul>"
        "<form class='search'><input name='q' placeholder='Search'></form></header>"
        "<div class='cookie-banner'>We use cookies to improve your experience. "
        "<button>Accept</button></div>"
    )
    foot = (
        f"<aside class='related'><h2>Related</h2><ul>{related}</ul></aside>"
        "<aside class='promo'>Subscribe to our newsletter for the week's news every Friday."
        "</aside><footer><p>The Harbour Gazette, the town's paper since 1901.</p>"
        "<p><a href='/about.html'>About us</a> · <a href='/contact.html'>Contact</a></p>"
        "</footer></body></html>"
    )
    body = [
        f"<main><article><h1>{title}</h1><p class='byline'>By {rng.choice(WORDS).title()} "
        f"{rng.choice(WORDS).title()}</p><time datetime='2026-0{1 + number % 9}-1{number % 10}'>"
        "</time>"
    ]
    size = len(head) + len(foot)
    paragraphs = 0
    while size < target:
        text = _paragraph(rng)
        if edition and paragraphs == 2:
            text = f"Update {edition}: {_sentence(random.Random(number * 1000 + edition))} {text}"
        chunk = f"<p>{text}</p>"
        body.append(chunk)
        size += len(chunk)
        paragraphs += 1
    body.append("</article></main>")
    return head + "".join(body) + foot


def build_site(root: Path, pages: int) -> None:
    (root / "a").mkdir(parents=True)
    urls = []
    for number in range(pages):
        (root / "a" / f"{number:04d}.html").write_text(render_page(number, pages))
        urls.append(f"<url><loc>/a/{number:04d}.html</loc></url>")
    links = "".join(f'<li><a href="/a/{n:04d}.html">{n}</a></li>' for n in range(0, pages, 50))
    for name in ("news", "sport", "business", "opinion", "culture", "weather", "jobs", "about"):
        (root / "section").mkdir(exist_ok=True)
        (root / "section" / f"{name}.html").write_text(render_page(pages + len(name), pages))
    (root / "about.html").write_text(render_page(pages + 100, pages))
    (root / "contact.html").write_text(render_page(pages + 101, pages))
    (root / "index.html").write_text(
        f"<!DOCTYPE html><html><head><title>The Harbour Gazette</title></head><body><ul>{links}"
        "</ul></body></html>"
    )
    (root / "sitemap.xml").write_text(
        '<?xml version="1.0" encoding="UTF-8"?><urlset '
        f'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{"".join(urls)}</urlset>'
    )


# --- the server ----------------------------------------------------------------------------


class _Files:
    """The site's files, read once and again when their size or mtime changes (ETag like nginx)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.cache: dict[str, tuple[int, int, bytes, str, str]] = {}

    def get(self, path: str) -> tuple[bytes, str, str] | None:
        target = (self.root / path.lstrip("/")).resolve()
        if self.root not in target.parents:
            return None
        try:
            stat = target.stat()
        except OSError:
            return None
        entry = self.cache.get(path)
        if entry is None or entry[:2] != (stat.st_mtime_ns, stat.st_size):
            body = target.read_bytes()
            etag = f'"{stat.st_mtime_ns:x}-{stat.st_size:x}"'
            entry = (
                stat.st_mtime_ns,
                stat.st_size,
                body,
                etag,
                formatdate(stat.st_mtime, usegmt=True),
            )
            self.cache[path] = entry
        return entry[2], entry[3], entry[4]


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, files: _Files
) -> None:
    """HTTP/1.1 keep-alive GET: 200 with ETag/Last-Modified, 304 on If-None-Match, 404."""
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1] if lines[0].count(" ") >= 2 else "/"
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            path = target.split("?", 1)[0]
            found = files.get(path)
            if found is None:
                status, body, extra = "404 Not Found", b"not found", "Content-Type: text/plain\r\n"
            else:
                body, etag, modified = found
                ctype = "application/xml" if path.endswith(".xml") else "text/html; charset=utf-8"
                extra = f"ETag: {etag}\r\nLast-Modified: {modified}\r\nContent-Type: {ctype}\r\n"
                status = "200 OK"
                if headers.get("if-none-match") == etag:
                    status, body = "304 Not Modified", b""
            length = "" if status.startswith("304") else f"Content-Length: {len(body)}\r\n"
            writer.write(f"HTTP/1.1 {status}\r\n{extra}{length}\r\n".encode("latin-1") + body)
            await writer.drain()
            if headers.get("connection", "").lower() == "close":
                break
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        pass
    finally:
        writer.close()


async def _serve_socket(sock: socket.socket, files: _Files) -> None:
    server = await asyncio.start_server(lambda r, w: _answer(r, w, files), sock=sock, backlog=1024)
    async with server:
        await server.serve_forever()


def serve(root: Path, port: int, workers: int) -> None:
    """A pre-forked asyncio static server: ``workers`` processes accept on one socket."""
    files = _Files(root)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(1024)
    children = []
    for _ in range(workers - 1):
        pid = os.fork()
        if pid == 0:
            asyncio.run(_serve_socket(sock, files))
            os._exit(0)
        children.append(pid)

    def stop(*_: object) -> None:
        for child in children:
            os.kill(child, signal.SIGTERM)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("ready", flush=True)
    asyncio.run(_serve_socket(sock, files))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- measuring a process tree --------------------------------------------------------------

_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _proc_table() -> dict[int, tuple[int, float, int]]:
    """pid -> (ppid, cpu seconds, rss bytes) of every process we can read."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                raw = handle.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = raw.rsplit(")", 1)[1].split()
        ppid = int(fields[1])
        cpu = (int(fields[11]) + int(fields[12])) / _TICK
        rss = int(fields[21]) * _PAGE
        table[int(entry)] = (ppid, cpu, rss)
    return table


def descendants(pid: int, table: dict[int, tuple[int, float, int]] | None = None) -> set[int]:
    """Every process under ``pid`` (children, grandchildren...) in ``table`` (/proc now)."""
    table = _proc_table() if table is None else table
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, (ppid, _, _) in table.items() if ppid in frontier} - found
        found |= frontier
    return found


def run_measured(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Run a command; return wall seconds, tree CPU seconds, tree peak RSS, own rusage."""
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True)
    cpu_by_pid: dict[int, float] = {}
    peak_tree = 0
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            break
        table = _proc_table()
        tree = {proc.pid} | descendants(proc.pid, table)
        rss = 0
        for member in tree:
            if member in table:
                cpu_by_pid[member] = table[member][1]
                rss += table[member][2]
        peak_tree = max(peak_tree, rss)
        time.sleep(0.05)
    wall = time.monotonic() - started
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"crawl failed ({proc.returncode}):\n{stderr}")
    own_cpu = usage.ru_utime + usage.ru_stime
    own_rss = usage.ru_maxrss * 1024.0
    return {
        "wall": wall,
        "cpu": max(sum(cpu_by_pid.values()), own_cpu),
        "peak_tree_rss": peak_tree,
        "own_cpu": own_cpu,
        "own_rss": own_rss,
        "summary": stderr.strip().splitlines()[-1] if stderr.strip() else "",
    }


# --- the benchmark -------------------------------------------------------------------------


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(sql).fetchone()[0])


PHASES = (
    ("first crawl", [], 0),
    ("recrawl, nothing changed (--revisit 0)", ["--revisit", "0"], 0),
    ("recrawl, 5% of pages changed (--revisit 0)", ["--revisit", "0"], 5),
)


def run_round(
    number: int, work: Path, site: Path, crawl: list[str], env: dict[str, str], pages: int
) -> list[dict[str, Any]]:
    """One round: a fresh archive, the three phases; the changed pages are put back after."""
    db = work / f"archive-{number}.db"
    crawl = [*crawl, "--db", str(db)]
    results: list[dict[str, Any]] = []
    chosen: list[int] = []
    try:
        for label, extra, change in PHASES:
            if change:
                chosen = random.Random(7).sample(range(pages), pages * change // 100)
                for page in chosen:
                    (site / "a" / f"{page:04d}.html").write_text(render_page(page, pages, 1))
            before = _count(db, "SELECT COUNT(*) FROM snapshots") if db.exists() else 0
            figures = run_measured([*crawl, "--quiet", *extra], env)
            after = _count(db, "SELECT COUNT(*) FROM snapshots")
            fetched = _count(db, "SELECT pages_fetched FROM runs ORDER BY id DESC LIMIT 1")
            result = {
                "label": label,
                "fetched": fetched,
                "rate": fetched / figures["wall"],
                "added": after - before,
                "changed": len(chosen) if change else 0,
                **figures,
            }
            if not extra:
                size = db.stat().st_size + sum(
                    p.stat().st_size for p in work.glob(f"{db.name}-*") if p.is_file()
                )
                result["archive_bytes"] = size
            results.append(result)
            _print_phase(number, result, check_zero=bool(extra) and not change)
    finally:
        for page in chosen:  # the next round starts from the same site
            (site / "a" / f"{page:04d}.html").write_text(render_page(page, pages))
        for path in work.glob(f"{db.name}*"):
            path.unlink()
    return results


def _print_phase(number: int, r: dict[str, Any], *, check_zero: bool) -> None:
    print(f"\nround {number}, {r['label']}:")
    print(f"  {r['summary']}")
    print(
        f"  pages fetched {r['fetched']} in {r['wall']:.1f} s: {r['rate']:.1f} pages/s "
        "(wall clock of the whole command)"
    )
    print(
        f"  CPU {r['cpu']:.1f} s for the crawl process tree "
        f"({r['cpu'] * 1000 / max(r['fetched'], 1):.1f} ms/page); "
        f"crawl process alone {r['own_cpu']:.1f} s"
    )
    print(
        f"  peak RSS: crawl process {r['own_rss'] / 2**20:.0f} MB (getrusage), "
        f"whole tree {r['peak_tree_rss'] / 2**20:.0f} MB (sum of RSS, sampled)"
    )
    if "archive_bytes" in r:
        size = r["archive_bytes"]
        print(f"  archive {size / 2**20:.1f} MB, {size / max(r['fetched'], 1) / 1024:.1f} KB/page")
    changed = f" (pages changed {r['changed']})" if r["changed"] else ""
    print(f"  snapshots added {r['added']}{changed}")
    if check_zero:
        print("  goal: 0 snapshots added:", "met" if r["added"] == 0 else "NOT MET")
    if r["changed"]:
        ok = r["added"] == r["changed"]
        print(f"  goal: snapshots added = pages changed: {'met' if ok else 'NOT MET'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.command[:1] == ["serve"]:
        serve(Path(opts.command[1]), int(opts.command[2]), opts.server_workers)
        return

    work = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    site, config = work / "site", work / "sites.toml"
    print(f"generating {opts.pages} pages in {site} ...", flush=True)
    build_site(site, opts.pages)
    sizes = [p.stat().st_size for p in (site / "a").iterdir()]
    print(
        f"  {len(sizes)} pages, {min(sizes) // 1024}-{max(sizes) // 1024} KB "
        f"(mean {sum(sizes) // len(sizes) // 1024} KB)"
    )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.bench_crawl",
            "--server-workers",
            str(opts.server_workers),
            "serve",
            str(site),
            str(port),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    server.stdout.readline()
    base = f"http://127.0.0.1:{port}"
    config.write_text(
        f"""
[defaults]
delay_seconds = 0
concurrency = {opts.concurrency}
concurrency_per_host = {opts.concurrency}
max_pages = 100000
allow_private = true

[[site]]
name = "bench"
start_urls = ["{base}/index.html"]
sitemaps = ["{base}/sitemap.xml"]
max_depth = 5
"""
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "*"
    crawl = [sys.executable, "-m", "scraper", "crawl", "--config", str(config)]
    rounds: list[list[dict[str, Any]]] = []
    try:
        print(f"server: {opts.server_workers} Python processes on {base}")
        print(
            f"fetch model: httpx.AsyncClient, {opts.concurrency} requests in flight "
            "(on a recrawl up to 3 of them in a helper process)"
        )
        print(f"{opts.rounds} rounds, each into a fresh archive; the figures are their medians")
        for number in range(1, opts.rounds + 1):
            rounds.append(run_round(number, work, site, crawl, env, opts.pages))
        _print_summary(rounds)
    finally:
        server.terminate()
        server.wait(timeout=10)
        server.stdout.close()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def _print_summary(rounds: list[list[dict[str, Any]]]) -> None:
    def median(phase: int, key: str) -> float:
        return float(statistics.median(r[phase][key] for r in rounds))

    print(f"\nmedians of {len(rounds)} rounds:")
    for phase, (label, _, _) in enumerate(PHASES):
        rates = ", ".join(f"{r[phase]['rate']:.1f}" for r in rounds)
        print(
            f"  {label}: {median(phase, 'rate'):.1f} pages/s (rounds: {rates}), "
            f"CPU {median(phase, 'cpu') * 1000 / max(median(phase, 'fetched'), 1):.1f} ms/page, "
            f"peak RSS {median(phase, 'peak_tree_rss') / 2**20:.0f} MB"
        )
    per_round = ", ".join(f"{r[1]['rate'] / r[0]['rate']:.1f}x" for r in rounds)
    speedup = median(1, "rate") / median(0, "rate")
    peak = max(r["peak_tree_rss"] for rs in rounds for r in rs) / 2**20
    zero = all(r[1]["added"] == 0 for r in rounds)
    equal = all(r[2]["added"] == r[2]["changed"] for r in rounds)
    print("\ngoals on this machine:")
    print(f"  first crawl >= {GOALS['pages_per_s']:.0f} pages/s: {median(0, 'rate'):.1f}")
    print(
        f"  unchanged recrawl >= {GOALS['recrawl_speedup']:.0f}x faster: {speedup:.1f}x "
        f"(ratio of the medians; round by round: {per_round})"
    )
    print(f"  peak RSS <= {GOALS['peak_rss_mb']:.0f} MB: {peak:.0f} MB (whole tree, every round)")
    print(f"  unchanged recrawl adds 0 snapshots: {'met' if zero else 'NOT MET'}")
    print(f"  5% changed adds one snapshot per changed page: {'met' if equal else 'NOT MET'}")
    print(
        json.dumps(
            {
                "rounds": [
                    [
                        {k: (round(v, 2) if isinstance(v, float) else v) for k, v in r.items()}
                        for r in results
                    ]
                    for results in rounds
                ]
            }
        )
    )


if __name__ == "__main__":
    main()
