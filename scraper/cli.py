"""The command line: parse arguments, call the library, format output; errors -> exit codes.

Thin by design: no fetching, parsing or SQL here. Results go to stdout in the chosen
``--format``; progress, warnings and summaries go to stderr.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from scraper import __version__
from scraper.archive.query import DEFAULT_MAX_ROWS, DEFAULT_TIMEOUT_SECONDS
from scraper.errors import ScraperError
from scraper.models import iso_utc

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "data/archive.db"


class CommandError(click.ClickException):
    """A ScraperError on its way out: one line on stderr, the error's exit code."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", err=True)

    @classmethod
    def wrap(cls, error: ScraperError) -> CommandError:
        """A CommandError whose exit code is ``error.exit_code`` (a subclass per code)."""
        code = error.exit_code
        if code not in _ERROR_CLASSES:
            _ERROR_CLASSES[code] = type(f"CommandError{code}", (cls,), {"exit_code": code})
        return _ERROR_CLASSES[code](str(error))


_ERROR_CLASSES: dict[int, type[CommandError]] = {}


class ScraperGroup(click.Group):
    """A click group that turns ScraperError into a one-line message and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScraperError as exc:
            raise CommandError.wrap(exc) from exc


def now_iso() -> str:
    """The current time in the archive's format (see ``models.iso_utc``)."""
    return iso_utc(dt.datetime.now(dt.UTC))


def db_option(func: F) -> F:
    """``--db PATH`` (env SCRAPER_DB), the archive file."""
    return click.option(
        "--db",
        "db_path",
        # dir_okay: a directory is reported by the archive itself, in one line, exit 1
        type=click.Path(path_type=Path),
        default=DEFAULT_DB,
        envvar="SCRAPER_DB",
        show_default=True,
        help="The archive (SQLite file). Env: SCRAPER_DB.",
    )(func)


def config_option(func: F) -> F:
    """``--config PATH``, the sites file."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default="config/sites.toml",
        envvar="SCRAPER_CONFIG",
        show_default=True,
        help="The sites file. Env: SCRAPER_CONFIG.",
    )(func)


def article_format_option(func: F) -> F:
    """``--format text|markdown|json`` for commands that print an article."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["text", "markdown", "json"]),
        default="text",
        show_default=True,
        help="How to print the article.",
    )(func)


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(cls=ScraperGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="scraper")
def cli() -> None:
    """Fetch pages politely, extract the clean article, keep every version in SQLite.

    \b
    Quick tour:
      scraper extract page.html              # clean article from a local file
      scraper fetch https://example.org/post # fetch, archive, print
      scraper crawl                          # the cron job over config/sites.toml
      scraper history URL / diff URL / changes / search QUERY / sql "SELECT ..."
    """


# --- extract and fetch: the one-off path ---------------------------------------------------


def _print_article(article: Any, output_format: str, url: str | None) -> None:
    from scraper.models import Article

    assert isinstance(article, Article)
    if output_format == "json":
        echo_json(article.to_dict())
        return
    if not article.found:
        raise ScraperError(f"{url or 'input'}: no article found")
    if output_format == "markdown":
        click.echo(article.markdown or article.text)
        return
    if article.title:
        click.echo(article.title)
        click.echo("=" * min(len(article.title), 80))
        byline = " · ".join(
            x
            for x in (
                article.author,
                article.published,
                f"{article.reading_time_minutes} min read"
                if article.reading_time_minutes
                else None,
            )
            if x
        )
        if byline:
            click.echo(byline)
        click.echo()
    click.echo(article.text)


@cli.command()
@click.argument("source", default="-", metavar="[FILE|-]")
@click.option("--url", help="The page's URL, to resolve links and help metadata.")
@article_format_option
def extract(source: str, url: str | None, output_format: str) -> None:
    """Extract the clean article from a local HTML file (or stdin). No network, no archive.

    \b
    Examples:
      scraper extract page.html
      curl -s https://example.org/p | scraper extract - --url https://example.org/p --format json
    """
    from scraper.extract import extract as extract_article

    if source == "-":
        html = sys.stdin.buffer.read()
    else:
        try:
            html = Path(source).read_bytes()
        except OSError as exc:
            raise ScraperError(f"{source}: cannot read file: {exc.strerror or exc}") from exc
    article = extract_article(html, url)
    _print_article(article, output_format, url or source)


