"""Archive protocols: what the rest of scraper may ask of a storage backend.

Four small typed protocols, structural (``typing.Protocol``), each returning the dataclasses of
:mod:`scraper.archive.records` (or of :mod:`scraper.models`), never rows or dicts of columns:

- :class:`PageStore`: what fetch, crawl and reextract write about pages: a fetch (through the
  admission gate, which refuses aliases and block pages), a snapshot, raw bodies, boilerplate;
- :class:`CrawlStore`: the crawl's own state: the frontier and schedule, claims of due pages,
  host state and the robots.txt cache, discovery sources, runs and their extraction health;
- :class:`Reader`: what history, diff, show, changes, search, sql, export, the feed and the web
  view read; it never writes;
- :class:`NotifyQueue`: the queue of change notifications and the questions that fill it.

`Storage` is all of them on one connection, plus transactions and the group commit;
:func:`scraper.archive.open_archive` returns one for a ``--db`` value. SQLite
(:mod:`scraper.archive.sqlite`) is one implementation; a backend is another class with these
methods, passing ``tests/contract/``. This module holds no SQL and imports no driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from scraper.admission import Decision, Known
    from scraper.archive.records import (
        Capture,
        ChangeRecord,
        DuePage,
        Edit,
        Exchange,
        FeedEntry,
        FetchRecord,
        Gone,
        HostRow,
        NewPage,
        PageChange,
        PageRecord,
        Queued,
        RunRecord,
        SearchHit,
        SourceRow,
        SqlResult,
    )
    from scraper.errors import FetchError
    from scraper.models import Article, FetchResult, SaveOutcome, Snapshot
    from scraper.noise import NoiseRules
    from scraper.sitehealth import ExtractionCounts

#: rows ``scraper sql`` returns unless told otherwise (every backend's default)
DEFAULT_MAX_ROWS = 1000
#: seconds a ``scraper sql`` query may run unless told otherwise
DEFAULT_TIMEOUT_SECONDS = 10.0

__all__ = [
    "DEFAULT_MAX_ROWS",
    "DEFAULT_TIMEOUT_SECONDS",
    "CrawlStore",
    "NotifyQueue",
    "PageStore",
    "Reader",
    "Storage",
    "Transactions",
]


@runtime_checkable
class Transactions(Protocol):
    """Atomic writes, and the group commit that lets many small writes share one commit.

    ``transaction()`` is one write transaction (nested: a savepoint): what is written inside
    commits together or not at all. A group (``begin_group`` .. ``commit_group``) keeps one
    transaction open over several ``transaction()`` blocks; the crawl uses it for outcomes
    that only update bookkeeping (a 304), so a recrawl of unchanged pages is cheap.
    """

    def transaction(self) -> AbstractContextManager[Any]: ...

    @property
    def in_group(self) -> bool: ...

    def begin_group(self) -> None: ...

    def commit_group(self) -> None: ...

    def rollback_group(self) -> None: ...


@runtime_checkable
class PageStore(Protocol):
    """What fetch, crawl and reextract write, and the little they read back to do so.

    Every write is one transaction; every timestamp is an argument (UTC ISO 8601 text).
    """

    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) of the page's last successful fetch, for a conditional GET."""
        ...

    def save_fetch(
        self,
        url: str,
        *,
        fetched_at: str,
        result: FetchResult | None = None,
        article: Article | None = None,
        error: FetchError | str | None = None,
        site: str | None = None,
        run_id: int | None = None,
        decision: Decision | None = None,
        noise: NoiseRules | None = None,
    ) -> SaveOutcome:
        """Record one fetch attempt: a fetch row always; a snapshot only when the admission
        gate admits the article and the noise rules call it a real change; raw bodies once."""
        ...

    def save_reextracted(
        self,
        url: str,
        article: Article,
        *,
        at: str,
        raw_sha256: str | None,
        decision: Decision | None = None,
    ) -> int | None:
        """Store a re-extraction of a stored capture as a snapshot when it differs."""
        ...

    def known(self, url: str) -> Known:
        """What the admission gate needs to know of the page."""
        ...

    def raw(self, sha256: str) -> bytes:
        """The uncompressed raw blob with this sha256 (KeyError if absent)."""
        ...

    def latest_captures(self, site: str | None = None) -> Iterator[Capture]:
        """The newest admitted capture of each page with a snapshot, for re-extraction."""
        ...

    def site_texts(self, site: str, *, limit: int = 200) -> list[str]: ...

    def boilerplate(self, site: str) -> frozenset[str]: ...

    def set_boilerplate(
        self,
        site: str,
        lines: Mapping[str, int],
        *,
        learned_at: str,
        learned_from: int | None = None,
    ) -> None: ...

    def boilerplate_learned_from(self, site: str) -> int | None: ...

    def site_page_count(self, site: str) -> int: ...


