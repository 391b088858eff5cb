"""The admission gate through the real CLI (`scraper crawl`, `fetch`, `reextract`) against
local servers: nothing bogus ever becomes a version of a page."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scraper.archive import open_archive
from scraper.cli import cli
from scraper.crawl import SUSPECT_RECHECK_SECONDS
from tests import gate_pages
from tests.conftest import FIXTURES
from tests.server import LocalServer, once_then, respond
from tests.sites import write_sites

ARTICLE = gate_pages.article().encode("utf-8")
FERRY = gate_pages.article("Electric ferry from next spring", gate_pages.FERRY).encode("utf-8")
HALF = gate_pages.article(paragraphs=gate_pages.LIGHTHOUSE[:2]).encode("utf-8")


@pytest.fixture
def other_host() -> Iterator[LocalServer]:
    """A second server: another origin (a consent wall, a regional site, a parked domain)."""
    srv = LocalServer(FIXTURES / "site").start()
    yield srv
    srv.stop()


def rows(db: Path, sql: str, *params: object) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql, params).fetchall()


def page_fetches(db: Path, url: str) -> list[tuple[str | None, int | None]]:
    """(error, snapshot_id) of each fetch of ``url``, oldest first."""
    with open_archive(db, readonly=True) as archive:
        return [(f.error, f.snapshot_id) for f in reversed(archive.fetches(url))]


def texts(db: Path, url: str) -> list[str]:
    """The text of each stored version of ``url``, oldest first."""
    with open_archive(db, readonly=True) as archive:
        return [snapshot.text for snapshot in reversed(archive.snapshots(url))]


def write_config(tmp_path: Path, server: LocalServer, path: str = "/post") -> Path:
    return write_sites(tmp_path, server.url(path), respect_robots=False)


def run(*args: str) -> Result:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert "Traceback" not in result.stderr
    return result


def crawl(config: Path, db: Path, *extra: str, site_failed: bool = False) -> Result:
    """``site_failed``: the site's only page is refused, so the run failed for it (exit 1)."""
    result = run("crawl", "--config", str(config), "--db", str(db), "-q", *extra)
    if site_failed:
        assert result.exit_code == 1, result.stderr
        assert "problem: site gazette: every page failed" in result.stderr
    else:
        assert result.exit_code == 0, result.stderr
    return result


def redirect(server: LocalServer, path: str, target: str) -> None:
    server.route(path, b"", status=302, headers={"Location": target})


def archived(server: LocalServer, tmp_path: Path, db_path: Path) -> Path:
    """The article at /post archived by a first crawl; the config of its site, to crawl again."""
    server.route("/post", ARTICLE)
    config = write_config(tmp_path, server)
    crawl(config, db_path)
    assert len(texts(db_path, server.url("/post"))) == 1
    return config


def fetch(db: Path, url: str) -> Result:
    """``scraper fetch url`` into ``db`` (the local servers are private addresses)."""
    return run("fetch", url, "--db", str(db), "--allow-private")


# --- a revisit answered by something that is not the page ---------------------------------------


def block_page(name: str) -> Callable[[LocalServer, LocalServer], str]:
    """/post now answers the block page ``name``."""

    def answer(server: LocalServer, other_host: LocalServer) -> str:
        server.route("/post", gate_pages.BLOCK_PAGES[name]().encode("utf-8"))
        return re.escape("block_page: not the page but a block page (") + ".*"

    return answer


def consent_wall_on_another_host(server: LocalServer, other_host: LocalServer) -> str:
    """/post now redirects to a consent wall on another host: its page would be a new
    "version" of /post."""
    other_host.route("/consent", gate_pages.article("Before we go on", gate_pages.FERRY))
    target = other_host.url("/consent?continue=/post")
    redirect(server, "/post", target)
    return re.escape(f"alias: redirects to {target} (out of scope: not followed)")