def _settings_for(url: str, config_path: Path, explicit_config: bool) -> tuple[Any, Any]:
    """(Settings, Site or None) for a one-off URL: the config's site of its host, else defaults."""
    import os

    from scraper.config import Settings, load_config, settings_from_env
    from scraper.pipeline import origin_of

    if not config_path.exists() and not explicit_config:
        return settings_from_env(Settings(), os.environ), None
    config = load_config(config_path)
    origin = origin_of(url)
    for site in config.sites:
        if any(origin_of(u) == origin for u in (*site.start_urls, *site.sitemaps, *site.feeds)):
            return site.settings, site
    return config.defaults, None


def _snapshot_article(snapshot: Any) -> Any:
    """An Article rebuilt from a stored snapshot (for a 304: print what the archive holds)."""
    import dataclasses

    from scraper.models import Article

    names = {f.name for f in dataclasses.fields(Article)}
    fields = {k: v for k, v in (snapshot.metadata or {}).items() if k in names}
    for key in ("authors", "tags"):
        if key in fields:
            fields[key] = tuple(fields[key] or ())
    fields.update(text=snapshot.text, markdown=snapshot.markdown or "", found=True)
    return Article(**fields)


@cli.command()
@click.argument("urls", nargs=-1, required=True, metavar="URL...")
@db_option
@article_format_option
@click.option("--no-store", is_flag=True, help="Do not write to the archive; just print.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow loopback, private and link-local addresses (local sites).",
)
@click.option("--ignore-robots", is_flag=True, help="Do not consult robots.txt.")
@click.option("--user-agent", help="User-Agent header (default from config, then built in).")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="SCRAPER_CONFIG",
    help="Sites file for defaults and site rules [default: config/sites.toml if present].",
)
def fetch(
    urls: tuple[str, ...],
    db_path: Path,
    output_format: str,
    no_store: bool,
    allow_private: bool,
    ignore_robots: bool,
    user_agent: str | None,
    config_path: Path | None,
) -> None:
    """Fetch URLs, extract the clean article, archive it and print it.

    A URL whose content did not change since the last fetch adds a fetch record and no
    new snapshot; the server is asked with If-None-Match / If-Modified-Since. One failed
    URL does not stop the others; the exit code is 1 if any failed.

    \b
    Examples:
      scraper fetch https://example.org/post
      scraper fetch --format json --no-store https://example.org/a https://example.org/b
    """
    import dataclasses

    from scraper.archive import Archive
    from scraper.errors import UsageError
    from scraper.fetch import make_client
    from scraper.pipeline import RobotsCache, fetch_and_archive
    from scraper.urls import normalise_url

    explicit = config_path is not None
    path = config_path or Path("config/sites.toml")
    jobs = []
    failed = 0
    for raw_url in urls:
        try:
            url = normalise_url(raw_url)
        except UsageError as exc:
            click.echo(f"Error: {exc}", err=True)
            failed += 1
            continue
        settings, site = _settings_for(url, path, explicit)
        overrides: dict[str, Any] = {}
        if allow_private:
            overrides["allow_private"] = True
        if ignore_robots:
            overrides["respect_robots"] = False
        if user_agent:
            overrides["user_agent"] = user_agent
        jobs.append((url, dataclasses.replace(settings, **overrides), site))
    if not jobs:
        sys.exit(UsageError.exit_code)

    archive = None if no_store else Archive(db_path)
    results: list[Any] = []

    async def run() -> int:
        errors = 0
        robots = RobotsCache()
        client = make_client(jobs[0][1])
        async with client:
            for url, settings, site in jobs:
                try:
                    results.append(
                        await fetch_and_archive(
                            client,
                            url,
                            settings,
                            archive=archive,
                            robots=robots,
                            now=now_iso,
                            site=site.name if site else None,
                            strip=site.strip if site else (),
                            boilerplate=archive.boilerplate(site.name) if archive and site else (),
                        )
                    )
                except ScraperError as exc:
                    click.echo(f"Error: {exc}", err=True)
                    errors += 1
        return errors

    try:
        failed += asyncio.run(run())
    finally:
        if archive is not None:
            archive.close()
    printed_json = []
    for page in results:
        article = page.article
        if page.not_modified and archive is not None:
            with Archive(db_path, readonly=True) as reader:
                snaps = reader.snapshots(page.url)
            article = _snapshot_article(snaps[0]) if snaps else None
            click.echo(f"{page.url}: not modified since the last fetch", err=True)
        if article is None:
            continue
        if page.saved is not None:
            click.echo(f"{page.url}: {page.saved.outcome}", err=True)
        if output_format == "json":
            printed_json.append(article.to_dict())
        elif not article.found:
            click.echo(f"Error: {page.url}: no article found", err=True)
            failed += 1
        else:
            if len(results) > 1:
                click.echo(f"\n# {page.url}\n")
            _print_article(article, output_format, page.url)
    if printed_json:
        echo_json(printed_json[0] if len(urls) == 1 else printed_json)
    if failed:
        sys.exit(1)


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
    from scraper.config import parse_duration
    from scraper.errors import ConfigError, UsageError

    try:
        seconds = parse_duration(value, where="--since")
    except ConfigError:
        pass
    else:
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
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
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
    from scraper.archive import Archive
    from scraper.archive.query import changes as find_changes

    since_at = _since(since)
    with Archive(db_path, readonly=True) as archive:
        rows = find_changes(archive, since=since_at, site=site, limit=limit or None)
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
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
)
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
    from scraper.archive import Archive
    from scraper.archive.query import search as find

    colour = output_format == "table" and sys.stdout.isatty()
    highlight = ("\x1b[1;33m", "\x1b[0m") if colour else ("**", "**")
    since_at = _since(since)
    with Archive(db_path, readonly=True) as archive:
        hits = find(
            archive,
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

    from scraper.archive.query import run_sql

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
    type=click.Choice(["jsonl", "warc"]),
    default="jsonl",
    show_default=True,
    help="jsonl: one snapshot per line; warc: the raw HTTP captures (gzipped WARC 1.1).",
)
@site_option
@since_option
@click.option(
    "-o",
    "--output",
    default="-",
    metavar="FILE",
    help="Where to write ('-': stdout). A file appears only once complete.",
)
@db_option
def export(
    output_format: str, site: str | None, since: str | None, output: str, db_path: Path
) -> None:
    """Export snapshots as JSON Lines, or the raw captures as WARC 1.1.

    The WARC has request and response records with the headers and payload as stored,
    revisit records for fetches that found no change, one gzip member per record; it
    passes `warcio check` and replays in pywb.

    \b
    Examples:
      scraper export --format jsonl --since 7d > week.jsonl
      scraper export --format warc --site example-news -o news.warc.gz
    """
    from scraper.archive import Archive
    from scraper.export import ExportStats, write_atomically, write_jsonl, write_warc

    since_at = _since(since)
    to_stdout = output == "-"
    with Archive(db_path, readonly=True) as archive:

        def write(out: IO[bytes]) -> ExportStats:
            if output_format == "jsonl":
                return write_jsonl(archive, out, site=site, since=since_at)
            return write_warc(
                archive,
                out,
                created_at=now_iso(),
                site=site,
                since=since_at,
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
            f"{stats.requests} requests to {where}",
            err=True,
        )


