"""The one-off path: ``scraper extract`` (a local file) and ``scraper fetch`` (URLs)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

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


@cli.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option("--url", help="The page's URL, to resolve links and help metadata.")
@article_format_option
def extract(source: str, url: str | None, output_format: str) -> None:
    """Extract the clean article from a local HTML file (or stdin). No network, no archive.

    \b
    Examples:
      scraper extract page.html
      curl -s https://example.org/p | scraper extract - --url https://example.org/p --format json
    """
    from scraper.extract import extract as extract_article

    if source == "-":
        html = sys.stdin.buffer.read()
    else:
        try:
            html = Path(source).read_bytes()
        except OSError as exc:
            raise ScraperError(f"{source}: cannot read file: {exc.strerror or exc}") from exc
    article = extract_article(html, url)
    print_article(article, output_format, url or source)


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
def fetch(
    urls: tuple[str, ...],
    db_path: Path,
    output_format: str,
    no_store: bool,
    allow_private: bool,
    ignore_robots: bool,
    user_agent: str | None,
    config_path: Path | None,
) -> None:
    """Fetch URLs, extract the clean article, archive it and print it.

    A URL whose content did not change since the last fetch adds a fetch record and no
    new snapshot; the server is asked with If-None-Match / If-Modified-Since. A URL that
    redirects is recorded as an alias and the answer archived as the target's page (an error
    when the target is on another host); a block page is not stored; a drastic change is
    stored only once a refetch confirms it. One failed URL does not stop the others; the
    exit code is 1 if any failed.

    \b
    Examples:
      scraper fetch https://example.org/post
      scraper fetch --format json --no-store https://example.org/a https://example.org/b
    """
    import dataclasses

    from scraper.archive import Archive
    from scraper.errors import UsageError
    from scraper.fetch import make_client
    from scraper.pipeline import RobotsCache, fetch_and_archive
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
            overrides["user_agent"] = user_agent
        jobs.append((url, dataclasses.replace(settings, **overrides), site))
    if not jobs:
        sys.exit(UsageError.exit_code)

    archive = None if no_store else Archive(db_path)
    results: list[Any] = []

    async def run() -> int:
        errors = 0
        robots = RobotsCache()
        client = make_client(jobs[0][1])
        async with client:
            for url, settings, site in jobs:
                try:
                    results.append(
                        await fetch_and_archive(
                            client,
                            url,
                            settings,
                            archive=archive,
                            robots=robots,
                            now=now_iso,
                            site=site.name if site else None,
                            strip=site.strip if site else (),
                            boilerplate=archive.boilerplate(site.name) if archive and site else (),
                        )
                    )
                except ScraperError as exc:
                    click.echo(f"Error: {exc}", err=True)
                    errors += 1
        return errors

    try:
        failed += asyncio.run(run())
    finally:
        if archive is not None:
            archive.close()
    printed_json = []
    for page in results:
        article = page.article
        if page.not_modified and archive is not None:
            with Archive(db_path, readonly=True) as reader:
                snaps = reader.snapshots(page.url)
            article = snapshot_article(snaps[0]) if snaps else None
            click.echo(f"{page.url}: not modified since the last fetch", err=True)
        if article is None:
            continue
        if page.alias_of is not None:
            click.echo(f"{page.alias_of}: redirects to {page.url} (an alias)", err=True)
        if page.saved is not None and not page.not_modified:
            click.echo(f"{page.url}: {page.saved.outcome}", err=True)
        if output_format == "json":
            printed_json.append(article.to_dict())
        elif not article.found:
            click.echo(f"Error: {page.url}: no article found", err=True)
            failed += 1
        else:
            if len(results) > 1:
                click.echo(f"\n# {page.url}\n")
            print_article(article, output_format, page.url)
    if printed_json:
        echo_json(printed_json[0] if len(urls) == 1 else printed_json)
    if failed:
        sys.exit(1)
