"""Change monitoring on the command line: ``scraper notify`` and ``scraper feed``.

Thin: parse, call scraper.notify, print. Also the hook ``scraper fetch`` calls after storing.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import click

from scraper.cli.group import cli, config_option, db_option, now_iso
from scraper.cli.query import _since, since_option


def notify_after_fetch(
    archive: Any,
    jobs: list[tuple[str, Any, Any]],
    started_at: str,
    path: Path,
    explicit: bool,
    db_path: Path,
) -> None:
    """After ``scraper fetch`` stored its pages: tell the subscribers of their sites."""
    from scraper.archive.backends import sender_lock
    from scraper.notify import after_run

    sites = list({site.name: site for _, _, site in jobs if site is not None}.values())
    if not any(site.settings.notify for site in sites):
        return
    from scraper.config import load_config

    targets = load_config(path).notify_targets() if path.exists() or explicit else ()
    with sender_lock(db_path):  # one sender at a time on a database URL; a crawl's end sends too
        notices = after_run(
            archive,
            sites,
            now=now_iso(),
            started_at=started_at,
            targets=targets,
            urls=[url for url, _, _ in jobs],
            write_feeds=False,
        )
    for line in notices:
        click.echo(line, err=True)


def _sender_lock(db_path: Path) -> AbstractContextManager[object]:
    """One sender of the queue at a time: the crawl's lock beside a SQLite file; for a database
    URL, the backend's sender lock (PostgreSQL: an advisory lock)."""
    from scraper.archive.backends import is_database_url, sender_lock
    from scraper.crawl import CrawlLock

    return sender_lock(db_path) if is_database_url(db_path) else CrawlLock(db_path)


@cli.command()
@config_option
@db_option
@click.option("--test", "test", is_flag=True, help="Send a test message to each target.")
@click.option("--site", "site_names", multiple=True, help="Only this site's targets (repeatable).")
def notify(config_path: Path, db_path: Path, test: bool, site_names: tuple[str, ...]) -> None:
    """Send unsent change notifications, or a test message to each target (--test).

    Targets are the Apprise URLs of ``notify`` in the config (``[defaults]`` and each
    ``[[site]]``). Without --test, the messages a crawl or fetch could not deliver are sent
    again. The exit code is 1 when a target failed.

    \b
    Examples:
      scraper notify --test
      scraper notify --test --site example-news
      scraper notify
    """
    from scraper.config import load_config
    from scraper.notify.messages import test_message
    from scraper.notify.send import send, shown

    config = load_config(config_path)
    if site_names:
        sites = config.select(site_names)
        targets = tuple(dict.fromkeys(t for s in sites for t in s.settings.notify))
    else:
        targets = config.notify_targets()
    if not targets:
        where = f"site {', '.join(site_names)}" if site_names else "the config"
        click.echo(f"{config_path}: {where} has no notify targets", err=True)
        sys.exit(2)
    if test:
        failed = 0
        for target in targets:
            reason, _ = send(target, *test_message(shown(target)))
            if reason is None:
                click.echo(f"ok      {shown(target)}")
            else:
                failed += 1
                click.echo(f"FAILED  {shown(target)}: {reason}")
        click.echo(f"{len(targets) - failed} of {len(targets)} targets worked", err=True)
        sys.exit(1 if failed else 0)

    from scraper.archive import open_archive
    from scraper.notify import send_pending

    # a crawl sends the same queue at its end: one sender at a time, or a message goes twice
    with _sender_lock(db_path), open_archive(db_path) as archive:
        report = send_pending(archive, now=now_iso(), targets=targets)
    for line in report.lines() or ["notify: nothing to send"]:
        click.echo(line, err=True)
    sys.exit(1 if report.failed else 0)


@cli.command()
@db_option
@click.option("--site", "site_names", multiple=True, help="Only this site (repeatable).")
@since_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True, help="Entries at most."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the feed to FILE (complete or not at all) instead of stdout.",
)
def feed(
    db_path: Path, site_names: tuple[str, ...], since: str | None, limit: int, output: Path | None
) -> None:
    """An Atom feed of the archive's versions, newest first, each with its word diff.

    \b
    Examples:
      scraper feed --site example-news -o /var/www/changes.atom
      scraper feed --since 7d > changes.atom
    """
    from scraper.archive import open_archive
    from scraper.errors import ScraperError
    from scraper.models import iso_utc
    from scraper.notify.feed import render_feed, write_atomically

    since_at = _since(since)
    with open_archive(db_path, readonly=True) as archive:
        text = render_feed(
            archive,
            sites=list(site_names) or None,
            since=iso_utc(since_at) if since_at else None,
            now=now_iso(),
            limit=limit,
        )
    if output is None:
        click.echo(text, nl=False)
        return
    try:
        write_atomically(output, text)
    except OSError as exc:
        raise ScraperError(f"{output}: cannot write the feed: {exc.strerror or exc}") from exc
    click.echo(f"{output}: feed written", err=True)
