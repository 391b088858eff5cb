"""The one-off path: ``scraper extract`` (a local file) and ``scraper fetch`` (URLs)."""

from __future__ import annotations

import contextlib
import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scraper.cli.group import (
    article_format_option,
    cli,
    db_option,
    echo_json,
    now_iso,
    print_article,
    snapshot_article,
)
from scraper.errors import ScraperError

if TYPE_CHECKING:
    from scraper.fetch.pacing import Pacer


def links_option(fn: Any) -> Any:
    """``--links``: keep the article's hyperlinks in the Markdown."""
    return click.option(
        "--links",
        is_flag=True,
        help="Keep the article's hyperlinks in the Markdown as [text](absolute URL).",
    )(fn)


@cli.command()
@click.argument("sources", nargs=-1, metavar="[FILE|-]...")
@click.option(
    "--input-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    metavar="DIR",
    help="Also every *.html, *.htm, *.html.gz, *.htm.gz file under DIR (recursive).",
)
@click.option("--url", help="The page's URL, to resolve links and help metadata (one FILE).")
@article_format_option
@links_option
def extract(
    sources: tuple[str, ...],
    input_dir: Path | None,
    url: str | None,
    output_format: str,
    links: bool,
) -> None:
    """Extract the clean article from local HTML files (or stdin). No network, no archive.

    Gzip files are read as gzip (by content, whatever the name); binary files (images,
    executables, random bytes) are refused. With several files or --input-dir, each file is
    extracted in turn: --format json prints one JSON object per line (JSON Lines) with the
    file name in "file"; text and markdown print a "==> FILE <==" line before each article.
    A file that fails is reported on stderr in one line and the others go on; the exit code
    is then 1. A progress bar is drawn on stderr when it is a terminal and stdout is not.

    \b
    Examples:
      scraper extract page.html
      scraper extract saved/page.html.gz --format markdown
      curl -s https://example.org/p | scraper extract - --url https://example.org/p --format json
      scraper extract a.html b.html --format json
      scraper extract --input-dir saved/ --format json > articles.jsonl
      scraper extract page.html --url https://example.org/p --links
    """
    from scraper.errors import UsageError
    from scraper.extract import extract as extract_article
    from scraper.localinput import input_files, read_input

    names = list(sources)
    if input_dir is not None:
        found = [str(path) for path in input_files(input_dir)]
        if not found:
            raise ScraperError(f"{input_dir}: no *.html, *.htm or *.html.gz files in it")
        names += found
    many = len(names) > 1 or input_dir is not None
    if url is not None and many:
        raise UsageError("--url names one page: give it with a single FILE")
    if names.count("-") > 1:
        raise UsageError("stdin (-) can be read only once")

    def read(name: str) -> bytes:
        if name == "-":
            return read_input(None, sys.stdin.buffer)
        return read_input(Path(name))

    if not many:
        name = names[0] if names else "-"
        article = extract_article(read(name), url, links=links)
        print_article(article, output_format, url or ("stdin" if name == "-" else name))
        return
    failed = _extract_each(
        names, lambda name: extract_article(read(name), links=links), output_format
    )
    if failed:
        click.echo(f"{failed} of {len(names)} files failed", err=True)
        sys.exit(1)


