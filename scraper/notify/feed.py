"""Notify: an Atom feed (RFC 4287) of the archive's versions, newest first, each entry with its
word diff as HTML, so that a feed reader or a static web server can follow the archive.

The file is written to a temporary name beside it and renamed into place: a reader never sees
half a feed. It reads the archive and writes only the feed file.
"""

from __future__ import annotations

import html
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.sax.saxutils import escape

from scraper.diff import PARAGRAPH_BREAK, word_ops
from scraper.errors import ScraperError

if TYPE_CHECKING:
    from scraper.archive import Storage
    from scraper.config import Site
    from scraper.models import Snapshot

ATOM_NS = "http://www.w3.org/2005/Atom"
#: characters XML 1.0 does not allow, whatever the escaping (C0 controls but tab and newlines,
#: lone surrogates, U+FFFE and U+FFFF)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: entries in a feed at most
FEED_ENTRIES = 100
#: unchanged words kept around each change in an entry's diff
CONTEXT_WORDS = 12
#: characters of a first version's text shown in its entry
FIRST_VERSION_CHARS = 2000


def html_diff(old: str, new: str) -> str:
    """The word diff of two texts as HTML: ``<del>`` and ``<ins>`` in paragraphs, long
    unchanged stretches shortened to a few words around the changes."""
    paragraphs: list[str] = []
    current: list[str] = []

    def add_words(words: Sequence[str], tag: str | None) -> None:
        run: list[str] = []

        def flush() -> None:
            if run:
                text = html.escape(" ".join(run))
                current.append(f"<{tag}>{text}</{tag}>" if tag else text)
                run.clear()

        for word in words:
            if word == PARAGRAPH_BREAK:
                flush()
                if current:
                    paragraphs.append("<p>" + " ".join(current) + "</p>")
                    current.clear()
            else:
                run.append(word)
        flush()

    ops = list(word_ops(old, new))
    for index, (tag, old_w, new_w) in enumerate(ops):
        if tag == "equal":
            words = list(old_w)
            plain = [w for w in words if w != PARAGRAPH_BREAK]
            if len(plain) > 2 * CONTEXT_WORDS:
                head = words[:CONTEXT_WORDS] if index > 0 else []
                tail = words[-CONTEXT_WORDS:] if index < len(ops) - 1 else []
                add_words(head, None)
                if current:
                    paragraphs.append("<p>" + " ".join(current) + " …</p>")
                    current.clear()
                add_words(tail, None)
            else:
                add_words(words, None)
            continue
        add_words(old_w, "del")
        add_words(new_w, "ins")
    if current:
        paragraphs.append("<p>" + " ".join(current) + "</p>")
    return "\n".join(p for p in paragraphs if p != "<p></p>")


def _entry(snapshot: Snapshot, previous: Snapshot | None, kind: str | None) -> str:
    if previous is None:
        text = snapshot.text[:FIRST_VERSION_CHARS]
        body = "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines() if line.strip())
        summary = "First version"
    else:
        body = html_diff(previous.text, snapshot.text)
        if (previous.title or "") != (snapshot.title or ""):
            body = (
                f"<p>Title: <del>{html.escape(previous.title or '')}</del> "
                f"<ins>{html.escape(snapshot.title or '')}</ins></p>\n{body}"
            )
        summary = f"Version {snapshot.id} (before: {previous.id})" + (
            ", a minor change" if kind == "minor" else ""
        )
    title = snapshot.title or snapshot.url
    return (
        "  <entry>\n"
        f"    <id>{escape(snapshot.url)}#scraper-snapshot-{snapshot.id}</id>\n"
        f"    <title>{escape(title)}</title>\n"
        f'    <link rel="alternate" href="{escape(snapshot.url, {chr(34): "&quot;"})}"/>\n'
        f"    <updated>{escape(snapshot.fetched_at)}</updated>\n"
        f"    <summary>{escape(summary)}</summary>\n"
        f'    <content type="html">{escape(body)}</content>\n'
        "  </entry>\n"
    )


def render_feed(
    archive: Storage,
    *,
    sites: Sequence[str] | None = None,
    since: str | None = None,
    now: str,
    limit: int = FEED_ENTRIES,
) -> str:
    """The Atom feed of the versions of ``sites`` (None: all) fetched since ``since``."""
    rows = archive.feed_entries(sites, since=since, limit=limit)
    entries = []
    for row in rows:
        snapshot = archive.snapshot_by_id(row.snapshot_id)
        if snapshot is None:
            continue
        previous = archive.snapshot_by_id(row.previous_id) if row.previous_id is not None else None
        entries.append(_entry(snapshot, previous, row.kind))
    updated = rows[0].fetched_at if rows else now
    name = ", ".join(sites) if sites else "all sites"
    feed_id = "urn:scraper:feed:" + ",".join(
        quote(name, safe="") for name in sorted(sites or ["all"])
    )
    return _NOT_XML.sub(
        "",
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="{ATOM_NS}">\n'
        f"  <id>{escape(feed_id)}</id>\n"
        f"  <title>{escape(f'scraper: changes of {name}')}</title>\n"
        f"  <updated>{escape(updated)}</updated>\n"
        "  <author><name>scraper</name></author>\n"
        '  <generator uri="https://example.org/scraper">scraper</generator>\n'
        + "".join(entries)
        + "</feed>\n",
    )


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_site_feeds(archive: Storage, sites: Sequence[Site], *, now: str) -> list[str]:
    """Write the feed of each ``feed_path`` of ``sites`` (the sites sharing a path share the
    feed); the notice lines for the feeds that could not be written."""
    by_path: dict[str, list[str]] = {}
    for site in sites:
        if site.settings.feed_path:
            by_path.setdefault(site.settings.feed_path, []).append(site.name)
    notices = []
    for path, names in by_path.items():
        try:
            write_atomically(Path(path), render_feed(archive, sites=names, now=now))
        except OSError as exc:
            notices.append(f"feed: {path}: cannot write: {exc.strerror or exc}")
        except ScraperError as exc:
            notices.append(f"feed: {path}: not written: {exc}")
    return notices