@pytest.mark.parametrize(
    "answer",
    [
        *(
            pytest.param(block_page(name), id=f"block-page-{name}")
            for name in sorted(gate_pages.BLOCK_PAGES)
        ),
        pytest.param(consent_wall_on_another_host, id="redirect-to-another-host"),
    ],
)
def test_a_revisit_answered_by_another_page_fails_and_keeps_the_history(
    server: LocalServer,
    other_host: LocalServer,
    tmp_path: Path,
    db_path: Path,
    answer: Callable[[LocalServer, LocalServer], str],
) -> None:
    """The crawl records the refused fetch (its error, no snapshot), keeps the one version and
    archives nothing of another host; the site's only page failed, so the run fails for it.

    ``answer`` routes what /post answers now and returns the pattern its fetch's error matches."""
    config = archived(server, tmp_path, db_path)
    error_pattern = answer(server, other_host)
    result = crawl(config, db_path, "--revisit", "0", site_failed=True)
    assert "1 failed" in result.stderr
    url = server.url("/post")
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only
    error, snapshot_id = page_fetches(db_path, url)[-1]
    assert snapshot_id is None
    assert re.fullmatch(error_pattern, str(error), re.DOTALL), error
    assert rows(db_path, "SELECT count(*) FROM pages WHERE url LIKE ?", other_host.base + "%") == [
        (0,)
    ]


# --- redirects ---------------------------------------------------------------------------------


