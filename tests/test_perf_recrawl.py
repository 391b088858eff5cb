"""What the crawl process's cheaper handling of an unchanged recrawl must keep (issue 17).

A 304 writes the same rows as before (the fetch row, the page's bookkeeping and next due time,
the two raw header blocks, the run's counts), the timestamps are the same text, a page's task
that fails still stops the run with its own error, and a crawl killed between claiming pages
and recording them leaves every page either recorded whole or still as it was.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from contextlib import closing
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import zstandard

from scraper.archive.sql.blocks import request_block
from scraper.config import Config, parse_config
from scraper.crawl import crawl
from scraper.models import FetchResult, iso_utc
from tests.server import LocalServer, topic_article, with_etag
from tests.test_crash import crawl_process

REPO = Path(__file__).resolve().parents[1]
TOPICS = ("harbour", "library", "market", "bridge", "school", "ferry")
FIRST = dt.datetime(2026, 3, 1, 10, 0, 0, tzinfo=dt.UTC)
SECOND = dt.datetime(2026, 3, 2, 10, 0, 0, tzinfo=dt.UTC)
#: far above what the work needs, on a slow and busy machine too
WAIT_SECONDS = 120.0


def _paths() -> list[str]:
    return ["/index.html"] + [f"/news/{topic}.html" for topic in TOPICS]


def _serve(
    server: LocalServer, hold: Callable[[BaseHTTPRequestHandler], None] | None = None
) -> None:
    """The index and six articles, each with an ETag (a 304 to a request that has it);
    ``hold`` answers the last article instead, once it has been fetched."""
    server.route("/robots.txt", "", status=404)
    items = "".join(f"<li><a href='{p}'>{p}</a></li>" for p in _paths()[1:])
    index = f"<html><body><ul>{items}</ul></body></html>".encode()
    server.route("/index.html", handler=with_etag(index, '"v-index"'))
    for topic in TOPICS:
        server.route(f"/news/{topic}.html", handler=with_etag(topic_article(topic), f'"v-{topic}"'))
    if hold is not None:
        server.route(f"/news/{TOPICS[-1]}.html", handler=hold)


CONFIG = """
[defaults]
delay_seconds = 0
allow_private = true
retries = 0
revisit = "1h"
revisit_min = "10m"
revisit_max = "30d"

