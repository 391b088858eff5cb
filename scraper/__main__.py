"""``python -m scraper``: the same as the ``scraper`` command."""

from scraper.cli import cli

if __name__ == "__main__":
    cli()
