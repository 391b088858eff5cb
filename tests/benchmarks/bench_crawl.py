"""Benchmark: ``scraper crawl`` against Scrapy over a generated 2,000-page site on 127.0.0.1.

Run with ``make bench-crawl`` (``python -m tests.benchmarks.bench_crawl``; ``ARGS="--pages 500
--rounds 1"`` for a quick look). It

1. writes 2,000 article pages (30-80 KB each: nav, footer and sidebar chrome, 20-50 internal
   links) and a sitemap into a temporary folder;
2. serves them with nginx when ``command -v nginx`` finds it, else from a pre-forked asyncio
   static server (``serve`` below: keep-alive HTTP/1.1, ETag and Last-Modified, 304 on
   If-None-Match), in separate processes whose CPU is measured and printed per page too (the
   server must not be what limits the crawl);
3. measures the extraction limit: ``scraper.extract``'s CPU ms per page on a sample of the
   site's pages (``--sample``, in a process of its own), and cores x 1000 / that;
4. runs ``--rounds`` rounds (3 by default), each with four rows in turn (the order reversed
   every other round), every row into a fresh archive, on the same site and server:
   - scraper, default transport: the first crawl, a recrawl with nothing changed
     (``--revisit 0``: conditional GETs) and a recrawl after 5% of the pages changed;
   - Scrapy's bare crawl (tests/benchmarks/bench_scrapy.py: the same links followed, the same
     requests in flight, robots.txt obeyed, no HTTP cache, no extraction);
   - scraper with ``SCRAPER_TRANSPORT=httpx``: the first crawl and the unchanged recrawl (a
     build without the ``transport`` setting ignores the variable, and the output says so);
   - Scrapy + ``trafilatura.extract`` in the callback, the text stored in SQLite (the naive
     build a user would write);
5. prints every run, then the medians of the rounds, the ratios (scraper / Scrapy+trafilatura,
   / Scrapy bare, / the extraction limit), the goals, and scraper's CPU per page by stage
   (first crawl and unchanged recrawl) for its whole process tree, from the reports that
   ``SCRAPER_STAGE_CPU`` makes each crawl write (scraper/stagecpu.py; merged by
   stage_report.py), beside the tree's CPU measured from /proc, and each run's timeline (the
   first page fetch, the fetch helper's first, the last page, the exit: stage_report.timeline),
   the unchanged recrawl's as medians.

Rates are pages fetched over the wall clock of the whole command (start-up and shutdown
included). CPU and memory are those of the whole process tree (the crawl, the forkserver, its
extraction workers and the fetch helper; Scrapy's one process), sampled from /proc every
50 ms: CPU is the sum of each process's last user+system time, peak RSS the largest sum of
the tree's resident sizes (an overestimate: the workers share pages with the forkserver).

Options: ``--pages N``, ``--concurrency N`` (requests in flight, default 4), ``--rounds N``,
``--sample N``, ``--server auto|nginx|python``, ``--no-peers`` (scraper's rows only),
``--keep``.

Fetch model, as measured here: one ``httpx.AsyncClient`` per process (fetch.py's contract) on
httpcore over plain asyncio sockets (fetch/transport.py; anyio's scopes cost ~0.1 ms a request),
4 requests in flight. The first crawl is bound by extraction in the process pool, whatever the
fetch concurrency. The unchanged recrawl is bound by CPU per request: there the crawl hands up
to 3 requests at a time to a helper process (fetch/worker.py) and fetches the rest itself, so
both cores work, and 304s that change nothing are committed in groups (crawl._CommitGroup).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
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

from scraper.stagecpu import ENV
from tests.benchmarks.stage_report import (
    breakdown,
    print_breakdown,
    timeline,
    timeline_line,
    tree_seconds,
)

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
GOALS = {"recrawl_speedup": 10.0, "peak_rss_mb": 300.0}


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


def _role(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            command = handle.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""
    return "forkserver" if "forkserver" in command else ""


def _tree_cpu(pid: int | None) -> float:
    """CPU seconds of ``pid`` and its descendants now (0 for None)."""
    if pid is None:
        return 0.0
    table = _proc_table()
    return sum(table[p][1] for p in {pid} | descendants(pid, table) if p in table)


def run_measured(
    args: list[str], env: dict[str, str], server_pid: int | None = None
) -> dict[str, Any]:
    """Run a command; return wall seconds, tree CPU seconds, tree peak RSS, own rusage, the
    CPU of each process of the tree, and the CPU the server spent meanwhile."""
    server_before = _tree_cpu(server_pid)
    started_wall = time.time()  # the reports' clock, for the run's timeline
    started = time.monotonic()
    proc = subprocess.Popen(args, env=env, stderr=subprocess.PIPE, text=True, cwd=REPO)
    cpu_by_pid: dict[int, float] = {}
    roles: dict[int, str] = {}
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
                if member not in roles:
                    roles[member] = _role(member)
        peak_tree = max(peak_tree, rss)
        time.sleep(0.05)
    wall = time.monotonic() - started
    ended_wall = time.time()
    server_cpu = _tree_cpu(server_pid) - server_before
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
        "pid": proc.pid,
        "cpu_by_pid": cpu_by_pid,
        "roles": roles,
        "server_cpu": server_cpu,
        "started_wall": started_wall,
        "ended_wall": ended_wall,
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
#: the first two phases only, for the second transport's row
SHORT_PHASES = PHASES[:2]


def run_round(
    number: int,
    work: Path,
    site: Path,
    crawl: list[str],
    env: dict[str, str],
    pages: int,
    *,
    name: str,
    phases: tuple[tuple[str, list[str], int], ...] = PHASES,
    server_pid: int | None = None,
) -> list[dict[str, Any]]:
    """One round of one scraper row: a fresh archive, the phases; the changed pages are put
    back after. Each phase runs with SCRAPER_STAGE_CPU set: its breakdown by stage is kept."""
    db = work / f"archive-{name}-{number}.db"
    crawl = [*crawl, "--db", str(db)]
    results: list[dict[str, Any]] = []
    chosen: list[int] = []
    try:
        for index, (label, extra, change) in enumerate(phases):
            if change:
                chosen = random.Random(7).sample(range(pages), pages * change // 100)
                for page in chosen:
                    (site / "a" / f"{page:04d}.html").write_text(render_page(page, pages, 1))
            before = _count(db, "SELECT COUNT(*) FROM snapshots") if db.exists() else 0
            folder = work / f"cpu-{name}-{number}-{index}"
            figures = run_measured(
                [*crawl, "--quiet", *extra], {**env, ENV: str(folder)}, server_pid
            )
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
            result["stages"] = breakdown(
                folder, figures["cpu_by_pid"], figures["roles"], figures["pid"]
            )
            result["tree_cpu"] = tree_seconds(figures["cpu_by_pid"], folder)
            result["timeline"] = timeline(folder, figures["started_wall"], figures["ended_wall"])
            if not extra:
                size = db.stat().st_size + sum(
                    p.stat().st_size for p in work.glob(f"{db.name}-*") if p.is_file()
                )
                result["archive_bytes"] = size
            results.append(result)
            _print_phase(f"{number}, scraper {name}", result, check_zero=bool(extra) and not change)
    finally:
        for page in chosen:  # the next round starts from the same site
            (site / "a" / f"{page:04d}.html").write_text(render_page(page, pages))
        for path in work.glob(f"{db.name}*"):
            path.unlink()
    return results


def run_peer(
    number: int,
    work: Path,
    base: str,
    mode: str,
    concurrency: int,
    env: dict[str, str],
    server_pid: int | None,
) -> dict[str, Any]:
    """One run of Scrapy (``mode`` bare or trafilatura) over the site."""
    db = work / f"scrapy-{mode}-{number}.db"
    command = [
        sys.executable,
        "-m",
        "tests.benchmarks.bench_scrapy",
        base,
        "--mode",
        mode,
        "--concurrency",
        str(concurrency),
        "--db",
        str(db),
    ]
    figures = run_measured(command, env, server_pid)
    fetched = int(figures["summary"].split()[0])
    result = {
        "label": f"Scrapy {mode}",
        "fetched": fetched,
        "rate": fetched / figures["wall"],
        **figures,
    }
    db.unlink(missing_ok=True)
    print(f"\nround {number}, Scrapy {mode}:")
    print(f"  pages fetched {fetched} in {result['wall']:.1f} s: {result['rate']:.1f} pages/s")
    print(
        f"  CPU {result['cpu'] * 1000 / max(fetched, 1):.1f} ms/page "
        f"(busy {result['cpu'] / result['wall']:.0%} of the wall clock), peak RSS "
        f"{result['peak_tree_rss'] / 2**20:.0f} MB, server CPU "
        f"{result['server_cpu'] * 1000 / max(fetched, 1):.2f} ms/page"
    )
    return result


def _print_phase(number: str, r: dict[str, Any], *, check_zero: bool) -> None:
    print(f"\nround {number}, {r['label']}:")
    print(f"  {r['summary']}")
    print(
        f"  pages fetched {r['fetched']} in {r['wall']:.1f} s: {r['rate']:.1f} pages/s "
        "(wall clock of the whole command)"
    )
    print(
        f"  CPU {r['cpu']:.1f} s for the crawl process tree "
        f"({r['cpu'] * 1000 / max(r['fetched'], 1):.1f} ms/page); "
        f"crawl process alone {r['own_cpu']:.1f} s; server "
        f"{r['server_cpu'] * 1000 / max(r['fetched'], 1):.2f} ms/page"
    )
    print(
        f"  peak RSS: crawl process {r['own_rss'] / 2**20:.0f} MB (getrusage), "
        f"whole tree {r['peak_tree_rss'] / 2**20:.0f} MB (sum of RSS, sampled)"
    )
    if "archive_bytes" in r:
        size = r["archive_bytes"]
        print(f"  archive {size / 2**20:.1f} MB, {size / max(r['fetched'], 1) / 1024:.1f} KB/page")
    if "timeline" in r:
        print(f"  timeline: {timeline_line(r['timeline'])}")
    changed = f" (pages changed {r['changed']})" if r["changed"] else ""
    print(f"  snapshots added {r['added']}{changed}")
    if check_zero:
        print("  goal: 0 snapshots added:", "met" if r["added"] == 0 else "NOT MET")
    if r["changed"]:
        ok = r["added"] == r["changed"]
        print(f"  goal: snapshots added = pages changed: {'met' if ok else 'NOT MET'}")


def extraction_ms(site: Path, sample: int) -> float:
    """CPU ms per page of ``scraper.extract`` on ``sample`` pages of the site (median of the
    pages, after a warm-up), in a process of its own."""
    code = (
        "import json, random, statistics, sys, time\n"
        "from pathlib import Path\n"
        "from scraper.extract import extract\n"
        "files = sorted(Path(sys.argv[1]).glob('a/*.html'))\n"
        "files = random.Random(11).sample(files, min(int(sys.argv[2]), len(files)))\n"
        "for f in files[:3]:\n"
        "    extract(f.read_text(), url='http://127.0.0.1/a/' + f.name)\n"
        "costs = []\n"
        "for f in files:\n"
        "    html = f.read_text()\n"
        "    started = time.process_time()\n"
        "    extract(html, url='http://127.0.0.1/a/' + f.name)\n"
        "    costs.append(time.process_time() - started)\n"
        "print(json.dumps({'median': statistics.median(costs), 'mean': statistics.mean(costs)}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(site), str(sample)],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    ).stdout
    figures = json.loads(out.strip().splitlines()[-1])
    return float(figures["mean"]) * 1000


def start_server(
    site: Path, work: Path, port: int, opts: argparse.Namespace
) -> tuple[subprocess.Popen[str], str]:
    """nginx when installed (and not ``--server python``), else the benchmark's own server."""
    nginx = shutil.which("nginx")
    if opts.server != "python" and nginx:
        for folder in (work, site):
            folder.chmod(0o755)  # nginx's workers may run as another user
        conf = work / "nginx.conf"
        conf.write_text(
            f"worker_processes {opts.server_workers};\ndaemon off;\npid {work}/nginx.pid;\n"
            f"error_log {work}/nginx-error.log warn;\nevents {{ worker_connections 1024; }}\n"
            "http {\n  access_log off;\n  keepalive_requests 1000000;\n"
            "  types { text/html html; application/xml xml; }\n"
            f"  client_body_temp_path {work}/nginx-body;\n  proxy_temp_path {work}/nginx-proxy;\n"
            f"  fastcgi_temp_path {work}/nginx-fcgi;\n  uwsgi_temp_path {work}/nginx-uwsgi;\n"
            f"  scgi_temp_path {work}/nginx-scgi;\n"
            f"  server {{ listen 127.0.0.1:{port}; root {site}; }}\n}}\n"
        )
        server = subprocess.Popen(
            [nginx, "-c", str(conf), "-p", str(work)], stdout=subprocess.PIPE, text=True
        )
        _wait_port(port, server)
        return server, f"nginx ({opts.server_workers} worker processes)"
    if opts.server == "nginx":
        raise SystemExit("--server nginx: nginx is not installed")
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
    return server, f"the benchmark's asyncio server ({opts.server_workers} Python processes)"