def _extract_each(names: list[str], extract_one: Callable[[str], Any], output_format: str) -> int:
    """Extract and print each input in turn (one that fails is one line on stderr and the
    others go on); return how many failed. A progress bar is drawn on stderr when it is a
    terminal and stdout is not (then the articles and the bar cannot mix)."""
    interactive = sys.stderr.isatty() and not sys.stdout.isatty()
    failed = 0

    def fail(message: str) -> None:
        # over the progress bar's line, which the bar draws again below it
        click.echo(("\r\x1b[K" if interactive else "") + f"Error: {message}", err=True)

    bar: Any = (
        click.progressbar(names, label="extracting", file=sys.stderr, show_pos=True)
        if interactive
        else contextlib.nullcontext(names)
    )
    with bar as items:
        for index, name in enumerate(items):
            shown = "stdin" if name == "-" else name
            try:
                article = extract_one(name)
            except ScraperError as exc:
                fail(str(exc))
                failed += 1
                continue
            if output_format == "json":
                line = {"file": shown, **article.to_dict()}
                click.echo(json.dumps(line, ensure_ascii=False, default=str))
            elif not article.found:
                fail(f"{shown}: no article found")
                failed += 1
            else:
                click.echo(f"==> {shown} <==\n" if index == 0 else f"\n==> {shown} <==\n")
                print_article(article, output_format, shown)
    return failed


def _settings_for(url: str, config_path: Path, explicit_config: bool) -> tuple[Any, Any]:
    """(Settings, Site or None) for a one-off URL: the config's site of its host, else defaults."""
    import os

    from scraper.config import Settings, load_config, settings_from_env
    from scraper.urls import origin_of

    if not config_path.exists() and not explicit_config:
        return settings_from_env(Settings(), os.environ), None
    config = load_config(config_path)
    origin = origin_of(url)
    for site in config.sites:
        if any(origin_of(u) == origin for u in (*site.start_urls, *site.sitemaps, *site.feeds)):
            return site.settings, site
    return config.defaults, None


@cli.command()
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@db_option
@article_format_option
@click.option("--no-store", is_flag=True, help="Do not write to the archive; just print.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow loopback, private and link-local addresses (local sites).",
)
@click.option("--ignore-robots", is_flag=True, help="Do not consult robots.txt.")
@click.option("--user-agent", help="User-Agent header (default from config, then built in).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="SCRAPER_CONFIG",
    help="Sites file for defaults and site rules [default: config/sites.toml if present].",
)
@links_option
def fetch(
    urls: tuple[str, ...],
    db_path: Path,
    output_format: str,
    no_store: bool,
    allow_private: bool,
    ignore_robots: bool,
    user_agent: str | None,
    config_path: Path | None,
    links: bool,
) -> None:
    """Fetch URLs, extract the clean article, archive it and print it.

    A URL whose content did not change since the last fetch adds a fetch record and no
    new snapshot; the server is asked with If-None-Match / If-Modified-Since. Several URLs
    are fetched one after another, each printed as soon as it is done, keeping the per-host
    gap of the crawl (delay_seconds, robots.txt Crawl-delay). One failed URL does not stop
    the others; the exit code is 1 if any failed. A URL that redirects is recorded as an alias
    and the answer archived as the target's page (an error when a page with snapshots now
    leads to another host); a block page is not stored; a drastic change is stored only once
    a refetch confirms it.

    \b
    Examples:
      scraper fetch https://example.org/post
      scraper fetch --format json --no-store https://example.org/a https://example.org/b
    """
    import dataclasses
    from datetime import UTC, datetime

    from scraper.archive import open_archive
    from scraper.config import check_setting
    from scraper.crawl.hosts import Hosts
    from scraper.crawl.oneoff import fetch_and_archive
    from scraper.errors import UsageError
    from scraper.fetch import make_client
    from scraper.urls import normalise_url

    explicit = config_path is not None
    path = config_path or Path("config/sites.toml")
    jobs = []
    failed = 0
    for raw_url in urls:
        try:
            url = normalise_url(raw_url)
        except UsageError as exc:
            click.echo(f"Error: {exc}", err=True)
            failed += 1
            continue
        settings, site = _settings_for(url, path, explicit)
        overrides: dict[str, Any] = {}
        if allow_private:
            overrides["allow_private"] = True
        if ignore_robots:
            overrides["respect_robots"] = False
        if user_agent:
            overrides["user_agent"] = check_setting("user_agent", user_agent, "--user-agent")
        jobs.append((url, dataclasses.replace(settings, **overrides), site))
    if not jobs:
        sys.exit(UsageError.exit_code)

    archive = None if no_store else open_archive(db_path)
    several = len(urls) > 1
    output = _FetchOutput(several)

    def report(page: Any) -> int:
        """Print one URL's result as soon as it is known; return 1 if it counts as failed."""
        article = page.article
        stored: dict[str, Any] = {}  # a 304 prints the stored snapshot, with its columns
        if page.not_modified and archive is not None:
            snaps = archive.snapshots(page.url)
            article = snapshot_article(snaps[0]) if snaps else None
            stored = {"confidence": snaps[0].confidence} if snaps else {}
            click.echo(f"{page.url}: not modified since the last fetch", err=True)
        if article is None:
            return 0
        if page.alias_of is not None:
            click.echo(f"{page.alias_of}: redirects to {page.url} (an alias)", err=True)
        if page.saved is not None and not page.not_modified:
            click.echo(f"{page.url}: {page.saved.outcome}", err=True)
        if output_format == "json":
            output.json(article.to_dict() | stored)
        elif not article.found:
            click.echo(f"Error: {page.url}: no article found", err=True)
            return 1
        else:
            if several:
                click.echo(f"\n# {page.url}\n")
            print_article(article, output_format, page.url)
        return 0

    async def run() -> int:
        errors = 0
        pacer = _pacer_for(jobs)
        # the crawl's robots.txt rule and cache (its hosts table, when there is an archive)
        state = archive.crawl_state() if archive is not None else None
        hosts = Hosts(state, pacer, lambda: datetime.now(UTC), one_off=True)
        client = make_client(jobs[0][1], pace=pacer)
        async with client:
            for url, settings, site in jobs:
                try:
                    page = await fetch_and_archive(
                        client,
                        url,
                        settings,
                        archive=archive,
                        hosts=hosts,
                        now=now_iso,
                        site=site.name if site else None,
                        strip=site.strip if site else (),
                        links=links,
                        boilerplate=archive.boilerplate(site.name) if archive and site else (),
                    )
                except ScraperError as exc:
                    click.echo(f"Error: {exc}", err=True)
                    errors += 1
                    continue
                errors += report(page)
        return errors

    import asyncio  # here: every command's start would pay for it

    started_at = now_iso()
    try:
        failed += asyncio.run(run())
        if archive is not None:
            from scraper.cli.notify import notify_after_fetch

            notify_after_fetch(archive, jobs, started_at, path, explicit, db_path)
    finally:
        if archive is not None:
            archive.close()
        output.close()
    if failed:
        sys.exit(1)


