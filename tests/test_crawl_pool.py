"""The extraction pool keeps its workers fed: the next page is handed over while a worker is
still on the one before, and the budget of a queued page still starts with its work."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from scraper.crawl import Extracted, ExtractPool, extract_page
from scraper.crawl.processes import QUEUE_DEPTH

#: far above what handing a page to a worker takes, even on a busy machine
WAIT_SECONDS = 60.0
PAGE = (
    "<html><body><article><p>{word}: a fine page about the harbour and its pier, "
    "and the town that grew around them.</p></article></body></html>"
)

#: set in this (the test's) process when a page's HTML is pickled to go to a worker
handed: dict[str, threading.Event] = {}


class Traced(str):
    """A page's HTML that says when it is pickled for a worker (the pool's feeder thread)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[object, tuple[str]]:
        for word, event in handed.items():
            if word in self:
                event.set()
        return (str, (str(self),))


def held_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page marked HOLD:path| waits in its worker until that file exists (runs in the worker)."""
    if "HOLD:" in html:
        path = Path(html.split("HOLD:", 1)[1].split("|", 1)[0])
        deadline = time.monotonic() + WAIT_SECONDS
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return extract_page(html, url, strip, boilerplate, timeout)


def test_the_next_page_is_handed_over_while_the_worker_is_busy(tmp_path: Path) -> None:
    assert QUEUE_DEPTH >= 2
    release = tmp_path / "release"
    pool = ExtractPool(1, job=held_page)
    handed.clear()
    handed["second"] = threading.Event()

    async def run() -> tuple[bool, list[str]]:
        await pool.extract(  # the worker's start-up is paid here
            PAGE.format(word="warm"),
            "http://x.example/0",
            strip=(),
            boilerplate=(),
            timeout_seconds=120,
        )
        first = asyncio.ensure_future(
            pool.extract(
                PAGE.format(word=f"HOLD:{release}|"),
                "http://x.example/1",
                strip=(),
                boilerplate=(),
                timeout_seconds=120,
            )
        )
        second = asyncio.ensure_future(
            pool.extract(
                Traced(PAGE.format(word="second")),
                "http://x.example/2",
                strip=(),
                boilerplate=(),
                timeout_seconds=120,
            )
        )
        # the one worker is held on the first page: the second is sent to it all the same
        was_handed = await asyncio.to_thread(handed["second"].wait, WAIT_SECONDS)
        release.touch()
        done = await asyncio.gather(first, second)
        return was_handed, [d.article.url or "" for d in done]

    try:
        was_handed, urls = asyncio.run(run())
    finally:
        release.touch()
        pool.close()
    assert was_handed, "the second page waited in the crawl's process, not in the pool's queue"
    assert urls == ["http://x.example/1", "http://x.example/2"]
