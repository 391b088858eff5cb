"""crawl/pool.py: the extraction pool's policies and what crosses to and from its workers.

Each test runs real worker processes (from the forkserver) and waits for events, never for a
guessed time; the budgets are far above what the work needs on a busy machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Awaitable
from pathlib import Path

from scraper.crawl.pool import Extracted, ExtractPool, _process_alive, extract_page
from scraper.discover import PageLinks
from scraper.errors import ExtractError
from scraper.models import Article
from tests.benchmarks.bench_crawl import descendants
from tests.server import LocalServer
from tests.test_crash import build_site, crawl_process, wait_for_pages, write_config

#: a liveness guard: far above what any step here takes, even on a busy machine
WAIT_SECONDS = 60.0
STORY = (
    "<html><head><title>{title}</title>{head}</head><body><nav><a href='/home'>Home</a>"
    "<a href='/b#top'>B</a></nav><article><h1>{title}</h1><p>{text}</p><p>{text}</p>"
    "</article><footer><a href='https://other.example/x'>X</a></footer></body></html>"
)
PAGES = [
    STORY.format(title="Harbour", head="", text="The pier opens in spring, said the mayor. " * 9),
    STORY.format(
        title="Čas a město — 東京",
        head='<link rel="canonical" href="/c"><meta name="author" content="Zoë Ørsted">',
        text="Příliš žluťoučký kůň úpěl ďábelské ódy; 東京の港は春に開く。 " * 12,
    ),
    STORY.format(
        title="Feed",
        head='<meta name="robots" content="nofollow">'
        '<link rel="alternate" type="application/rss+xml" href="/feed.xml">',
        text="A page that asks not to be followed, with a feed beside it. " * 8,
    ),
    "<html><body><div>no article here</div></body></html>",
]

#: the processes the inline job ran in (appended to in whichever process runs it)
ran_in: list[int] = []


def inline_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    ran_in.append(os.getpid())
    return extract_page(html, url, strip, boilerplate, timeout)


def hanging_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page marked HANG hangs its worker (runs in the worker)."""
    if "HANG" in html:
        time.sleep(WAIT_SECONDS)
    return extract_page(html, url, strip, boilerplate, timeout)


def dying_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """A page marked DIE kills its worker every time; DIEONCE:path| the first time only."""
    if "DIEONCE:" in html:
        flag = Path(html.split("DIEONCE:", 1)[1].split("|", 1)[0])
        if not flag.exists():
            flag.touch()
            os._exit(1)
    elif "DIE" in html:
        os._exit(1)
    return extract_page(html, url, strip, boilerplate, timeout)


