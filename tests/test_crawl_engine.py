"""The crawl against a real server on 127.0.0.1 serving tests/fixtures/crawl_site/."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import scraper.crawl.engine as crawl_module
from scraper.cli import cli
from scraper.config import Config, parse_config
from scraper.crawl import (
    CrawlLock,
    Extracted,
    ExtractPool,
    crawl,
    extract_page,
)
from scraper.errors import CrawlLockedError, ExtractError
from scraper.fetch.worker import FetchWorker
from tests.conftest import FIXTURES
from tests.server import LocalServer

SITE = FIXTURES / "crawl_site"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: what a crawl of the fixture site archives (hand-written): everything in scope and allowed
ARCHIVED = {
    "/index.html",
    "/about.html",
    "/articles/a1.html",
    "/articles/a2.html",
    "/articles/s1.html",  # from sitemap.xml
    "/articles/s2.html",  # from sitemap_index.xml -> sitemaps/s2.xml.gz
    "/articles/f1.html",  # from feed.xml, found by <link rel="alternate"> on the index
    "/articles/f2.html",  # from atom.xml, likewise
    "/deep/d1.html",  # depth 1
    "/deep/d2.html",  # depth 2 (max_depth)
}


@pytest.fixture
def site_server() -> Iterator[LocalServer]:
    srv = LocalServer(SITE).start()
    yield srv
    srv.stop()


def config_for(
    server: LocalServer,
    extra: str = "",
    site_extra: str = "",
    *,
    sitemaps: bool = True,
    max_depth: int = 2,
) -> Config:
    base = server.base
    maps = f'"{base}/sitemap.xml", "{base}/sitemap_index.xml"' if sitemaps else ""
    text = f"""
[defaults]
delay_seconds = 0
allow_private = true
retries = 0
revisit = "6h"
revisit_min = "1h"
revisit_max = "7d"
{extra}

[[site]]
name = "gazette"
start_urls = ["{base}/index.html"]
sitemaps = [{maps}]
deny = ["/tag/"]
max_depth = {max_depth}
{site_extra}
"""
    return parse_config(text, Path("sites.toml"), environ={})


def write_config(tmp_path: Path, server: LocalServer, extra: str = "") -> Path:
    base = server.base
    path = tmp_path / "sites.toml"
    path.write_text(
        f"""
[defaults]
delay_seconds = 0
allow_private = true
retries = 0
{extra}