@cli.command("datasette-metadata")
@db_option
def datasette_metadata(db_path: Path) -> None:
    """Print Datasette metadata for the archive: descriptions and canned queries.

    Datasette names a database after its file, so the metadata is keyed by the --db
    file's name.

    \b
    Example:
      scraper datasette-metadata > metadata.json
      datasette data/archive.db -m metadata.json
    """
    from scraper.export import datasette_metadata as load

    echo_json(load(db_path.stem))


# --- history, diff, show: reading the archive ----------------------------------------------


def _open_archive_for_reading(db_path: Path) -> Any:
    """The archive opened read-only; a missing file is one clear error (exit 1)."""
    from scraper.archive import Archive

    return Archive(db_path, readonly=True)


def _page_url(archive: Any, url: str) -> str:
    """The URL as the archive stores it: as given, else normalised the way fetch stores it."""
    if archive.page(url) is not None:
        return url
    from scraper.urls import normalise_url

    stored = normalise_url(url)
    if archive.page(stored) is None:
        raise ScraperError(f"{url}: not in the archive {archive.path}")
    return stored


def _text_table(headers: list[str], rows: list[list[str]], right: frozenset[int]) -> list[str]:
    """Rows as aligned text columns (``right``: the indexes of right-aligned columns)."""
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        out = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(out).rstrip()

    return [line(headers), *(line(r) for r in rows)]


