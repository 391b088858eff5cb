"""The Datasette side: scraper's metadata and plugin (timeline, diff, as-of views, readable table
pages, highlighted search) through Datasette's own in-process client, and ``scraper serve`` as a
real server process. Expected words and titles are written by hand from the fixture's files."""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from click.testing import CliRunner

from scraper.archive import Archive
from scraper.cli import cli
from scraper.models import Article, FetchResult
from scraper.web.serve import datasette_settings, make_datasette
from tests.fixtures.archive_site.build import build_archive
from tests.tools import free_port, require, running

require("datasette")  # the web extra: make install has it

BUDGET = "https://daily.example/news/budget"
LONG = "https://weekly.example/p/design"
#: a long article (many paragraphs) whose words include punctuation, for search and clipping
LONG_PARAGRAPHS = [
    "The new station has a retro-futuristic design with copper domes.",
    *[f"Paragraph {n} describes the platforms, the lifts and the ticket hall." for n in range(60)],
]


def add_long_page(path: Path) -> None:
    text = "\n\n".join(LONG_PARAGRAPHS)
    body = f"<html><body><article>{text}</article></body></html>".encode()
    with Archive(path) as archive:
        archive.save_fetch(
            LONG,
            fetched_at="2026-05-09T10:00:00Z",
            site="weekly",
            result=FetchResult(
                url=LONG,
                final_url=LONG,
                status_code=200,
                fetched_at="2026-05-09T10:00:00Z",
                elapsed_ms=5,
                headers=(("Content-Type", "text/html; charset=utf-8"),),
                body=body,
                text=body.decode(),
                content_type="text/html",
            ),
            article=Article(
                url=LONG,
                title="A station of copper domes",
                language="en",
                text=text,
                markdown=text,
                word_count=len(text.split()),
                found=True,
            ),
        )


@pytest.fixture(scope="module")
def archive_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = build_archive(tmp_path_factory.mktemp("web") / "archive.db")
    add_long_page(path)
    return path


def get(db: Path, path: str) -> httpx.Response:
    """One request to Datasette with scraper's metadata and plugin, in process."""

    async def fetch() -> httpx.Response:
        datasette = make_datasette(db)
        await datasette.invoke_startup()
        response: httpx.Response = await datasette.client.get(path)
        return response

    return asyncio.run(fetch())


