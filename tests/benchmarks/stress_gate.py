"""``make stress``, the admission part: pages that turn bogus on a revisit, through the real CLI.

A local site of ``pages`` articles (in a full site template) is crawled once; then some pages
change class and the site is crawled again (``--revisit 0``), fetched one-off with
``scraper fetch`` and re-extracted with ``scraper reextract``:

- **redirected**: to a consent wall on another host, or to the site's home page;
- **blocked**: each block page of tests/gate_pages.py (a 300 KB challenge script, "access
  denied" in the template, a security-check title, a soft 404, maintenance, a paywall);
- **truncated**: the body cut in the middle of the article, the connection closed, no length;
- **glitch**: half the article once, the whole article after;
- **rewrite**: a real new article (the one class that must become a version, once confirmed).

Counted from the archive, never assumed: *bogus snapshots* (a snapshot written for a page of a
bogus class after run 1, or any snapshot whose text is a block page's or another page's),
*good snapshots replaced* (a page of a bogus class whose latest snapshot is no longer its run-1
article) and *rewrites stored* (rewrite pages whose latest snapshot is the new article).
"""

from __future__ import annotations

import dataclasses
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests import gate_pages
from tests.benchmarks.bench_crawl import WORDS
from tests.conftest import FIXTURES
from tests.server import LocalServer, once_then, respond

REPO = Path(__file__).resolve().parents[2]
CLASSES = (
    "redirect-other-host",
    "redirect-home",
    *(f"blocked:{name}" for name in sorted(gate_pages.BLOCK_PAGES)),
    "truncated",
    "glitch",
    "rewrite",
)
#: pages of each class
PER_CLASS = 8


def _paragraphs(seed: int, count: int = 7) -> tuple[str, ...]:
    rng = random.Random(seed)
    return tuple(
        " ".join(rng.choice(WORDS) for _ in range(55)).capitalize() + "." for _ in range(count)
    )


def _article(page: int, *, rewrite: bool = False) -> bytes:
    seed = page + (1_000_000 if rewrite else 0)
    title = f"Harbour notes {page}" + (": a new story" if rewrite else "")
    return gate_pages.article(title, _paragraphs(seed)).encode("utf-8")


@dataclasses.dataclass
class GateReport:
    pages: int
    by_class: dict[str, int] = dataclasses.field(default_factory=dict)
    bogus: int = 0
    replaced: int = 0
    rewrites: int = 0
    rewrites_stored: int = 0
    refused_fetches: dict[str, int] = dataclasses.field(default_factory=dict)
    seconds: list[float] = dataclasses.field(default_factory=list)
    summaries: list[str] = dataclasses.field(default_factory=list)
    integrity: str = ""


def _run(*args: str) -> tuple[float, int, str]:
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "scraper", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if "Traceback" in proc.stderr:
        raise SystemExit(f"scraper {args[0]} crashed: {proc.stderr.strip()}")
    return time.monotonic() - start, proc.returncode, proc.stderr.strip()


def _latest(db: Path) -> dict[str, tuple[int, str]]:
    """url -> (number of snapshots, latest text)."""
    with sqlite3.connect(db) as conn:
        out: dict[str, tuple[int, str]] = {}
        for url, count, text in conn.execute(
            "SELECT p.url, count(*), (SELECT text FROM snapshots WHERE page_id = p.id "
            "ORDER BY id DESC LIMIT 1) FROM pages p JOIN snapshots s ON s.page_id = p.id "
            "GROUP BY p.id"
        ):
            out[url] = (int(count), str(text or ""))
        return out


