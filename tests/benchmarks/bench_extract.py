"""Benchmark: scraper's extractor against plain ``trafilatura.extract(html)``, quality and speed.

Run with ``make bench-extract`` (``python -m tests.benchmarks.bench_extract``). The pages and
the hand-written ground truth are the scrapinghub article-extraction benchmark, looked for in
``../shared/bench/scrapinghub`` beside the repository (``SCRAPER_BENCH_DIR`` overrides the
``bench`` folder; ``--ids FILE`` scores another id list, such as a held-back split).

The metric is the benchmark's own: tokens are ``\\w+`` matches; each text becomes a multiset
of 4-token shingles (a text of 1 to 3 tokens is one shingle); per page tp, fp and fn are
counted over the multisets; precision is the mean of tp/(tp+fp) over pages with a non-empty
prediction, recall the mean of tp/(tp+fn) over pages with a non-empty truth, and
F1 = 2PR/(P+R) of those two means.

Only the extraction call is timed (reading and gunzip are not). Both extractors run in this
one process, page by page in alternating order, so that noise from a shared machine falls on
both alike.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trafilatura

from scraper.extract import extract

REPO = Path(__file__).resolve().parents[2]
DEFAULT_BENCH_DIR = REPO.parent / "shared" / "bench"
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
    """Precision and recall over pages, as the module docstring defines them."""
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


def _ours(html: str) -> str:
    return extract(html).text


def _plain_trafilatura(html: str) -> str:
    return trafilatura.extract(html) or ""


def _load(bench_dir: Path, ids_file: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    folder = bench_dir / "scrapinghub"
    ids_path = ids_file or folder / "dev_ids.txt"
    truth_path = ids_path.parent / "ground-truth.json"
    if not truth_path.is_file():
        truth_path = folder / "ground-truth.json"
    ids = ids_path.read_text(encoding="utf-8").split()
    ground_truth = json.loads(truth_path.read_text(encoding="utf-8"))
    html_dir = ids_path.parent / "html"
    if not html_dir.is_dir():
        html_dir = folder / "html"
    pages: dict[str, str] = {}
    truths: dict[str, str] = {}
    for page_id in ids:
        if page_id not in ground_truth:
            continue
        raw = gzip.decompress((html_dir / f"{page_id}.html.gz").read_bytes())
        pages[page_id] = raw.decode("utf-8", "replace")
        truths[page_id] = ground_truth[page_id]["articleBody"]
    return pages, truths


def run(pages: dict[str, str], rounds: int) -> dict[str, tuple[dict[str, str], float]]:
    """Predictions (first round) and total extraction seconds of each extractor."""
    extractors: dict[str, Callable[[str], str]] = {
        "scraper": _ours,
        "trafilatura": _plain_trafilatura,
    }
    for html in list(pages.values())[:3]:  # warm up: imports, caches, compiled patterns
        for fn in extractors.values():
            fn(html)
    predictions: dict[str, dict[str, str]] = {name: {} for name in extractors}
    seconds = dict.fromkeys(extractors, 0.0)
    order = list(extractors.items())
    for round_no in range(rounds):
        for n, (page_id, html) in enumerate(pages.items()):
            sequence = order if (n + round_no) % 2 == 0 else order[::-1]
            for name, fn in sequence:
                started = time.perf_counter()
                text = fn(html)
                seconds[name] += time.perf_counter() - started
                if round_no == 0:
                    predictions[name][page_id] = text
    return {name: (predictions[name], seconds[name]) for name in extractors}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench-dir", type=Path, default=None, help="the bench folder")
    parser.add_argument("--ids", type=Path, default=None, help="a file of page ids to score")
    parser.add_argument("--rounds", type=int, default=2, help="timed passes over the pages")
    args = parser.parse_args(argv)
    bench_dir = args.bench_dir or Path(os.environ.get("SCRAPER_BENCH_DIR", DEFAULT_BENCH_DIR))
    if not (bench_dir / "scrapinghub").is_dir():
        print(
            f"{bench_dir}: no scrapinghub benchmark here (set SCRAPER_BENCH_DIR)", file=sys.stderr
        )
        return 2
    logging.disable(logging.WARNING)  # trafilatura logs every page it discards
    pages, truths = _load(bench_dir, args.ids)
    results = run(pages, max(1, args.rounds))
    runs = len(pages) * max(1, args.rounds)
    print(f"{len(pages)} pages from {bench_dir / 'scrapinghub'}, {args.rounds} timed rounds")
    print()
    print(f"| {'extractor':<22} | precision | recall |     F1 | pages/s |")
    print(f"| {'-' * 22} | --------: | -----: | -----: | ------: |")
    speeds: dict[str, float] = {}
    f1s: dict[str, float] = {}
    labels = {"scraper": "scraper", "trafilatura": "trafilatura (default)"}
    for name, (predictions, seconds) in results.items():
        result = score(predictions, truths)
        speeds[name] = runs / seconds if seconds else float("inf")
        f1s[name] = result.f1
        print(
            f"| {labels[name]:<22} | {result.precision:9.4f} | {result.recall:6.4f} "
            f"| {result.f1:6.4f} | {speeds[name]:7.1f} |"
        )
    print()
    ratio = speeds["scraper"] / speeds["trafilatura"]
    print(f"speed ratio (scraper / trafilatura): {ratio:.2f}x")
    print(f"F1 difference (scraper - trafilatura): {f1s['scraper'] - f1s['trafilatura']:+.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
