"""make bench-crawl: the CPU of a crawl's process tree by stage, from scraper.stagecpu's reports.

``breakdown(folder, measured)`` merges the reports that one ``scraper crawl`` run wrote into
``folder`` (the crawl process's, with its extraction workers' inside, and the fetch helper's)
with the CPU the benchmark measured for each process of the tree from /proc, and returns
seconds by stage, "other" being what is left of the measured total. Where a figure is not a
timer of its own, it is derived, and said so here:

- the crawl process's threads other than the main one are the extraction pool's feeder and
  manager threads (pickling the pages, unpickling the results, the pipes): "transfer";
- the crawl's and the helper's main-thread CPU in no stage, between the first page fetch and
  the last page: "loop" (the event loop, sockets, the scheduling of tasks);
- the forkserver only imports the extraction code and forks: all of it is "start";
- the CPU the tree used beyond the reports (the exit after atexit, a worker's last result
  and exit, processes without a report) is "other".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from scraper.stagecpu import STAGES

ORDER = [*STAGES, "other"]


def _add(into: dict[str, float], name: str, seconds: float | None) -> None:
    if seconds:
        into[name] = into.get(name, 0.0) + seconds


def breakdown(
    folder: Path, measured: dict[int, float], roles: dict[int, str], crawl_pid: int
) -> dict[str, float]:
    """Seconds by stage (and "other") for one run; ``measured``: CPU seconds by pid from /proc,
    ``roles``: pid -> "forkserver" for the processes the benchmark recognised."""
    stages: dict[str, float] = {}
    reports = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    seen: set[int] = set()
    for report in reports:
        pid = int(report["pid"])
        seen.add(pid)
        cpu = float(report["cpu_seconds"])
        own = dict(report["stages"])
        for name, seconds in own.items():
            _add(stages, name, seconds)
        start = report["start_seconds"] or 0.0
        shutdown = report["shutdown_seconds"] or 0.0
        _add(stages, "start", start)
        _add(stages, "shutdown", shutdown)
        threads = 0.0
        if report["main_thread_seconds"] is not None and report["role"] == "crawl":
            threads = max(0.0, cpu - float(report["main_thread_seconds"]))
            _add(stages, "transfer", threads)
        _add(stages, "loop", cpu - sum(own.values()) - start - shutdown - threads)
        _add(stages, "other", max(measured.get(pid, 0.0), cpu) - cpu)
        for worker, figures in report["workers"].items():
            seen.add(int(worker))
            for name, seconds in figures.items():
                _add(stages, name, seconds)
            _add(stages, "other", measured.get(int(worker), 0.0) - sum(figures.values()))
    for pid, cpu in measured.items():
        if pid in seen:
            continue
        _add(stages, "start" if roles.get(pid) == "forkserver" else "other", cpu)
    return stages


def tree_seconds(measured: dict[int, float], folder: Path) -> float:
    """The measured CPU of the tree: /proc's figure of each process, or its own report's
    when that is larger (the last /proc sample is up to 50 ms before the process's end)."""
    reported = {}
    for path in folder.glob("*.json"):
        report: dict[str, Any] = json.loads(path.read_text())
        reported[int(report["pid"])] = float(report["cpu_seconds"])
    pids = set(measured) | set(reported)
    return sum(max(measured.get(p, 0.0), reported.get(p, 0.0)) for p in pids)


def print_breakdown(title: str, runs: list[tuple[dict[str, float], float, int]]) -> None:
    """Print ms per page by stage, the median over ``runs`` of (stages, tree seconds, pages)."""
    import statistics

    if not runs:
        return
    print(f"\n{title} (ms of CPU per page, whole process tree, median of {len(runs)} runs):")

    def per_page(seconds: float, pages: int) -> float:
        return seconds * 1000 / max(pages, 1)

    total_staged = []
    for name in ORDER:
        values = [per_page(s.get(name, 0.0), pages) for s, _, pages in runs]
        label = STAGES.get(name, "other (measured total less the stages)")
        print(f"  {statistics.median(values):7.2f}  {label}")
    for stages, tree, pages in runs:
        staged = sum(v for k, v in stages.items() if k != "other")
        total_staged.append((per_page(staged, pages), per_page(tree, pages)))
    staged_ms = statistics.median(s for s, _ in total_staged)
    tree_ms = statistics.median(t for _, t in total_staged)
    print(f"  {'-' * 7}")
    print(f"  {staged_ms:7.2f}  sum of the stages above (without other)")
    print(f"  {tree_ms:7.2f}  measured CPU of the process tree (/proc, and the reports)")


def timeline(folder: Path, started_wall: float, ended_wall: float) -> dict[str, float | None]:
    """Where a run's wall clock went, in seconds from the command's start: the crawl's first
    page fetch, the fetch helper's first (None without a helper), the end of the last page,
    and the command's exit; from the reports' wall clocks and the benchmark's own."""
    crawl: dict[str, Any] = {}
    helper: dict[str, Any] = {}
    for path in folder.glob("*.json"):
        report: dict[str, Any] = json.loads(path.read_text())
        if report["role"] == "crawl":
            crawl = report
        elif report["role"] == "fetch-helper":
            helper = report

    def since(report: dict[str, Any], key: str) -> float | None:
        value = report.get(key)
        return None if value is None else float(value) - started_wall

    return {
        "first_fetch": since(crawl, "first_fetch_wall"),
        "helper_first_fetch": since(helper, "first_fetch_wall"),
        "last_page": since(crawl, "last_page_wall"),
        "exit": ended_wall - started_wall,
    }


def timeline_line(parts: dict[str, float | None]) -> str:
    """One line of :func:`timeline`'s figures."""

    def at(key: str) -> str:
        value = parts.get(key)
        return "-" if value is None else f"{value:.2f} s"

    helper = parts.get("helper_first_fetch")
    return (
        f"first page fetch at {at('first_fetch')}, the fetch helper's "
        f"{'(no helper)' if helper is None else 'at ' + at('helper_first_fetch')}, "
        f"last page done at {at('last_page')}, exit at {at('exit')}"
    )
