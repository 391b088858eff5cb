"""One page through time: ``history``, ``diff`` and ``show``. Read-only."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from scraper.cli.group import (
    article_format_option,
    cli,
    db_option,
    echo_json,
    print_article,
    snapshot_article,
    table_format_option,
)
from scraper.errors import ScraperError

if TYPE_CHECKING:
    from scraper.archive import FetchRecord, Storage

# --- history, diff, show: reading the archive ----------------------------------------------


def _open_archive_for_reading(db_path: Path) -> Storage:
    """The archive opened read-only; a missing file is one clear error (exit 1)."""
    from scraper.archive import open_archive

    return open_archive(db_path, readonly=True)


def _page_url(archive: Storage, url: str) -> str:
    """The URL as the archive stores it: as given, else normalised the way fetch stores it."""
    if archive.page(url) is not None:
        return url
    from scraper.urls import normalise_url

    stored = normalise_url(url)
    if archive.page(stored) is None:
        raise ScraperError(f"{url}: not in the archive {archive.location}")
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


def _fetch_result(fetch: FetchRecord, first_snapshot_id: int | None) -> str:
    """What one fetch did: error, not_modified, new, changed or unchanged."""
    if fetch.error:
        return "error"
    if fetch.not_modified:
        return "not_modified"
    if fetch.snapshot_id is None:
        return "unchanged"
    return "new" if fetch.snapshot_id == first_snapshot_id else "changed"


@cli.command()
@click.argument("url")
@db_option
@table_format_option
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
        assert page is not None  # _page_url found it
        snapshots = archive.snapshots(stored)
        change_rows = archive.snapshot_changes(stored)
        fetches = archive.fetches(stored)
    first_id = snapshots[-1].id if snapshots else None

    snapshot_items: list[dict[str, Any]] = []
    for snap in snapshots:
        change = change_rows.get(snap.id)
        word_count = snap.metadata.get("word_count") or len(snap.text.split())
        snapshot_items.append(
            {
                "id": snap.id,
                "fetched_at": snap.fetched_at,
                "title": snap.title,
                "word_count": word_count,
                "previous_id": None if change is None else change.previous_id,
                "words_added": 0 if change is None else change.words_added,
                "words_removed": 0 if change is None else change.words_removed,
                "changed_fields": [] if change is None else change.changed_fields(),
                "cause": snap.cause,
                "content_hash": snap.content_hash,
                "confidence": snap.confidence,
            }
        )
    fetch_items: list[dict[str, Any]] = [
        {
            "id": f.id,
            "fetched_at": f.fetched_at,
            "status_code": f.status_code,
            "not_modified": f.not_modified,
            "result": _fetch_result(f, first_id),
            "snapshot_id": f.snapshot_id,
            "error": f.error,
            "elapsed_ms": f.elapsed_ms,
            "bytes": f.bytes,
            "charset": f.charset,
            "final_url": f.url,
        }
        for f in fetches
    ]
    if output_format == "json":
        echo_json(
            {
                "url": stored,
                "site": page.site,
                "first_seen": page.first_seen,
                "last_fetched": page.last_fetched,
                "last_changed": page.last_changed,
                "snapshots": snapshot_items,
                "fetches": fetch_items,
            }
        )
        return

    s_count, f_count = len(snapshots), len(fetches)
    click.echo(stored)
    facts = [f"site: {page.site}"] if page.site else []
    facts += [
        f"first seen {page.first_seen}",
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
    article = snapshot_article(snap)
    if output_format == "json":
        data = article.to_dict()
        data.update(
            snapshot_id=snap.id,
            fetched_at=snap.fetched_at,
            content_hash=snap.content_hash,
            raw_sha256=snap.raw_sha256,
            cause=snap.cause,
            confidence=snap.confidence,  # the stored column: null for older snapshots
        )
        echo_json(data)
        return
    click.echo(f"{stored}: snapshot {snap.id}, fetched {snap.fetched_at}", err=True)
    print_article(article, output_format, stored)
