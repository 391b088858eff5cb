"""Benchmark: scraper's extractor against plain ``trafilatura.extract(html)``, quality and speed.

Run with ``make bench-extract`` (``python -m tests.benchmarks.bench_extract``). It scores every
benchmark folder found in ``../shared/bench`` beside the repository (``SCRAPER_BENCH_DIR``
overrides it): ``scrapinghub`` (91 news and blog pages) and ``wcxb-dev`` (1,497 pages of 7 page
types, the development split of WCXB). Each folder holds ``ground-truth.json``
(``{id: {"articleBody", "page_type"?}}``) and ``html/<id>.html.gz``.

Two metrics, both over ``\\w+`` tokens, per page and then over pages:

- the ScrapingHub metric: each text becomes a multiset of 4-token shingles (a text of 1 to 3
  tokens is one shingle); per page tp, fp and fn over the multisets; precision is the mean of
  tp/(tp+fp) over pages with a non-empty prediction, recall the mean of tp/(tp+fn) over pages
  with a non-empty truth, F1 = 2PR/(P+R) of the two means;
- the word-bag F1: per page, the F1 of the lower-cased token multisets (both empty: 1, one
  empty: 0), averaged over pages.

A page is **lost** when scraper's word-bag F1 on it is more than 0.3 below trafilatura's.
Speed is pages per CPU second of the process doing the extraction (``time.process_time``
around the call only: reading and gunzip are not counted). Each extractor runs once per page;
``--jobs`` spreads pages over processes (each measures its own CPU time).

Subsets for quick iterations and held-out checks: ``--set NAME`` (repeatable), ``--ids FILE``
(ids to keep, whitespace separated), ``--half tune|check`` (a stable hash of set and id splits
every set in two; ``--dump`` writes each page's half), ``--quick`` (a stable quarter of the
pages). ``--reuse DUMP`` takes trafilatura's text and CPU time from an earlier ``--dump`` (the
same trafilatura, the same pages) and runs only scraper's extractor: half the time of a run.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import multiprocessing
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from scraper.extract import extract, extract_traced

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BENCH_DIR = REPO.parent / "shared" / "bench"
SETS = ("scrapinghub", "wcxb-dev")
#: A page is lost when scraper's page F1 is more than this below trafilatura's.
LOST_MARGIN = 0.3
#: Pages with a confidence below this are "low confidence" in the report.
LOW_CONFIDENCE = 0.5
_TOKEN_RE = re.compile(r"\w+")
Shingles = Counter[tuple[str, ...]]


def shingles(text: str) -> Shingles:
    """The multiset of 4-token shingles of ``text``; a 1-3 token text is one shingle."""
    tokens = _TOKEN_RE.findall(text)
    if not tokens:
        return Counter()
    if len(tokens) < 4:
        return Counter([tuple(tokens)])
    return Counter(tuple(tokens[i : i + 4]) for i in range(len(tokens) - 3))


@dataclass(frozen=True, slots=True)
class Score:
    precision: float
    recall: float

    @property
    def f1(self) -> float:
        total = self.precision + self.recall
        return 2 * self.precision * self.recall / total if total else 0.0


def score(predictions: dict[str, str], truths: dict[str, str]) -> Score:
    """The ScrapingHub metric: precision and recall over pages (see the module docstring)."""
    precisions: list[float] = []
    recalls: list[float] = []
    for page_id, truth_text in truths.items():
        predicted = shingles(predictions.get(page_id) or "")
        truth = shingles(truth_text)
        tp = sum((predicted & truth).values())
        fp = sum((predicted - truth).values())
        fn = sum((truth - predicted).values())
        if predicted:
            precisions.append(tp / (tp + fp))
        if truth:
            recalls.append(tp / (tp + fn))
    precision = sum(precisions) / len(precisions) if precisions else 0.0
    recall = sum(recalls) / len(recalls) if recalls else 0.0
    return Score(precision, recall)


def word_f1(predicted: str, truth: str) -> float:
    """The word-bag F1 of one page (lower-cased ``\\w+`` multisets; both empty: 1)."""
    got = Counter(_TOKEN_RE.findall(predicted.lower()))
    want = Counter(_TOKEN_RE.findall(truth.lower()))
    if not got and not want:
        return 1.0
    if not got or not want:
        return 0.0
    tp = sum((got & want).values())
    if not tp:
        return 0.0
    precision = tp / sum(got.values())
    recall = tp / sum(want.values())
    return 2 * precision * recall / (precision + recall)


@dataclass(frozen=True, slots=True)
class Page:
    set_name: str
    page_id: str
    page_type: str
    path: Path
    truth: str


@dataclass(frozen=True, slots=True)
class Result:
    page: Page
    ours: str
    confidence: float
    ours_seconds: float
    theirs: str
    theirs_seconds: float
    #: the word-bag F1 of each extractor on this page
    ours_f1: float
    theirs_f1: float
    #: the path of scraper's extractor that gave the text ("direct", "fallback", "cheap")
    path: str = ""


def _in_half(page: Page, half: str) -> bool:
    digest = hashlib.sha256(f"{page.set_name}/{page.page_id}".encode()).digest()
    return (digest[0] % 2 == 0) == (half == "tune")


def _in_quarter(page: Page) -> bool:
    return hashlib.sha256(f"q/{page.set_name}/{page.page_id}".encode()).digest()[0] % 4 == 0


def load(
    bench_dir: Path,
    sets: Sequence[str],
    *,
    ids: frozenset[str] | None = None,
    half: str | None = None,
    quick: bool = False,
) -> list[Page]:
    """The pages of ``sets`` found under ``bench_dir``, narrowed by the subset options."""
    pages: list[Page] = []
    for set_name in sets:
        folder = bench_dir / set_name
        truth_path = folder / "ground-truth.json"
        if not truth_path.is_file():
            continue
        ground_truth = json.loads(truth_path.read_text(encoding="utf-8"))
        for page_id in sorted(ground_truth):
            entry = ground_truth[page_id]
            page = Page(
                set_name,
                page_id,
                entry.get("page_type") or "article",
                folder / "html" / f"{page_id}.html.gz",
                entry.get("articleBody") or "",
            )
            if ids is not None and page_id not in ids:
                continue
            if half is not None and not _in_half(page, half):
                continue
            if quick and not _in_quarter(page):
                continue
            if page.path.is_file():
                pages.append(page)
    return pages


#: trafilatura's text and CPU seconds on a page, read back from an earlier ``--dump``
Reused = tuple[str, float]


def read_reused(path: Path) -> dict[tuple[str, str], Reused]:
    """trafilatura's text and CPU seconds per (set, id) in a file written by ``--dump``."""
    reused: dict[tuple[str, str], Reused] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            row = json.loads(line)
            reused[(row["set"], row["id"])] = (row["trafilatura"], row["trafilatura_ms"] / 1000)
    return reused


