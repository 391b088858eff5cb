"""``python -m scraper.archive.postgres migrate URL``: create or migrate the PostgreSQL archive.

Until ``scraper init`` and the crawl open PostgreSQL archives themselves, this is how a new
database gets the archive's schema (an existing archive is migrated in place; another
program's database is refused). One line out; errors are one line with exit 1 or 2.
"""

from __future__ import annotations

import sys

from scraper.archive.postgres.backend import migrate_archive
from scraper.archive.postgres.connect import display_url, is_postgres_url
from scraper.errors import ScraperError

USAGE = "usage: python -m scraper.archive.postgres migrate postgresql://USER@HOST/DBNAME"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "migrate" or not is_postgres_url(argv[1]):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        applied = migrate_archive(argv[1])
    except ScraperError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return exc.exit_code
    done = ", ".join(applied) if applied else "none (up to date)"
    print(f"{display_url(argv[1])}: migrations applied: {done}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