class _FetchOutput:
    """JSON output of ``scraper fetch``: one object for one URL, else an array, written an
    element at a time as each URL is done (the same text as the whole array at once)."""

    def __init__(self, several: bool) -> None:
        self.several = several
        self.count = 0

    def json(self, data: dict[str, Any]) -> None:
        if not self.several:
            echo_json(data)
            return
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        click.echo(("[\n" if self.count == 0 else ",\n") + textwrap.indent(text, "  "), nl=False)
        self.count += 1

    def close(self) -> None:
        if self.count:
            click.echo("\n]")


def _pacer_for(jobs: list[tuple[str, Any, Any]]) -> Pacer:
    """The gaps of ``scraper fetch``: each URL's delay_seconds (robots.txt Crawl-delay raises
    them as each robots.txt is read: scraper.crawl.hosts)."""
    from scraper.fetch.pacing import Pacer
    from scraper.urls import origin_of

    # a host that a redirect leads to gets the longest delay of all the URLs'
    pacer = Pacer(max(settings.delay_seconds for _, settings, _ in jobs))
    delays: dict[str, float] = {}
    for url, settings, _ in jobs:
        origin = origin_of(url)
        delays[origin] = max(delays.get(origin, 0.0), settings.delay_seconds)
    for origin, seconds in delays.items():
        pacer.set_delay(origin, seconds)
    return pacer
