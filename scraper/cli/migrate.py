"""``scraper migrate``: copy an archive whole between SQLite and PostgreSQL, or compare two.

Thin: parse, call :mod:`scraper.archive.transfer`, draw the progress bar, print the outcome.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from scraper.cli.group import cli


@cli.command()
@click.option("--from", "source", required=True, metavar="DB",
              help="The archive to copy: a SQLite file or a postgresql:// URL.")  # fmt: skip
@click.option("--to", "target", required=True, metavar="DB",
              help="Where to copy it: a new file, or an empty PostgreSQL database.")  # fmt: skip
@click.option("--check", is_flag=True,
              help="Copy nothing: compare the two archives, table by table.")  # fmt: skip
@click.option("--resume", is_flag=True, help="Finish a copy into --to that was cut short.")
@click.option("--restart", is_flag=True,
              help="Empty a copy into --to that was cut short, and copy again.")  # fmt: skip
@click.option("--batch-rows", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Rows per batch (one transaction of the target each).")  # fmt: skip
def migrate(
    source: str, target: str, check: bool, resume: bool, restart: bool, batch_rows: int
) -> None:
    """Copy an archive whole from --from to --to (SQLite file <-> PostgreSQL), or --check it.

    Every table is copied (pages, fetches, snapshots, raw bodies, changes, runs, hosts,
    sources, boilerplate, the notification queue...), ids and timestamps as they are, so every
    command gives the same answers on the copy; new rows after it get new ids. The target
    must be empty or new; its schema is created first. The copy runs in batches, one
    transaction each; a copy that is cut short (killed, a lost connection) is complete only
    when the command says so, and a second run refuses it until told --resume (go on) or
    --restart (empty it, start again). Stop the crawls on the source while it runs. --check
    compares row counts and a content hash of every table (snapshot texts, raw bodies...) and
    names the rows that differ: exit 0 when the two hold the same, 1 when not.

    \b
    Examples:
      scraper migrate --from data/archive.db --to postgresql://me@dbhost/scraper
      scraper migrate --check --from data/archive.db --to postgresql://me@dbhost/scraper
      scraper migrate --from postgresql://me@dbhost/scraper --to backup.db
      scraper migrate --resume --from data/archive.db --to postgresql://me@dbhost/scraper
    """
    from scraper.errors import UsageError

    if check and (resume or restart):
        raise UsageError("--check copies nothing: it takes no --resume or --restart")
    if check:
        _check(source, target)
        return
    _copy(source, target, resume=resume, restart=restart, batch_rows=batch_rows)


def _copy(source: str, target: str, *, resume: bool, restart: bool, batch_rows: int) -> None:
    from scraper.archive.transfer import copy_archive

    bar: Any = None
    interactive = sys.stderr.isatty()

    def on_start(total: int, already: int) -> None:
        nonlocal bar
        if already:
            click.echo(f"resuming: {already} of {total} rows were copied before", err=True)
        if interactive:
            bar = click.progressbar(length=total, label="copying", file=sys.stderr, show_pos=True)
            bar.__enter__()
            bar.update(already)

    def on_rows(table: str, count: int) -> None:
        if bar is not None:
            bar.label = f"copying {table}"
            bar.update(count)

    try:
        report = copy_archive(
            source, target, resume=resume, restart=restart, batch_rows=batch_rows,
            on_start=on_start, on_rows=on_rows,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    from scraper.archive.transfer import open_tables

    shown_to = open_tables(target, write=False)
    where = shown_to.location
    shown_to.close()
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    if report.nul_replaced:
        click.echo(f"note: {report.nul_replaced} text values held NUL characters, which "
                   "PostgreSQL cannot store: each became U+FFFD", err=True)  # fmt: skip
    if report.invalid_text:
        click.echo(f"note: {report.invalid_text} text values were not UTF-8: each bad byte "
                   "became U+FFFD", err=True)  # fmt: skip
    rows = f"{report.total} row{'' if report.total == 1 else 's'}"
    click.echo(f"{where}: copied {rows} of {report.tables} tables; complete", err=True)


def _check(source: str, target: str) -> None:
    from scraper.archive.compare import compare_archives

    diffs = compare_archives(source, target)
    width = max(len(d.table) for d in diffs) if diffs else 5
    click.echo(f"{'table':<{width}}  {'rows (from)':>11}  {'rows (to)':>11}  content")
    for diff in diffs:
        if diff.missing:
            state = f"table only in {'--from' if diff.missing == 'b' else '--to'}"
        elif diff.same:
            state = f"same ({diff.hash_a})"
        else:
            parts = [
                f"{n} {what}"
                for n, what in (
                    (diff.only_a, "only in --from"),
                    (diff.only_b, "only in --to"),
                    (diff.changed, "differ"),
                )
                if n
            ]
            state = f"DIFFERENT ({diff.hash_a} vs {diff.hash_b}): {', '.join(parts)}"
        click.echo(f"{diff.table:<{width}}  {diff.rows_a:>11}  {diff.rows_b:>11}  {state}")
        for example in diff.examples:
            click.echo(f"{'':<{width}}    {example}")
    different = [d.table for d in diffs if not d.same]
    rows = sum(d.rows_a for d in diffs)
    if different:
        click.echo(f"Error: the archives differ in {len(different)} of {len(diffs)} tables: "
                   f"{', '.join(different)}", err=True)  # fmt: skip
        sys.exit(1)
    click.echo(f"the archives hold the same: {len(diffs)} tables, {rows} rows", err=True)
