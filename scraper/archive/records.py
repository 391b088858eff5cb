"""Archive records: the values the storage protocols take and return, whatever the backend.

Each is a frozen dataclass named for what it is (a page, a fetch, a due page, a run), never a
database row: callers read attributes, not column names, so a second backend (PostgreSQL) is
another producer of the same values. This module holds no SQL and imports no driver.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from scraper.decode import decode_body

# --- pages and fetches ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageRecord:
    """One page of the archive (the ``pages`` table): what is known of one normalised URL."""

    id: int
    url: str
    site: str | None  #: the [[site]] name; None for a page only one-off fetches saw
    canonical_url: str | None
    first_seen: str
    last_fetched: str | None
    last_changed: str | None  #: when its last new version was stored
    next_fetch_at: str | None  #: when the crawl frontier considers it due
    etag: str | None
    last_modified: str | None
    depth: int = 0
    source: str | None = None  #: how it was found: start, sitemap, feed, link, cli...
    found_on: str | None = None
    lastmod: str | None = None
    revisit_seconds: float | None = None
    unchanged_count: int = 0
    failures: int = 0  #: consecutive failed fetches
    last_status: int | None = None
    last_error: str | None = None
    host: str | None = None  #: scheme://host[:port]
    crawled_at: str | None = None


@dataclass(frozen=True, slots=True)
class FetchRecord:
    """One HTTP attempt and what it came to (the ``fetches`` table)."""

    id: int
    page_id: int
    fetched_at: str
    run_id: int | None = None  #: the crawl run; None for a one-off fetch
    url: str | None = None  #: the final URL after redirects
    status_code: int | None = None
    not_modified: bool = False
    elapsed_ms: int | None = None
    bytes: int | None = None
    content_type: str | None = None
    error: str | None = None  #: ``kind: message``; None on success
    snapshot_id: int | None = None  #: the snapshot this fetch wrote
    raw_sha256: str | None = None  #: the stored body
    headers_sha256: str | None = None
    request_sha256: str | None = None
    http_version: str | None = None
    charset: str | None = None  #: the codec the body was read with
    change_kind: str | None = None  #: the noise verdict (edit, noise, same...)
    same_as_snapshot_id: int | None = None
    ip_address: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A snapshot against the one before it (the ``changes`` table)."""

    snapshot_id: int
    previous_id: int | None  #: None: the page's first version
    words_added: int = 0
    words_removed: int = 0
    title_changed: bool = False
    author_changed: bool = False
    published_changed: bool = False
    updated_changed: bool = False
    description_changed: bool = False
    cause: str = "fetch"  #: "fetch" (the site changed it) or "reextract" (our extraction did)
    kind: str | None = None  #: the noise verdict that let it be written

    def changed_fields(self) -> list[str]:
        """The names of the metadata fields that changed (title, author...), in that order."""
        flags = {
            "title": self.title_changed,
            "author": self.author_changed,
            "published": self.published_changed,
            "updated": self.updated_changed,
            "description": self.description_changed,
        }
        return [name for name, changed in flags.items() if changed]


@dataclass(frozen=True, slots=True)
class Capture:
    """The newest stored capture of a page, for re-extraction."""

    url: str
    site: str | None
    snapshot_id: int  #: the page's latest snapshot
    body: bytes  #: the raw response body (decompressed)
    raw_sha256: str
    fetched_at: str  #: when that body was fetched
    charset: str | None = None  #: the codec its fetch decoded it with (None: not recorded)
    content_type: str | None = None  #: its Content-Type header, for captures without charset

    def text(self) -> str:
        """The body decoded exactly as its fetch did: with the stored charset, else (older
        captures) by the same decoder from the stored Content-Type header and the bytes."""
        return decode_body(self.body, self.content_type, charset=self.charset)[0]


# --- the crawl: frontier, hosts, sources, runs ----------------------------------------------


@dataclass(frozen=True, slots=True)
class NewPage:
    """A URL to put in the frontier (normalised and in scope already)."""

    url: str
    site: str
    host: str  #: scheme://host[:port]
    depth: int
    source: str  #: start, sitemap, feed, link, canonical, redirect
    found_on: str | None = None
    lastmod: str | None = None


