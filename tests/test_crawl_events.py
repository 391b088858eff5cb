"""crawl/events.py: a crawl tells its subscribers what happened to each page, in typed events;
a subscriber that raises is logged and the crawl goes on, with the same outcome."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scraper.config import Config, parse_config
from scraper.crawl import crawl
from scraper.crawl.events import (
    Event,
    Events,
    FetchFailed,
    PageFinished,
    PageGone,
    PageRecorded,
    PagesDiscovered,
    RunFinished,
    SiteQualityDropped,
    SnapshotWritten,
    reextracts_to,
)
from scraper.models import Outcome
from tests.gazette import article, chrome, serve
from tests.server import LocalServer

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _index(links: list[str]) -> bytes:
    items = "".join(f"<li><a href='{link}'>{link}</a></li>" for link in links)
    return f"<html><body><h1>Index</h1><ul>{items}</ul></body></html>".encode()


def _site(server: LocalServer) -> None:
    """An index linking to two articles, a page gone, a moved page and one robots.txt forbids."""
    server.route(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n",
        headers={"Content-Type": "text/plain"},
    )
    server.route(
        "/index.html",
        _index(["/a.html", "/b.html", "/gone.html", "/moved.html", "/private/p.html"]),
    )
    server.route("/a.html", article("harbour"))
    server.route("/b.html", article("library"))
    server.route("/gone.html", b"<html><body>gone</body></html>", status=404)
    server.route("/moved.html", b"", status=301, headers={"Location": "/a.html"})


def _config(server: LocalServer, name: str = "gazette") -> Config:
    text = f"""
[defaults]
delay_seconds = 0
allow_private = true
retries = 0

[[site]]
name = "{name}"
start_urls = ["{server.base}/index.html"]
max_depth = 1
"""
    return parse_config(text, Path("sites.toml"), environ={})


def _kinds(events: list[Event]) -> set[tuple[str, ...]]:
    """The events of pages, as (kind, path, detail) with the server's base cut off."""
    seen: set[tuple[str, ...]] = set()
    for event in events:
        if isinstance(event, SnapshotWritten):
            seen.add(("snapshot", event.url.rsplit("/", 1)[1], str(event.outcome)))
        elif isinstance(event, PageGone):
            target = event.target.rsplit("/", 1)[1] if event.target else "-"
            seen.add(("gone", event.url.rsplit("/", 1)[1], target))
        elif isinstance(event, FetchFailed):
            seen.add(("failed", event.url.rsplit("/", 1)[1], event.cause.split(":")[0]))
        elif isinstance(event, PageRecorded) and event.outcome is Outcome.ROBOTS_BLOCKED:
            seen.add(("robots", event.url.rsplit("/", 1)[1], ""))
    return seen


def test_a_subscriber_sees_each_kind_of_event(server: LocalServer, db_path: Path) -> None:
    _site(server)
    bus = Events()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    first = crawl(_config(server), db_path, clock=lambda: T0, extract_workers=0, events=bus)
    assert _kinds(seen) == {
        ("snapshot", "index.html", "new"),
        ("snapshot", "a.html", "new"),
        ("snapshot", "b.html", "new"),
        ("failed", "gone.html", "status"),
        ("gone", "gone.html", "-"),
        ("gone", "moved.html", "a.html"),
        ("robots", "p.html", ""),
    }
    assert all(e.site == "gazette" for e in seen if isinstance(e, SnapshotWritten | PageGone))
    # the snapshot ids are the archive's own, one per new page
    assert len({e.snapshot_id for e in seen if isinstance(e, SnapshotWritten)}) == 3
    finished = [e for e in seen if isinstance(e, PageFinished)]
    assert len(finished) == first.pages_fetched + first.robots_blocked
    assert sum(e.count for e in seen if isinstance(e, PagesDiscovered)) == first.discovered
    assert isinstance(seen[-1], RunFinished)
    assert seen[-1].summary == first

    server.route("/b.html", article("library").replace(b"Tuesday evening", b"Friday morning"))
    seen.clear()
    crawl(
        _config(server),
        db_path,
        clock=lambda: T0 + timedelta(hours=1),
        revisit=0,
        extract_workers=0,
        events=bus,
    )
    snapshots = [e for e in seen if isinstance(e, SnapshotWritten)]
    assert [(e.url.rsplit("/", 1)[1], e.outcome) for e in snapshots] == [
        ("b.html", Outcome.CHANGED)
    ]
    assert snapshots[0].change_kind is not None


def test_a_site_whose_extraction_collapses_is_an_event(server: LocalServer, db_path: Path) -> None:
    serve(server, article, "monday")
    bus = Events()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    crawl(_config(server), db_path, clock=lambda: T0, revisit=0, extract_workers=0, events=bus)
    assert not [e for e in seen if isinstance(e, SiteQualityDropped)]
    serve(server, chrome, "tuesday")
    later = T0 + timedelta(hours=1)
    second = crawl(
        _config(server), db_path, clock=lambda: later, revisit=0, extract_workers=0, events=bus
    )
    dropped = [e for e in seen if isinstance(e, SiteQualityDropped)]
    assert [(e.site, e.warning) for e in dropped] == [("gazette", second.collapsed_sites[0])]