def _run_one(job: tuple[Page, Reused | None]) -> Result:
    page, reused = job
    html = gzip.decompress(page.path.read_bytes()).decode("utf-8", "replace")
    started = time.process_time()
    article, path = extract_traced(html)
    ours_seconds = time.process_time() - started
    if reused is not None:
        theirs, theirs_seconds = reused
    else:
        started = time.process_time()
        theirs = trafilatura.extract(html) or ""
        theirs_seconds = time.process_time() - started
    return Result(
        page,
        article.text,
        article.confidence,
        ours_seconds,
        theirs,
        theirs_seconds,
        word_f1(article.text, page.truth),
        word_f1(theirs, page.truth),
        path,
    )


def _init_worker() -> None:
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    for path in sorted(DEFAULT_BENCH_DIR.glob("scrapinghub/html/*.html.gz"))[:2]:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        extract(html)  # warm up: imports, caches, compiled patterns
        trafilatura.extract(html)


def run(
    pages: Sequence[Page], jobs: int, reused: dict[tuple[str, str], Reused] | None = None
) -> list[Result]:
    """Both extractors on every page, ``jobs`` processes; trafilatura's result is taken
    from ``reused`` (an earlier ``--dump``) for the pages found there."""
    work = [(page, (reused or {}).get((page.set_name, page.page_id))) for page in pages]
    if jobs <= 1:
        _init_worker()
        return [_run_one(job) for job in work]
    context = multiprocessing.get_context("spawn")
    with context.Pool(jobs, initializer=_init_worker) as pool:
        return pool.map(_run_one, work, chunksize=8)


def _mean(values: Iterable[float]) -> float:
    listed = list(values)
    return sum(listed) / len(listed) if listed else 0.0


def _row(label: str, results: Sequence[Result]) -> str:
    truths = {r.page.page_id: r.page.truth for r in results}
    ours = score({r.page.page_id: r.ours for r in results}, truths)
    theirs = score({r.page.page_id: r.theirs for r in results}, truths)
    ours_bag = _mean(r.ours_f1 for r in results)
    theirs_bag = _mean(r.theirs_f1 for r in results)
    lost = sum(1 for r in results if r.ours_f1 < r.theirs_f1 - LOST_MARGIN)
    return (
        f"| {label:<26} | {len(results):5} | {ours.f1:.4f} | {theirs.f1:.4f} "
        f"| {ours.f1 - theirs.f1:+.4f} | {ours_bag:.4f} | {theirs_bag:.4f} "
        f"| {ours_bag - theirs_bag:+.4f} | {lost:4} |"
    )