@runtime_checkable
class CrawlStore(Protocol):
    """The crawl's state: frontier, due pages and claims, hosts, robots cache, sources, runs."""

    def enqueue(self, pages: Iterable[NewPage], *, now: str) -> list[str]:
        """Add pages to the frontier, due at ``now``; return the URLs that were new."""
        ...

    def claim_due(
        self,
        site: str,
        *,
        now: str,
        limit: int,
        run_id: int,
        crawled_before: str | None = None,
    ) -> list[DuePage]:
        """Up to ``limit`` due pages of ``site``, fair across hosts, claimed for ``run_id``."""
        ...

    def release(self, page_ids: Sequence[int]) -> None: ...

    def reschedule(
        self,
        page_id: int,
        *,
        crawled_at: str,
        next_fetch_at: str,
        revisit_seconds: float | None,
        unchanged_count: int,
    ) -> None: ...

    def last_body_sha256(self, page_id: int) -> str | None: ...

    def page_count(self, site: str) -> int: ...

    def host(self, host: str) -> HostRow | None: ...

    def save_robots(
        self,
        host: str,
        *,
        body: str,
        status: int | None,
        fetched_at: str,
        expires_at: str,
        crawl_delay_seconds: float | None,
    ) -> None: ...

    def host_failed(self, host: str, *, error: str) -> int: ...

    def host_ok(self, host: str) -> None: ...

    def defer_host(self, host: str, *, until: str, error: str | None = None) -> None: ...

    def add_sources(
        self, sources: Iterable[tuple[str, str, str]], *, now: str, found_on: str | None = None
    ) -> int: ...

    def due_sources(
        self, site: str, *, now: str, checked_before: str | None = None, limit: int = 100
    ) -> list[SourceRow]: ...

    def source_read(
        self,
        url: str,
        *,
        fetched_at: str,
        next_fetch_at: str,
        status: int | None,
        error: str | None,
        etag: str | None = None,
        last_modified: str | None = None,
        entries: int | None = None,
    ) -> None: ...

    def start_run(self, *, started_at: str, pid: int, sites: Sequence[str]) -> int: ...

    def update_run(
        self,
        run_id: int,
        counts: Mapping[str, int],
        *,
        ended_at: str | None = None,
        seconds: float | None = None,
        exit_code: int | None = None,
    ) -> None: ...

    def run(self, run_id: int) -> RunRecord | None: ...

    def record_run_extraction(self, run_id: int, site: str, counts: ExtractionCounts) -> None:
        """Store the extraction counts of ``site`` in run ``run_id``."""
        ...

    def earlier_extraction(self, site: str, before_run_id: int) -> ExtractionCounts:
        """The site's extraction counts of the last runs before ``before_run_id``, added up."""
        ...


