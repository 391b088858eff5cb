"""Questions to the archive: ``changes``, ``search``, ``sql``, ``export``, ``datasette-metadata``.

Read-only: these commands never write to the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import click

from scraper import __version__
from scraper.archive.protocols import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.cli.group import (
    F,
    cli,
    db_option,
    echo_json,
    now_iso,
    table_format_option,
)

# --- questions to the archive: changes, search, sql, export ------------------------------


def since_option(func: F) -> F:
    """``--since DURATION|DATE``: a duration back from now (``7d``) or a UTC date/time."""
    return click.option(
        "--since",
        metavar="DURATION|DATE",
        help="Only since then: a duration back from now (12h, 7d) or a UTC date (2026-05-01).",
    )(func)


def site_option(func: F) -> F:
    """``--site NAME``: only the pages of one ``[[site]]``."""
    return click.option("--site", metavar="NAME", help="Only pages of this [[site]].")(func)


def _since(value: str | None) -> dt.datetime | None:
    """The moment ``--since`` names; the clock is read here, not in the query functions."""
    if value is None:
        return None
    from scraper.config import is_duration, parse_duration
    from scraper.errors import ConfigError, UsageError

    if is_duration(value):
        try:
            seconds = parse_duration(value, where="--since")
        except ConfigError as exc:  # written as a duration, but out of range
            raise UsageError(str(exc)) from None
        return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--since: expected a duration like 7d or a date like 2026-05-01, got {value!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _display_width(text: str) -> int:
    import unicodedata

    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def _cell(value: Any, max_width: int) -> str:
    """A value on one line of a table: None empty, blobs by size, long text cut with '…'."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    text = " ".join(str(value).split())
    if _display_width(text) <= max_width:
        return text
    out, width = [], 0
    for char in text:
        width += _display_width(char)
        if width > max_width - 1:
            break
        out.append(char)
    return "".join(out) + "…"


def echo_table(columns: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int = 60) -> None:
    """Print rows as an aligned text table with a header line."""
    cells = [[_cell(v, max_width) for v in row] for row in rows]
    widths = [
        max([_display_width(name), *(_display_width(row[i]) for row in cells)])
        for i, name in enumerate(columns)
    ]

    def line(values: Sequence[str]) -> str:
        padded = (v + " " * (w - _display_width(v)) for v, w in zip(values, widths, strict=True))
        return "  ".join(padded).rstrip()

    click.echo(line(list(columns)))
    click.echo(line(["-" * w for w in widths]))
    for row in cells:
        click.echo(line(row))


def _json_value(value: Any) -> Any:
    return f"<{len(value)} bytes>" if isinstance(value, bytes) else value


@cli.command()
@since_option
@site_option
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Rows at most (0: all).",
)
@table_format_option
@db_option
def changes(
    since: str | None, site: str | None, limit: int, output_format: str, db_path: Path
) -> None:
    """The pages whose content changed, newest first, with the size of each change.

    A page's first snapshot is not a change. +words/-words count the words inserted and
    deleted; cause is "fetch" when the site changed the page, "reextract" when our
    extraction did.

    \b
    Examples:
      scraper changes --since 7d
      scraper changes --site example-news --since 2026-05-01 --format json
    """
    from scraper.archive import open_archive

    since_at = _since(since)
    with open_archive(db_path, readonly=True) as archive:
        rows = archive.changes(since=since_at, site=site, limit=limit or None)
    if output_format == "json":
        echo_json([row.to_dict() for row in rows])
        return
    if not rows:
        click.echo("no changes", err=True)
        return
    echo_table(
        ["fetched_at", "site", "+words", "-words", "cause", "url", "title"],
        [
            [
                row.fetched_at,
                row.site,
                f"+{row.words_added}",
                f"-{row.words_removed}",
                row.cause,
                row.url,
                f"{row.previous_title or ''} → {row.title or ''}"
                if row.title_changed
                else row.title,
            ]
            for row in rows
        ],
    )


