"""Exports replayed by the real tools: pywb's ``wayback`` over an exported WARC, ``wacz validate``
over an exported WACZ. Every capture must replay with its page, 304 answers included."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import subprocess
import time
import zipfile
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import httpx
import pytest
from warcio.archiveiterator import ArchiveIterator

from scraper.archive import open_archive
from tests.conftest import FIXTURES
from tests.fixtures.archive_site.build import CAPTURES, body, build_archive
from tests.server import LocalServer, with_etag
from tests.sites import run, write_sites
from tests.tools import pywb, require, tool

PAGE = "/blog/lighthouse.html"
V1 = (FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes()
ARTICLE_SENTENCE = b"twice a night to check the lamp"  # in the article of V1, written by hand


def serve_with_etag(server: LocalServer, page: bytes, etag: str) -> None:
    """PAGE answers ``page`` with an ETag, and 304 when the client already has it."""
    handler = with_etag(
        page,
        etag,
        headers={"Cache-Control": "max-age=0"},
        not_modified_headers={"Cache-Control": "max-age=60"},
    )
    server.route(PAGE, handler=handler)


def timestamp(iso: str) -> str:
    """A stored UTC ISO 8601 time as pywb's 14-digit timestamp."""
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y%m%d%H%M%S")


def memento(iso: str) -> str:
    moment = dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(dt.UTC)
    return email.utils.format_datetime(moment.replace(microsecond=0), usegmt=True)


def replay(base: str, iso: str, url: str) -> httpx.Response:
    """The capture of ``url`` at ``iso`` as pywb serves it, unrewritten (``id_``)."""
    with httpx.Client(trust_env=False, timeout=120) as client:
        return client.get(f"{base}{timestamp(iso)}id_/{url}")


def next_second() -> None:
    """Wait until the wall clock's second changes, so two fetches get distinct WARC-Dates."""
    start = int(time.time())
    while int(time.time()) == start:
        time.sleep(0.02)


def test_newest_capture_of_an_unchanged_page_replays_in_pywb(
    server: LocalServer, tmp_path: Path
) -> None:
    """The cron case: the page was fetched (200), then answered 304; the 304 is the newest
    capture, and pywb must serve the article for it, not an empty 304."""
    db = tmp_path / "archive.db"
    url = server.url(PAGE)
    serve_with_etag(server, V1, '"v1"')
    assert run("fetch", url, "--db", str(db), "--allow-private").exit_code == 0
    next_second()
    assert run("fetch", url, "--db", str(db), "--allow-private").exit_code == 0
    assert server.requests_to(PAGE)[-1].headers.get("If-None-Match") == '"v1"'
    with open_archive(db, readonly=True) as archive:
        ok, not_modified = sorted(archive.fetches(url), key=lambda fetch: fetch.fetched_at)
    assert (ok.not_modified, not_modified.not_modified) == (False, True)
    ok_at, not_modified_at = ok.fetched_at, not_modified.fetched_at
    warc = tmp_path / "archive.warc.gz"
    exported = run("export", "--db", str(db), "--format", "warc", "-o", str(warc))
    assert exported.exit_code == 0, exported.output
    server.stop()  # replay must come from the WARC alone

    with pywb([warc], tmp_path / "pywb") as base:
        newest = replay(base, not_modified_at, url)
        assert newest.status_code == 200, newest.text
        assert newest.headers["memento-datetime"] == memento(not_modified_at)
        assert ARTICLE_SENTENCE in newest.content
        assert newest.headers["x-archive-orig-etag"] == '"v1"'
        assert newest.headers["x-archive-orig-cache-control"] == "max-age=60"  # updated by the 304
        first = replay(base, ok_at, url)
        assert first.status_code == 200
        assert first.headers["memento-datetime"] == memento(ok_at)
        assert first.content == V1


@pytest.fixture(scope="module")
def fixture_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_archive(tmp_path_factory.mktemp("replay") / "archive.db")


def expected_bodies() -> list[tuple[str, str, bytes]]:
    """(url, time, page body) of every capture with a stored answer, from captures.json:
    a 304 replays the version fetched before it."""
    out: list[tuple[str, str, bytes]] = []
    current: dict[str, str] = {}
    for capture in CAPTURES:
        if "version" in capture:
            current[capture["url"]] = capture["version"]
        if "version" in capture or capture.get("status") == 304:
            out.append((capture["url"], capture["at"], body(current[capture["url"]])))
    return out