_CHANGE_FLAGS = ("title", "author", "published", "updated", "description")


def _fetch_result(fetch: dict[str, Any], first_snapshot_id: int | None) -> str:
    """What one fetch did: error, not_modified, new, changed or unchanged."""
    if fetch["error"]:
        return "error"
    if fetch["not_modified"]:
        return "not_modified"
    if fetch["snapshot_id"] is None:
        return "unchanged"
    return "new" if fetch["snapshot_id"] == first_snapshot_id else "changed"


@cli.command()
@click.argument("url")
@db_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="How to print the history.",
)
def history(url: str, db_path: Path, output_format: str) -> None:
    """The snapshots of a page and every fetch of it (the captures timeline), newest first.

    Each capture says what it found: a new or changed version (and the snapshot it wrote),
    no change, not modified (304), or the error.

    \b
    Examples:
      scraper history https://example.org/post
      scraper history https://example.org/post --format json
    """
    with _open_archive_for_reading(db_path) as archive:
        stored = _page_url(archive, url)
        page = archive.page(stored)
        snapshots = archive.snapshots(stored)
        change_rows = archive.snapshot_changes(stored)
        fetches = archive.fetches(stored)
    first_id = snapshots[-1].id if snapshots else None

    snapshot_items = []
    for snap in snapshots:
        change = change_rows.get(snap.id, {})
        word_count = snap.metadata.get("word_count") or len(snap.text.split())
        snapshot_items.append(
            {
                "id": snap.id,
                "fetched_at": snap.fetched_at,
                "title": snap.title,
                "word_count": word_count,
                "previous_id": change.get("previous_id"),
                "words_added": change.get("words_added", 0),
                "words_removed": change.get("words_removed", 0),
                "changed_fields": [f for f in _CHANGE_FLAGS if change.get(f"{f}_changed")],
                "cause": snap.cause,
                "content_hash": snap.content_hash,
            }
        )
    fetch_items = [
        {
            "id": f["id"],
            "fetched_at": f["fetched_at"],
            "status_code": f["status_code"],
            "not_modified": bool(f["not_modified"]),
            "result": _fetch_result(f, first_id),
            "snapshot_id": f["snapshot_id"],
            "error": f["error"],
            "elapsed_ms": f["elapsed_ms"],
            "bytes": f["bytes"],
            "final_url": f["url"],
        }
        for f in fetches
    ]
    if output_format == "json":
        echo_json(
            {
                "url": stored,
                "site": page["site"],
                "first_seen": page["first_seen"],
                "last_fetched": page["last_fetched"],
                "last_changed": page["last_changed"],
                "snapshots": snapshot_items,
                "fetches": fetch_items,
            }
        )
        return

    s_count, f_count = len(snapshots), len(fetches)
    click.echo(stored)
    facts = [f"site: {page['site']}"] if page["site"] else []
    facts += [
        f"first seen {page['first_seen']}",
        f"{s_count} snapshot{'s' if s_count != 1 else ''}",
        f"{f_count} fetch{'es' if f_count != 1 else ''}",
    ]
    click.echo(" · ".join(facts))
    click.echo()
    if snapshot_items:
        click.echo("Snapshots (newest first)")
        rows = []
        for item in snapshot_items:
            changed = "first" if item["previous_id"] is None else ", ".join(item["changed_fields"])
            if item["cause"] != "fetch":
                changed = f"{changed} ({item['cause']})" if changed else f"({item['cause']})"
            title = item["title"] or ""
            rows.append(
                [
                    str(item["id"]),
                    item["fetched_at"],
                    str(item["word_count"]),
                    f"+{item['words_added']}",
                    f"-{item['words_removed']}",
                    changed,
                    title if len(title) <= 60 else title[:59] + "…",
                ]
            )
        headers = ["ID", "FETCHED", "WORDS", "ADDED", "REMOVED", "CHANGED", "TITLE"]
        for line in _text_table(headers, rows, frozenset({0, 2, 3, 4})):
            click.echo(line)
    else:
        click.echo("No snapshots yet (no fetch of this page found an article).")
    click.echo()
    click.echo("Captures (newest first)")
    rows = []
    for item in fetch_items:
        result = item["result"]
        if result in ("new", "changed"):
            result = f"{result} -> snapshot {item['snapshot_id']}"
        elif result == "not_modified":
            result = "not modified"
        elif result == "error":
            result = f"error: {item['error']}"
        status = "-" if item["status_code"] is None else str(item["status_code"])
        rows.append([item["fetched_at"], status, result])
    for line in _text_table(["FETCHED", "STATUS", "RESULT"], rows, frozenset({1})):
        click.echo(line)