@cli.command()
@click.argument("query", nargs=-1, required=True)
@site_option
@since_option
@click.option(
    "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="Results at most."
)
@click.option(
    "--all-versions", is_flag=True, help="Every matching snapshot, not only the newest per page."
)
@table_format_option
@db_option
def search(
    query: tuple[str, ...],
    site: str | None,
    since: str | None,
    limit: int,
    all_versions: bool,
    output_format: str,
    db_path: Path,
) -> None:
    """Full-text search over the titles and text of every archived version, best match first.

    Words are all required; "a phrase" in double quotes matches as a phrase; word* matches a
    prefix; OR between two terms matches either. Punctuation is taken literally. Each page
    is listed once, at its newest version that matches (--all-versions lists them all).

    \b
    Examples:
      scraper search climate
      scraper search '"city council"' budget --since 30d
      scraper search 서울 --format json
    """
    from scraper.archive import open_archive

    colour = output_format == "table" and sys.stdout.isatty()
    highlight = ("\x1b[1;33m", "\x1b[0m") if colour else ("**", "**")
    since_at = _since(since)
    with open_archive(db_path, readonly=True) as archive:
        hits = archive.search(
            " ".join(query),
            site=site,
            since=since_at,
            limit=limit,
            all_versions=all_versions,
            highlight=highlight,
        )
    if output_format == "json":
        echo_json([hit.to_dict() for hit in hits])
        return
    if not hits:
        click.echo("no matches", err=True)
        return
    for number, hit in enumerate(hits, 1):
        older = "" if hit.latest else "  (an older version)"
        click.echo(f"{number}. {hit.title or '(untitled)'}")
        click.echo(f"   {hit.url}  ·  {hit.fetched_at}{older}")
        click.echo(f"   {' '.join(hit.snippet.split())}")
        click.echo()


@cli.command()
@click.argument("query", metavar='"SELECT ..."')
@click.option(
    "-p",
    "--param",
    "params",
    type=(str, str),
    multiple=True,
    metavar="NAME VALUE",
    help="A value for :NAME in the query (repeatable).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_ROWS,
    show_default=True,
    help="Rows at most (0: no cap); a notice on stderr says when rows were left out.",
)
@click.option(
    "--timeout",
    "timeout_seconds",
    type=click.FloatRange(min=0),
    default=DEFAULT_TIMEOUT_SECONDS,
    show_default=True,
    help="Seconds before the query is stopped (0: no limit).",
)
@db_option
def sql(
    query: str,
    params: tuple[tuple[str, str], ...],
    output_format: str,
    limit: int,
    timeout_seconds: float,
    db_path: Path,
) -> None:
    """Run one read-only SQL query on the archive.

    The file is opened read-only by SQLite itself (mode=ro, PRAGMA query_only, no ATTACH):
    INSERT, UPDATE, DELETE, DROP and writing PRAGMAs fail, whatever the query looks like.

    \b
    Examples:
      scraper sql "SELECT site, COUNT(*) FROM pages GROUP BY site"
      scraper sql "SELECT url, title FROM latest_snapshots WHERE site = :site" -p site news
      scraper sql "SELECT * FROM snapshot_changes" --format csv --limit 0 > changes.csv
    """
    import csv
    import io

    from scraper.archive import run_sql

    result = run_sql(db_path, query, dict(params), max_rows=limit, timeout_seconds=timeout_seconds)
    if output_format == "json":
        echo_json(
            [
                {name: _json_value(v) for name, v in zip(result.columns, row, strict=True)}
                for row in result.rows
            ]
        )
    elif output_format == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(result.columns)
        writer.writerows([_json_value(v) for v in row] for row in result.rows)
        click.echo(buffer.getvalue(), nl=False)
    elif result.columns:
        echo_table(result.columns, result.rows)
    if result.truncated:
        click.echo(f"sql: only the first {limit} rows are shown; --limit 0 shows all", err=True)