def _wait_port(port: int, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60  # a liveness guard: nginx starts in milliseconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited ({server.returncode})")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit("the server did not start listening")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--sample", type=int, default=100, help="pages for the extraction limit")
    parser.add_argument("--no-peers", action="store_true", help="scraper's rows only")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("command", nargs="*", help=argparse.SUPPRESS)
    opts = parser.parse_args()
    if opts.command[:1] == ["serve"]:
        serve(Path(opts.command[1]), int(opts.command[2]), opts.server_workers)
        return
    if opts.pages < 10 or opts.rounds < 1 or opts.sample < 1:
        parser.error("--pages must be at least 10, --rounds and --sample at least 1")
    if not opts.no_peers and importlib.util.find_spec("scrapy") is None:
        parser.error(
            "Scrapy is not installed: `make bench-crawl` installs the bench extra "
            "(pip install -e '.[bench]'), or pass --no-peers"
        )
    began = time.monotonic()
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
    server, server_name = start_server(site, work, port, opts)
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
    # An installed package has its bytecode compiled; a machine that says not to write any
    # (PYTHONDONTWRITEBYTECODE) would have every measured process compile scraper's modules
    # from source first (30-40 ms of CPU each). Compiled once here, in __pycache__ as Python
    # does; a module edited later is compiled again by the next run. A tree that cannot be
    # written to is measured as it is.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "scraper", "tests/benchmarks"],
        cwd=REPO,
        check=False,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env["NO_PROXY"] = "*"
    env.pop(ENV, None)
    env.pop("SCRAPER_TRANSPORT", None)
    crawl = [sys.executable, "-m", "scraper", "crawl", "--config", str(config)]
    from scraper.config import SETTING_NAMES

    honoured = "transport" in SETTING_NAMES
    rows: dict[str, list[Any]] = {"fast": [], "httpx": [], "bare": [], "trafilatura": []}
    try:
        cores = len(os.sched_getaffinity(0))
        print(f"server: {server_name} on {base}")
        print("bytecode: scraper's modules compiled before the runs, as an installed package has")
        print(
            f"fetch model: {opts.concurrency} requests in flight, in all and per host, no delay, "
            "robots.txt obeyed, for scraper and Scrapy alike"
        )
        print(
            f"extraction limit: scraper.extract on {opts.sample} pages of the site ...", flush=True
        )
        ms = extraction_ms(site, opts.sample)
        limit = cores * 1000 / ms
        print(
            f"  {ms:.1f} ms of CPU per page (mean): {cores} cores x 1000 / {ms:.1f} = "
            f"{limit:.1f} pages/s"
        )
        if not honoured:
            print(
                "note: this build has no `transport` setting: SCRAPER_TRANSPORT=httpx is "
                "ignored and the httpx row runs the default transport too"
            )
        print(
            f"{opts.rounds} rounds, each into fresh archives; rows alternate within a round "
            "(reversed every other round); the figures are medians of the rounds"
        )
        for number in range(1, opts.rounds + 1):
            steps = [
                (
                    "fast",
                    lambda n=number: run_round(
                        n, work, site, crawl, env, opts.pages, name="fast", server_pid=server.pid
                    ),
                ),
                (
                    "bare",
                    lambda n=number: run_peer(
                        n, work, base, "bare", opts.concurrency, env, server.pid
                    ),
                ),
                (
                    "httpx",
                    lambda n=number: run_round(
                        n,
                        work,
                        site,
                        crawl,
                        {**env, "SCRAPER_TRANSPORT": "httpx"},
                        opts.pages,
                        name="httpx",
                        phases=SHORT_PHASES,
                        server_pid=server.pid,
                    ),
                ),
                (
                    "trafilatura",
                    lambda n=number: run_peer(
                        n, work, base, "trafilatura", opts.concurrency, env, server.pid
                    ),
                ),
            ]
            if opts.no_peers:
                steps = [s for s in steps if s[0] in ("fast", "httpx")]
            if number % 2 == 0:
                steps.reverse()
            for key, step in steps:
                rows[key].append(step())
        _print_summary(rows, limit, ms, cores, honoured)
        print(f"\nthe whole benchmark took {time.monotonic() - began:.0f} s")
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stdout is not None:
            server.stdout.close()
        if not opts.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def _ratio(mine: float, theirs: float) -> str:
    """``mine / theirs`` as "1.23x", or "not run" when the peer did not run (``--no-peers``)."""
    return "not run" if theirs != theirs else f"{mine / theirs:.2f}x"


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _print_summary(
    rows: dict[str, list[Any]], limit: float, ms: float, cores: int, honoured: bool
) -> None:
    fast, httpx_rounds = rows["fast"], rows["httpx"]
    print(f"\nmedians of {len(fast)} rounds:")
    for name, rounds in (("fast", fast), ("httpx", httpx_rounds)):
        for phase, (label, _, _) in enumerate(PHASES):
            runs = [r[phase] for r in rounds if len(r) > phase]
            if not runs:
                continue
            rates = ", ".join(f"{r['rate']:.1f}" for r in runs)
            fetched = _median([r["fetched"] for r in runs])
            print(
                f"  scraper ({name}) {label}: {_median([r['rate'] for r in runs]):.1f} pages/s "
                f"(rounds: {rates}), CPU {_median([r['cpu'] for r in runs]) * 1000 / fetched:.1f} "
                f"ms/page, peak RSS {_median([r['peak_tree_rss'] for r in runs]) / 2**20:.0f} MB, "
                f"server {_median([r['server_cpu'] for r in runs]) * 1000 / fetched:.2f} ms/page"
            )
    for name in ("bare", "trafilatura"):
        runs = rows[name]
        if runs:
            rates = ", ".join(f"{r['rate']:.1f}" for r in runs)
            fetched = _median([r["fetched"] for r in runs])
            print(
                f"  Scrapy {name}: {_median([r['rate'] for r in runs]):.1f} pages/s "
                f"(rounds: {rates}), {fetched:.0f} pages, CPU "
                f"{_median([r['cpu'] for r in runs]) * 1000 / fetched:.1f} ms/page (busy "
                f"{_median([r['cpu'] / r['wall'] for r in runs]):.0%}), peak RSS "
                f"{_median([r['peak_tree_rss'] for r in runs]) / 2**20:.0f} MB, server "
                f"{_median([r['server_cpu'] for r in runs]) * 1000 / fetched:.2f} ms/page"
            )
    print(
        f"  extraction limit: {limit:.1f} pages/s ({cores} cores, scraper.extract {ms:.1f} ms/page)"
    )

    first = _median([r[0]["rate"] for r in fast])
    first_httpx = _median([r[0]["rate"] for r in httpx_rounds])
    bare = _median([r["rate"] for r in rows["bare"]])
    traf = _median([r["rate"] for r in rows["trafilatura"]])
    label = "SCRAPER_TRANSPORT=httpx" + ("" if honoured else ", ignored by this build")
    print("\nratios (medians of the rounds):")
    print(f"  scraper / Scrapy+trafilatura: {_ratio(first, traf)} (goal >= 2)")
    print(f"  scraper / Scrapy bare:        {_ratio(first, bare)} (goal >= 1 with 2x extraction)")
    print(f"  scraper / extraction limit:   {first / limit:.2f}x (goal >= 0.7)")
    print(
        f"  scraper ({label}) / Scrapy+trafilatura: {_ratio(first_httpx, traf)}, "
        f"/ extraction limit: {first_httpx / limit:.2f}x"
    )

    # CPU per page barely moves with the machine's load, rates do: what the rates would be if
    # each ran CPU-bound on the cores it can use (scraper: all; Scrapy: one process, one core)
    def capacity(runs: list[dict[str, Any]], usable: int) -> float:
        return usable * 1000 / _median([r["cpu"] * 1000 / max(r["fetched"], 1) for r in runs])

    mine = capacity([r[0] for r in fast], cores)
    print(
        "\nCPU-bound capacity (usable cores x 1000 / CPU ms per page; steadier than the rates "
        "on a shared machine):"
    )
    print(f"  scraper first crawl ({cores} cores): {mine:.1f} pages/s")
    for name in ("bare", "trafilatura"):
        if rows[name]:
            theirs = capacity(rows[name], 1)
            print(
                f"  Scrapy {name} (1 core): {theirs:.1f} pages/s; "
                f"scraper / it: {mine / theirs:.2f}x"
            )
    print(f"  extraction limit: {limit:.1f} pages/s; scraper / it: {mine / limit:.2f}x")

    print_breakdown(
        "CPU by stage, scraper (fast), first crawl",
        [(r[0]["stages"], r[0]["tree_cpu"], r[0]["fetched"]) for r in fast],
    )
    crawl_extract = _median(
        [
            sum(r[0]["stages"].get(k, 0.0) for k in ("parse", "links", "extract"))
            * 1000
            / max(r[0]["fetched"], 1)
            for r in fast
        ]
    )
    print(
        f"  (extraction in the crawl's workers, parse + links + extraction: "
        f"{crawl_extract:.1f} ms/page; scraper.extract alone on the sample: {ms:.1f})"
    )
    print_breakdown(
        "CPU by stage, scraper (fast), recrawl with nothing changed",
        [(r[1]["stages"], r[1]["tree_cpu"], r[1]["fetched"]) for r in fast],
    )

    print(
        "\nwhere the unchanged recrawl's wall clock goes (seconds from the command's start, "
        "median of the rounds):"
    )
    parts = {
        key: _median([v for r in fast if (v := r[1]["timeline"].get(key)) is not None])
        for key in ("first_fetch", "helper_first_fetch", "last_page", "exit")
    }
    print(f"  {timeline_line({k: None if v != v else v for k, v in parts.items()})}")

    speedup = _median([r[1]["rate"] for r in fast]) / first
    per_round = ", ".join(f"{r[1]['rate'] / r[0]['rate']:.1f}x" for r in fast)
    everything = [p for rounds in (fast, httpx_rounds) for r in rounds for p in r]
    peak = max(p["peak_tree_rss"] for p in everything) / 2**20
    zero = all(r[1]["added"] == 0 for rounds in (fast, httpx_rounds) for r in rounds)
    equal = all(r[2]["added"] == r[2]["changed"] for r in fast)
    print("\ngoals on this machine:")

    def judge(ok: bool) -> str:
        return "met" if ok else "NOT MET"

    print(
        f"  scraper >= 0.7x the extraction limit: {first / limit:.2f}x, "
        f"{judge(first >= 0.7 * limit)}"
    )
    print(f"  scraper >= 2x Scrapy+trafilatura: {_ratio(first, traf)}, {judge(first >= 2 * traf)}")
    print(
        f"  unchanged recrawl >= {GOALS['recrawl_speedup']:.0f}x faster: {speedup:.1f}x "
        f"(ratio of the medians; round by round: {per_round}), "
        f"{judge(speedup >= GOALS['recrawl_speedup'])}"
    )
    print(
        f"  peak RSS <= {GOALS['peak_rss_mb']:.0f} MB: {peak:.0f} MB (whole tree, every run), "
        f"{judge(peak <= GOALS['peak_rss_mb'])}"
    )
    print(f"  unchanged recrawl adds 0 snapshots: {judge(zero)}")
    print(f"  5% changed adds one snapshot per changed page: {judge(equal)}")
    keep = (
        "label",
        "fetched",
        "rate",
        "wall",
        "cpu",
        "tree_cpu",
        "server_cpu",
        "peak_tree_rss",
        "added",
        "stages",
        "timeline",
    )

    def slim(r: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for k in keep:
            if k in r:
                v = r[k]
                if isinstance(v, dict):
                    v = {a: None if b is None else round(b, 3) for a, b in v.items()}
                out[k] = round(v, 3) if isinstance(v, float) else v
        return out

    print(
        json.dumps(
            {
                name: [[slim(p) for p in r] if isinstance(r, list) else slim(r) for r in rounds]
                for name, rounds in rows.items()
            }
        )
    )


if __name__ == "__main__":
    main()
