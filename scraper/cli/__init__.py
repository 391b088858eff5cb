"""The command line: parse arguments, call the library, format output; errors -> exit codes.

Thin by design: no fetching, parsing or SQL here. ``group`` holds the click group, its error
boundary and the shared options; each other module adds the commands of one job to it.
"""

from __future__ import annotations

# Importing a command module registers its commands on ``cli``.
from scraper.cli import history, init, migrate, notify, oneoff, query, serve, sitejobs  # noqa: F401
from scraper.cli.group import cli
from scraper.cli.heap import freeze_at_exit

freeze_at_exit()  # a command's process exits without collecting its heap first (cli.heap)

__all__ = ["cli"]
