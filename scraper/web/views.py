"""Web stage: the plugin's pages — a URL's timeline, the diff of two versions, a version (or the
page as of a date). Each view reads through ``scraper.archive.sqlite.webqueries`` (Datasette
serves SQLite) and renders one template of ``scraper/web/templates``; none writes to the archive.

Routes (under Datasette's own ``/-/`` namespace, so they never shadow a database):

- ``/-/scraper/page?url=URL`` (or ``page_id=N``): every capture and version of a page;
- ``/-/scraper/diff?from=ID&to=ID[&view=inline]``: two versions side by side (or inline);
- ``/-/scraper/version/ID``: one version's article; ``/-/scraper/asof?url=URL&at=DATE``: the
  version that was current at a date (a bare date counts to the end of that day, UTC).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from datasette.utils.asgi import Response

from scraper.archive.sqlite import webqueries as queries
from scraper.diff import metadata_changes
from scraper.errors import ArchiveError, UsageError
from scraper.models import iso_utc
from scraper.urls import normalise_url
from scraper.web.render import paragraphs_html, render_diff

if TYPE_CHECKING:
    from datasette.app import Datasette
    from datasette.database import Database
    from datasette.utils.asgi import Request

    from scraper.archive import FetchRecord, PageRecord

PREFIX = "/-/scraper"


# Every link names its database (``db=``): Datasette may serve several archives at once.


def page_url(url: str, db: str) -> str:
    return f"{PREFIX}/page?{urlencode({'url': url, 'db': db})}"


def diff_url(old_id: int, new_id: int, db: str, view: str = "side") -> str:
    query: dict[str, int | str] = {"from": old_id, "to": new_id}
    if view != "side":
        query["view"] = view
    query["db"] = db
    return f"{PREFIX}/diff?{urlencode(query)}"


def version_url(snapshot_id: int, db: str) -> str:
    return f"{PREFIX}/version/{snapshot_id}?{urlencode({'db': db})}"


class NotFound(Exception):
    """What a view was asked for is not in the archive: a 404 page saying so, no traceback."""


View = Callable[["Datasette", "Request"], Awaitable[Response]]


def _guarded(view: View) -> View:
    async def guarded(datasette: Datasette, request: Request) -> Response:
        try:
            return await view(datasette, request)
        except (NotFound, ArchiveError) as exc:
            if isinstance(exc, ArchiveError):  # a database that is not a scraper archive
                exc = NotFound(f"{request.args.get('db') or 'the database'}: {exc}")
            context = {"ok": False, "error": str(exc), "status": 404, "title": "Not found"}
            html = await datasette.render_template("error.html", context, request=request)
            return Response.html(html, status=404)

    return guarded


def routes() -> list[tuple[str, View]]:
    return [
        (rf"^{PREFIX}/page$", _guarded(timeline)),
        (rf"^{PREFIX}/diff$", _guarded(diff)),
        (rf"^{PREFIX}/version/(?P<snapshot_id>\d+)$", _guarded(version)),
        (rf"^{PREFIX}/asof$", _guarded(as_of)),
    ]


async def timeline(datasette: Datasette, request: Request) -> Response:
    db = _database(datasette, request)
    if not request.args.get("url") and not request.args.get("page_id"):
        recent = await queries.recently_changed(db)
        for row in recent:
            row["href"] = page_url(row["url"], db.name)
        return await _render(datasette, request, "scraper_index.html", {"recent": recent})
    page = await _page(db, request)
    versions = await queries.versions(db, page.id)
    fetches = await queries.captures(db, page.id)
    newest = versions[0]["id"] if versions else None
    for v in versions:
        v["href"] = version_url(v["id"], db.name)
        v["diff_href"] = diff_url(v["previous_id"], v["id"], db.name) if v["previous_id"] else None
    captures = [
        {
            **dataclasses.asdict(f),
            "outcome": _outcome(f),
            "href": version_url(f.snapshot_id, db.name) if f.snapshot_id else None,
        }
        for f in fetches
    ]
    return await _render(
        datasette,
        request,
        "scraper_timeline.html",
        {
            "page": page,
            "versions": versions,
            "captures": captures,
            "max_captures": queries.MAX_CAPTURES,
            "newest": newest,
            "oldest": versions[-1]["id"] if versions else None,
            "table_url": datasette.urls.table(db.name, "pages") + f"/{page.id}",
        },
    )


async def diff(datasette: Datasette, request: Request) -> Response:
    db = _database(datasette, request)
    old_id, new_id = _int_arg(request, "from"), _int_arg(request, "to")
    old, new = await queries.snapshot(db, old_id), await queries.snapshot(db, new_id)
    if old is None or new is None:
        raise NotFound(f"no snapshot {old_id if old is None else new_id}")
    if old.page_id != new.page_id:
        raise NotFound("the two snapshots are versions of different pages")
    view = "inline" if request.args.get("view") == "inline" else "side"
    rendered = render_diff(old.text, new.text)
    return await _render(
        datasette,
        request,
        "scraper_diff.html",
        {
            "old": old,
            "new": new,
            "view": view,
            "diff": rendered,
            "metadata": metadata_changes(old, new),
            "page_href": page_url(new.url, db.name),
            "side_href": diff_url(old.id, new.id, db.name),
            "inline_href": diff_url(old.id, new.id, db.name, "inline"),
            "swap_href": diff_url(new.id, old.id, db.name, view),
            "old_href": version_url(old.id, db.name),
            "new_href": version_url(new.id, db.name),
        },
    )


async def version(datasette: Datasette, request: Request) -> Response:
    db = _database(datasette, request)
    snapshot_id = int(request.url_vars["snapshot_id"])
    snap = await queries.snapshot(db, snapshot_id)
    if snap is None:
        raise NotFound(f"no snapshot {snapshot_id}")
    return await _version(datasette, request, db, snap, None)


async def as_of(datasette: Datasette, request: Request) -> Response:
    db = _database(datasette, request)
    page = await _page(db, request)
    at = (request.args.get("at") or "").strip()
    moment = _moment(at)
    snap = await queries.snapshot_as_of(db, page.id, moment)
    if snap is None:
        raise NotFound(f"{page.url} has no version fetched before {at}")
    return await _version(datasette, request, db, snap, at)


# --- helpers ------------------------------------------------------------------------------


async def _version(
    datasette: Datasette, request: Request, db: Database, snap: Any, at: str | None
) -> Response:
    versions = await queries.versions(db, snap.page_id)
    ids = [v["id"] for v in versions]  # newest first
    index = ids.index(snap.id)
    newer = ids[index - 1] if index > 0 else None
    older = ids[index + 1] if index + 1 < len(ids) else None
    return await _render(
        datasette,
        request,
        "scraper_version.html",
        {
            "snap": snap,
            "at": at,
            "text_html": paragraphs_html(snap.text),
            "page_href": page_url(snap.url, db.name),
            "older_href": version_url(older, db.name) if older else None,
            "newer_href": version_url(newer, db.name) if newer else None,
            "diff_older_href": diff_url(older, snap.id, db.name) if older else None,
            "diff_newest_href": diff_url(snap.id, ids[0], db.name) if newer else None,
            "row_href": datasette.urls.table(db.name, "snapshots") + f"/{snap.id}",
        },
    )


async def _render(
    datasette: Datasette, request: Request, template: str, context: dict[str, Any]
) -> Response:
    context["prefix"] = PREFIX
    context["db_name"] = _database(datasette, request).name
    html = await datasette.render_template(template, context, request=request)
    return Response.html(html)


def _database(datasette: Datasette, request: Request) -> Database:
    name = request.args.get("db")
    try:
        return datasette.get_database(name)
    except KeyError as exc:
        raise NotFound(f"no database {name!r}") from exc


async def _page(db: Database, request: Request) -> PageRecord:
    url = request.args.get("url")
    page_id = request.args.get("page_id")
    if page_id is not None and page_id.isdigit():
        found = await queries.page(db, page_id=int(page_id))
    elif url:
        found = await queries.page(db, url=url.strip())
        if found is None:  # as typed: HTTPS://Example.org/post#top is https://example.org/post
            try:
                found = await queries.page(db, url=normalise_url(url.strip()))
            except UsageError:
                found = None
    else:
        raise NotFound("which page? give ?url=URL")
    if found is None:
        raise NotFound(f"{url or page_id} is not in the archive")
    return found


def _int_arg(request: Request, name: str) -> int:
    value = request.args.get(name) or ""
    if not value.isdigit():
        raise NotFound(f"?{name}= takes a snapshot id")
    return int(value)


def _moment(text: str) -> str:
    """A date or time typed by a user as the stored form (UTC ISO 8601 with seconds); a bare
    date means the end of that day."""
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            return f"{day.isoformat()}T23:59:59Z"  # sorts after 23:59:59.5Z too
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise NotFound(f"?at= takes a date (2026-05-03) or a time, not {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return iso_utc(moment)


def _outcome(capture: FetchRecord) -> str:
    if capture.error:
        return capture.error
    if capture.not_modified:
        return "not modified (304)"
    if capture.snapshot_id:
        return "changed: new version"
    return "unchanged"
