"""Web stage: scraper's Datasette plugin — a page's timeline, word diffs of two versions, the
page as of a date, and links to them from the archive's tables.

Registered through Datasette's plugin hooks (entry point ``datasette: scraper`` in
pyproject.toml), so ``scraper serve`` and a plain ``datasette data/archive.db`` both load it.
It also keeps Datasette's table pages readable: long ``text``/``markdown``/``metadata`` cells
are clipped to a few lines (the row page shows them whole), and search snippets are shown
highlighted. Everything it serves is local (no CDN, no JavaScript needed). It never writes.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any, TypeVar, cast

import datasette
from markupsafe import Markup

from scraper.web.views import PREFIX, View, diff_url, page_url, routes

if TYPE_CHECKING:
    from datasette.app import Datasette

F = TypeVar("F", bound=Callable[..., Any])
hookimpl = cast(Callable[[F], F], datasette.hookimpl)

#: the plugin's name in Datasette (its distribution's name): static files are under it
PLUGIN = "scraper"
#: columns long enough to make a table page unreadable: clipped there, whole on the row page
LONG_COLUMNS = frozenset({"text", "markdown", "metadata"})
#: a cell longer than this many characters is clipped
CLIP_CHARS = 240
#: tables and views whose ``url`` column is a page of the archive
URL_TABLES = frozenset({"pages", "latest_snapshots", "snapshot_changes", None})
#: the search snippet's highlight marks (see the ``search`` canned query): characters that
#: articles do not use, readable as brackets where no plugin renders them
MARK_OPEN, MARK_CLOSE = "\u27e6", "\u27e7"


@hookimpl
def register_routes(datasette: Datasette) -> list[tuple[str, View]]:
    return routes()


@hookimpl
def extra_css_urls(datasette: Datasette) -> list[str]:
    return [datasette.urls.static_plugins(PLUGIN, "scraper.css")]


@hookimpl
def menu_links(datasette: Datasette) -> list[dict[str, str]]:
    return [{"href": datasette.urls.path(PREFIX + "/page"), "label": "Page timeline"}]


@hookimpl
def render_cell(
    row: Any, value: Any, column: str, table: str | None, database: str, datasette: Datasette
) -> Markup | None:
    if column == "snapshot_id" and table in ("snapshot_changes", "changes"):
        previous = _row_value(row, "previous_id")
        if isinstance(value, int) and isinstance(previous, int):
            href = datasette.urls.path(diff_url(previous, value, database))
            return Markup(f'{value} <a class="scraper-history" href="{escape(href)}">diff</a>')
    if not isinstance(value, str):
        return None
    if column == "snippet" and MARK_OPEN in value:
        return _highlighted(value)
    if column in LONG_COLUMNS and len(value) > CLIP_CHARS:
        return _clipped(value, column, row, table, database, datasette)
    if column == "url" and table in URL_TABLES and value.startswith(("http://", "https://")):
        href = datasette.urls.path(page_url(value, database))
        return Markup(
            f'<a href="{escape(value)}">{escape(value)}</a> '
            f'<a class="scraper-history" href="{escape(href)}">history</a>'
        )
    return None


def _highlighted(value: str) -> Markup:
    out: list[str] = []
    rest = value
    while MARK_OPEN in rest:
        before, _, after = rest.partition(MARK_OPEN)
        marked, _, rest = after.partition(MARK_CLOSE)
        out.append(f"{escape(before)}<mark>{escape(marked)}</mark>")
    out.append(escape(rest))
    return Markup("".join(out))


def _clipped(
    value: str, column: str, row: Any, table: str | None, database: str, datasette: Datasette
) -> Markup:
    """The whole value, clipped by CSS to a few lines on table pages, and a link to all of it."""
    link = ""
    snapshot_id = _row_value(row, "id")
    if table in ("snapshots", "latest_snapshots") and snapshot_id is not None:
        href = datasette.urls.table(database, "snapshots") + f"/{snapshot_id}"
        label = "all of it" if column == "metadata" else f"all {len(value.split())} words"
        link = f'<a class="scraper-full" href="{escape(href)}">{label}</a>'
    return Markup(f'<div class="scraper-long">{escape(value)}</div>{link}')


def _row_value(row: Any, key: str) -> Any:
    try:
        return row[key]
    except (KeyError, IndexError, TypeError):
        return None