def report(results: Sequence[Result]) -> list[str]:
    """The printed report: quality per set and page type, lost pages, confidence, speed."""
    lines = [
        f"| {'set / page type':<26} | pages | sh. F1 | traf.  |  diff   "
        "| wordF1 | traf.  |  diff   | lost |"
    ]
    lines.append(
        f"| {'-' * 26} | ----: | -----: | -----: | ------: | -----: | -----: | ------: | ---: |"
    )
    lines.append(_row("all", results))
    for set_name in dict.fromkeys(r.page.set_name for r in results):
        in_set = [r for r in results if r.page.set_name == set_name]
        lines.append(_row(set_name, in_set))
        types = sorted({r.page.page_type for r in in_set})
        if len(types) > 1:
            for page_type in types:
                lines.append(
                    _row(f"  {page_type}", [r for r in in_set if r.page.page_type == page_type])
                )
    lost = [r for r in results if r.ours_f1 < r.theirs_f1 - LOST_MARGIN]
    lines.append("")
    lines.append(
        f"lost pages (scraper's word F1 more than {LOST_MARGIN} below trafilatura's): "
        f"{len(lost)} of {len(results)}"
    )
    for r in lost:
        lines.append(
            f"  {r.page.set_name}/{r.page.page_id} ({r.page.page_type}): "
            f"{r.ours_f1:.2f} vs {r.theirs_f1:.2f}, confidence {r.confidence:.2f}"
        )
    low = [r for r in results if r.confidence < LOW_CONFIDENCE]
    high = [r for r in results if r.confidence >= LOW_CONFIDENCE]
    lines.append("")
    lines.append(
        f"confidence < {LOW_CONFIDENCE}: {len(low)} pages, mean word F1 "
        f"{_mean(r.ours_f1 for r in low):.4f}; >= {LOW_CONFIDENCE}: {len(high)} pages, "
        f"mean word F1 {_mean(r.ours_f1 for r in high):.4f}"
    )
    lines.append("")
    lines.append(
        "paths of scraper's extractor (CPU ms per page of the path, word F1 on its pages):"
    )
    for path in sorted({r.path for r in results}):
        on_path = [r for r in results if r.path == path]
        lines.append(
            f"  {path:<9} {len(on_path):5} pages ({len(on_path) / len(results):4.0%}), "
            f"{_mean(r.ours_seconds for r in on_path) * 1000:6.1f} ms/page, "
            f"word F1 {_mean(r.ours_f1 for r in on_path):.4f} "
            f"(trafilatura {_mean(r.theirs_f1 for r in on_path):.4f}, "
            f"{_mean(r.theirs_seconds for r in on_path) * 1000:.1f} ms/page)"
        )
    ours_cpu = sum(r.ours_seconds for r in results)
    theirs_cpu = sum(r.theirs_seconds for r in results)
    ours_speed = len(results) / ours_cpu if ours_cpu else float("inf")
    theirs_speed = len(results) / theirs_cpu if theirs_cpu else float("inf")
    lines.append("")
    lines.append(
        f"pages per CPU second: scraper {ours_speed:.1f}, trafilatura {theirs_speed:.1f}, "
        f"ratio {ours_speed / theirs_speed:.2f}x"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bench-dir", type=Path, default=None, help="the bench folder")
    parser.add_argument(
        "--set", action="append", choices=SETS, dest="sets", help="score only this set"
    )
    parser.add_argument("--ids", type=Path, default=None, help="a file of page ids to score")
    parser.add_argument("--half", choices=("tune", "check"), help="one half of every set")
    parser.add_argument("--quick", action="store_true", help="a stable quarter of the pages")
    parser.add_argument("--jobs", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--dump", type=Path, default=None, help="write per-page JSON lines here")
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="take trafilatura's text and CPU time from this earlier --dump (quick iterations)",
    )
    args = parser.parse_args(argv)
    bench_dir = args.bench_dir or Path(os.environ.get("SCRAPER_BENCH_DIR", DEFAULT_BENCH_DIR))
    ids = None
    if args.ids is not None:
        try:
            ids = frozenset(args.ids.read_text(encoding="utf-8").split())
        except OSError as exc:
            print(f"{args.ids}: cannot read ids ({exc.strerror})", file=sys.stderr)
            return 2
    reused = None
    if args.reuse is not None:
        try:
            reused = read_reused(args.reuse)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"{args.reuse}: cannot read an earlier --dump ({exc})", file=sys.stderr)
            return 2
    pages = load(bench_dir, args.sets or SETS, ids=ids, half=args.half, quick=args.quick)
    if not pages:
        print(f"{bench_dir}: no benchmark pages here (set SCRAPER_BENCH_DIR)", file=sys.stderr)
        return 2
    logging.disable(logging.WARNING)
    started = time.perf_counter()
    results = run(pages, max(1, args.jobs), reused)
    subset = ", ".join(
        f"{k}={v}" for k, v in (("half", args.half), ("quick", args.quick or None)) if v
    )
    print(
        f"{len(pages)} pages from {bench_dir}{f' ({subset})' if subset else ''}, "
        f"{time.perf_counter() - started:.0f} s wall"
    )
    print()
    for line in report(results):
        print(line)
    if args.dump is not None:
        with args.dump.open("w", encoding="utf-8") as out:
            for r in results:
                row = {
                    "set": r.page.set_name,
                    "id": r.page.page_id,
                    "type": r.page.page_type,
                    "half": "tune" if _in_half(r.page, "tune") else "check",
                    "confidence": r.confidence,
                    "path": r.path,
                    "scraper_ms": round(r.ours_seconds * 1000, 3),
                    "trafilatura_ms": round(r.theirs_seconds * 1000, 3),
                    "scraper_f1": r.ours_f1,
                    "trafilatura_f1": r.theirs_f1,
                    "scraper": r.ours,
                    "trafilatura": r.theirs,
                }
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