@cli.command()
@click.argument("url")
@click.option(
    "--from",
    "from_ref",
    metavar="REF",
    help="The older snapshot [default: the one before --to].",
)
@click.option(
    "--to", "to_ref", metavar="REF", default="-1", show_default=True, help="The newer snapshot."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["unified", "word", "json"]),
    default="unified",
    show_default=True,
    help="unified diff of paragraphs, inline word changes, or JSON edit operations.",
)
@click.option(
    "--color/--no-color",
    default=None,
    help="Colour the word diff [default: when stdout is a terminal and NO_COLOR is unset].",
)
@db_option
def diff(
    url: str,
    from_ref: str | None,
    to_ref: str,
    output_format: str,
    color: bool | None,
    db_path: Path,
) -> None:
    """What changed between two snapshots of a page (default: the last two).

    REF is a snapshot id (as "scraper history" lists them), a relative reference (-1 the
    latest, -2 the one before...) or a date or datetime (the newest snapshot not after it;
    a bare date counts to the end of that day, UTC). Changed metadata fields (title, author,
    dates...) come first, one line each.

    \b
    Examples:
      scraper diff https://example.org/post
      scraper diff https://example.org/post --format word
      scraper diff https://example.org/post --from 2024-05-01 --to -1 --format json
    """
    import os

    from scraper import diff as differ

    with _open_archive_for_reading(db_path) as archive:
        stored = _page_url(archive, url)
        snapshots = archive.snapshots(stored)
        if not snapshots:
            raise ScraperError(f"{stored}: no snapshots in the archive yet")
        new = archive.snapshot(stored, to_ref)
        if from_ref is not None:
            old = archive.snapshot(stored, from_ref)
        else:
            position = next(i for i, s in enumerate(snapshots) if s.id == new.id)
            if position + 1 >= len(snapshots):
                if len(snapshots) == 1:
                    note = (
                        f"{stored} has only one snapshot ({new.id}, fetched {new.fetched_at}): "
                        "nothing to compare yet"
                    )
                else:
                    note = f"{stored}: snapshot {new.id} is the first; nothing before it"
                click.echo(note, err=True)
                return
            old = snapshots[position + 1]

    if output_format == "json":
        echo_json(differ.diff_ops(old, new))
        return
    if output_format == "word":
        if color is None:
            color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        text = differ.word_diff(old, new, color=color)
    else:
        text = differ.unified_diff(old, new)
    if not text:
        click.echo(f"{stored}: snapshots {old.id} and {new.id} do not differ", err=True)
        return
    # click strips ANSI codes off a non-terminal unless told: --color means colour
    click.echo(text, nl=False, color=bool(color) if output_format == "word" else None)