def test_redirect_to_the_home_page_is_an_alias_and_reextract_never_uses_its_body(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = archived(server, tmp_path, db_path)
    url = server.url("/post")
    redirect(server, "/post", server.url("/"))
    result = crawl(config, db_path, "--revisit", "0")
    assert "1 duplicates" in result.stderr
    assert page_fetches(db_path, url)[-1] == (f"alias: redirects to {server.url('/')}", None)
    # the home page is a page of its own, enqueued as the alias's target
    assert texts(db_path, server.url("/"))
    reextract = run("reextract", "--db", str(db_path), "--config", str(config))
    assert reextract.exit_code == 0, reextract.stderr
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only
    assert url not in reextract.stdout


def test_reextract_skips_an_alias_capture_recorded_without_an_error(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    """Archives written before the gate recorded aliases as error-free fetches of the target's
    body: reextract tells them by their final URL."""
    server.route("/post", ARTICLE)
    url = server.url("/post")
    assert fetch(db_path, url).exit_code == 0
    home = (FIXTURES / "site" / "index.html").read_bytes()
    with sqlite3.connect(db_path) as conn:
        conn.execute(
            "INSERT INTO raw (sha256, size, compression, data) VALUES ('h', ?, 'none', ?)",
            (len(home), home),
        )
        conn.execute(
            "INSERT INTO fetches (page_id, fetched_at, url, status_code, not_modified, raw_sha256) "
            "SELECT id, '2030-01-01T00:00:00Z', ?, 200, 0, 'h' FROM pages WHERE url = ?",
            (server.url("/"), url),
        )
    result = run("reextract", "--db", str(db_path))
    assert result.exit_code == 0, result.stderr
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only


def test_fetch_of_a_url_that_now_redirects_archives_the_target_as_its_own_page(
    server: LocalServer, db_path: Path
) -> None:
    server.route("/post", ARTICLE)
    server.route("/ferry", FERRY)
    url = server.url("/post")
    assert fetch(db_path, url).exit_code == 0
    redirect(server, "/post", server.url("/ferry"))
    result = fetch(db_path, url)
    assert result.exit_code == 0, result.stderr
    assert f"{url}: redirects to {server.url('/ferry')} (an alias)" in result.stderr
    assert f"{server.url('/ferry')}: new" in result.stderr
    assert "harbour ferry will run on electric power" in result.stdout
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only
    assert page_fetches(db_path, url)[-1] == (f"alias: redirects to {server.url('/ferry')}", None)
    (ferry,) = texts(db_path, server.url("/ferry"))
    assert "harbour ferry will run on electric power" in ferry


def test_fetch_of_a_url_that_now_redirects_to_another_host_stores_nothing_of_it(
    server: LocalServer, other_host: LocalServer, db_path: Path
) -> None:
    server.route("/post", ARTICLE)
    url = server.url("/post")
    assert fetch(db_path, url).exit_code == 0
    other_host.route("/consent", FERRY)
    target = other_host.url("/consent?continue=/post")
    redirect(server, "/post", target)
    result = fetch(db_path, url)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Error: {url}: redirects to {target} on another host: an alias, not a version of this "
        "URL (fetch that URL itself to archive it)"
    ]
    assert result.stdout == ""
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only
    assert page_fetches(db_path, url)[-1] == (f"alias: redirects to {target}", None)
    assert rows(db_path, "SELECT count(*) FROM pages") == [(1,)]


# --- block pages -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["challenge-300kb-script", "access-denied-in-template", "soft-404"]
)
def test_fetch_of_a_block_page_is_an_error_and_not_stored(
    server: LocalServer, db_path: Path, name: str
) -> None:
    server.route("/post", gate_pages.BLOCK_PAGES[name]().encode("utf-8"))
    url = server.url("/post")
    result = fetch(db_path, url)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {url}: not the page but a block page (")
    assert texts(db_path, url) == []


def test_an_article_about_access_denied_pages_is_stored(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    server.route("/post", gate_pages.mentions_access_denied().encode("utf-8"))
    crawl(write_config(tmp_path, server), db_path)
    (only,) = texts(db_path, server.url("/post"))
    assert "access denied message" in only


# --- truncated bodies and drastic changes --------------------------------------------------------


def test_a_body_cut_by_a_connection_close_is_not_stored(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = archived(server, tmp_path, db_path)
    # cut after two paragraphs of eight: the same cut twice is still not the whole article
    cut = ARTICLE[: ARTICLE.index(b"Restoration took")]
    server.route("/post", handler=respond(cut, length=False))
    result = crawl(config, db_path, "--revisit", "0")
    assert "1 suspect" in result.stderr
    url = server.url("/post")
    assert len(texts(db_path, url)) == 1
    errors = [str(e) for e, _ in page_fetches(db_path, url)[1:]]
    assert len(errors) == 2  # the suspect fetch and the refetch
    assert all(e.startswith("suspect: body cut short (") for e in errors), errors
    assert all(", and most of the text gone (" in e for e in errors), errors
    # unconfirmed: due again soon for the next run (not after the 6 h revisit interval)
    with open_archive(db_path, readonly=True) as archive:
        page = archive.page(url)
    assert page is not None
    due, last = page.next_fetch_at, page.last_fetched
    wait = datetime.fromisoformat(str(due)) - datetime.fromisoformat(str(last))
    assert timedelta(0) < wait <= timedelta(seconds=SUSPECT_RECHECK_SECONDS + 60)


def cut_once(server: LocalServer) -> str:
    """/post is cut by a connection close once, then whole again."""
    cut = ARTICLE[: ARTICLE.index(b"Tallis says the quiet")]
    served: list[int] = []

    def handler(request: BaseHTTPRequestHandler) -> None:
        respond(ARTICLE if served else cut, length=bool(served))(request)
        served.append(1)

    server.route("/post", handler=handler)
    return "suspect: body cut short ("


def half_once(server: LocalServer) -> str:
    """/post loses most of its text once (a glitch), then is whole again."""
    server.route("/post", handler=once_then(HALF, ARTICLE))
    return "suspect: most of the text gone ("


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(cut_once, id="cut-by-a-connection-close"),
        pytest.param(half_once, id="most-of-the-text-gone"),
    ],
)
def test_a_bad_answer_once_then_the_whole_page_changes_nothing(
    server: LocalServer,
    tmp_path: Path,
    db_path: Path,
    answer: Callable[[LocalServer], str],
) -> None:
    """The bad answer is recorded as a suspect (no snapshot) and the run's refetch finds the
    old article again: unchanged. ``answer`` routes /post and returns the suspect's reason."""
    config = archived(server, tmp_path, db_path)
    reason = answer(server)
    result = crawl(config, db_path, "--revisit", "0")
    assert "0 changed, 1 unchanged" in result.stderr
    url = server.url("/post")
    (only,) = texts(db_path, url)
    assert "twice a night to check the lamp" in only
    assert "the lights of eleven other stations" in only
    _, suspect, refetch = page_fetches(db_path, url)
    assert str(suspect[0]).startswith(reason)
    assert suspect[1] is None
    assert refetch == (None, None)  # the old article again: unchanged


def test_a_real_rewrite_is_stored_once_a_refetch_confirms_it(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = archived(server, tmp_path, db_path)
    server.route("/post", FERRY)
    result = crawl(config, db_path, "--revisit", "0")
    assert "1 changed" in result.stderr
    url = server.url("/post")
    old, new = texts(db_path, url)
    assert "harbour ferry will run on electric power" in new
    suspect, confirmed = page_fetches(db_path, url)[1:]
    assert str(suspect[0]).startswith("suspect: title and text replaced wholesale (")
    assert suspect[1] is None
    assert confirmed[0] is None
    assert confirmed[1] is not None


def test_fetch_confirms_a_drastic_change_by_a_refetch(server: LocalServer, db_path: Path) -> None:
    url = server.url("/post")
    server.route("/post", ARTICLE)
    assert fetch(db_path, url).exit_code == 0
    server.route("/post", handler=once_then(HALF, ARTICLE))
    glitch = fetch(db_path, url)
    assert glitch.exit_code == 0, glitch.stderr
    assert f"{url}: unchanged" in glitch.stderr
    assert len(texts(db_path, url)) == 1
    server.route("/post", HALF)
    shrunk = fetch(db_path, url)
    assert shrunk.exit_code == 0, shrunk.stderr
    assert f"{url}: changed" in shrunk.stderr
    assert len(texts(db_path, url)) == 2


def test_a_suspect_left_unconfirmed_is_confirmed_by_the_next_run(
    server: LocalServer, tmp_path: Path, db_path: Path
) -> None:
    config = archived(server, tmp_path, db_path)
    # two different new articles in a row: neither confirms the other
    lifeboat = gate_pages.article("Lifeboat crew honoured", gate_pages.FERRY[2:]).encode()
    server.route("/post", handler=once_then(FERRY, lifeboat))
    first = crawl(config, db_path, "--revisit", "0")
    assert "1 suspect (not stored until a refetch confirms)" in first.stderr
    url = server.url("/post")
    assert len(texts(db_path, url)) == 1
    # the next run sees the second one again: confirmed, a version
    second = crawl(config, db_path, "--revisit", "0")
    assert "1 changed" in second.stderr
    old, new = texts(db_path, url)
    assert "twice a night to check the lamp" in old
    assert gate_pages.FERRY[2][:50] in new
    assert gate_pages.FERRY[0][:50] not in new
    errors = [str(e) for e, _ in page_fetches(db_path, url)]
    assert [e.split(":")[0] for e in errors] == ["None", "suspect", "suspect", "None"]


def test_fetch_of_a_drastic_change_no_refetch_confirms_is_one_error_line(
    server: LocalServer, db_path: Path
) -> None:
    url = server.url("/post")
    server.route("/post", ARTICLE)
    assert fetch(db_path, url).exit_code == 0
    lifeboat = gate_pages.article("Lifeboat crew honoured", gate_pages.FERRY[2:]).encode()
    server.route("/post", handler=once_then(FERRY, lifeboat))
    result = fetch(db_path, url)
    assert result.exit_code == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"Error: {url}: title and text replaced wholesale (")
    assert line.endswith(": not stored, a refetch did not confirm it")
    assert result.stdout == ""
    assert len(texts(db_path, url)) == 1
    errors = [str(e) for e, _ in page_fetches(db_path, url)[1:]]
    assert len(errors) == 2
    assert all(e.startswith("suspect: title and text replaced wholesale (") for e in errors)
    assert all("; not stored until a refetch confirms it [content " in e for e in errors)
