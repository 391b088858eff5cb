"""The one rule for a robots.txt that cannot be read (429, 5xx, no answer), in ``scraper crawl``
and ``scraper fetch`` alike: "not now" for the whole host, no page of it is fetched, and neither
command asks the host again before the backoff the other one set (crawl/hosts.py)."""

from __future__ import annotations

from pathlib import Path

from tests.gazette import article
from tests.server import LocalServer
from tests.sites import run as _run
from tests.sites import write_sites


def _config(tmp_path: Path, server: LocalServer) -> Path:
    return write_sites(tmp_path, f"{server.base}/p.html")


def _down(server: LocalServer) -> None:
    server.route("/robots.txt", "down for maintenance", status=503)
    server.route("/p.html", article("harbour"))


def test_fetch_says_not_now_and_the_crawl_keeps_away(server: LocalServer, tmp_path: Path) -> None:
    _down(server)
    db = str(tmp_path / "a.db")
    url = server.url("/p.html")
    fetched = _run("fetch", url, "--db", db, "--allow-private")
    assert fetched.exit_code == 1
    (line,) = fetched.stderr.strip().splitlines()
    assert line.startswith(f"Error: {url}: robots.txt could not be fetched")
    assert line.endswith("so not now")
    assert server.requests_to("/p.html") == []
    # the crawl right after it: the host is left alone (robots.txt is not asked again)
    crawled = _run("crawl", "--config", str(_config(tmp_path, server)), "--db", db)
    assert "0 pages fetched" in crawled.stderr
    assert "1 deferred to a later run" in crawled.stderr
    assert f"problem: {server.base}: robots.txt answered" in crawled.stderr
    assert len(server.requests_to("/robots.txt")) == 1
    assert server.requests_to("/p.html") == []


def test_the_crawl_says_not_now_and_fetch_keeps_away(server: LocalServer, tmp_path: Path) -> None:
    _down(server)
    db = str(tmp_path / "a.db")
    crawled = _run("crawl", "--config", str(_config(tmp_path, server)), "--db", db)
    assert "1 deferred to a later run" in crawled.stderr
    assert len(server.requests_to("/robots.txt")) == 1
    url = server.url("/p.html")
    fetched = _run("fetch", url, "--db", db, "--allow-private")
    assert fetched.exit_code == 1
    (line,) = fetched.stderr.strip().splitlines()
    assert line.startswith(f"Error: {url}: robots.txt could not be fetched, so not now")
    assert "the host is left alone until 20" in line
    assert len(server.requests_to("/robots.txt")) == 1
    assert server.requests_to("/p.html") == []


def test_without_an_archive_each_fetch_asks_again(server: LocalServer) -> None:
    """``--no-store`` remembers nothing: robots.txt is asked once per command, and "not now"
    holds for every URL of the host in that command."""
    _down(server)
    urls = [server.url("/p.html"), server.url("/q.html")]
    for attempt in (1, 2):
        fetched = _run("fetch", *urls, "--no-store", "--allow-private")
        assert fetched.exit_code == 1
        lines = fetched.stderr.strip().splitlines()
        assert [line.split(": ", 2)[1] for line in lines] == urls
        assert all("robots.txt could not be fetched" in line for line in lines)
        assert len(server.requests_to("/robots.txt")) == attempt
    assert server.requests_to("/p.html") == server.requests_to("/q.html") == []


def test_a_readable_robots_txt_is_cached_for_fetch_as_for_the_crawl(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route("/robots.txt", "User-agent: *\nDisallow: /private/\n")
    server.route("/p.html", article("harbour"))
    db = str(tmp_path / "a.db")
    _run("crawl", "--config", str(_config(tmp_path, server)), "--db", db)
    fetched = _run("fetch", server.url("/private/x.html"), "--db", db, "--allow-private")
    assert fetched.exit_code == 1
    assert "disallowed by robots.txt" in fetched.stderr
    assert len(server.requests_to("/robots.txt")) == 1  # the crawl's copy, within robots_ttl