class TwoArgumentError(Exception):
    """An error that pickles but cannot be rebuilt from its args alone."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


def raising_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """Raises what the page asks for (runs in the worker)."""
    if "VALUE" in html:
        raise ValueError(f"bad value on {url}")
    raise TwoArgumentError("odd", "detail")


def echo_page(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """The page itself as its text (a large answer at no cost); HOLD:path| waits for path, and
    fails if it never comes (runs in the worker)."""
    if "HOLD:" in html:
        path = Path(html.split("HOLD:", 1)[1].split("|", 1)[0])
        deadline = time.monotonic() + WAIT_SECONDS
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError("not released: the crawl's loop was blocked")
            time.sleep(0.01)
    links = PageLinks(links=(url,), feeds=tuple(sorted(boilerplate)))
    return Extracted(Article(url=url, text=html, markdown=html[::-1], found=True), links)


def _extract(
    pool: ExtractPool, html: str, url: str, timeout: float = WAIT_SECONDS
) -> Awaitable[Extracted]:
    return pool.extract(html, url, strip=(), boilerplate=(), timeout_seconds=timeout)


def test_what_comes_back_from_a_worker_is_what_extraction_gives_inline() -> None:
    """The article and links rebuilt from a worker's answer equal, field for field, those of
    extraction in this process, with strip rules and boilerplate sent once per worker."""
    strip, boilerplate = ("footer",), frozenset({"Home", "B"})
    urls = [f"http://news.example/{n}/story" for n in range(len(PAGES))]
    pool = ExtractPool(2)

    async def run() -> list[Extracted]:
        return await asyncio.gather(
            *(
                pool.extract(
                    html, url, strip=strip, boilerplate=boilerplate, timeout_seconds=WAIT_SECONDS
                )
                for html, url in zip(PAGES * 3, urls * 3, strict=True)
            )
        )

    try:
        done = asyncio.run(run())
    finally:
        pool.close()
    inline = [
        extract_page(h, u, strip, boilerplate, WAIT_SECONDS)
        for h, u in zip(PAGES, urls, strict=True)
    ]
    for got, want in zip(done, inline * 3, strict=True):
        assert got.article == want.article
        assert got.links == want.links
        assert got.unbudgeted == want.unbudgeted
    assert done[1].article.author == "Zoë Ørsted"
    assert done[1].links.canonical == "http://news.example/c"
    assert done[2].links.nofollow
    assert not done[3].article.found


def test_messages_larger_than_the_socket_takes_cross_both_ways_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    """A page of several MB is handed to a worker busy on another page: the loop goes on (it
    releases that page itself), and the several-MB answer comes back whole."""
    release = tmp_path / "release"
    big = "Ünïcode and ASCII, line after line of it. " * 80_000  # about 3.5 MB
    pool = ExtractPool(1, job=echo_page)

    async def run() -> tuple[Extracted, Extracted]:
        await _extract(pool, "warm", "http://x.example/0")
        held = asyncio.ensure_future(_extract(pool, f"HOLD:{release}|", "http://x.example/1"))
        large = asyncio.ensure_future(_extract(pool, big, "http://x.example/2"))
        await asyncio.sleep(0)  # both are handed (the second only in part: the socket is full)
        release.touch()  # were the loop blocked on that write, the held page would never end
        first, second = await asyncio.gather(held, large)
        return first, second

    try:
        first, second = asyncio.run(run())
    finally:
        release.touch()
        pool.close()
    assert first.article.text == f"HOLD:{release}|"
    assert second.article.text == big
    assert second.article.markdown == big[::-1]
    assert second.links.links == ("http://x.example/2",)


def test_a_hung_worker_is_killed_and_the_page_behind_it_goes_to_a_fresh_one() -> None:
    pool = ExtractPool(1, job=hanging_page, grace_seconds=0.5)

    async def run() -> tuple[int, str | BaseException, Extracted]:
        await _extract(pool, PAGES[0], "http://x.example/warm")
        (pid,) = pool.pids
        hung = _extract(pool, "<p>HANG</p>", "http://x.example/hung", timeout=0.2)
        behind = _extract(pool, PAGES[0], "http://x.example/behind")
        failed, done = await asyncio.gather(hung, behind, return_exceptions=True)
        assert isinstance(done, Extracted)
        return pid, failed if isinstance(failed, BaseException) else "", done

    started = time.monotonic()
    try:
        pid, failed, done = asyncio.run(run())
        replaced = pool.pids
    finally:
        pool.close()
    assert isinstance(failed, ExtractError)
    assert str(failed) == "http://x.example/hung: extraction took longer than 0.2 s"
    assert done.article.url == "http://x.example/behind"
    assert not _process_alive(pid)  # killed, not left hanging
    assert replaced
    assert pid not in replaced
    # a liveness guard, not a speed test: waiting out the hung page would take WAIT_SECONDS
    assert time.monotonic() - started < WAIT_SECONDS


def test_a_worker_that_dies_is_replaced_and_its_page_retried_once(tmp_path: Path) -> None:
    flag = tmp_path / "died-once"
    pool = ExtractPool(1, job=dying_page)

    async def run() -> tuple[Extracted, BaseException | Extracted, Extracted]:
        once = await _extract(pool, f"DIEONCE:{flag}|" + PAGES[0], "http://x.example/once")
        always = await asyncio.gather(
            _extract(pool, "DIE", "http://x.example/always"), return_exceptions=True
        )
        after = await _extract(pool, PAGES[0], "http://x.example/after")
        return once, always[0], after

    try:
        once, always, after = asyncio.run(run())
    finally:
        pool.close()
    assert flag.exists()  # the first worker died on it
    assert once.article.found  # ... and the second did it
    assert isinstance(always, ExtractError)
    assert str(always) == "http://x.example/always: the extraction process died"
    assert after.article.url == "http://x.example/after"


def test_close_waits_for_every_worker_to_exit() -> None:
    pool = ExtractPool(2, job=echo_page)

    async def run() -> list[int]:
        await asyncio.gather(*(_extract(pool, "p", f"http://x.example/{n}") for n in range(4)))
        return pool.pids

    try:
        pids = asyncio.run(run())
    finally:
        pool.close()
    assert len(pids) == 2
    assert not any(_process_alive(pid) for pid in pids)  # gone when close() returns
    assert pool.pids == []


def test_a_cancelled_page_is_dropped_and_the_pool_goes_on(tmp_path: Path) -> None:
    release = tmp_path / "release"
    pool = ExtractPool(1, job=echo_page)

    async def run() -> list[str | None]:
        held = asyncio.ensure_future(_extract(pool, f"HOLD:{release}|", "http://x.example/h"))
        queued = [
            asyncio.ensure_future(_extract(pool, "q", f"http://x.example/q{n}")) for n in range(4)
        ]
        await asyncio.sleep(0)
        for task in queued[:3]:  # one handed behind the held page, two still waiting
            task.cancel()
        release.touch()
        done = await asyncio.gather(held, queued[3])
        again = await _extract(pool, "r", "http://x.example/r")
        assert all(task.cancelled() for task in queued[:3])
        return [d.article.url for d in (*done, again)]

    try:
        urls = asyncio.run(run())
    finally:
        release.touch()
        pool.close()
    assert urls == ["http://x.example/h", "http://x.example/q3", "http://x.example/r"]


def test_no_workers_extracts_in_this_process() -> None:
    ran_in.clear()
    pool = ExtractPool(0, job=inline_page)
    done = asyncio.run(pool.extract(PAGES[0], "u", strip=(), boilerplate=(), timeout_seconds=9))
    pool.close()
    assert ran_in == [os.getpid()]
    assert isinstance(done, Extracted)
    assert done.article.found


def test_a_killed_crawl_leaves_no_extraction_worker_behind(tmp_path: Path) -> None:
    root = tmp_path / "site"
    build_site(root, 400)
    server = LocalServer(root).start()
    try:
        db = tmp_path / "archive.db"
        config = write_config(tmp_path / "sites.toml", server, delay=0.01)
        proc = crawl_process(config, db, "--quiet")
        wait_for_pages(db, proc, 0, 40)  # extracting by now: its workers run
        helpers = descendants(proc.pid)
        assert len(helpers) >= 2, "no extraction workers found under the crawl"
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and any(_process_alive(pid) for pid in helpers):
            time.sleep(0.05)
        assert not any(_process_alive(pid) for pid in helpers)
    finally:
        server.stop()


def test_a_worker_that_cannot_start_fails_its_pages_in_one_line() -> None:
    pool = ExtractPool(1, job=lambda *args: None)  # no module-level name: cannot be sent

    async def run() -> list[BaseException | Extracted]:
        pages = (_extract(pool, "p", f"http://x.example/{n}") for n in range(3))
        return await asyncio.gather(*pages, return_exceptions=True)

    try:
        failed = asyncio.run(run())
    finally:
        pool.close()
    assert all(isinstance(f, ExtractError) for f in failed)
    message = str(failed[0])
    assert message.startswith("http://x.example/0: the extraction process did not start (")
    assert "\n" not in message


def test_an_error_in_the_job_comes_back_to_its_page_and_the_worker_goes_on() -> None:
    pool = ExtractPool(1, job=raising_page)

    async def run() -> tuple[list[BaseException | Extracted], list[int]]:
        pids = []
        failed: list[BaseException | Extracted] = []
        for html in ("VALUE", "ODD", "VALUE"):
            failed += await asyncio.gather(
                _extract(pool, html, "http://x.example/e"), return_exceptions=True
            )
            pids += pool.pids
        return failed, pids

    try:
        failed, pids = asyncio.run(run())
    finally:
        pool.close()
    assert [f"{type(f).__name__}: {f}" for f in failed] == [
        "ValueError: bad value on http://x.example/e",
        "RuntimeError: TwoArgumentError: odd",  # it could not be rebuilt here: its type and text
        "ValueError: bad value on http://x.example/e",
    ]
    assert len(set(pids)) == 1  # one worker all along: an error is no crash