@cli.command()
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "warc", "wacz"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one snapshot per line; warc: the raw HTTP captures (gzipped WARC 1.1); "
    "wacz: the WARC with its CDXJ index and page list (WACZ 1.1).",
)
@site_option
@since_option
@click.option(
    "--latest",
    is_flag=True,
    help="warc/wacz: only the newest capture of each page, as a full response record.",
)
@click.option(
    "-o",
    "--output",
    default="-",
    metavar="FILE",
    help="Where to write ('-': stdout). A file appears only once complete.",
)
@db_option
def export(
    output_format: str,
    site: str | None,
    since: str | None,
    latest: bool,
    output: str,
    db_path: Path,
) -> None:
    """Export snapshots as JSON Lines, or the raw captures as WARC 1.1 or WACZ.

    The WARC has request and response records with the headers and payload as stored,
    revisit records for fetches that found no change (a 304 included: it refers to the
    stored response it confirmed), one gzip member per record; it passes `warcio check`
    and every capture replays in pywb. The WACZ adds a CDXJ index and the page list, for
    ReplayWeb.page; it passes `wacz validate`.

    \b
    Examples:
      scraper export --format jsonl --since 7d > week.jsonl
      scraper export --format warc --site example-news -o news.warc.gz
      scraper export --format wacz --latest -o archive.wacz
    """
    from scraper.archive import open_archive
    from scraper.export import (
        ExportStats,
        check_output,
        write_atomically,
        write_jsonl,
        write_wacz,
        write_warc,
    )

    if latest and output_format == "jsonl":
        raise click.UsageError("--latest applies to --format warc and wacz")
    since_at = _since(since)
    to_stdout = output == "-"
    if not to_stdout:
        check_output(Path(output), db_path)
    else:
        with contextlib.suppress(OSError, ValueError, AttributeError):  # stdout is no file
            check_output(sys.stdout.fileno(), db_path)
    with open_archive(db_path, readonly=True) as archive:

        def write(out: IO[bytes]) -> ExportStats:
            if output_format == "jsonl":
                return write_jsonl(archive, out, site=site, since=since_at)
            if output_format == "wacz":
                return write_wacz(
                    archive,
                    out,
                    created_at=now_iso(),
                    site=site,
                    since=since_at,
                    latest=latest,
                    software=f"scraper/{__version__}",
                )
            return write_warc(
                archive,
                out,
                created_at=now_iso(),
                site=site,
                since=since_at,
                latest=latest,
                filename=None if to_stdout else Path(output).name,
                software=f"scraper/{__version__}",
            )

        stats = write(sys.stdout.buffer) if to_stdout else write_atomically(Path(output), write)
    where = "stdout" if to_stdout else output
    if output_format == "jsonl":
        click.echo(f"exported {stats.snapshots} snapshots to {where}", err=True)
    else:
        click.echo(
            f"exported {stats.responses} responses, {stats.revisits} revisits and "
            f"{stats.requests} requests to {where}"
            + (f" ({stats.pages} pages listed)" if output_format == "wacz" else ""),
            err=True,
        )


@cli.command("datasette-metadata")
@click.option(
    "--config",
    "as_config",
    is_flag=True,
    help="Print Datasette 1.0's configuration (-c: canned queries, table settings) instead.",
)
@db_option
def datasette_metadata(as_config: bool, db_path: Path) -> None:
    """Print Datasette metadata for the archive: descriptions and canned queries.

    Datasette names a database after its file, so the metadata is keyed by the --db
    file's name. Datasette 0.65 takes it all as metadata (-m); Datasette 1.0 takes canned
    queries and table settings as configuration (-c): --config prints that part.

    \b
    Example:
      scraper datasette-metadata > metadata.json
      datasette data/archive.db -m metadata.json
      scraper datasette-metadata --config > config.json    # Datasette 1.0
      datasette data/archive.db -m metadata.json -c config.json
    """
    from scraper.export import datasette_metadata as load

    if as_config:
        from scraper.web.serve import datasette_settings

        echo_json(datasette_settings(db_path.stem)[1])
    else:
        echo_json(load(db_path.stem))