def text_of(html: str) -> str:
    """The visible text of some HTML, whitespace squeezed (for hand-written expectations)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


def snapshot_ids(db: Path, url: str) -> list[int]:
    with Archive(db, readonly=True) as archive:
        return sorted(s.id for s in archive.snapshots(url))


# --- the plugin's views -------------------------------------------------------------------


def test_timeline_lists_every_capture_and_version(archive_db: Path) -> None:
    page = get(archive_db, f"/-/scraper/page?url={quote(BUDGET)}")
    assert page.status_code == 200
    html = page.text
    # budget: fetched 5 times (captures.json): v1, v1 again, 304, v2, v3; 3 versions
    captures = html.split('<table class="scraper-captures">')[1]
    assert captures.count("<tr>") == 1 + 5
    assert "not modified (304)" in captures
    assert text_of(captures).count("changed: new version") == 3
    assert "unchanged" in captures
    versions = text_of(html.split('<table class="scraper-versions">')[1].split("</table>")[0])
    assert versions.index("2026-05-06T08:00:00Z") < versions.index("2026-05-01T08:00:00Z")
    assert "first version" in versions
    assert versions.count("diff with previous") == 2
    assert "Council approves budget" in versions
    assert "(new headline)" in versions  # v2 rewrote the headline


def test_diff_side_by_side_and_inline(archive_db: Path) -> None:
    v1, v2, _v3 = snapshot_ids(archive_db, BUDGET)
    side = get(archive_db, f"/-/scraper/diff?from={v1}&to={v2}")
    assert side.status_code == 200
    old = side.text.split('class="scraper-old"')[1].split('class="scraper-new"')[0]
    new = side.text.split('class="scraper-new"')[1]
    # budget.v1 -> budget.v2 (versions.json): "the" -> "a record", + "late",
    # "Monday." -> "Monday night.": 5 words in, 2 out
    assert "<del>the</del>" in old
    assert "<ins>" not in old
    assert "<ins>a record</ins>" in new
    assert "<del>" not in new.split("</div>")[0]
    assert "<ins>late</ins>" in new
    assert "+5 words" in side.text
    assert "−2 words" in side.text
    # the headline change is shown as a metadata change
    assert "<del>Council approves budget</del>" in side.text
    inline = get(archive_db, f"/-/scraper/diff?from={v1}&to={v2}&view=inline")
    body = inline.text.split('class="scraper-inline')[1]
    assert (
        "<del>the</del> <ins>a record</ins> budget <ins>late</ins> on "
        "<del>Monday.</del> <ins>Monday night.</ins>"
    ) in body


def test_diff_of_unknown_or_unrelated_versions_is_a_404(archive_db: Path) -> None:
    budget = snapshot_ids(archive_db, BUDGET)
    other = snapshot_ids(archive_db, LONG)
    missing = get(archive_db, f"/-/scraper/diff?from={budget[0]}&to=99999")
    assert missing.status_code == 404
    assert "no snapshot 99999" in missing.text
    unrelated = get(archive_db, f"/-/scraper/diff?from={budget[0]}&to={other[0]}")
    assert unrelated.status_code == 404
    assert get(archive_db, "/-/scraper/diff?from=x&to=1").status_code == 404
    assert get(archive_db, "/-/scraper/page?url=https://nowhere.example/").status_code == 404
    assert get(archive_db, "/-/scraper/page?db=nosuch&url=x").status_code == 404


def test_timeline_finds_a_url_as_typed(archive_db: Path) -> None:
    typed = "HTTPS://Daily.Example/news/budget#top"
    page = get(archive_db, f"/-/scraper/page?url={quote(typed)}")
    assert page.status_code == 200
    assert f'<a href="{BUDGET}">{BUDGET}</a>' in page.text
    assert get(archive_db, "/-/scraper/page?url=not%20a%20url").status_code == 404


def test_timeline_index_lists_recent_changes(archive_db: Path) -> None:
    index = get(archive_db, "/-/scraper/page")
    assert index.status_code == 200
    urls = re.findall(r'<td class="scraper-url"><a href="[^"]+">([^<]+)</a>', index.text)
    # pages.last_changed, newest first: the long page (05-09), moscow (05-07), budget (05-06)...
    assert urls[:3] == [LONG, "https://weekly.example/p/moscow", BUDGET]


def test_views_of_a_database_that_is_not_an_archive(tmp_path: Path) -> None:
    """Datasette may serve other databases beside the archive: the views say so, no 500."""
    from datasette.database import Database

    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (url TEXT)")
    archive = build_archive(tmp_path / "archive.db")

    async def fetch(path: str) -> httpx.Response:
        datasette = make_datasette(archive)
        datasette.add_database(Database(datasette, path=str(other)), name="other")
        await datasette.invoke_startup()
        response: httpx.Response = await datasette.client.get(path)
        return response

    missing = asyncio.run(fetch(f"/-/scraper/page?db=other&url={quote(BUDGET)}"))
    assert missing.status_code == 404
    assert "no such table: pages" in missing.text
    found = asyncio.run(fetch(f"/-/scraper/page?db=archive&url={quote(BUDGET)}"))
    assert found.status_code == 200


def test_page_as_of_a_date(archive_db: Path) -> None:
    v1, v2, _v3 = snapshot_ids(archive_db, BUDGET)
    # v1 fetched 05-01, the 304 on 05-03 changed nothing, v2 fetched 05-04 08:00
    on_3rd = get(archive_db, f"/-/scraper/asof?url={quote(BUDGET)}&at=2026-05-03")
    assert on_3rd.status_code == 200
    assert f"version #{v1}" in on_3rd.text
    assert "The city council approved the budget on Monday." in on_3rd.text
    on_4th = get(archive_db, f"/-/scraper/asof?url={quote(BUDGET)}&at=2026-05-04")
    assert f"version #{v2}" in on_4th.text
    before = get(archive_db, f"/-/scraper/asof?url={quote(BUDGET)}&at=2026-05-04T07:59:59Z")
    assert f"version #{v1}" in before.text
    too_early = get(archive_db, f"/-/scraper/asof?url={quote(BUDGET)}&at=2026-04-30")
    assert too_early.status_code == 404
    garbage = get(archive_db, f"/-/scraper/asof?url={quote(BUDGET)}&at=yesterday-ish")
    assert garbage.status_code == 404


def test_tables_link_urls_to_their_timeline(archive_db: Path) -> None:
    latest = get(archive_db, "/archive/latest_snapshots")
    assert f'href="/-/scraper/page?url={quote(BUDGET, safe="")}&amp;db=archive"' in latest.text
    v1, v2, _v3 = snapshot_ids(archive_db, BUDGET)
    changes = get(archive_db, "/archive/snapshot_changes")
    assert (
        f'{v2} <a class="scraper-history" '
        f'href="/-/scraper/diff?from={v1}&amp;to={v2}&amp;db=archive">diff</a>' in changes.text
    )
    # snapshots.page_id links to the pages row (a foreign key), whose url links to the timeline
    row = get(archive_db, "/archive/pages/1")
    assert (
        f'href="/-/scraper/page?url={quote(BUDGET, safe="")}&amp;db=archive">history</a>'
        in row.text
    )


# --- a usable Datasette -------------------------------------------------------------------


def test_long_columns_are_clipped_on_table_pages_and_whole_on_row_pages(
    archive_db: Path,
) -> None:
    [long_id] = snapshot_ids(archive_db, LONG)
    table = get(archive_db, "/archive/snapshots")
    assert table.text.count('<div class="scraper-long">') >= 2  # text and markdown of LONG
    words = len("\n\n".join(LONG_PARAGRAPHS).split())
    assert f'href="/archive/snapshots/{long_id}">all {words} words</a>' in table.text
    assert "/-/static-plugins/scraper/scraper.css" in table.text
    css = get(archive_db, "/-/static-plugins/scraper/scraper.css").text
    assert re.search(r"\.scraper-long \{[^}]*max-height: 4\.2em", css)
    assert re.search(r"body\.row \.scraper-long \{[^}]*max-height: none", css)
    row = get(archive_db, f"/archive/snapshots/{long_id}")
    assert '<body class="row' in row.text
    assert LONG_PARAGRAPHS[-1] in row.text


def test_search_accepts_punctuation_and_highlights(archive_db: Path) -> None:
    found = get(archive_db, "/archive/search?q=retro-futuristic")
    assert found.status_code == 200
    assert "<mark>retro-futuristic</mark>" in found.text or (
        "<mark>retro</mark>-<mark>futuristic</mark>" in found.text
    )
    assert LONG in found.text
    council = get(archive_db, "/archive/search?q=council")
    assert "<mark>council</mark>" in council.text
    cells = re.findall(r'<td class="col-snippet[^"]*">(.*?)</td>', council.text, re.S)
    assert cells
    assert all("&lt;b&gt;" not in c and "⟦" not in c for c in cells)
    prefix = get(archive_db, "/archive/search?q=platf*")
    assert LONG in prefix.text


def test_latest_snapshots_is_searchable_and_migrations_hidden(archive_db: Path) -> None:
    searched = get(archive_db, "/archive/latest_snapshots.json?_search=copper&_shape=array")
    assert [row["url"] for row in searched.json()] == [LONG]
    tables = get(archive_db, "/archive.json").json()["tables"]
    hidden = {t["name"] for t in tables if t["hidden"]}
    assert "_sqlite_migrations" in hidden
    assert "snapshots" not in hidden


def test_pages_load_nothing_from_the_internet(archive_db: Path) -> None:
    v1, v2, _ = snapshot_ids(archive_db, BUDGET)
    for path in (
        f"/-/scraper/page?url={quote(BUDGET)}",
        f"/-/scraper/diff?from={v1}&to={v2}",
        f"/-/scraper/version/{v1}",
        "/archive/snapshots",
    ):
        html = get(archive_db, path).text
        for tag in re.findall(r"<(?:script|link|img|iframe)\b[^>]*>", html):
            hosts = re.findall(r"//([^/\"']+)", tag)
            assert all(host == "localhost" for host in hosts), (path, tag)  # same origin


def test_config_for_datasette_1_moves_queries_and_table_settings() -> None:
    metadata, config = datasette_settings("news")
    assert "queries" not in metadata["databases"]["news"]
    assert "search" in config["databases"]["news"]["queries"]
    assert config["databases"]["news"]["tables"]["_sqlite_migrations"] == {"hidden": True}
    latest = config["databases"]["news"]["tables"]["latest_snapshots"]
    assert latest["fts_table"] == "snapshots_fts"
    assert metadata["databases"]["news"]["tables"]["latest_snapshots"]["description"]


# --- scraper serve ------------------------------------------------------------------------


def test_serve_missing_archive_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--db", str(tmp_path / "none.db")])
    assert result.exit_code == 1
    assert (
        result.stderr
        == f"Error: {tmp_path / 'none.db'}: no such archive (run scraper crawl or fetch first)\n"
    )


def test_serve_refuses_what_is_not_an_archive(tmp_path: Path) -> None:
    garbage = tmp_path / "notes.db"
    garbage.write_text("not a database\n")
    result = CliRunner().invoke(cli, ["serve", "--db", str(garbage)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {garbage}: ")
    assert len(result.stderr.splitlines()) == 1


def test_serve_on_a_busy_port_is_one_line(archive_db: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["serve", "--db", str(archive_db), "--port", str(port)])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: serve: cannot listen on 127.0.0.1:{port}: ")
    assert len(result.stderr.splitlines()) == 1


def test_serve_runs_datasette_with_the_plugin(archive_db: Path, tmp_path: Path) -> None:
    port = free_port()
    args = [sys.executable, "-m", "scraper", "serve", "--db", str(archive_db), "--port", str(port)]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=60)
    with running(args, cwd=tmp_path, port=port, log=tmp_path / "serve.log"), client as c:
        assert c.get("/").status_code == 200
        timeline = c.get("/-/scraper/page", params={"url": BUDGET})
        assert timeline.status_code == 200
        assert "not modified (304)" in timeline.text
        plugins = c.get("/-/plugins.json").json()
        assert "render_cell" in next(p for p in plugins if p["name"] == "scraper")["hooks"]
    log = (tmp_path / "serve.log").read_text()
    assert f"serving {archive_db} at http://127.0.0.1:{port}/" in log
    assert "Traceback" not in log


def test_serve_help_names_the_views() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scraper", "serve", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "timeline" in result.stdout
    assert "--port" in result.stdout


def test_plain_datasette_cli_runs_the_canned_queries(archive_db: Path, tmp_path: Path) -> None:
    """The README's recipe with the real ``datasette`` command: -m metadata.json (0.65), plus
    -c config.json on Datasette 1.0, which reads canned queries from its configuration."""
    import datasette.version

    from tests.tools import tool

    metadata = CliRunner().invoke(cli, ["datasette-metadata", "--db", str(archive_db)])
    (tmp_path / "metadata.json").write_text(metadata.stdout)
    args = [str(tool("datasette")), "serve", str(archive_db), "-m", "metadata.json"]
    if int(datasette.version.__version__.split(".")[0]) >= 1:
        config = CliRunner().invoke(
            cli, ["datasette-metadata", "--config", "--db", str(archive_db)]
        )
        (tmp_path / "config.json").write_text(config.stdout)
        args += ["-c", "config.json"]
    port = free_port()
    args += ["-h", "127.0.0.1", "-p", str(port)]
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=60)
    with running(args, cwd=tmp_path, port=port, log=tmp_path / "datasette.log"), client as c:
        found = c.get("/archive/search.json", params={"q": "retro-futuristic", "_shape": "array"})
        assert found.status_code == 200, found.text
        assert [row["url"] for row in found.json()] == [LONG]
        changes = c.get("/archive/recent_changes.json", params={"_shape": "array"})
        assert len(changes.json()) == 5


def test_archived_markup_is_shown_as_text(tmp_path: Path) -> None:
    """A page's title and text are data: markup in them is escaped on every view."""
    db = build_archive(tmp_path / "archive.db")
    evil = "https://evil.example/p"
    for at, title in (
        ("2026-06-01T00:00:00Z", "<script>alert(1)</script>"),
        ("2026-06-02T00:00:00Z", "<b>bold</b>"),
    ):
        text = f"{title} and <img src=x onerror=alert(2)> in the text"
        with Archive(db) as archive:
            archive.save_fetch(
                evil,
                fetched_at=at,
                result=FetchResult(
                    url=evil,
                    final_url=evil,
                    status_code=200,
                    fetched_at=at,
                    elapsed_ms=1,
                    body=text.encode(),
                    text=text,
                    content_type="text/html",
                ),
                article=Article(url=evil, title=title, text=text, markdown=text, found=True),
            )
    old, new = snapshot_ids(db, evil)
    for path in (
        f"/-/scraper/page?url={quote(evil)}",
        f"/-/scraper/diff?from={old}&to={new}",
        f"/-/scraper/diff?from={old}&to={new}&view=inline",
        f"/-/scraper/version/{old}",
        "/archive/latest_snapshots",
    ):
        html = get(db, path).text
        assert "<script>alert" not in html, path
        assert "<img src=x" not in html, path
        assert "<b>bold</b>" not in html, path
