"""Check: this checkout's extraction gives exactly what another checkout's (main's) gives.

Run with ``python -m tests.benchmarks.extract_same --base /tmp/base-xspeed``, where the base is
a tree of main's files (``git archive main | tar -x -C /tmp/base-xspeed``). It extracts every
page of ``../shared/bench/scrapinghub``, ``../shared/bench/wcxb-dev`` and the bench-crawl site
(``tests.benchmarks.bench_crawl.build_site``, 2,000 pages) three ways:

- ``plain``: ``extract(html)`` (no URL), as ``make bench-extract`` calls it;
- ``links``: ``extract_with_links(html, url)``, as a crawl calls it, the site's learned
  boilerplate passed in (learned from the set's own ``plain`` texts) and the page's links kept;
- ``linked``: ``extract_with_links(html, url, links=True)`` (Markdown with hyperlinks);

with no time budget (nothing is cut), and compares the whole Article (every field, and the
confidence before rounding), the path that gave its text and the page's links, page by page,
printing the first differences. The base's outputs are written once to a dump (in a process
whose ``scraper`` is the base's: checked) and reused; ``--rebuild`` writes it again.

Pure of this checkout's code on the base side: the child process imports only ``scraper``
and this file, run as a script with the base first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
BENCH_DIR = REPO.parent / "shared" / "bench"
SETS = ("scrapinghub", "wcxb-dev")
SITE_PAGES = 2000
VARIANTS = ("plain", "links", "linked")
#: Pages whose ``plain`` texts the boilerplate of a set is learned from.
LEARN_PAGES = 60

Page = tuple[str, str, str]  # set, id, path


def pages(work: Path) -> list[Page]:
    """Every page checked: the bench sets' pages and the bench-crawl site's (built once under
    ``work``)."""
    found: list[Page] = []
    for set_name in SETS:
        for path in sorted((BENCH_DIR / set_name / "html").glob("*.html.gz")):
            found.append((set_name, path.name.removesuffix(".html.gz"), str(path)))
    site = work / "site"
    if not (site / "sitemap.xml").is_file():
        from tests.benchmarks.bench_crawl import build_site

        tmp = work / "site.tmp"
        if tmp.exists():
            subprocess.run(["rm", "-rf", str(tmp)], check=True)
        build_site(tmp, SITE_PAGES)
        tmp.rename(site)
    for path in sorted(site.rglob("*.html")):
        found.append(("site", str(path.relative_to(site)), str(path)))
    return found


def _read(path: str) -> str:
    raw = Path(path).read_bytes()
    if path.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8", "replace")


def _url(page: Page) -> str:
    set_name, page_id, _path = page
    if set_name == "site":
        return f"http://127.0.0.1/{page_id}"
    return f"http://127.0.0.1/{set_name}/{page_id}.html"


_LEARNED: dict[str, frozenset[str]] = {}


def _one(job: tuple[Page, str, frozenset[str]]) -> dict[str, Any]:
    """The outputs of one page in one variant, as JSON-ready data."""
    import importlib

    ex = importlib.import_module("scraper.extract")  # the package's ``extract`` is the function
    page, variant, boilerplate = job
    html = _read(page[2])
    raw: list[float] = []
    original = ex._article

    def recording(*args: Any) -> Any:
        raw.append(args[4])  # the confidence, before rounding
        return original(*args)

    ex._article = recording  # type: ignore[assignment]
    try:
        if variant == "plain":
            article, links, path = ex._extract(html, None, (), (), None, False, want_links=False)
        else:
            article, links, path = ex._extract(
                html, _url(page), (), boilerplate, None, variant == "linked", want_links=True
            )
    finally:
        ex._article = original
    data = article.to_dict()
    data.pop("extractor")
    return {
        "key": f"{page[0]}/{page[1]}/{variant}",
        "article": data,
        "raw_confidence": raw[0] if raw else None,
        "path": path,
        "links": [
            list(links.links),
            links.canonical,
            list(links.feeds),
            links.nofollow,
            links.noindex,
        ],
    }


def _init() -> None:
    import logging

    logging.disable(logging.WARNING)


def outputs(
    page_list: list[Page], jobs: int, learned: dict[str, frozenset[str]] | None = None
) -> Iterator[dict[str, Any]]:
    """Every page's outputs in every variant, in order: ``plain`` first for all, then the
    boilerplate learned from each set's plain texts (or ``learned``), then the other two."""
    from scraper.extract import learn_boilerplate

    plain_jobs = [(p, "plain", frozenset[str]()) for p in page_list]
    texts: dict[str, list[str]] = {}
    with multiprocessing.get_context("fork").Pool(jobs, initializer=_init) as pool:
        for (page, _v, _b), row in zip(
            plain_jobs, pool.imap(_one, plain_jobs, chunksize=8), strict=True
        ):
            texts.setdefault(page[0], [])
            if len(texts[page[0]]) < LEARN_PAGES:
                texts[page[0]].append(row["article"]["text"])
            yield row
        if learned is None:
            learned = {
                name: frozenset(learn_boilerplate(found, min_pages=3, min_share=0.3))
                for name, found in texts.items()
            }
        yield {"key": "learned", "learned": {k: sorted(v) for k, v in sorted(learned.items())}}
        other = [(p, v, learned.get(p[0], frozenset())) for v in VARIANTS[1:] for p in page_list]
        yield from pool.imap(_one, other, chunksize=8)