@dataclass(frozen=True, slots=True)
class DuePage:
    """A page the frontier hands to the crawl."""

    id: int
    url: str
    site: str
    host: str
    depth: int
    next_fetch_at: str | None
    lastmod: str | None
    revisit_seconds: float | None
    unchanged_count: int
    failures: int
    fetched: bool  #: fetched before (so a conditional GET is possible)
    etag: str | None = None  #: validators of the last successful fetch
    last_modified: str | None = None


@dataclass(frozen=True, slots=True)
class HostRow:
    """A host's persisted politeness state (robots.txt cache, Crawl-delay, backoff)."""

    host: str
    robots_txt: str | None
    robots_status: int | None
    robots_fetched_at: str | None
    robots_expires_at: str | None
    crawl_delay_seconds: float | None
    next_allowed_at: str | None
    failures: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SourceRow:
    """A sitemap or feed the crawl reads for discovery."""

    url: str
    site: str
    kind: str  #: sitemap or feed (what the config or the finder called it)
    etag: str | None
    last_modified: str | None
    next_fetch_at: str | None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One crawl run (the ``runs`` table): when, which sites, its counts and exit code."""

    id: int
    started_at: str
    ended_at: str | None = None
    pid: int | None = None
    sites: tuple[str, ...] = ()
    pages_fetched: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    not_modified: int = 0
    failed: int = 0
    robots_blocked: int = 0
    discovered: int = 0
    bytes: int = 0
    seconds: float | None = None
    exit_code: int | None = None


# --- reading: changes, search, SQL, export --------------------------------------------------


@dataclass(frozen=True, slots=True)
class PageChange:
    """One new version of a page beside the version before it (a ``snapshot_changes`` row)."""

    snapshot_id: int
    previous_id: int
    page_id: int
    url: str
    site: str | None
    fetched_at: str
    previous_fetched_at: str | None
    title: str | None
    previous_title: str | None
    words_added: int
    words_removed: int
    title_changed: bool
    author_changed: bool
    published_changed: bool
    updated_changed: bool
    description_changed: bool
    cause: str  #: "fetch" (the site changed the page) or "reextract" (our extraction changed)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SearchHit:
    """One snapshot that matches a full-text query, with a highlighted snippet."""

    snapshot_id: int
    page_id: int
    url: str
    site: str | None
    fetched_at: str
    title: str | None
    snippet: str
    rank: float  #: bm25 score: lower is a better match
    latest: bool  #: the snapshot is the page's newest version

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class SqlResult:
    """The rows of one ``scraper sql`` query, and whether the row cap cut them short."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]
    truncated: bool


@dataclass(frozen=True, slots=True)
class Exchange:
    """One stored HTTP exchange (a ``fetches`` row with its raw blobs' hashes)."""

    fetch_id: int
    page_id: int
    url: str  #: the URL that answered (after redirects)
    fetched_at: str
    status_code: int | None
    not_modified: bool
    body_sha256: str | None
    headers_sha256: str | None
    request_sha256: str | None
    ip_address: str | None = None  #: the server's address as connected; None: not recorded


@dataclass(frozen=True, slots=True)
class FeedEntry:
    """One version found by fetching, for the Atom feed of changes."""

    snapshot_id: int
    previous_id: int | None  #: None: the page's first version
    url: str
    site: str | None
    fetched_at: str
    title: str | None
    kind: str | None  #: the noise verdict of the change (edit...), None for older rows


# --- notifications --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Edit:
    """A snapshot that a site's subscribers are to hear about."""

    snapshot_id: int
    previous_id: int
    url: str


@dataclass(frozen=True, slots=True)
class Gone:
    """A page that had versions and answered 404/410 on its last two fetches."""

    page_id: int
    url: str
    since_fetch_id: int  #: the first fetch of the streak: one message per streak
    status: int
    last_snapshot_id: int


@dataclass(frozen=True, slots=True)
class Queued:
    """One message for one target, as queued (and, once sent, with ``sent_at``)."""

    event_key: str
    target: str
    kind: str  #: change, gone, dropped
    title: str
    body: str
    site: str | None = None
    url: str | None = None
    snapshot_id: int | None = None
    previous_id: int | None = None
    digest: bool = False
    id: int | None = None
    attempts: int = 0
    last_error: str | None = None
    sent_at: str | None = None