[[site]]
name = "gazette"
start_urls = ["{base}/index.html"]
max_depth = 1
"""


def _config(server: LocalServer) -> Config:
    return parse_config(CONFIG.format(base=server.base), Path("sites.toml"), environ={})


def _rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return conn.execute(sql, params).fetchall()


def _raw(db: Path, sha: object) -> bytes:
    ((size, compression, data),) = _rows(
        db, "SELECT size, compression, data FROM raw WHERE sha256 = ?", sha
    )
    assert compression == "zstd"
    assert isinstance(data, bytes)
    body = zstandard.ZstdDecompressor().decompressobj().decompress(data)
    assert len(body) == size
    return body


def test_an_unchanged_recrawl_writes_what_it_wrote_before(
    server: LocalServer, db_path: Path
) -> None:
    """Every column of a 304's fetch row and page row, its raw header blocks and the run's
    counts, against values written out by hand."""
    _serve(server)
    first = crawl(_config(server), db_path, clock=lambda: FIRST, extract_workers=0)
    assert first.new == 7
    raw_before = _rows(db_path, "SELECT COUNT(*) FROM raw")[0][0]
    assert isinstance(raw_before, int)

    second = crawl(_config(server), db_path, clock=lambda: SECOND, revisit=0, extract_workers=0)
    assert (second.not_modified, second.pages_fetched, second.new, second.failed) == (7, 7, 0, 0)

    stamp = "2026-03-02T10:00:00Z"
    pages = _rows(
        db_path,
        "SELECT url, site, last_fetched, last_changed, next_fetch_at, etag, last_modified, "
        "revisit_seconds, unchanged_count, failures, last_status, last_error, crawled_at, "
        "first_seen FROM pages ORDER BY url",
    )
    etags = {p: f'"v-{p.rsplit("/", 1)[1].removesuffix(".html")}"' for p in _paths()}
    etags["/index.html"] = '"v-index"'
    assert pages == [
        (
            server.base + path,
            "gazette",
            stamp,  # last_fetched: this visit
            "2026-03-01T10:00:00Z",  # last_changed: the first crawl's snapshot
            "2026-03-02T11:30:00Z",  # an hour x 1.5 after this visit
            etags[path],
            None,
            5400.0,
            1,
            0,
            304,
            None,
            stamp,
            "2026-03-01T10:00:00Z",
        )
        for path in sorted(_paths())
    ]
    fetches = _rows(
        db_path,
        "SELECT p.url, f.fetched_at, f.url, f.status_code, f.not_modified, f.bytes, "
        "f.content_type, f.error, f.snapshot_id, f.raw_sha256, f.http_version, f.charset, "
        "f.change_kind, f.same_as_snapshot_id, f.ip_address, f.elapsed_ms >= 0 "
        "FROM fetches f JOIN pages p ON p.id = f.page_id WHERE f.run_id = ? ORDER BY p.url",
        second.run_id,
    )
    assert fetches == [
        (
            server.base + path,
            stamp,
            server.base + path,
            304,
            1,
            None,
            None,
            None,
            None,
            None,
            "HTTP/1.1",
            None,
            None,
            None,
            "127.0.0.1",
            1,
        )
        for path in sorted(_paths())
    ]
    # the heads of each exchange, stored once each: 2 a page
    blocks = _rows(
        db_path,
        "SELECT p.url, f.headers_sha256, f.request_sha256 FROM fetches f "
        "JOIN pages p ON p.id = f.page_id WHERE f.run_id = ?",
        second.run_id,
    )
    assert _rows(db_path, "SELECT COUNT(*) FROM raw")[0][0] == raw_before + 14
    for url, headers_sha, request_sha in blocks:
        assert isinstance(url, str)
        path = url.removeprefix(server.base)
        response = _raw(db_path, headers_sha)
        assert response.startswith(b"HTTP/1.1 304 Not Modified\r\n")
        assert f"\r\netag: {etags[path]}\r\n".encode() in response.lower()
        assert response.endswith(b"\r\n\r\n")
        request = _raw(db_path, request_sha)
        assert request.startswith(f"GET {path} HTTP/1.1\r\n".encode())
        assert f"\r\nif-none-match: {etags[path]}\r\n".encode() in request.lower()
    runs = _rows(
        db_path,
        "SELECT started_at, pages_fetched, new, changed, unchanged, not_modified, failed, "
        "robots_blocked, discovered, bytes, exit_code FROM runs WHERE id = ?",
        second.run_id,
    )
    assert runs == [(stamp, 7, 0, 0, 0, 7, 0, 0, 0, 0, 0)]
    assert _rows(db_path, "SELECT COUNT(*) FROM snapshots") == [(7,)]


def test_a_page_that_raises_archive_trouble_stops_the_run_with_it(
    server: LocalServer, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The pump collects each finished page's task: the run's one fatal error (the archive
    failing under a page) comes out as itself, and the pages done before stay recorded."""
    from scraper.archive.sql import writes
    from scraper.errors import ArchiveError

    _serve(server)
    crawl(_config(server), db_path, clock=lambda: FIRST, extract_workers=0)
    real = writes.ArchiveWrites.save_fetch
    calls: list[str] = []

    def failing(self: writes.ArchiveWrites, url: str, **kw: object) -> object:
        calls.append(url)
        if len(calls) == 4:
            raise ArchiveError("archive.db: disk I/O error")
        return real(self, url, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(writes.ArchiveWrites, "save_fetch", failing)
    with pytest.raises(ArchiveError, match="disk I/O error"):
        crawl(_config(server), db_path, clock=lambda: SECOND, revisit=0, extract_workers=0)


@pytest.mark.parametrize(
    "moment",
    [
        dt.datetime(2026, 5, 1, 9, 30, 0, tzinfo=dt.UTC),
        dt.datetime(2026, 5, 1, 9, 30, 0, 999_999, tzinfo=dt.UTC),
        dt.datetime(2026, 5, 1, 9, 30, 0),  # naive: taken as UTC
        dt.datetime(2026, 5, 1, 23, 30, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
        dt.datetime(2026, 5, 1, 1, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))),
        dt.datetime(2026, 5, 1, 9, 0, 0, tzinfo=dt.timezone(dt.timedelta(0))),
        dt.datetime(2026, 7, 1, 12, 0, 0, tzinfo=ZoneInfo("Europe/Paris")),
        dt.datetime(1, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
        dt.datetime(1000, 1, 1, 0, 0, 0, tzinfo=dt.UTC),
        dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    ],
)
def test_timestamps_are_the_text_they_were(moment: dt.datetime) -> None:
    """iso_utc gives what ``astimezone(UTC).strftime(...)`` gave, for every kind of moment."""
    aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
    assert iso_utc(moment) == aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_timestamps_of_random_moments_are_the_text_they_were() -> None:
    rng = random.Random(17)
    zones = [dt.UTC, None, dt.timezone(dt.timedelta(hours=3)), ZoneInfo("America/New_York")]
    for _ in range(5000):
        moment = dt.datetime(
            rng.randint(1000, 9998),
            rng.randint(1, 12),
            rng.randint(1, 28),
            rng.randint(0, 23),
            rng.randint(0, 59),
            rng.randint(0, 59),
            rng.randint(0, 999_999),
            tzinfo=rng.choice(zones),
        )
        aware = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment
        assert iso_utc(moment) == aware.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_the_reason_phrase_of_a_stored_response_head_is_the_standard_one() -> None:
    from scraper.archive.sql.blocks import response_block

    def head(status: int, reason: str | None = None) -> bytes:
        result = FetchResult(
            url="http://h/", final_url="http://h/", status_code=status, fetched_at="",
            elapsed_ms=0, headers=(("ETag", '"x"'),), reason=reason,
        )  # fmt: skip
        return response_block(result)

    assert head(304) == b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'
    assert head(200) == b'HTTP/1.1 200 OK\r\nETag: "x"\r\n\r\n'
    assert head(299) == b'HTTP/1.1 299\r\nETag: "x"\r\n\r\n'  # no standard phrase
    assert head(304, "Pas modifié") == 'HTTP/1.1 304 Pas modifié\r\nETag: "x"\r\n\r\n'.encode()
    assert head(304) == b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'  # asked again


def test_request_heads_name_the_path_and_query_as_before() -> None:
    cases = [
        ("http://h/", "GET / HTTP/1.1"),
        ("http://h", "GET / HTTP/1.1"),
        ("http://h/a/b.html", "GET /a/b.html HTTP/1.1"),
        ("http://h/a?x=1&y=2", "GET /a?x=1&y=2 HTTP/1.1"),
        ("http://h?x=1", "GET /?x=1 HTTP/1.1"),
        ("http://h/a?", "GET /a HTTP/1.1"),
        ("http://h/a#frag", "GET /a HTTP/1.1"),
        ("http://h/a?q#frag?", "GET /a?q HTTP/1.1"),
        ("https://h:8443/%C3%A9t%C3%A9", "GET /%C3%A9t%C3%A9 HTTP/1.1"),
        ("http://[::1]:80/x", "GET /x HTTP/1.1"),
        ("HTTP://H/Up", "GET /Up HTTP/1.1"),
        ("http://h/été", "GET /été HTTP/1.1"),
    ]
    for url, line in cases:
        result = FetchResult(
            url=url, final_url=url, status_code=200, fetched_at="", elapsed_ms=0,
            request_headers=(("Host", "h"),),
        )  # fmt: skip
        assert request_block(result) == f"{line}\r\nHost: h\r\n\r\n".encode(), url


def _holding(release: threading.Event, asked: threading.Event) -> Callable[..., None]:
    """A route handler that answers 304 (to the second crawl) only once ``release`` is set."""
    etag = f'"v-{TOPICS[-1]}"'
    served = with_etag(topic_article(TOPICS[-1]), etag)

    def handler(request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("If-None-Match") == etag:
            asked.set()
            release.wait(WAIT_SECONDS)
        served(request)

    return handler


def _crawl_to_end(config: Path, db: Path, *extra: str) -> None:
    proc = crawl_process(config, db, *extra)
    try:
        _, err = proc.communicate(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err.decode()


def _until(what: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not what():
        assert proc.poll() is None, "the crawl ended before it was killed"
        assert time.monotonic() < deadline, "timed out waiting for the crawl"
        time.sleep(0.05)


def test_a_recrawl_killed_between_claim_and_record_keeps_each_page_whole(
    server: LocalServer, tmp_path: Path
) -> None:
    """SIGKILL while one claimed page's 304 is held back and the others are committed: each
    page is either recorded whole (its fetch row, its bookkeeping and its next due time) or not
    at all, and the next recrawl records every page."""
    release, asked = threading.Event(), threading.Event()
    _serve(server, hold=_holding(release, asked))
    config = tmp_path / "sites.toml"
    config.write_text(CONFIG.format(base=server.base), encoding="utf-8")
    db = tmp_path / "archive.db"
    try:
        _crawl_to_end(config, db, "--quiet")
        proc = crawl_process(
            config, db, "--quiet", "--revisit", "0", output=subprocess.DEVNULL, new_session=True
        )
        try:
            # the held page is claimed and asked for; the other six are committed (the group
            # commit's timer) while it waits
            _until(asked.is_set, proc)
            _until(
                lambda: _rows(db, "SELECT COUNT(*) FROM fetches WHERE run_id = 2")[0][0] == 6,
                proc,
            )
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(WAIT_SECONDS)
    finally:
        release.set()
    pages = _rows(
        db,
        "SELECT p.url, p.unchanged_count, p.last_status, p.crawled_at, p.next_fetch_at, "
        "(SELECT COUNT(*) FROM fetches f WHERE f.page_id = p.id AND f.run_id = 2), "
        "(SELECT MAX(f.fetched_at) FROM fetches f WHERE f.page_id = p.id AND f.run_id = 1) "
        "FROM pages p ORDER BY p.url",
    )
    held = server.base + f"/news/{TOPICS[-1]}.html"
    for url, unchanged, status, crawled_at, next_fetch_at, visits, first_at in pages:
        assert isinstance(crawled_at, str)
        assert isinstance(first_at, str)
        if url == held:  # claimed, never recorded: as the first crawl left it
            assert (unchanged, status, visits) == (0, 200, 0)
            assert first_at <= crawled_at < "9"
        else:  # recorded whole
            assert (unchanged, status, visits) == (1, 304, 1), url
            assert isinstance(next_fetch_at, str)
            assert next_fetch_at > crawled_at >= first_at
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # the next run takes the stale lock over and records every page
    _crawl_to_end(config, db, "--quiet", "--revisit", "0")
    assert _rows(db, "SELECT COUNT(*) FROM fetches WHERE run_id = 3 AND not_modified = 1") == [(7,)]


def _claim_order_by_the_rule(
    rows: list[tuple[int, str, str, str | None]], limit: int, window: int
) -> list[int]:
    """The ids a claim hands out, by the rule itself: the ``window`` oldest due pages (due
    time, then the newest ``lastmod``, pages without one last, then id), each host's in turn:
    first every host's oldest, then every host's second, and so on, oldest first within a
    turn."""
    by_age = sorted(rows, key=lambda r: r[0])  # stable sorts, the last key first
    by_age.sort(key=lambda r: r[3] or "", reverse=True)  # newest lastmod first, none last
    by_age.sort(key=lambda r: r[2])
    oldest = by_age[:window]
    turns: dict[str, int] = {}
    ranked = []
    for age, (page_id, host, _due, _lastmod) in enumerate(oldest):
        turns[host] = turns.get(host, 0) + 1
        ranked.append((turns[host], age, page_id))
    return [page_id for _turn, _age, page_id in sorted(ranked)[:limit]]


def _due_rows(db: Path, sql: str, *params: object) -> list[tuple[int, str, str, str | None]]:
    return [
        (int(str(i)), str(h), str(d), None if m is None else str(m))
        for i, h, d, m in _rows(db, sql, *params)
    ]


def test_a_claim_hands_out_the_pages_the_fair_order_names(db_path: Path) -> None:
    """Oldest due first and fair across hosts, with ties in due time and lastmod, pages not
    due, pages of another site and pages claimed already; claim after claim."""
    from scraper.archive import NewPage, open_archive

    rng = random.Random(5)
    archive = open_archive(db_path)
    try:
        state = archive.crawl_state()
        hosts = [f"http://h{n}.example" for n in range(5)]
        pages = []
        for n in range(600):
            host = rng.choice(hosts)
            site = "other" if n % 17 == 0 else "gazette"
            lastmod = rng.choice([None, "2026-01-01", "2026-02-01", "2026-02-01T10:00:00Z"])
            pages.append(NewPage(f"{host}/p/{n}", site, host, 0, "link", None, lastmod))
        state.enqueue(pages, now="2026-03-01T00:00:00Z")
        dues = ["2026-03-01T00:00:00Z", "2026-03-01T00:00:01Z", "2026-03-05T00:00:00Z"]
        with closing(sqlite3.connect(db_path)) as conn, conn:
            for (page_id,) in conn.execute("SELECT id FROM pages").fetchall():
                conn.execute(
                    "UPDATE pages SET next_fetch_at = ? WHERE id = ?", (rng.choice(dues), page_id)
                )
        now = "2026-03-02T00:00:00Z"
        rows = _due_rows(
            db_path,
            "SELECT id, host, next_fetch_at, lastmod FROM pages "
            "WHERE site = 'gazette' AND next_fetch_at <= ?",
            now,
        )
        claimed: list[int] = []
        for limit in (1, 7, 64, 300, 300):
            expected = _claim_order_by_the_rule(
                [r for r in rows if r[0] not in claimed], limit, limit * 8
            )
            got = state.claim_due("gazette", now=now, limit=limit, run_id=1)
            assert [p.id for p in got] == expected
            claimed += expected
        assert len(claimed) == len(rows) > 0  # every due page once, none not due
        # and with --revisit 0 every page of the site is due to a new run, in the same order
        every = _due_rows(
            db_path, "SELECT id, host, next_fetch_at, lastmod FROM pages WHERE site = 'gazette'"
        )
        got = state.claim_due("gazette", now=now, limit=50, run_id=2, crawled_before="9999")
        assert [p.id for p in got] == _claim_order_by_the_rule(every, 50, 400)
        assert {p.site for p in got} == {"gazette"}
        row = _rows(
            db_path, "SELECT url, host, next_fetch_at, lastmod FROM pages WHERE id = ?", got[0].id
        )
        assert row == [(got[0].url, got[0].host, got[0].next_fetch_at, got[0].lastmod)]
    finally:
        archive.close()


def test_request_targets_of_random_urls_are_what_urlsplit_gives() -> None:
    """The request line's target, cut by hand for plain URLs, against urlsplit on 20,000
    random URLs (other schemes, fragments, whitespace, brackets, non-ASCII among them)."""
    from urllib.parse import urlsplit

    rng = random.Random(11)
    alphabet = "abcXYZ019/?#&=%:@.[]-_~!$'()*+,; \t\n\\é\x00\x7f"
    schemes = ["http://", "https://", "HTTP://", "ftp://", "", "http:/", "http:", " http://"]
    for _ in range(20_000):
        url = rng.choice(schemes) + "".join(rng.choices(alphabet, k=rng.randint(0, 25)))
        try:
            parts = urlsplit(url)
        except ValueError:  # not a URL a fetch could have had
            continue
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        result = FetchResult(
            url=url, final_url=url, status_code=200, fetched_at="", elapsed_ms=0
        )  # fmt: skip
        assert request_block(result) == f"GET {target} HTTP/1.1\r\n\r\n".encode(
            "utf-8", "surrogateescape"
        ), url
