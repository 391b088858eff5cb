"""Markdown of an article: the title as a level-1 heading, headings at their level, and
hyperlinks kept as absolute links when asked (extract(links=True), --links)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from scraper.cli import cli
from scraper.extract import extract
from tests.server import LocalServer

PROSE = (
    "The harbour master said the new pier would open in spring, after two winters of delays "
    "and a long argument over the cost of the steel."
)
PAGE = f"""<html><head><title>The pier opens in spring | Harbour News</title>
<meta property="og:title" content="The pier opens in spring"></head><body>
<article>
<h1>The pier opens in spring</h1>
<p>{PROSE} Read the <a href="/reports/pier.pdf">council's report</a> and the
<a href="https://other.example/steel">steel price index</a>.</p>
<h2>What it cost</h2>
<p>{PROSE}</p>
<h3>The steel</h3>
<p>{PROSE} See <a href="#notes">the notes</a> or <a href="javascript:void(0)">share</a>.</p>
</article></body></html>"""
URL = "https://news.example/2024/pier"


def test_markdown_opens_with_the_title_and_keeps_heading_levels() -> None:
    article = extract(PAGE, URL)
    lines = article.markdown.splitlines()
    assert lines[0] == "# The pier opens in spring"
    assert lines.count("# The pier opens in spring") == 1  # the page's h1 is not repeated
    assert "## What it cost" in lines
    assert "### The steel" in lines
    assert "The pier opens in spring" not in article.text  # the text does not repeat it


def test_links_off_by_default() -> None:
    article = extract(PAGE, URL)
    assert "](" not in article.markdown
    assert "council's report" in article.markdown


def test_links_kept_absolute_when_asked() -> None:
    article = extract(PAGE, URL, links=True)
    assert "[council's report](https://news.example/reports/pier.pdf)" in article.markdown
    assert "[steel price index](https://other.example/steel)" in article.markdown
    # fragment and script links keep their text only
    assert "#notes" not in article.markdown
    assert "javascript" not in article.markdown
    assert "the notes" in article.markdown
    # the text has no link syntax either way
    assert "](" not in article.text
    assert article.text == extract(PAGE, URL).text


def test_base_href_resolves_links() -> None:
    page = PAGE.replace("<head>", '<head><base href="https://cdn.example/docs/">')
    article = extract(page, URL, links=True)
    assert "[council's report](https://cdn.example/reports/pier.pdf)" in article.markdown


def test_cli_extract_links_flag(tmp_path: Path) -> None:
    path = tmp_path / "page.html"
    path.write_text(PAGE, encoding="utf-8")
    runner = CliRunner()
    base = ["extract", str(path), "--url", URL, "--format", "markdown"]
    plain = runner.invoke(cli, base, catch_exceptions=False)
    linked = runner.invoke(cli, [*base, "--links"], catch_exceptions=False)
    assert plain.exit_code == 0
    assert linked.exit_code == 0
    assert plain.stdout.startswith("# The pier opens in spring\n")
    assert "](https://" not in plain.stdout
    assert "[council's report](https://news.example/reports/pier.pdf)" in linked.stdout
    as_json = runner.invoke(cli, [*base[:-2], "--format", "json", "--links"])
    data = json.loads(as_json.stdout)
    assert "(https://news.example/reports/pier.pdf)" in data["markdown"]


def test_malformed_base_and_hrefs_do_not_break_extraction() -> None:
    page = PAGE.replace("<head>", '<head><base href="http://[::1">').replace(
        'href="/reports/pier.pdf"', 'href="http://[oops/pier.pdf"'
    )
    article = extract(page, URL, links=True)
    assert article.found
    assert "council's report" in article.markdown
    assert "[steel price index](https://other.example/steel)" in article.markdown


def test_cli_fetch_links_flag_keeps_the_text(server: LocalServer, db_path: Path) -> None:
    """fetch --links stores linked Markdown; the text, so the content hash, is the same."""
    server.route("/story.html", PAGE, headers={"Content-Type": "text/html; charset=utf-8"})
    url = server.url("/story.html")
    runner = CliRunner()
    base = ["fetch", url, "--db", str(db_path), "--allow-private", "--format", "json"]
    plain = runner.invoke(cli, [*base, "--no-store"], catch_exceptions=False)
    linked = runner.invoke(cli, [*base, "--no-store", "--links"], catch_exceptions=False)
    assert plain.exit_code == 0, plain.stderr
    assert linked.exit_code == 0, linked.stderr
    plain_data, linked_data = json.loads(plain.stdout), json.loads(linked.stdout)
    assert plain_data["text"] == linked_data["text"]
    target = server.url("/reports/pier.pdf")
    assert f"[council's report]({target})" in linked_data["markdown"]
    assert "](" not in plain_data["markdown"]
