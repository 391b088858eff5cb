"""Jobs over whole sites: ``crawl`` (the cron job), ``boilerplate`` and ``reextract``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from scraper.cli.group import (
    cli,
    config_option,
    db_option,
    now_iso,
)

# --- the cron job ----------------------------------------------------------------------------


@cli.command()
@config_option
@click.option(
    "--site",
    "site_names",
    multiple=True,
    metavar="NAME",
    help="Only this [[site]] (repeatable). [default: every site]",
)
@click.option(
    "--max-pages",
    type=click.IntRange(min=0),
    help="Pages fetched per site in this run at most (overrides max_pages).",
)
@click.option(
    "--revisit",
    metavar="DURATION",
    help="Also make due every known page last crawled longer ago than this (0: every page).",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only the summary and problems (and errors)."
)
@click.option(
    "--verbose", "-v", is_flag=True, help="Also print each URL that failed, with its cause."
)
@db_option
def crawl(
    config_path: Path,
    site_names: tuple[str, ...],
    max_pages: int | None,
    revisit: str | None,
    quiet: bool,
    verbose: bool,
    db_path: Path,
) -> None:
    """Fetch what is due, discover new pages, archive what changed: the cron job.

    Reads the sites file, takes a lock on the archive (a second crawl exits at once with
    code 3), fetches due pages politely (robots.txt, Crawl-delay, per-host delay and
    concurrency), follows sitemaps, feeds and links within each site's rules, and prints a
    summary to stderr (also stored in the runs table), then one line per problem (a host that
    is down, with its cause). Failed pages are recorded and do not make the crawl fail, unless
    every due page of a site failed: the exit code is then 1. A warning line names each site
    where many more pages than in its earlier runs had no article or a low extraction
    confidence (a redesign, a consent wall). The config's log_file gets every failed URL and
    the summary.

    \b
    Examples:
      scraper crawl
      scraper crawl --site example-news --max-pages 50
      scraper crawl --revisit 0 --quiet          # refetch every known page now
      scraper crawl --verbose                    # also list each failed URL
      */15 * * * * cd /srv/scraper && .venv/bin/scraper crawl --quiet   # crontab
    """
    from scraper import forkserver
    from scraper.config import load_config, parse_duration
    from scraper.errors import ConfigError, UsageError

    if quiet and verbose:
        raise UsageError("--quiet and --verbose cannot be used together")
    config = load_config(config_path)
    if not config.sites:
        raise ConfigError(f"{config_path}: no [[site]] tables, nothing to crawl")
    revisit_seconds = None if revisit is None else parse_duration(revisit, where="--revisit")
    # before the crawl's own imports and the archive: the helpers' code is imported on the
    # other core meanwhile (scraper.forkserver)
    forkserver.start_early()
    from scraper.cli.crawlout import CrawlOutput
    from scraper.cli.heap import frozen_heap
    from scraper.crawl import crawl as run_crawl

    log_file = config.defaults.log_file
    output = CrawlOutput(
        quiet=quiet, verbose=verbose, log_path=Path(log_file) if log_file else None
    )
    try:
        with frozen_heap():  # the code just imported is not walked by the collector meanwhile
            summary = run_crawl(
                config,
                db_path,
                site_names=site_names,
                max_pages=max_pages,
                revisit=revisit_seconds,
                on_progress=output.on_progress if output.interactive else None,
                on_start=output.on_start,
                on_failure=output.on_failure,
            )
        output.finish(summary)
    finally:
        output.close()
    if summary.exit_code:
        sys.exit(summary.exit_code)


# --- boilerplate learning and re-extraction ------------------------------------------------


def _site_rules(config_path: Path, explicit_config: bool) -> dict[str, tuple[str, ...]]:
    """Site name -> ``strip`` selectors from the sites file ({} when there is none)."""
    from scraper.config import load_config

    if not config_path.exists() and not explicit_config:
        return {}
    return {site.name: site.strip for site in load_config(config_path).sites}


@cli.command()
@click.option("--site", "site_name", metavar="NAME", help="Only this site.")
@click.option("--learn", "relearn", is_flag=True, help="Relearn from the stored pages first.")
@click.option(
    "--min-pages",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="With --learn: a line must be on at least this many pages.",
)
@click.option(
    "--min-share",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="With --learn: ... and on at least this share of the site's pages.",
)
@config_option
@db_option
def boilerplate(
    site_name: str | None,
    relearn: bool,
    min_pages: int,
    min_share: float,
    config_path: Path,
    db_path: Path,
) -> None:
    """Show the learned boilerplate of each site; --learn relearns it from the archive.

    Boilerplate is text that recurs on many pages of one site (a footer line, a standing
    promo) that the generic chrome rules missed. It is learned from the newest stored body
    of each page and dropped from later extractions. Sites come from --site, else from the
    sites file.

    \b
    Examples:
      scraper boilerplate
      scraper boilerplate --site example-news --learn
      scraper boilerplate --learn && scraper reextract   # apply it to stored pages
    """
    from scraper.archive import open_archive
    from scraper.errors import UsageError
    from scraper.learn import learn

    explicit_config = click.get_current_context().get_parameter_source("config_path") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    )
    rules = _site_rules(config_path, explicit_config)
    sites = [site_name] if site_name else sorted(rules)
    if not sites:
        raise UsageError(f"{config_path}: no sites to show; name one with --site NAME")
    with open_archive(db_path, readonly=not relearn, create=False) as archive:
        for name in sites:
            if relearn:
                result = learn(
                    archive,
                    name,
                    now_iso(),
                    strip=rules.get(name, ()),
                    min_pages=min_pages,
                    min_share=min_share,
                )
                click.echo(f"{name}: learned from {result.pages} pages", err=True)
                lines: list[str] = list(result.lines)
            else:
                lines = sorted(archive.boilerplate(name))
            click.echo(f"{name}: {len(lines)} boilerplate line{'' if len(lines) == 1 else 's'}")
            for line in lines:
                click.echo(f"  {line}")


@cli.command()
@click.option("--site", "site_name", metavar="NAME", help="Only pages of this site.")
@config_option
@db_option
def reextract(site_name: str | None, config_path: Path, db_path: Path) -> None:
    """Re-run extraction on the stored raw bodies with the current extractor and rules.

    Uses the newest stored body of each page that the admission gate let in (never an alias,
    block page or suspect capture, nor one fetched from another URL), decoded with the charset
    its fetch used, the site's strip rules
    and its learned boilerplate; a new extraction that is a block page is refused. A page
    whose result differs from its latest snapshot gets a new snapshot
    marked as a re-extraction (cause "reextract"), so diff and changes can tell it from a
    change of the site. Prints each changed URL and its new snapshot id; a summary goes to
    stderr.

    \b
    Examples:
      scraper reextract
      scraper reextract --site example-news
    """
    from scraper.archive import open_archive
    from scraper.learn import reextract as run_reextract

    explicit_config = click.get_current_context().get_parameter_source("config_path") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    )
    rules = _site_rules(config_path, explicit_config)

    def on_page(url: str, snapshot_id: int | None) -> None:
        if snapshot_id is not None:
            click.echo(f"{snapshot_id}\t{url}")

    with open_archive(db_path, create=False) as archive:
        result = run_reextract(
            archive,
            site_name,
            now_iso(),
            strip_for=lambda site: rules.get(site or "", ()),
            on_page=on_page,
        )
    for url, reason in result.refused:
        click.echo(f"{url}: not stored: {reason}", err=True)
    refused = f", {len(result.refused)} refused" if result.refused else ""
    click.echo(
        f"re-extracted {result.pages} pages: {len(result.changed)} changed, "
        f"{result.unchanged} unchanged, {len(result.not_found)} without an article{refused}",
        err=True,
    )