def test_every_capture_of_the_fixture_archive_replays(fixture_db: Path, tmp_path: Path) -> None:
    warc = tmp_path / "all.warc.gz"
    assert (
        run("export", "--db", str(fixture_db), "--format", "warc", "-o", str(warc)).exit_code == 0
    )
    expected = expected_bodies()
    assert len(expected) == 12
    with pywb([warc], tmp_path / "pywb") as base:
        for url, at, page in expected:
            answer = replay(base, at, url)
            assert answer.status_code == 200, (url, at, answer.text[:200])
            assert answer.headers["memento-datetime"] == memento(at), (url, at)
            assert answer.content == page, (url, at)


def test_since_keeps_a_304_replayable(fixture_db: Path, tmp_path: Path) -> None:
    """--since 2026-05-03 leaves budget's 200 of 05-01 out; its 304 of 05-03 still replays."""
    warc = tmp_path / "since.warc.gz"
    result = run(
        "export",
        "--db",
        str(fixture_db),
        "--format",
        "warc",
        "--since",
        "2026-05-03",
        "-o",
        str(warc),
    )
    assert result.exit_code == 0, result.output
    budget = "https://daily.example/news/budget"
    with pywb([warc], tmp_path / "pywb") as base:
        answer = replay(base, "2026-05-03T08:00:00Z", budget)
        assert answer.status_code == 200
        assert answer.headers["memento-datetime"] == memento("2026-05-03T08:00:00Z")
        assert answer.content == body("budget.v1")