def test_a_raising_subscriber_does_not_break_the_crawl(
    server: LocalServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _site(server)
    calm = crawl(_config(server), tmp_path / "calm.db", clock=lambda: T0, extract_workers=0)

    def boom(event: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus = Events()
    after: list[Event] = []
    bus.subscribe(boom)
    bus.subscribe(after.append)
    with caplog.at_level(logging.ERROR, logger="scraper.crawl.events"):
        stormy = crawl(
            _config(server), tmp_path / "stormy.db", clock=lambda: T0, extract_workers=0, events=bus
        )
    assert stormy.counts() == calm.counts()
    assert stormy.exit_code == calm.exit_code == 0
    assert (stormy.duplicates, stormy.failed) == (1, 1)
    # the subscriber after the raising one still hears everything, the failure is logged
    assert isinstance(after[-1], RunFinished)
    assert len(caplog.records) == len(after)
    assert "subscriber bug" in caplog.text


def test_unsubscribe_stops_delivery() -> None:
    bus = Events()
    seen: list[Event] = []
    stop = bus.subscribe(seen.append)
    bus.emit(PagesDiscovered("s", 1))
    stop()
    stop()  # twice is harmless
    bus.emit(PagesDiscovered("s", 2))
    assert seen == [PagesDiscovered("s", 1)]


def test_the_one_off_fetch_tells_the_bus_of_a_snapshot(server: LocalServer, db_path: Path) -> None:
    """``fetch_and_archive`` (``scraper fetch``) writes through the pipeline's store step,
    which tells subscribers of each snapshot it writes, and of none when nothing changed."""
    import asyncio

    from scraper.archive import Archive
    from scraper.config import Settings
    from scraper.crawl.hosts import Hosts
    from scraper.crawl.oneoff import fetch_and_archive
    from scraper.fetch import make_client
    from scraper.fetch.pacing import Pacer

    server.route("/a.html", article("harbour"))
    settings = Settings(allow_private=True, retries=0, delay_seconds=0.0)
    bus = Events()
    seen: list[Event] = []
    bus.subscribe(seen.append)

    async def fetch_twice() -> None:
        with Archive(db_path) as archive:
            async with make_client(settings) as client:
                hosts = Hosts(None, Pacer(0.0), lambda: T0, one_off=True)
                for _ in range(2):
                    await fetch_and_archive(
                        client,
                        server.url("/a.html"),
                        settings,
                        archive=archive,
                        hosts=hosts,
                        now=lambda: "2026-03-01T12:00:00Z",
                        site="gazette",
                        events=bus,
                    )

    asyncio.run(fetch_twice())
    assert [
        (type(e).__name__, e.url, e.outcome) for e in seen if isinstance(e, SnapshotWritten)
    ] == [("SnapshotWritten", server.url("/a.html"), Outcome.NEW)]


def test_reextract_tells_the_bus_of_each_snapshot_it_writes(
    server: LocalServer, db_path: Path
) -> None:
    from scraper.archive import Archive
    from scraper.learn import reextract

    extra = (
        "<p class='orchard'>The orchard society will plant forty new apple trees along the "
        "river path this spring, volunteers are welcome every Saturday morning, and the "
        "harvest festival in October will share the first fruit with every school.</p>"
    )
    page = article("harbour").replace(b"</article>", extra.encode() + b"</article>")
    server.route("/index.html", _index(["/a.html"]))
    server.route("/a.html", page)
    crawl(_config(server), db_path, clock=lambda: T0, extract_workers=0)
    bus = Events()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    with Archive(db_path) as archive:
        result = reextract(
            archive,
            "gazette",
            "2026-03-02T12:00:00Z",
            strip_for=lambda site: (".orchard",),
            on_snapshot=reextracts_to(bus),
        )
    assert [url for url, _ in result.changed] == [server.url("/a.html")], result
    assert [
        (e.url, e.site, e.snapshot_id, e.outcome, e.change_kind)
        for e in seen
        if isinstance(e, SnapshotWritten)
    ] == [(server.url("/a.html"), "gazette", result.changed[0][1], Outcome.CHANGED, "reextract")]


def test_one_bus_serves_one_crawl_after_another(server: LocalServer, db_path: Path) -> None:
    """A crawl leaves nothing of its own subscribed to the caller's bus: the first crawl's
    progress callback hears nothing of the second one."""
    _site(server)
    bus = Events()
    finished: list[Event] = []
    bus.subscribe(lambda e: finished.append(e) if isinstance(e, RunFinished) else None)
    first: list[object] = []
    second: list[object] = []
    crawl(
        _config(server),
        db_path,
        clock=lambda: T0,
        extract_workers=0,
        events=bus,
        on_progress=first.append,
    )
    shown = len(first)
    assert shown > 0
    later = T0 + timedelta(hours=1)
    crawl(
        _config(server),
        db_path,
        clock=lambda: later,
        revisit=0,
        extract_workers=0,
        events=bus,
        on_progress=second.append,
    )
    assert len(first) == shown
    assert len(second) > 0
    assert len(finished) == 2


def test_subscribing_what_cannot_be_called_is_refused() -> None:
    with pytest.raises(ValueError, match="callable"):
        Events().subscribe(None)  # type: ignore[arg-type]
