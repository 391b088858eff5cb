"""What happens to pages during a crawl, as typed events sent to subscribers.

The page pipeline and the engine emit; the crawl summary's counts
(:class:`scraper.crawl.tally.Tally`), the progress bar and the ``--verbose`` failure lines
subscribe, and so can anything else that wants to know (a notifier: subscribe a callable to
the bus handed to ``crawl(events=...)``). Delivery is synchronous, in the order of
subscription; a subscriber that raises is logged and skipped, and never breaks the crawl.
Events carry values only (no archive handles), so a subscriber cannot reach into the run; this
module emits nothing by itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from scraper.crawl.summary import CrawlSummary
from scraper.models import Outcome

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SnapshotWritten:
    """A new version of a page was archived (``outcome`` NEW or CHANGED)."""

    url: str
    site: str
    snapshot_id: int
    outcome: Outcome
    #: the noise verdict on what changed (scraper.noise: first, edit, minor, ...), if any
    change_kind: str | None


@dataclass(frozen=True, slots=True)
class PageFetched:
    """A request for a page was answered (``not_modified``: a 304; ``bytes``: the body's size)."""

    url: str
    site: str
    bytes: int
    not_modified: bool


@dataclass(frozen=True, slots=True)
class PageRecorded:
    """A page's visit was written to the archive with ``outcome`` (one event per fetches row)."""

    url: str
    site: str
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class PageGone:
    """A page is no longer there as itself: an alias of ``target`` (a redirect, a canonical
    link), or gone (``target`` None: the server answered 404 or 410)."""

    url: str
    site: str
    target: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class FetchFailed:
    """A page could not be had: fetch, extraction or admission failed (``cause``, one line).

    ``requested``: a request went out (it counts as a fetched page in the summary)."""

    url: str
    site: str
    cause: str
    requested: bool


@dataclass(frozen=True, slots=True)
class PageDeferred:
    """A due page was left for a later run: its host backs off or cannot be asked now."""

    url: str
    site: str
    origin: str


@dataclass(frozen=True, slots=True)
class SuspectUnconfirmed:
    """A drastic change or cut body that the run's refetch did not confirm: not stored."""

    url: str
    site: str


@dataclass(frozen=True, slots=True)
class PagesDiscovered:
    """``count`` URLs new to the archive were queued for ``site`` (links, sitemaps, feeds)."""

    site: str
    count: int


@dataclass(frozen=True, slots=True)
class PageFinished:
    """The crawl is done with one due page for this run (whatever came of it)."""

    url: str
    site: str


@dataclass(frozen=True, slots=True)
class SiteQualityDropped:
    """Far more of a site's pages than in earlier runs had no article or a low confidence."""

    site: str
    warning: str


@dataclass(frozen=True, slots=True)
class RunFinished:
    """The crawl run ended; its summary is final and stored in ``runs``."""

    summary: CrawlSummary


Event = (
    SnapshotWritten
    | PageFetched
    | PageRecorded
    | PageGone
    | FetchFailed
    | PageDeferred
    | SuspectUnconfirmed
    | PagesDiscovered
    | PageFinished
    | SiteQualityDropped
    | RunFinished
)
Subscriber = Callable[[Event], None]


class Events:
    """A synchronous event bus: ``subscribe(callable)``, ``emit(event)``."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event from now on; return an unsubscribe."""
        if not callable(subscriber):
            raise ValueError(f"subscribe() takes a callable(event), not {subscriber!r}")
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def emit(self, event: Event) -> None:
        """Hand ``event`` to each subscriber in turn; one that raises is logged and skipped."""
        for subscriber in tuple(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # boundary: a subscriber never breaks the crawl (logged; module doc)
                LOG.exception("event subscriber %r failed on %r", subscriber, event)


def failures_to(on_failure: Callable[[str, str], None]) -> Callable[[Event], None]:
    """``on_failure(url, cause)`` as a subscriber: told of each FetchFailed."""

    def failures(event: Event) -> None:
        if isinstance(event, FetchFailed):
            on_failure(event.url, event.cause)

    return failures


def reextracts_to(events: Events) -> Callable[[str, str, int], None]:
    """``on_snapshot(url, site, snapshot_id)`` for :func:`scraper.learn.reextract` that emits
    each snapshot it writes on ``events``: a SnapshotWritten, CHANGED, change kind
    ``reextract`` (learning sits below the crawl and takes a plain callback, not the bus)."""

    def snapshot_written(url: str, site: str, snapshot_id: int) -> None:
        events.emit(SnapshotWritten(url, site, snapshot_id, Outcome.CHANGED, "reextract"))

    return snapshot_written
