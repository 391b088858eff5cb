"""The command group, its error boundary, and what every command shares: options and output.

Thin by design: no fetching, parsing or SQL here. Results go to stdout in the chosen
``--format``; progress, warnings and summaries go to stderr.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import click

from scraper import __version__
from scraper.config import MAX_WHOLE_NUMBER
from scraper.errors import ScraperError, UsageError
from scraper.models import iso_utc

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_DB = "data/archive.db"


class CommandError(click.ClickException):
    """A ScraperError on its way out: one line on stderr, the error's exit code."""

    def show(self, file: IO[Any] | None = None) -> None:
        # one line, whatever the message quotes (a URL or a server's reason with a newline)
        message = self.format_message().replace("\r", "\\r").replace("\n", "\\n")
        click.echo(f"Error: {message}", err=True)

    @classmethod
    def wrap(cls, error: ScraperError) -> CommandError:
        """A CommandError whose exit code is ``error.exit_code`` (a subclass per code)."""
        code = error.exit_code
        if code not in _ERROR_CLASSES:
            _ERROR_CLASSES[code] = type(f"CommandError{code}", (cls,), {"exit_code": code})
        return _ERROR_CLASSES[code](str(error))


_ERROR_CLASSES: dict[int, type[CommandError]] = {}


def _unusable(value: Any) -> tuple[str, Any] | None:
    """Why a parsed option value cannot be used, with the part of it at fault, or None: text
    that is not valid UTF-8 (bytes the shell passed, seen as surrogates), a whole number beyond
    what the archive and C code take, NaN or an infinity."""
    why = None
    if isinstance(value, str):
        if any("\ud800" <= c <= "\udfff" for c in value):
            why = "is not valid UTF-8 text"
    elif isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if abs(value) > MAX_WHOLE_NUMBER:
            why = f"is too large (at most {MAX_WHOLE_NUMBER})"
    elif isinstance(value, float):
        if not math.isfinite(value):
            why = "is not a finite number"
    elif isinstance(value, tuple | list):
        for item in value:
            if (found := _unusable(item)) is not None:
                return found
    return None if why is None else (why, value)


def _names_a_file(param: click.Parameter) -> bool:
    """A parameter that takes a file name: any bytes make one (a path type, or a FILE/PATH/DIR
    metavar)."""
    if isinstance(param.type, click.Path | click.File):
        return True
    return bool(re.search(r"FILE|PATH|DIR", param.metavar or ""))


class ScraperCommand(click.Command):
    """A command whose every argument and option (file paths aside: any bytes make a path)
    is checked before the command runs, so that no odd value reaches the code as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        for param in self.params:
            if _names_a_file(param):
                continue
            found = _unusable(ctx.params.get(param.name or ""))
            if found is not None:
                why, value = found
                if isinstance(param, click.Option):
                    name = param.opts[0]
                else:
                    name = param.human_readable_name.upper()
                raise UsageError(f"{name}: {value!r} {why}")
        return super().invoke(ctx)


class ScraperGroup(click.Group):
    """A click group that turns ScraperError into a one-line message and its exit code."""

    command_class = ScraperCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ScraperError as exc:
            raise CommandError.wrap(exc) from exc


def now_iso() -> str:
    """The current time in the archive's format (see ``models.iso_utc``)."""
    return iso_utc(dt.datetime.now(dt.UTC))


def _check_db_path(ctx: click.Context, param: click.Parameter, value: Path) -> Path:
    """A ``--db`` (or SCRAPER_DB) the user named must be in a directory that exists: a typo must
    not leave a new directory tree behind. Only the default's ``data/`` is ours to create."""
    if ctx.get_parameter_source(param.name or "db_path") is click.core.ParameterSource.DEFAULT:
        return value
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:", str(value).split("/", 1)[0]):
        from scraper.archive.backends import check_scheme

        check_scheme(str(value).split(":", 1)[0])  # a URL no backend serves: one line, exit 2
        return value  # a database URL (postgresql://...), not a file: not ours to judge here
    parent = value.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"--db {value}: the directory {parent} {why}")
    return value


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
        callback=_check_db_path,
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


def table_format_option(func: F) -> F:
    """``--format table|json`` for commands that print rows."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(["table", "json"]),
        default="table",
        show_default=True,
        help="table for reading, json for scripts.",
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


def print_article(article: Any, output_format: str, url: str | None) -> None:
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


def snapshot_article(snapshot: Any) -> Any:
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
