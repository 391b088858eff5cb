"""A first crawl's new snapshots share the group commit, as 304s do: a reader on another
connection sees them a moment later, each whole, and all of them once the run is over; a
failure is still committed at once."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from scraper.config import Config, parse_config
from scraper.crawl import crawl
from scraper.crawl.events import Event, Events, PageRecorded, SnapshotWritten
from scraper.models import Outcome
from tests.server import LocalServer, topic_article

TOPICS = ("harbour", "library", "market", "bridge", "school", "ferry")


def _config(server: LocalServer) -> Config:
    text = f"""
[defaults]
delay_seconds = 0
allow_private = true
retries = 0

[[site]]
name = "gazette"
start_urls = ["{server.base}/index.html"]
max_depth = 1
"""
    return parse_config(text, Path("sites.toml"), environ={})


def _serve(server: LocalServer) -> None:
    server.route("/robots.txt", "", status=404)
    links = [f"/news/{topic}.html" for topic in TOPICS] + ["/news/gone.html"]
    items = "".join(f"<li><a href='{link}'>{link}</a></li>" for link in links)
    server.route("/index.html", f"<html><body><ul>{items}</ul></body></html>".encode())
    for topic in TOPICS:
        server.route(f"/news/{topic}.html", topic_article(topic))
    server.route("/news/gone.html", b"<html><body>gone</body></html>", status=404)


def _visible(db: Path, sql: str, *params: object) -> int:
    """What a reader on a connection of its own sees (sqlite3, Datasette, another process)."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return int(conn.execute(sql, params).fetchone()[0])


def test_new_snapshots_wait_for_the_group_commit_and_failures_do_not(
    server: LocalServer, db_path: Path
) -> None:
    _serve(server)
    seen: dict[str, int] = {}  # url -> whether a reader saw its row when the event came
    failure_seen: list[int] = []

    def reader(event: Event) -> None:
        if isinstance(event, SnapshotWritten):
            seen[event.url] = _visible(
                db_path, "SELECT COUNT(*) FROM snapshots WHERE id = ?", event.snapshot_id
            )
        elif isinstance(event, PageRecorded) and event.outcome is Outcome.FAILED:
            failure_seen.append(
                _visible(
                    db_path,
                    "SELECT COUNT(*) FROM fetches f JOIN pages p ON p.id = f.page_id "
                    "WHERE p.url = ? AND f.error IS NOT NULL",
                    event.url,
                )
            )

    bus = Events()
    bus.subscribe(reader)
    summary = crawl(_config(server), db_path, events=bus, extract_workers=0)
    pages = len(TOPICS) + 1  # the index has a snapshot too
    assert summary.new == pages
    assert len(seen) == pages
    # the first snapshot of the run opens the group: no reader sees it yet (the others may
    # have been committed by the timer or by the failure meanwhile)
    assert 0 in seen.values()
    assert failure_seen == [1]  # a failure is committed at once
    # and once the run is over, everything is there, each snapshot with its fetch row
    assert _visible(db_path, "SELECT COUNT(*) FROM snapshots") == pages
    assert (
        _visible(
            db_path,
            "SELECT COUNT(*) FROM snapshots s JOIN fetches f ON f.snapshot_id = s.id",
        )
        == pages
    )
