"""Benchmark: CPU per request of the two ``transport`` settings, through fetch() itself.

Run with ``python -m tests.benchmarks.bench_transport [--requests N] [--rounds N]``. A small
asyncio server in another process (so that its CPU is not counted) answers on 127.0.0.1 with
keep-alive: a 304 to a conditional GET (what a recrawl of unchanged pages is made of) or a
24 KB page. One client per round fetches N URLs, 16 in flight, with each transport in turn;
the figures are the medians of the rounds: CPU ms per request of this process, requests/s.
The machine is shared: trust the ratio more than the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time

from scraper.config import Settings, Transport
from scraper.fetch import fetch, make_client

_SERVER = r"""
import asyncio
BODY = b"<html><body><p>" + b"hello world " * 2000 + b"</p></body></html>"
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if b"if-none-match" in head.lower():
                writer.write(b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 0\r\n\r\n')
            else:
                writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nETag: "x"\r\n'
                             b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()
asyncio.run(main())
"""
TRANSPORTS: tuple[Transport, ...] = ("fast", "httpx")


async def _round(port: int, name: Transport, etag: str | None, count: int) -> tuple[float, float]:
    settings = Settings(allow_private=True, retries=0, transport=name)
    async with make_client(settings) as client:
        slots = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with slots:
                await fetch(client, f"http://127.0.0.1:{port}/p{i}", settings, etag=etag)

        await asyncio.gather(*(one(i) for i in range(50)))  # connections open, code warm
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        return (time.process_time() - cpu) * 1000 / count, count / (time.perf_counter() - wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    opts = parser.parse_args()
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    try:
        port = int(server.stdout.readline())
        print(f"{opts.requests} requests a round, 16 in flight, {opts.rounds} rounds (medians)")
        for label, etag in (("304 (recrawl)", '"x"'), ("200, 24 KB", None)):
            figures: dict[str, list[tuple[float, float]]] = {name: [] for name in TRANSPORTS}
            for _ in range(opts.rounds):
                for name in TRANSPORTS:
                    figures[name].append(asyncio.run(_round(port, name, etag, opts.requests)))
            for name in TRANSPORTS:
                cpu = statistics.median(f[0] for f in figures[name])
                rate = statistics.median(f[1] for f in figures[name])
                print(f"  {label:14} {name:6} {cpu:.3f} ms CPU/request, {rate:.0f} requests/s")
    finally:
        server.kill()
        server.wait(timeout=10)
        server.stdout.close()


if __name__ == "__main__":
    main()
