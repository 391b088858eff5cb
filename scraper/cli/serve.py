"""``scraper serve``: the archive in the browser (Datasette with scraper's plugin)."""

from __future__ import annotations

from pathlib import Path

import click

from scraper.cli.group import cli, db_option


@cli.command()
@db_option
@click.option(
    "--port", default=8001, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (0.0.0.0 shows the archive to your whole network).",
)
def serve(db_path: Path, port: int, host: str) -> None:
    """Browse the archive: Datasette with page timelines and word diffs.

    Opens Datasette on the archive with scraper's metadata (descriptions, canned queries,
    full-text search) and plugin: every table's URLs link to the page's timeline (each
    capture and version, words added and removed), from which any two versions can be
    compared side by side or inline, or the page shown as of a date. Ctrl-C stops it.

    \b
    Example:
      scraper serve --db data/archive.db --port 8001
      open http://127.0.0.1:8001/-/scraper/page?url=https://example.org/post
    """
    from scraper.web import serve as web

    datasette = web.make_datasette(db_path)  # a missing archive or Datasette: one line
    web.check_address(host, port)
    click.echo(f"serving {db_path} at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    web.serve(datasette, host=host, port=port)
