"""scraper.stagecpu: CPU by stage, off unless SCRAPER_STAGE_CPU names a folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from scraper import stagecpu
from tests.benchmarks.stage_report import timeline
from tests.server import LocalServer

ARTICLE = (
    "<html><head><title>{0}</title></head><body><nav><a href='/start'>Home</a></nav>"
    "<article><h1>{0}</h1>{1}</article></body></html>"
)


def _env(folder: Path | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.pop(stagecpu.ENV, None)
    if folder is not None:
        env[stagecpu.ENV] = str(folder)
    return env


def _python(script: str, folder: Path | None) -> dict[str, float]:
    """Run ``script`` in a fresh interpreter; return what it printed last (a JSON object)."""
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


BURN = """
import json, time
from scraper import stagecpu

def burn(rounds=300_000):
    started = time.thread_time()
    total = 0
    for i in range(rounds):
        total += i * i
    return time.thread_time() - started
"""


def test_disabled_timers_are_the_objects_they_were_given_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    seen = _python(
        BURN
        + """
async def work():
    return 1
coroutine = work()
timer = stagecpu.stage("archive")
with timer:
    burn()
print(json.dumps({
    "enabled": stagecpu.enabled(),
    "same": stagecpu.steps("fetch", coroutine) is coroutine,
    "shared": stagecpu.stage("hash") is timer,
    "take": stagecpu.take(),
    "write": stagecpu.write(),
}))
coroutine.close()
""",
        None,
    )
    assert seen == {"enabled": False, "same": True, "shared": True, "take": None, "write": None}


def test_nested_timers_count_each_cpu_second_once(tmp_path: Path) -> None:
    folder = tmp_path / "cpu"
    seen = _python(
        BURN
        + """
with stagecpu.stage("archive"):
    started = time.thread_time()
    burn()
    with stagecpu.stage("hash"):
        inner = burn()
    burn()
    outer = time.thread_time() - started
print(json.dumps({"path": str(stagecpu.write("test")), "outer": outer, "inner": inner}))
""",
        folder,
    )
    report = json.loads(Path(str(seen["path"])).read_text())
    assert report["role"] == "test"
    stages = report["stages"]
    # the outer stage gets its own CPU only: the nested one's is not counted twice
    assert abs(stages["hash"] - seen["inner"]) < 0.02
    assert abs(stages["archive"] - (seen["outer"] - seen["inner"])) < 0.02
    assert stages["archive"] + stages["hash"] <= report["cpu_seconds"] + 0.05


def test_steps_time_a_coroutine_s_own_steps_not_the_tasks_that_run_while_it_waits(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "cpu"
    seen = _python(
        BURN
        + """
import asyncio
own = []
other = []

async def fetch_like():
    own.append(burn())
    await asyncio.sleep(0.01)  # meanwhile the other task runs and burns CPU
    own.append(burn())
    return "done"

async def other_task():
    other.append(burn(900_000))

async def main():
    first = asyncio.create_task(stagecpu.steps("fetch", fetch_like()))
    second = asyncio.create_task(other_task())
    assert await first == "done"
    await second

asyncio.run(main())
print(json.dumps({"path": str(stagecpu.write("test")), "own": sum(own), "other": other[0]}))
""",
        folder,
    )
    report = json.loads(Path(str(seen["path"])).read_text())
    assert seen["other"] > seen["own"]  # the other task burned more than the stage's own steps
    assert abs(report["stages"]["fetch"] - seen["own"]) < 0.02


def test_a_crawl_writes_a_report_of_its_stages_and_of_its_extraction_workers(
    server: LocalServer, tmp_path: Path
) -> None:
    pages = 6
    paragraphs = "".join(
        f"<p>Harbour repair sentence number {i} of the page.</p>" for i in range(8)
    )
    links = "".join(f"<a href='/p{n}'>page {n}</a>" for n in range(pages))
    server.route("/start", ARTICLE.format("Start", paragraphs + links))
    for n in range(pages):
        server.route(f"/p{n}", ARTICLE.format(f"Page {n}", paragraphs))
    cfg = tmp_path / "sites.toml"
    cfg.write_text(
        "[defaults]\ndelay_seconds = 0\nallow_private = true\n"
        f'[[site]]\nname = "s"\nstart_urls = ["{server.url("/start")}"]\nmax_depth = 1\n'
    )
    folder = tmp_path / "cpu"
    command = [sys.executable, "-m", "scraper", "crawl", "--config", str(cfg)]
    began = time.time()
    proc = subprocess.run(
        [*command, "--db", str(tmp_path / "a.db"), "--quiet"],
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (path,) = folder.glob("crawl-*.json")
    report = json.loads(path.read_text())
    assert report["role"] == "crawl"
    assert {"fetch", "engine", "archive", "hash"} <= set(report["stages"])
    assert report["start_seconds"] > 0
    assert report["shutdown_seconds"] is not None
    staged = sum(report["stages"].values()) + report["start_seconds"]
    assert staged <= report["cpu_seconds"] + 0.05  # the timers are parts of the process's CPU
    # the run's timeline, on the wall clock: start, first page fetch, last page, the report
    ended = time.time()
    marks = [report[k] for k in ("first_fetch_wall", "last_page_wall", "written_wall")]
    assert [began, *marks, ended] == sorted([began, *marks, ended])
    parts = timeline(folder, began, ended)
    assert parts["helper_first_fetch"] is None  # 7 new pages: no fetch helper
    assert 0 < parts["first_fetch"] < parts["last_page"] <= parts["exit"] == ended - began
    workers = report["workers"]
    assert workers, "the extraction workers' figures come back with their results"
    for figures in workers.values():
        assert {"start", "extract", "parse", "links"} <= set(figures)
        assert all(seconds >= 0 for seconds in figures.values())
    # and without the variable, the same crawl writes nothing
    again = tmp_path / "again"
    proc = subprocess.run(
        [*command, "--db", str(tmp_path / "b.db"), "--quiet"],
        env=_env(None),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert not again.exists()
    assert [p for p in tmp_path.rglob("*.json") if folder not in p.parents] == []
    assert len(list(folder.glob("*.json"))) == 1