def stress_gate(pages: int, workdir: Path) -> GateReport:
    """Crawl, turn pages bogus, crawl again, fetch and reextract; count from the archive."""
    pages = max(pages, PER_CLASS * len(CLASSES) * 2)
    site = LocalServer(FIXTURES / "site").start()
    consent = LocalServer(FIXTURES / "site").start()
    report = GateReport(pages)
    try:
        for i in range(pages):
            site.route(f"/p/{i}", _article(i))
        consent.route("/consent", gate_pages.article("Before you go on", gate_pages.FERRY))
        urls = [site.url(f"/p/{i}") for i in range(pages)]
        config, db = workdir / "gate.toml", workdir / "gate.db"
        starts = ",\n  ".join(f'"{u}"' for u in urls)
        config.write_text(
            "[defaults]\ndelay_seconds = 0\nconcurrency_per_host = 8\nconcurrency = 16\n"
            "respect_robots = false\nretries = 0\n\n"
            f'[[site]]\nname = "gate"\nstart_urls = [\n  {starts}\n]\nmax_depth = 0\n'
            "allow_private = true\n",
            encoding="utf-8",
        )
        common = ("--config", str(config), "--db", str(db))
        seconds, code, summary = _run("crawl", *common, "--quiet")
        report.seconds.append(seconds)
        report.summaries.append(summary)
        if code != 0:
            raise SystemExit(f"gate crawl 1 failed ({code}): {summary}")
        before = _latest(db)

        # every class gets PER_CLASS pages, spread over the site
        cls_of: dict[int, str] = {}
        step = pages // (PER_CLASS * len(CLASSES))
        for n, cls in enumerate(c for c in CLASSES for _ in range(PER_CLASS)):
            cls_of[n * step + 1] = cls
        for i, cls in cls_of.items():
            path = f"/p/{i}"
            report.by_class[cls] = report.by_class.get(cls, 0) + 1
            if cls == "redirect-other-host":
                target = consent.url(f"/consent?continue={path}")
                site.route(path, b"", status=302, headers={"Location": target})
            elif cls == "redirect-home":
                site.route(path, b"", status=301, headers={"Location": site.url("/")})
            elif cls.startswith("blocked:"):
                page = gate_pages.BLOCK_PAGES[cls.split(":", 1)[1]]()
                site.route(path, page.encode("utf-8"))
            elif cls == "truncated":
                whole = _article(i)
                cut = whole[: whole.index(b"<p>", whole.index(b"<article>")) + 900]
                site.route(path, handler=respond(cut, length=False))
            elif cls == "glitch":
                whole = _article(i)
                half = gate_pages.article(f"Harbour notes {i}", _paragraphs(i)[:2])
                site.route(path, handler=once_then(half.encode("utf-8"), whole))
            else:  # rewrite
                site.route(path, _article(i, rewrite=True))
        seconds, code, summary = _run("crawl", *common, "--quiet", "--revisit", "0")
        report.seconds.append(seconds)
        report.summaries.append(summary)
        # the one-off path over a few of each class, and re-extraction over everything
        sample = [urls[i] for n, i in enumerate(sorted(cls_of)) if n % 2 == 0]
        fetch_args = ("--db", str(db), "--allow-private", "--config", str(config))
        seconds, _, _ = _run("fetch", *fetch_args, "--format", "json", *sample)
        report.seconds.append(seconds)
        seconds, code, summary = _run("reextract", *common)
        report.seconds.append(seconds)
        report.summaries.append(summary.splitlines()[-1] if summary else "")

        after = _latest(db)
        markers = [
            gate_pages.FERRY[0][:40],  # the consent host's page
            "Checking your browser",
            "You don't have permission",
            "Please complete the security check",
            "The page you are looking for",
            "down for maintenance",
            "Subscribe to continue",
        ]
        home = next((t for u, (_, t) in after.items() if u == site.url("/")), None)
        for i, cls in cls_of.items():
            url = urls[i]
            count0, text0 = before[url]
            count1, text1 = after.get(url, (0, ""))
            if cls == "rewrite":
                report.rewrites += 1
                new_text = _paragraphs(i + 1_000_000)[0][:60]
                report.rewrites_stored += int(new_text in text1 and count1 == count0 + 1)
                continue
            report.bogus += max(0, count1 - count0)
            report.replaced += int(text1 != text0)
        for url, (_, text) in after.items():
            if url != site.url("/") and (any(m in text for m in markers) or text == home):
                report.bogus += 1
        with sqlite3.connect(db) as conn:
            for kind, n in conn.execute(
                "SELECT substr(error, 1, instr(error, ':') - 1), count(*) FROM fetches "
                "WHERE error LIKE 'alias:%' OR error LIKE 'block_page:%' OR error LIKE "
                "'suspect:%' GROUP BY 1 ORDER BY 1"
            ):
                report.refused_fetches[str(kind)] = int(n)
            report.integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        site.stop()
        consent.stop()
    return report


#: pages that make a backtracking regex quadratic (256 KB each: the fetch-level check's cap)
HOSTILE = {
    "many unclosed <title>": "<title>" * (256 * 1024 // 7),
    "many unclosed <script>": "<script>" * (256 * 1024 // 8),
    "many '<a ' without '>'": "<a " * (256 * 1024 // 3),
    "a title of 256 KB": "<title>" + "x " * (128 * 1024) + "</title>",
    "100,000 nested <div>": "<html><body>" + "<div>" * 100_000 + "x",
}


def hostile_seconds() -> dict[str, float]:
    """Seconds the fetch-level block check and the gate spend on each hostile page."""
    from scraper.admission import decide
    from scraper.extract import extract
    from scraper.fetch.blockpage import block_page_reason
    from scraper.models import FetchResult

    out = {}
    for name, text in HOSTILE.items():
        start = time.monotonic()
        block_page_reason(text)
        url = "http://hostile.test/"
        result = FetchResult(url, url, 200, "", 0, body=text.encode(), text=text)
        decide(url, result, extract(text, url))
        out[name] = time.monotonic() - start
    return out


def print_gate(report: GateReport) -> None:
    classes = ", ".join(f"{c} {n}" for c, n in report.by_class.items())
    print(f"\nadmission gate: {report.pages} pages, bogus on revisit: {classes}")
    refused = ", ".join(f"{k} {n}" for k, n in report.refused_fetches.items())
    print(f"refused fetches recorded: {refused}")
    print(f"rewrites stored after confirmation: {report.rewrites_stored} of {report.rewrites}")
    print(f"bogus snapshots: {report.bogus}")
    print(f"good snapshots replaced: {report.replaced}")
    print(f"integrity_check: {report.integrity}")
    print(
        "seconds (crawl, recrawl, fetch, reextract): "
        + " + ".join(f"{s:.1f}" for s in report.seconds)
    )
    for summary in report.summaries:
        print(f"  {' '.join(summary.split())}")
    timings = ", ".join(f"{name} {sec:.2f} s" for name, sec in hostile_seconds().items())
    print(f"hostile pages (block check + extract + gate): {timings}")


def gate_ok(report: GateReport) -> bool:
    return (
        report.bogus == 0
        and report.replaced == 0
        and report.rewrites_stored == report.rewrites
        and report.integrity == "ok"
    )


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(prefix="scraper-stress-gate-") as tmp:
        result = stress_gate(int(sys.argv[1]) if len(sys.argv) > 1 else 400, Path(tmp))
    print_gate(result)
    raise SystemExit(0 if gate_ok(result) else 1)