def write(page_file: Path, dump: Path, jobs: int) -> None:
    """Extract every page of ``page_file`` and write the outputs to ``dump`` (gzip JSONL)."""
    import scraper

    page_list = [tuple(p) for p in json.loads(page_file.read_text())]
    print(f"writing {dump} with scraper from {scraper.__file__}", file=sys.stderr)
    tmp = dump.with_suffix(".tmp")
    with gzip.open(tmp, "wt", encoding="utf-8") as out:
        for row in outputs(page_list, jobs):  # type: ignore[arg-type]
            out.write(json.dumps(row, sort_keys=True) + "\n")
    tmp.rename(dump)


def _read_dump(dump: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(dump, "rt", encoding="utf-8") as lines:
        for line in lines:
            yield json.loads(line)


def _diff(key: str, base: Any, mine: Any, path: str = "") -> list[str]:
    if type(base) is not type(mine):
        return [f"{key}{path}: {base!r:.300} != {mine!r:.300}"]
    if isinstance(base, dict):
        out: list[str] = []
        for name in sorted(set(base) | set(mine)):
            out += _diff(key, base.get(name), mine.get(name), f"{path}.{name}")
        return out
    if isinstance(base, str) and base != mine:
        at = next((i for i, (a, b) in enumerate(zip(base, mine, strict=False)) if a != b), None)
        at = min(len(base), len(mine)) if at is None else at
        start = max(0, at - 60)
        return [
            f"{key}{path}: first difference at char {at} (lengths {len(base)}, {len(mine)})\n"
            f"    base: {base[start : at + 80]!r}\n    mine: {mine[start : at + 80]!r}"
        ]
    if base != mine:
        return [f"{key}{path}: {base!r:.300} != {mine!r:.300}"]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", type=Path, help="a tree of the base's files (main's)")
    parser.add_argument("--work", type=Path, help="where the site and the dumps are kept")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--rebuild", action="store_true", help="write the base's dump again")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a stable quarter of the pages (the base's boilerplate)",
    )
    parser.add_argument("--show", type=int, default=10, help="differences printed at most")
    parser.add_argument(
        "--write", nargs=2, type=Path, metavar=("PAGES", "DUMP"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.write:
        write(args.write[0], args.write[1], args.jobs)
        return 0
    if args.base is None:
        parser.error("--base is required")
    base = args.base.resolve()
    work = args.work or Path(f"/tmp/extract-same-{base.name}")
    work.mkdir(parents=True, exist_ok=True)
    page_list = pages(work)
    page_file = work / "pages.json"
    page_file.write_text(json.dumps(page_list))
    listing = hashlib.sha256(page_file.read_bytes()).hexdigest()[:12]
    dump = work / f"base-{listing}.jsonl.gz"
    started = time.monotonic()
    if args.rebuild or not dump.is_file():
        env = dict(os.environ, PYTHONPATH=str(base))
        check = subprocess.run(
            [sys.executable, "-c", "import scraper; print(scraper.__file__)"],
            env=env,
            cwd="/",
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        if not check.startswith(str(base)):
            print(f"the base's scraper is not imported from {base}: {check}", file=sys.stderr)
            return 2
        subprocess.run(
            [
                sys.executable,
                str(HERE),
                "--jobs",
                str(args.jobs),
                "--write",
                str(page_file),
                str(dump),
            ],
            env=env,
            cwd="/",
            check=True,
        )
    import scraper

    print(f"comparing scraper from {scraper.__file__} with {dump}", file=sys.stderr)
    compared = differing = 0
    shown: list[str] = []
    learned = None
    if args.quick:
        page_list = [
            p for p in page_list if hashlib.sha256("/".join(p[:2]).encode()).digest()[0] % 4 == 0
        ]
        learned = next(
            {k: frozenset(v) for k, v in row["learned"].items()}
            for row in _read_dump(dump)
            if row["key"] == "learned"
        )
    keys = {f"{p[0]}/{p[1]}/{v}" for p in page_list for v in VARIANTS} | {"learned"}
    base_rows = (row for row in _read_dump(dump) if row["key"] in keys)
    for base_row, mine_row in zip(base_rows, outputs(page_list, args.jobs, learned), strict=True):
        if base_row["key"] != mine_row["key"]:
            print(f"page lists differ: {base_row['key']} / {mine_row['key']}", file=sys.stderr)
            return 2
        compared += 1
        found = _diff(base_row["key"], base_row, mine_row)
        if found:
            differing += 1
            shown += found[: max(0, args.show - len(shown))]
    for line in shown:
        print(line)
    pages_by_set: dict[str, int] = {}
    for set_name, _id, _path in page_list:
        pages_by_set[set_name] = pages_by_set.get(set_name, 0) + 1
    sets = ", ".join(f"{name} {n}" for name, n in pages_by_set.items())
    print(
        f"{compared - 1} outputs compared ({sets} pages x {len(VARIANTS)} variants, and the "
        f"learned boilerplate): {differing} differ ({time.monotonic() - started:.0f} s)"
    )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
