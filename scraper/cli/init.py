"""``scraper init``: create an archive, or adopt an existing database only when asked."""

from __future__ import annotations

from pathlib import Path

import click

from scraper.cli.group import cli, db_option


@cli.command()
@db_option
def init(db_path: Path) -> None:
    """Create the archive, or add scraper's tables to an existing SQLite database.

    Every other command refuses a database that holds another program's tables; init is
    how you say that this file is meant to hold the archive too. An empty database, a
    0-byte file or an existing archive is fine as well (an archive is migrated to the
    current schema). The directory of --db must exist.

    \b
    Examples:
      scraper init                       # data/archive.db
      scraper init --db ~/notes/app.db   # adopt another program's database
    """
    from scraper.archive import open_archive

    existed = db_path.exists() and db_path.stat().st_size > 0
    with open_archive(db_path, adopt=True) as archive:
        version = archive.schema_version()
    what = "archive ready" if existed else "new archive"
    click.echo(f"{db_path}: {what} (schema: {version} migrations applied)", err=True)
