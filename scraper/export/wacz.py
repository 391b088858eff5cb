"""Export stage: a WACZ 1.1 package (the WARC, its CDXJ index, the page list, datapackage.json).

The WARC is :func:`scraper.export.warc.write_warc`'s; the package around it is made by the
``wacz`` library (py-wacz, in the ``web`` extra), which indexes the WARC with cdxj-indexer and
hashes every file into ``datapackage.json``, so the result is what ``wacz validate``,
ReplayWeb.page and pywb expect. ``pages/pages.jsonl`` lists each archived page with the
title of its newest snapshot, at its newest capture. Never writes to the archive.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

from scraper.errors import ScraperError
from scraper.export.base import ExportStats
from scraper.export.warc import write_warc

if TYPE_CHECKING:
    from scraper.archive import Storage

#: the name of the WARC inside the package (``archive/`` is WACZ's folder for WARCs)
WARC_NAME = "data.warc.gz"


def write_wacz(
    archive: Storage,
    out: IO[bytes],
    *,
    created_at: str,
    site: str | None = None,
    since: dt.datetime | None = None,
    latest: bool = False,
    title: str = "scraper archive",
    software: str = "scraper",
) -> ExportStats:
    """The captures (see ``write_warc``) as a WACZ package written to ``out``.

    :param created_at: the export's time (UTC ISO 8601), the WARC's warcinfo date.
    """
    try:
        from wacz.main import main as wacz_main
    except ImportError as exc:
        raise ScraperError(
            "export --format wacz needs the wacz package: pip install 'scraper[web]'"
        ) from exc
    with tempfile.TemporaryDirectory(prefix="scraper-wacz-") as tmp:
        folder = Path(tmp)
        warc_path = folder / WARC_NAME
        with warc_path.open("wb") as warc:
            stats = write_warc(
                archive,
                warc,
                created_at=created_at,
                site=site,
                since=since,
                latest=latest,
                filename=WARC_NAME,
                software=software,
            )
        pages = _pages(archive, site=site, since=since)
        pages_path = folder / "pages.jsonl"
        with pages_path.open("w", encoding="utf-8") as listing:
            header = {"format": "json-pages-1.0", "id": "pages", "title": title}
            listing.write(json.dumps(header) + "\n")
            for url, (page_title, newest) in pages.items():
                entry = {"url": url, "title": page_title or url, "ts": newest}
                listing.write(json.dumps(entry, ensure_ascii=False) + "\n")
        package = folder / "archive.wacz"
        args = ["create", "-o", str(package), "-p", str(pages_path), str(warc_path)]
        args += ["--title", title]
        chatter = io.StringIO()  # the library reports its progress on stdout
        with contextlib.redirect_stdout(chatter):
            code = wacz_main(args)
        if code not in (0, None) or not package.exists():
            lines = [line for line in chatter.getvalue().splitlines() if line.strip()]
            why = lines[-1] if lines else f"exit code {code}"
            raise ScraperError(f"wacz: cannot build the package: {why}")
        for line in chatter.getvalue().splitlines():
            if line.startswith("Invalid passed page"):
                print(f"wacz: {line}", file=sys.stderr)
        with package.open("rb") as built:
            shutil.copyfileobj(built, out)
    return ExportStats(
        responses=stats.responses,
        requests=stats.requests,
        revisits=stats.revisits,
        metadata=stats.metadata,
        resources=stats.resources,
        pages=len(pages),
    )


def _pages(
    archive: Storage, *, site: str | None, since: dt.datetime | None
) -> dict[str, tuple[str | None, str]]:
    """URL -> (title of its newest snapshot, time of its newest capture in the WARC), for every
    page with a snapshot and a capture, oldest first: a replay tool opens the newest capture."""
    newest: dict[str, str] = {}
    for exchange in archive.exchanges(site=site, since=since):
        newest[exchange.url] = exchange.fetched_at
    titles: dict[str, str | None] = {}
    for record in archive.snapshot_records(site=site):
        titles[record["url"]] = record.get("title")
    return {url: (title, newest[url]) for url, title in titles.items() if url in newest}