@cli.command()
@click.argument("url")
@click.option(
    "--at",
    metavar="DATETIME",
    help="Show the page as it was then: the newest snapshot not after DATETIME (a date "
    "counts to its end, UTC). A snapshot id or -1, -2... works too. [default: the latest]",
)
@article_format_option
@db_option
def show(url: str, at: str | None, output_format: str, db_path: Path) -> None:
    """The page as the archive had it: the latest snapshot, or the one current at --at.

    \b
    Examples:
      scraper show https://example.org/post
      scraper show https://example.org/post --at 2024-05-01 --format markdown
      scraper show https://example.org/post --at 2024-05-01T12:00:00Z --format json
    """
    with _open_archive_for_reading(db_path) as archive:
        stored = _page_url(archive, url)
        snap = archive.snapshot(stored, at if at is not None else "-1")
    article = _snapshot_article(snap)
    if output_format == "json":
        data = article.to_dict()
        data.update(
            snapshot_id=snap.id,
            fetched_at=snap.fetched_at,
            content_hash=snap.content_hash,
            raw_sha256=snap.raw_sha256,
            cause=snap.cause,
        )
        echo_json(data)
        return
    click.echo(f"{stored}: snapshot {snap.id}, fetched {snap.fetched_at}", err=True)
    _print_article(article, output_format, stored)


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
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and the summary.")
@db_option
def crawl(
    config_path: Path,
    site_names: tuple[str, ...],
    max_pages: int | None,
    revisit: str | None,
    quiet: bool,
    db_path: Path,
) -> None:
    """Fetch what is due, discover new pages, archive what changed: the cron job.

    Reads the sites file, takes a lock on the archive (a second crawl exits at once with
    code 3), fetches due pages politely (robots.txt, Crawl-delay, per-host delay and
    concurrency), follows sitemaps, feeds and links within each site's rules, and prints a
    summary to stderr (also stored in the runs table). Failed pages are recorded and do not
    make the crawl fail.

    \b
    Examples:
      scraper crawl
      scraper crawl --site example-news --max-pages 50
      scraper crawl --revisit 0 --quiet          # refetch every known page now
      */15 * * * * cd /srv/scraper && .venv/bin/scraper crawl --quiet   # crontab
    """
    import time as _time

    from scraper.config import load_config, parse_duration
    from scraper.crawl import CrawlLock, CrawlSummary
    from scraper.crawl import crawl as run_crawl
    from scraper.errors import ConfigError

    config = load_config(config_path)
    if not config.sites:
        raise ConfigError(f"{config_path}: no [[site]] tables, nothing to crawl")
    revisit_seconds = None if revisit is None else parse_duration(revisit, where="--revisit")
    interactive = not quiet and sys.stderr.isatty()
    last_shown = [0.0]

    def on_start(lock: CrawlLock) -> None:
        if lock.stale_pid and not quiet:
            click.echo(
                f"note: the previous crawl (pid {lock.stale_pid}) did not finish; resuming",
                err=True,
            )

    def on_progress(summary: CrawlSummary) -> None:
        now = _time.monotonic()
        if now - last_shown[0] < 0.2:
            return
        last_shown[0] = now
        line = (
            f"\r{summary.pages_fetched} fetched, {summary.new} new, {summary.changed} changed, "
            f"{summary.failed} failed, {summary.discovered} discovered, "
            f"{summary.seconds:.0f} s"
        )
        click.echo(line.ljust(79), err=True, nl=False)

    summary = run_crawl(
        config,
        db_path,
        site_names=site_names,
        max_pages=max_pages,
        revisit=revisit_seconds,
        on_progress=on_progress if interactive else None,
        on_start=on_start,
    )
    if interactive:
        click.echo("\r".ljust(80) + "\r", err=True, nl=False)
    click.echo(summary.text(), err=True)


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
    from scraper.archive import Archive
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
    with Archive(db_path, readonly=not relearn) as archive:
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

    Uses the newest stored body of each page, the site's strip rules and its learned
    boilerplate. A page whose result differs from its latest snapshot gets a new snapshot
    marked as a re-extraction (cause "reextract"), so diff and changes can tell it from a
    change of the site. Prints each changed URL and its new snapshot id; a summary goes to
    stderr.

    \b
    Examples:
      scraper reextract
      scraper reextract --site example-news
    """
    from scraper.archive import Archive
    from scraper.learn import reextract as run_reextract

    explicit_config = click.get_current_context().get_parameter_source("config_path") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    )
    rules = _site_rules(config_path, explicit_config)

    def on_page(url: str, snapshot_id: int | None) -> None:
        if snapshot_id is not None:
            click.echo(f"{snapshot_id}\t{url}")

    with Archive(db_path) as archive:
        result = run_reextract(
            archive,
            site_name,
            now_iso(),
            strip_for=lambda site: rules.get(site or "", ()),
            on_page=on_page,
        )
    click.echo(
        f"re-extracted {result.pages} pages: {len(result.changed)} changed, "
        f"{result.unchanged} unchanged, {len(result.not_found)} without an article",
        err=True,
    )