@runtime_checkable
class Reader(Protocol):
    """What the CLI's reading commands, the exports, the feed and the web view read. Never
    writes."""

    def page(self, url: str) -> PageRecord | None: ...

    def snapshots(self, url: str) -> list[Snapshot]:
        """Every snapshot of the page, newest first."""
        ...

    def snapshot_by_id(self, snapshot_id: int) -> Snapshot | None: ...

    def snapshot(self, url: str, ref: str | int) -> Snapshot:
        """The snapshot ``ref`` names (an id, -1/-2..., a date); UsageError when none."""
        ...

    def snapshot_at(self, url: str, when: str | date | datetime) -> Snapshot | None: ...

    def snapshot_changes(self, url: str) -> dict[int, ChangeRecord]:
        """The change records of the page's snapshots, by snapshot id."""
        ...

    def fetches(self, url: str) -> list[FetchRecord]:
        """Every fetch of the page, newest first."""
        ...

    def raw(self, sha256: str) -> bytes: ...

    def changes(
        self,
        *,
        since: datetime | None = None,
        site: str | None = None,
        limit: int | None = None,
    ) -> list[PageChange]:
        """The pages whose content changed, newest first."""
        ...

    def search(
        self,
        text: str,
        *,
        site: str | None = None,
        since: datetime | None = None,
        limit: int | None = 20,
        all_versions: bool = False,
        highlight: tuple[str, str] = ("**", "**"),
    ) -> list[SearchHit]:
        """Full-text search over snapshot titles and text, best match first."""
        ...

    def run_sql(
        self,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] = (),
        *,
        max_rows: int = DEFAULT_MAX_ROWS,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> SqlResult:
        """One SQL statement, read-only (the backend itself refuses writes)."""
        ...

    def snapshot_records(
        self, *, site: str | None = None, since: datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every snapshot as a JSON-ready dict (the export's record), oldest first."""
        ...

    def exchanges(
        self, *, site: str | None = None, since: datetime | None = None
    ) -> Iterator[Exchange]:
        """The stored HTTP exchanges (for WARC), oldest first."""
        ...

    def feed_entries(
        self, sites: Sequence[str] | None, *, since: str | None, limit: int
    ) -> list[FeedEntry]:
        """The newest versions found by fetching, newest first, for the Atom feed."""
        ...

    def schema_version(self) -> int:
        """How many of scraper's schema migrations the archive has applied."""
        ...


@runtime_checkable
class NotifyQueue(Protocol):
    """The notification queue: a change is queued exactly once, and stays until sent."""

    def site_cursor(self, site: str) -> int | None: ...

    def edits_since(
        self, site: str | None, *, after_id: int | None, fetched_since: str
    ) -> list[Edit]: ...

    def latest_snapshot_id(self, site: str | None) -> int: ...

    def gone_pages(self, site: str | None, urls: Sequence[str] | None = None) -> list[Gone]: ...

    def queue_notifications(
        self,
        messages: Iterable[Queued],
        *,
        queued_at: str,
        cursors: dict[str, int] | None = None,
    ) -> int:
        """Queue messages and move the sites' cursors in one transaction; how many were new."""
        ...

    def unsent(self, targets: Sequence[str] | None = None) -> list[Queued]: ...

    def mark_sent(self, ids: Sequence[int], *, sent_at: str, attempts: int) -> None: ...

    def mark_failed(self, ids: Sequence[int], *, error: str, attempts: int) -> None: ...


@runtime_checkable
class Storage(PageStore, Reader, NotifyQueue, Transactions, Protocol):
    """A whole archive on one connection: every protocol above, plus its crawl state.

    Opened by :func:`scraper.archive.open_archive`; closed by ``close()`` or a ``with`` block.
    """

    @property
    def location(self) -> str:
        """Where the archive is, for messages: a file path or a URL without its password."""
        ...

    def crawl_state(self) -> CrawlStore:
        """The crawl's view of this archive (frontier, hosts, sources, runs)."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Storage: ...

    def __exit__(self, *exc: object) -> None: ...
