"""Value types passed between the stages: fetch -> extract -> archive -> diff.

Nothing here does I/O; every type is a frozen dataclass.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

Headers = tuple[tuple[str, str], ...]


def iso_utc(moment: dt.datetime) -> str:
    """The archive's one timestamp format: UTC ISO 8601 to the second, ``2026-05-01T09:30:00Z``.

    Every stored time uses it, so timestamps compare correctly as text.
    """
    if moment.tzinfo is not dt.UTC:  # the crawl's clock gives UTC: no conversion for it
        moment = (
            moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
        )
    if moment.year < 1000:  # strftime does not pad such a year: keep its text for them
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    # the same text as that strftime in a quarter of its time (a crawl stamps each page 3 times);
    # %-formatting, as an f-string of six fields takes twice as long
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (  # noqa: UP031
        moment.year,
        moment.month,
        moment.day,
        moment.hour,
        moment.minute,
        moment.second,
    )


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One successful HTTP exchange (2xx, or 304 for a conditional GET), body already decoded."""

    url: str  #: the URL that was asked for
    final_url: str  #: the URL after redirects
    status_code: int
    fetched_at: str  #: UTC ISO 8601, when the request was sent
    elapsed_ms: int
    headers: Headers = ()  #: response headers as received, in order
    request_headers: Headers = ()  #: request headers as sent
    http_version: str = "HTTP/1.1"
    reason: str | None = None  #: the reason phrase as received (None: unknown, the standard one)
    body: bytes = b""  #: the payload after Content-Encoding was undone
    text: str = ""  #: ``body`` decoded with ``encoding``
    encoding: str = "utf-8"
    content_type: str = ""  #: media type only, lower case, e.g. ``text/html``
    not_modified: bool = False  #: a 304 answer to a conditional GET
    redirects: tuple[str, ...] = ()  #: each URL redirected from, in order
    #: the IP address of the server that answered (the final hop), as connected; None: unknown
    ip_address: str | None = None

    def header(self, name: str) -> str | None:
        """The first response header called ``name`` (case-insensitive), or None."""
        lname = name.lower()
        for key, value in self.headers:
            if key.lower() == lname:
                return value
        return None

    @property
    def etag(self) -> str | None:
        return self.header("etag")

    @property
    def last_modified(self) -> str | None:
        return self.header("last-modified")


@dataclass(frozen=True, slots=True)
class Article:
    """The clean article and its metadata, as ``scraper extract --format json`` prints it."""

    url: str | None = None
    title: str | None = None
    author: str | None = None  #: the authors joined with ", "
    authors: tuple[str, ...] = ()
    published: str | None = None  #: ISO 8601 date or datetime
    updated: str | None = None
    language: str | None = None
    description: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    reading_time_minutes: int | None = None
    word_count: int = 0
    text: str = ""
    markdown: str = ""
    found: bool = False  #: False when the page had no article (text is then empty)
    #: how sure the extractor is, in [0, 1], that ``text`` is the page's main content
    confidence: float = 0.0
    extractor: dict[str, str] = field(default_factory=dict)  #: versions, for provenance

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict with the fields ../shared/DESIGN.md promises."""
        data = asdict(self)
        data["authors"] = list(self.authors)
        data["tags"] = list(self.tags)
        return data

    def content_hash(self) -> str:
        """sha256 of the text and the metadata that matters: equal hashes mean no change."""
        global _last_hashed
        last = _last_hashed
        if last is not None and last[0] is self:
            return last[1]
        key = {
            "title": self.title,
            "author": self.author,
            "published": self.published,
            "updated": self.updated,
            "description": self.description,
            "text": self.text,
        }
        blob = json.dumps(key, sort_keys=True, ensure_ascii=False).encode("utf-8")
        digest = hashlib.sha256(blob).hexdigest()
        _last_hashed = (self, digest)
        return digest


#: the article hashed last and its content hash: the admission gate, the noise verdict and the
#: snapshot write ask in turn for the same article's (0.2 ms for a 50 KB text). An Article is
#: frozen and the fields hashed are strings, so its hash never changes; ``is`` keeps an equal
#: but other article from being taken for it.
_last_hashed: tuple[Article, str] | None = None


class Outcome(StrEnum):
    """What one fetch of a page came to. The values are the words the archive and the summary
    use (``fetches``' bookkeeping, the revisit policy, the ``runs`` counters)."""

    NEW = "new"  #: the page's first snapshot was written
    CHANGED = "changed"  #: a new snapshot of a known page was written
    UNCHANGED = "unchanged"  #: fetched again, nothing worth a version changed
    NOT_MODIFIED = "not_modified"  #: the server answered 304 to a conditional GET
    FAILED = "failed"  #: the fetch or the extraction failed
    ALIAS = "alias"  #: a redirect or canonical link to another page
    BLOCKED = "blocked"  #: a block page (captcha, access denied) answered instead
    SUSPECT = "suspect"  #: a drastic change or cut body that no refetch has confirmed yet
    ROBOTS_BLOCKED = "robots_blocked"  #: robots.txt disallows the URL


@dataclass(frozen=True, slots=True)
class SaveOutcome:
    """What the archive did with one fetch attempt."""

    page_id: int
    fetch_id: int
    snapshot_id: int | None  #: the new snapshot, or None when nothing changed or the fetch failed
    new_page: bool  #: the page had no snapshot before
    changed: bool  #: a new snapshot was written for a page that had one
    #: the noise verdict on the extraction (scraper.noise): first, edit, minor, unchanged,
    #: noise or reverted; None when nothing was extracted
    change_kind: str | None = None

    @property
    def outcome(self) -> Outcome:
        """NEW, CHANGED or UNCHANGED (summary buckets; failures never reach here)."""
        if self.new_page and self.snapshot_id is not None:
            return Outcome.NEW
        if self.changed:
            return Outcome.CHANGED
        return Outcome.UNCHANGED


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One stored version of a page, as the archive returns it."""

    id: int
    page_id: int
    url: str
    fetched_at: str
    content_hash: str
    title: str | None
    author: str | None
    published: str | None
    updated: str | None
    language: str | None
    description: str | None
    text: str
    markdown: str
    metadata: dict[str, Any]
    raw_sha256: str | None
    cause: str = "fetch"  #: "fetch" (the site changed) or "reextract" (our extraction changed)
    confidence: float | None = None  #: the extraction confidence; None for older snapshots