[[site]]
name = "gazette"
start_urls = ["{base}/index.html"]
sitemaps = ["{base}/sitemap.xml", "{base}/sitemap_index.xml"]
deny = ["/tag/"]
max_depth = 2
"""
    )
    return path


def rows(db_path: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return list(conn.execute(sql, params))


def paths_with_snapshots(db_path: Path, base: str) -> set[str]:
    found = rows(db_path, "SELECT DISTINCT p.url FROM pages p JOIN snapshots s ON s.page_id = p.id")
    return {str(url).removeprefix(base) for (url,) in found}


def page_requests(server: LocalServer) -> list[str]:
    return [r.path for r in server.requests if r.path.endswith(".html") or "?" in r.path]


def test_crawl_archives_the_site_within_its_rules(site_server: LocalServer, db_path: Path) -> None:
    summary = crawl(config_for(site_server), db_path, clock=lambda: T0)
    assert paths_with_snapshots(db_path, site_server.base) == ARCHIVED
    requested = page_requests(site_server)
    # robots.txt disallows /private/, deny excludes /tag/, d3 is at depth 3, the rest is off-site
    for path in ("/private/secret.html", "/tag/harbour.html", "/deep/d3.html"):
        assert path not in requested
    # the same page under other spellings (tracking parameters, fragment) is fetched once
    assert requested.count("/articles/a1.html") == 1
    assert not any("utm_source" in path for path in requested)
    assert summary.new == len(ARCHIVED)
    assert summary.robots_blocked == 1
    assert summary.failed == 0


def test_sources_of_discovered_pages(site_server: LocalServer, db_path: Path) -> None:
    crawl(config_for(site_server), db_path, clock=lambda: T0)
    base = site_server.base
    found = dict(rows(db_path, "SELECT url, source FROM pages WHERE site = 'gazette'"))
    assert found[f"{base}/index.html"] == "start"
    assert found[f"{base}/articles/s1.html"] == "sitemap"
    assert found[f"{base}/articles/s2.html"] == "sitemap"
    assert found[f"{base}/articles/f1.html"] == "feed"
    assert found[f"{base}/articles/f2.html"] == "feed"
    assert found[f"{base}/deep/d1.html"] == "link"
    lastmod = rows(db_path, "SELECT lastmod FROM pages WHERE url = ?", f"{base}/articles/s1.html")
    assert lastmod == [("2026-01-02T00:00:00Z",)]
    sources = dict(rows(db_path, "SELECT url, found_on FROM crawl_sources"))
    assert sources[f"{base}/sitemaps/s2.xml.gz"] == f"{base}/sitemap_index.xml"
    assert sources[f"{base}/feed.xml"] == f"{base}/index.html"


def test_canonical_duplicate_is_not_a_second_article(
    site_server: LocalServer, db_path: Path
) -> None:
    crawl(config_for(site_server), db_path, clock=lambda: T0)
    base = site_server.base
    snapshots = rows(
        db_path,
        "SELECT p.url FROM snapshots s JOIN pages p ON p.id = s.page_id WHERE p.url LIKE ?",
        "%a2.html",
    )
    assert snapshots == [(f"{base}/articles/a2.html",)]
    fetched = rows(
        db_path,
        "SELECT COUNT(*) FROM fetches f JOIN pages p ON p.id = f.page_id WHERE p.url = ?",
        f"{base}/articles/print-a2.html",
    )
    assert fetched == [(1,)]


def test_robots_crawl_delay_is_observed(site_server: LocalServer, db_path: Path) -> None:
    """Requests to the host are at least Crawl-delay apart (from the server's own log)."""
    site_server.route(
        "/robots.txt", "User-agent: *\nCrawl-delay: 0.4\n", headers={"Content-Type": "text/plain"}
    )
    config = config_for(
        site_server, site_extra="concurrency_per_host = 4", sitemaps=False, max_depth=0
    )
    site_server.route("/index.html", '<a href="/articles/a1.html">a</a><a href="/about.html">b</a>')
    crawl(config, db_path, clock=lambda: T0)
    times = [r.at for r in site_server.requests]
    assert len(times) >= 2
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.4 * 0.95


def test_revisits_follow_the_adaptive_schedule(site_server: LocalServer, db_path: Path) -> None:
    config = config_for(site_server, sitemaps=False, max_depth=1)
    now = [T0]
    crawl(config, db_path, clock=lambda: now[0])
    first = len(site_server.requests)
    url = f"{site_server.base}/articles/a1.html"
    assert rows(db_path, "SELECT next_fetch_at, revisit_seconds FROM pages WHERE url = ?", url) == [
        ("2026-03-01T18:00:00Z", 6 * 3600.0)
    ]
    now[0] = T0 + timedelta(minutes=50)  # feeds are read again after revisit_min (1h)
    assert crawl(config, db_path, clock=lambda: now[0]).pages_fetched == 0
    assert len(site_server.requests) == first  # nothing due, nothing asked

    now[0] = T0 + timedelta(hours=6)
    site_server.route(
        "/articles/a1.html",
        (SITE / "articles/a1.html").read_text().replace("north pier", "south pier"),
    )
    summary = crawl(config, db_path, clock=lambda: now[0])
    assert summary.changed == 1
    assert summary.unchanged == summary.pages_fetched - 1
    schedule = dict(
        (
            (u, (n, r))
            for u, n, r in rows(db_path, "SELECT url, next_fetch_at, revisit_seconds FROM pages")
        )
    )
    assert schedule[url] == ("2026-03-01T21:00:00Z", 3 * 3600.0)  # changed: 6h / 2
    about = f"{site_server.base}/about.html"
    assert schedule[about] == ("2026-03-02T03:00:00Z", 9 * 3600.0)  # unchanged: 6h x 1.5


def test_retry_after_keeps_later_runs_away(site_server: LocalServer, db_path: Path) -> None:
    site_server.route("/index.html", "busy", status=503, headers={"Retry-After": "3600"})
    config = config_for(site_server, sitemaps=False)
    summary = crawl(config, db_path, clock=lambda: T0)
    assert summary.failed == 1
    assert rows(db_path, "SELECT next_allowed_at FROM hosts") == [("2026-03-01T13:00:00Z",)]
    asked = len(site_server.requests)
    later = T0 + timedelta(minutes=30)
    again = crawl(config, db_path, clock=lambda: later, revisit=0)
    assert again.pages_fetched == 0
    assert len(site_server.requests) == asked


def test_a_huge_retry_after_is_capped(site_server: LocalServer, db_path: Path) -> None:
    """A Retry-After of three centuries defers the host for 6 hours, not forever."""
    site_server.route(
        "/index.html", "busy", status=503, headers={"Retry-After": str(300 * 365 * 86400)}
    )
    summary = crawl(config_for(site_server, sitemaps=False), db_path, clock=lambda: T0)
    assert summary.failed == 1
    assert rows(db_path, "SELECT next_allowed_at FROM hosts") == [("2026-03-01T18:00:00Z",)]


def test_max_pages_limits_a_run(site_server: LocalServer, db_path: Path) -> None:
    summary = crawl(config_for(site_server), db_path, clock=lambda: T0, max_pages=3)
    assert summary.pages_fetched + summary.robots_blocked == 3


def test_summary_row(site_server: LocalServer, db_path: Path) -> None:
    summary = crawl(config_for(site_server), db_path, clock=lambda: T0)
    (run,) = rows(
        db_path,
        "SELECT started_at, ended_at, pid, sites, pages_fetched, new, changed, unchanged, "
        "not_modified, failed, robots_blocked, discovered, bytes, exit_code FROM runs",
    )
    assert run[:4] == ("2026-03-01T12:00:00Z", "2026-03-01T12:00:00Z", run[2], '["gazette"]')
    assert isinstance(run[2], int)
    assert run[4:] == (
        summary.pages_fetched,
        summary.new,
        summary.changed,
        summary.unchanged,
        summary.not_modified,
        summary.failed,
        summary.robots_blocked,
        summary.discovered,
        summary.bytes,
        0,
    )


def test_lock_held_means_exit_3(site_server: LocalServer, tmp_path: Path, db_path: Path) -> None:
    config = write_config(tmp_path, site_server)
    with CrawlLock(db_path):
        result = CliRunner().invoke(
            cli, ["crawl", "--config", str(config), "--db", str(db_path)], catch_exceptions=False
        )
        with pytest.raises(CrawlLockedError):
            crawl(config_for(site_server), db_path)
    assert result.exit_code == 3
    assert result.stderr.count("\n") == 1
    assert "another crawl" in result.stderr
    assert f"pid {__import__('os').getpid()}" in result.stderr
    assert site_server.requests == []


def test_stale_lock_is_taken_over(site_server: LocalServer, tmp_path: Path, db_path: Path) -> None:
    config = write_config(tmp_path, site_server)
    Path(f"{db_path}.lock").write_text("999999\n")  # a killed crawl left its pid, not its flock
    result = CliRunner().invoke(
        cli, ["crawl", "--config", str(config), "--db", str(db_path)], catch_exceptions=False
    )
    assert result.exit_code == 0, result.stderr
    assert "previous crawl (pid 999999) did not finish" in result.stderr
    assert Path(f"{db_path}.lock").read_text() == ""


def test_cli_quiet_prints_only_the_summary(
    site_server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = write_config(tmp_path, site_server)
    args = ["crawl", "--config", str(config), "--db", str(db_path), "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("crawl #1: 11 pages fetched, 10 new, 0 changed,")
    assert "1 blocked by robots.txt" in line
    again = CliRunner().invoke(cli, [*args, "--revisit", "0"], catch_exceptions=False)
    assert again.exit_code == 0
    # the page whose canonical URL is another page is an alias on every visit, not a version
    assert "0 new, 0 changed, 10 unchanged, 0 not modified, 1 duplicates" in again.stderr


def test_failed_pages_still_exit_0(site_server: LocalServer, tmp_path: Path, db_path: Path) -> None:
    site_server.route("/articles/a2.html", "gone", status=410)
    config = write_config(tmp_path, site_server)
    result = CliRunner().invoke(
        cli, ["crawl", "--config", str(config), "--db", str(db_path), "-q"], catch_exceptions=False
    )
    assert result.exit_code == 0
    assert "1 failed" in result.stderr
    errors = rows(db_path, "SELECT error FROM fetches WHERE error LIKE 'status:%'")
    assert len(errors) == 1


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[[site]]\nname = 'x'\nmax_depht = 2\n", "unknown key 'max_depht'"),
        ("[defaults]\nrevisit = 'often'\n[[site]]\nname = 'x'\n", "defaults.revisit"),
        ("[[site]]\nname = 'x'\ndeny = ['(']\n", "deny[0]: bad regular expression"),
    ],
)
def test_config_errors_exit_2(tmp_path: Path, db_path: Path, toml: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    result = CliRunner().invoke(
        cli, ["crawl", "--config", str(config), "--db", str(db_path)], catch_exceptions=False
    )
    assert result.exit_code == 2
    assert str(config) in result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_unknown_site_and_bad_revisit_exit_2(
    site_server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = write_config(tmp_path, site_server)
    base = ["crawl", "--config", str(config), "--db", str(db_path)]
    result = CliRunner().invoke(cli, [*base, "--site", "nope"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "no site named 'nope'" in result.stderr
    result = CliRunner().invoke(cli, [*base, "--revisit", "soon"], catch_exceptions=False)
    assert result.exit_code == 2
    assert "--revisit" in result.stderr


def slow_extract(
    html: str, url: str, strip: tuple[str, ...], boilerplate: frozenset[str], timeout: float
) -> Extracted:
    """An extraction that hangs on pages that ask for it (runs in the pool's worker)."""
    if "HANG" in html:
        time.sleep(60)
    return extract_page(html, url, strip, boilerplate, timeout)


def test_hung_extraction_fails_the_page_not_the_crawl() -> None:
    pool = ExtractPool(1, job=slow_extract, grace_seconds=0.5)

    async def run() -> tuple[str, str]:
        try:
            await pool.extract(
                "<p>HANG</p>", "http://x.example/", strip=(), boilerplate=(), timeout_seconds=0.1
            )
        except ExtractError as exc:
            message = str(exc)
        done = await pool.extract(
            "<html><body><article><p>A fine page about the harbour and its pier.</p></article>"
            "</body></html>",
            "http://x.example/ok",
            strip=(),
            boilerplate=(),
            timeout_seconds=60,  # far above what a fresh worker needs for this page
        )
        return message, done.article.url or ""

    started = time.monotonic()
    try:
        message, url = asyncio.run(run())
    finally:
        pool.close()
    assert message == "http://x.example/: extraction took longer than 0.1 s"
    assert url == "http://x.example/ok"  # a fresh worker took over
    # a liveness guard, not a speed test: waiting out the hung page would take its 60 s
    assert time.monotonic() - started < 59


def test_robots_server_error_means_not_now(site_server: LocalServer, db_path: Path) -> None:
    site_server.route("/robots.txt", "down", status=503)
    summary = crawl(config_for(site_server, sitemaps=False), db_path, clock=lambda: T0)
    assert summary.pages_fetched == 0
    assert summary.deferred == 1
    assert [r.path for r in site_server.requests] == ["/robots.txt"]
    # the page stays due for the next run
    assert rows(db_path, "SELECT next_fetch_at FROM pages") == [("2026-03-01T12:00:00Z",)]


def test_robots_txt_is_cached_until_it_expires(site_server: LocalServer, db_path: Path) -> None:
    config = config_for(site_server, 'robots_ttl = "1d"', sitemaps=False, max_depth=0)
    crawl(config, db_path, clock=lambda: T0, revisit=0)
    crawl(config, db_path, clock=lambda: T0 + timedelta(hours=23), revisit=0)
    assert len(site_server.requests_to("/robots.txt")) == 1
    crawl(config, db_path, clock=lambda: T0 + timedelta(hours=25), revisit=0)
    assert len(site_server.requests_to("/robots.txt")) == 2
    assert rows(db_path, "SELECT robots_expires_at FROM hosts") == [("2026-03-03T13:00:00Z",)]


def test_repeated_failures_push_the_host_back(site_server: LocalServer, db_path: Path) -> None:
    for path in ("/index.html", "/articles/s1.html", "/articles/a1.html"):
        site_server.route(path, "oops", status=500)
    config = config_for(site_server, "concurrency_per_host = 1", max_depth=0)
    summary = crawl(config, db_path, clock=lambda: T0)
    assert summary.failed == 3
    assert summary.deferred >= 1  # the rest of the host waits for a later run
    (host,) = rows(db_path, "SELECT failures, next_allowed_at, last_error FROM hosts")
    assert host[0] == 3
    assert host[1] == "2026-03-01T12:01:00Z"  # 60 s after the third failure in a row
    assert str(host[2]).startswith("status: HTTP 500")


def test_per_host_concurrency_is_respected(site_server: LocalServer, db_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler

    lock = threading.Lock()
    state = {"now": 0, "most": 0}
    body = (SITE / "articles/a1.html").read_bytes()
    #: the first request waits for a second one to arrive (an event, not a guessed time): a
    #: crawl that sent one request at a time would never get two in flight, however slow
    second_arrived = threading.Event()

    def slow(handler: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["most"] = max(state["most"], state["now"])
            if state["now"] >= 2:
                second_arrived.set()
        second_arrived.wait(60)
        time.sleep(0.15)  # holds each request a while, to catch a third one if one came
        with lock:
            state["now"] -= 1
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    links = "".join(f'<a href="/slow/{n}.html">{n}</a>' for n in range(8))
    site_server.route("/index.html", f"<html><body>{links}</body></html>")
    for n in range(8):
        site_server.route(f"/slow/{n}.html", handler=slow)
    config = config_for(
        site_server, "concurrency_per_host = 2\nconcurrency = 8", sitemaps=False, max_depth=1
    )
    summary = crawl(config, db_path, clock=lambda: T0)
    assert summary.pages_fetched == 9
    assert state["most"] == 2


def test_sitemaps_listed_in_robots_txt_are_read(site_server: LocalServer, db_path: Path) -> None:
    robots = f"User-agent: *\nDisallow: /private/\nSitemap: {site_server.base}/sitemap.xml\n"
    site_server.route("/robots.txt", robots, headers={"Content-Type": "text/plain"})
    crawl(config_for(site_server, sitemaps=False, max_depth=0), db_path, clock=lambda: T0)
    assert paths_with_snapshots(db_path, site_server.base) == {
        "/index.html",
        "/articles/s1.html",  # listed in the sitemap robots.txt names
        "/articles/a1.html",  # likewise
        "/articles/f1.html",  # the feeds the index page links to
        "/articles/f2.html",
    }
    sources = rows(db_path, "SELECT url, found_on FROM crawl_sources WHERE kind = 'sitemap'")
    assert sources == [(f"{site_server.base}/sitemap.xml", "robots.txt")]


def test_the_fetch_helper_gives_the_same_archive(
    site_server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the helper process fetching (forced on, however small the run), a crawl and a
    recrawl archive exactly what they archive without it."""
    config = config_for(site_server)

    def archive_of(db: Path) -> list[tuple[object, ...]]:
        crawl(config, db, clock=lambda: T0)
        crawl(config, db, clock=lambda: T0 + timedelta(hours=1), revisit=0)
        return rows(
            db,
            "SELECT p.url, s.content_hash, COUNT(f.id), SUM(f.error IS NOT NULL) FROM pages p "
            "LEFT JOIN snapshots s ON s.page_id = p.id LEFT JOIN fetches f ON f.page_id = p.id "
            "GROUP BY p.url, s.content_hash ORDER BY p.url",
        )

    alone = archive_of(tmp_path / "alone.db")
    handed: list[str] = []
    real_fetch = FetchWorker.fetch

    async def counting(self: FetchWorker, url: str, *args: Any, **kwargs: Any) -> Any:
        handed.append(url)
        return await real_fetch(self, url, *args, **kwargs)

    monkeypatch.setattr(crawl_module, "OFFLOAD_BACKLOG_PAGES", 0)
    monkeypatch.setattr(FetchWorker, "fetch", counting)
    helped = archive_of(tmp_path / "helped.db")
    assert helped == alone
    assert len(alone) >= len(ARCHIVED)
    assert len(handed) >= len(ARCHIVED)  # the helper did fetch, in both runs


def test_the_fetch_helper_starts_for_revisits_only(
    site_server: LocalServer, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New pages are bound by extraction, so a first crawl runs no helper; a recrawl with
    enough known pages waiting starts one."""
    starts: list[int] = []
    real_start = FetchWorker.start

    async def counting(self: FetchWorker) -> FetchWorker:
        starts.append(1)
        return await real_start(self)

    monkeypatch.setattr(FetchWorker, "start", counting)
    monkeypatch.setattr(crawl_module, "OFFLOAD_BACKLOG_PAGES", 3)
    config = config_for(site_server)
    first = crawl(config, db_path, clock=lambda: T0)
    assert first.new >= 3
    assert starts == []
    crawl(config, db_path, clock=lambda: T0 + timedelta(hours=1), revisit=0)
    assert starts == [1]
