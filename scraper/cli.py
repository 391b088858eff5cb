"""The command line: parse arguments, call the library, format output; errors -> exit codes.

Thin by design: no fetching, parsing or SQL here.
"""

from __future__ import annotations

import click

from scraper import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scraper")
def cli() -> None:
    """Fetch pages politely, extract the clean article, keep every version in SQLite."""
