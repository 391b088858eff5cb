"""Benchmark: CPU per conditional GET answered 304, through fetch() itself, on a real server.

Run with ``python -m tests.benchmarks.bench_request [--pages N] [--rounds N] [--profile]``.
It writes N small pages to a temporary folder and serves them on 127.0.0.1 with nginx when
``command -v nginx`` finds it (else with bench_crawl's own static server), in other processes
so that their CPU is not counted. It fetches every page once for its ETag and Last-Modified,
then, each round and each transport in turn, every page again with them, 4 in flight through
one client, as a recrawl of unchanged pages does: the figure is the CPU of this process per
304 (medians of the rounds). ``--profile`` profiles one more round of the fast transport with
``cProfile`` on CPU time (not wall time, which blames the waits) and prints the top functions.
The machine is shared: compare figures of one run, or interleaved runs, not of two moments.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import pstats
import socket
import statistics
import tempfile
import time
from pathlib import Path

from scraper.config import Settings, Transport
from scraper.fetch import fetch, make_client
from tests.benchmarks.bench_crawl import start_server

TRANSPORTS: tuple[Transport, ...] = ("fast", "httpx")
IN_FLIGHT = 4
Validators = list[tuple[str, str | None, str | None]]


async def _validators(urls: list[str], settings: Settings) -> Validators:
    async with make_client(settings) as client:
        results = [await fetch(client, url, settings) for url in urls]
    return [(r.url, r.etag, r.last_modified) for r in results]


async def _round(pages: Validators, settings: Settings, profile: cProfile.Profile | None) -> float:
    async with make_client(settings) as client:
        queue = list(pages)

        async def worker() -> None:
            while queue:
                url, etag, modified = queue.pop()
                result = await fetch(client, url, settings, etag=etag, last_modified=modified)
                assert result.not_modified, url

        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))  # connections open, warm
        queue[:] = pages
        cpu = time.process_time()
        if profile is not None:
            profile.enable()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        if profile is not None:
            profile.disable()
        return (time.process_time() - cpu) * 1000 / len(pages)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="profile a fast round's CPU")
    parser.add_argument("--server", choices=("auto", "nginx", "python"), default="auto")
    parser.add_argument("--server-workers", type=int, default=2)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-request-") as folder:
        work = Path(folder)
        site = work / "site"
        site.mkdir()
        for i in range(opts.pages):
            (site / f"p{i}.html").write_text(f"<html><body><p>page {i}</p></body></html>")
        port = _free_port()
        server, label = start_server(site, work, port, opts)
        try:
            base = Settings(allow_private=True, retries=0, concurrency=IN_FLIGHT, delay_seconds=0)
            urls = [f"http://127.0.0.1:{port}/p{i}.html" for i in range(opts.pages)]
            pages = asyncio.run(_validators(urls, base))
            print(f"server: {label}; {opts.pages} conditional GETs a round, {IN_FLIGHT} in flight")
            figures: dict[str, list[float]] = {name: [] for name in TRANSPORTS}
            for _ in range(opts.rounds):
                for name in TRANSPORTS:
                    settings = dataclasses.replace(base, transport=name)
                    figures[name].append(asyncio.run(_round(pages, settings, None)))
            for name in TRANSPORTS:
                runs = ", ".join(f"{f:.3f}" for f in figures[name])
                print(f"  {name:6} {statistics.median(figures[name]):.3f} ms CPU/304 ({runs})")
            if opts.profile:
                profile = cProfile.Profile(time.process_time)
                asyncio.run(_round(pages, base, profile))
                stats = pstats.Stats(profile)
                stats.sort_stats("tottime").print_stats(30)
                stats.sort_stats("cumulative").print_stats(40)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
