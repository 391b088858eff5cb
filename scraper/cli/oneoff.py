"""The one-off path: ``scraper extract`` (a local file) and ``scraper fetch`` (URLs)."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
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
    from collections.abc import Callable

    from scraper.fetch.pacing import Pacer
    from scraper.fetch.robots import Robots


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
    new snapshot; the server is asked with If-None-Match / If-Modified-Since. Several URLs
    are fetched one after another, each printed as soon as it is done, keeping the per-host
    gap of the crawl (delay_seconds, robots.txt Crawl-delay). One failed URL does not stop
    the others; the exit code is 1 if any failed.

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
    several = len(urls) > 1
    output = _FetchOutput(several)

    def report(page: Any) -> int:
        """Print one URL's result as soon as it is known; return 1 if it counts as failed."""
        article = page.article
        if page.not_modified and archive is not None:
            snaps = archive.snapshots(page.url)
            article = snapshot_article(snaps[0]) if snaps else None
            click.echo(f"{page.url}: not modified since the last fetch", err=True)
        if article is None:
            return 0
        if page.saved is not None and not page.not_modified:
            click.echo(f"{page.url}: {page.saved.outcome}", err=True)
        if output_format == "json":
            output.json(article.to_dict())
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
        pacer, honour_crawl_delay = _pacer_for(jobs)
        robots = RobotsCache(on_fetched=honour_crawl_delay)
        client = make_client(jobs[0][1], pace=pacer)
        async with client:
            for url, settings, site in jobs:
                try:
                    page = await fetch_and_archive(
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
                except ScraperError as exc:
                    click.echo(f"Error: {exc}", err=True)
                    errors += 1
                    continue
                errors += report(page)
        return errors

    try:
        failed += asyncio.run(run())
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


def _pacer_for(jobs: list[tuple[str, Any, Any]]) -> tuple[Pacer, Callable[[Robots], None]]:
    """The gaps of ``scraper fetch``: each URL's delay_seconds, raised by its robots.txt
    Crawl-delay (the second value, told of each robots.txt as it is fetched)."""
    from scraper.fetch.pacing import Pacer
    from scraper.urls import origin_of

    # a host that a redirect leads to gets the longest delay of all the URLs'
    pacer = Pacer(max(settings.delay_seconds for _, settings, _ in jobs))
    delays: dict[str, float] = {}
    user_agents: dict[str, str] = {}
    for url, settings, _ in jobs:
        origin = origin_of(url)
        delays[origin] = max(delays.get(origin, 0.0), settings.delay_seconds)
        user_agents[origin] = settings.user_agent
    for origin, seconds in delays.items():
        pacer.set_delay(origin, seconds)

    def honour_crawl_delay(robots: Robots) -> None:
        ua = user_agents.get(robots.origin, "")
        pacer.raise_delay(robots.origin, robots.crawl_delay(ua))

    return pacer, honour_crawl_delay