def test_wacz_passes_wacz_validate_and_lists_pages(fixture_db: Path, tmp_path: Path) -> None:
    require("wacz.main")
    package = tmp_path / "archive.wacz"
    result = run("export", "--db", str(fixture_db), "--format", "wacz", "-o", str(package))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"exported 9 responses, 3 revisits and 12 requests to {package} (5 pages listed)\n"
    )
    check = subprocess.run(
        [str(tool("wacz")), "validate", "-f", str(package)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Validation succeeded" in check.stdout
    with zipfile.ZipFile(package) as zipped:
        names = set(zipped.namelist())
        assert {"archive/data.warc.gz", "pages/pages.jsonl", "datapackage.json"} <= names
        assert any(name.startswith("indexes/") for name in names)
        # WARCs are stored, not deflated: replay tools read them by offset
        assert zipped.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        lines = zipped.read("pages/pages.jsonl").decode("utf-8").splitlines()
        package_info = json.loads(zipped.read("datapackage.json"))
    assert json.loads(lines[0])["format"] == "json-pages-1.0"
    entries = [json.loads(line) for line in lines[1:]]
    pages = {entry["url"]: entry["title"] for entry in entries}
    # each page opens at its newest capture (captures.json): about's 05-08 fetch, budget's 05-06
    newest = {entry["url"]: entry["ts"] for entry in entries}
    assert newest["https://weekly.example/p/about"] == "2026-05-08T00:30:00Z"
    assert newest["https://daily.example/news/budget"] == "2026-05-06T08:00:00Z"
    assert pages == {  # the newest snapshot's title of each page (versions.json)
        "https://daily.example/news/budget": "Council approves record budget after late-night vote",
        "https://daily.example/news/seoul": "서울 시장 선거",
        "https://daily.example/news/bridge": "Bridge closed for repairs",
        "https://weekly.example/p/moscow": "Москва отмечает праздник",
        "https://weekly.example/p/about": "About the Weekly",
    }
    assert package_info["wacz_version"].startswith("1.1")
    assert all(r["hash"].startswith("sha256:") for r in package_info["resources"])
    # a replay tool reads the package: pywb serves every capture from it, the 304 included
    with pywb([package], tmp_path / "pywb") as base:
        for url, at, page in expected_bodies():
            answer = replay(base, at, url)
            assert answer.status_code == 200, (url, at)
            assert answer.content == page, (url, at)


def test_latest_exports_one_full_response_per_page(fixture_db: Path, tmp_path: Path) -> None:
    warc = tmp_path / "latest.warc.gz"
    result = run("export", "--db", str(fixture_db), "--format", "warc", "--latest", "-o", str(warc))
    assert result.exit_code == 0, result.output
    assert result.stderr == f"exported 5 responses, 0 revisits and 5 requests to {warc}\n"
    newest = {url: (at, page) for url, at, page in expected_bodies()}
    with pywb([warc], tmp_path / "pywb") as base:
        for url, (at, page) in newest.items():
            answer = replay(base, at, url)
            assert answer.status_code == 200
            assert answer.content == page


def test_request_record_says_the_version_sent(server: LocalServer, tmp_path: Path) -> None:
    """A server answering in HTTP/1.0 to scraper's HTTP/1.1 request: the response record keeps
    the server's status line, the request record says HTTP/1.1 (what was sent)."""

    def old_server(req: BaseHTTPRequestHandler) -> None:
        req.protocol_version = "HTTP/1.0"
        req.send_response(200)
        req.send_header("Content-Type", "text/html; charset=utf-8")
        req.send_header("Content-Length", str(len(V1)))
        req.end_headers()
        req.wfile.write(V1)

    server.route(PAGE, handler=old_server)
    db = tmp_path / "archive.db"
    assert run("fetch", server.url(PAGE), "--db", str(db), "--allow-private").exit_code == 0
    warc = tmp_path / "old.warc.gz"
    assert run("export", "--db", str(db), "--format", "warc", "-o", str(warc)).exit_code == 0
    with warc.open("rb") as stream:
        blocks = {
            record.rec_type: record.http_headers
            for record in ArchiveIterator(stream)
            if record.rec_type in ("request", "response")
        }
    assert blocks["response"].protocol == "HTTP/1.0"
    assert blocks["response"].statusline == "200 OK"
    assert blocks["request"].protocol == "GET"
    assert blocks["request"].statusline == f"{PAGE} HTTP/1.1"


def test_latest_is_for_captures_only(fixture_db: Path) -> None:
    result = run("export", "--db", str(fixture_db), "--format", "jsonl", "--latest")
    assert result.exit_code == 2
    assert "--latest applies to --format warc and wacz" in result.stderr


def test_response_record_keeps_the_reason_phrase_received(
    server: LocalServer, tmp_path: Path
) -> None:
    def unusual(req: BaseHTTPRequestHandler) -> None:
        req.send_response(200, "Fine, Thanks")
        req.send_header("Content-Type", "text/html; charset=utf-8")
        req.send_header("X-Odd-Case", "kept")
        req.send_header("Content-Length", str(len(V1)))
        req.end_headers()
        req.wfile.write(V1)

    server.route(PAGE, handler=unusual)
    db = tmp_path / "archive.db"
    assert run("fetch", server.url(PAGE), "--db", str(db), "--allow-private").exit_code == 0
    warc = tmp_path / "reason.warc.gz"
    assert run("export", "--db", str(db), "--format", "warc", "-o", str(warc)).exit_code == 0
    with warc.open("rb") as stream:
        [response] = [
            record.http_headers
            for record in ArchiveIterator(stream)
            if record.rec_type == "response"
        ]
    assert response.statusline == "200 Fine, Thanks"
    assert ("X-Odd-Case", "kept") in response.headers


def test_robots_txt_is_exported_as_a_record(server: LocalServer, tmp_path: Path) -> None:
    """A crawl reads robots.txt first; the WARC keeps it, and pywb serves it."""
    robots = "User-agent: *\nDisallow: /private/\n"
    server.route("/robots.txt", robots, headers={"Content-Type": "text/plain"})
    serve_with_etag(server, V1, '"v1"')
    config = write_sites(tmp_path, server.url(PAGE), name="local", retries=None)
    db = tmp_path / "archive.db"
    crawled = run("crawl", "--config", str(config), "--db", str(db), "--quiet")
    assert crawled.exit_code == 0, crawled.output
    assert server.requests_to("/robots.txt")
    warc = tmp_path / "crawl.warc.gz"
    assert run("export", "--db", str(db), "--format", "warc", "-o", str(warc)).exit_code == 0
    with warc.open("rb") as stream:
        resources = [
            (record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read())
            for record in ArchiveIterator(stream)
            if record.rec_type == "resource"
        ]
    assert resources == [(server.url("/robots.txt"), robots.encode())]
    check = subprocess.run(
        [str(tool("warcio")), "check", str(warc)], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    with open_archive(db, readonly=True) as archive:
        host = archive.crawl_state().host(server.base)
    assert host is not None
    robots_at = host.robots_fetched_at
    with pywb([warc], tmp_path / "pywb") as base:
        answer = replay(base, robots_at, server.url("/robots.txt"))
        assert answer.status_code == 200
        assert answer.text == robots
