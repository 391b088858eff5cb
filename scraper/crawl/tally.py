"""The counts of a running crawl, kept by a subscriber of its events.

:class:`Tally` adds each event to the counters :class:`scraper.crawl.summary.Counts` declares;
the engine subscribes it first on the run's bus and builds the summary from its values. It
only counts: no archive, no clock, no output.
"""

from __future__ import annotations

from scraper.crawl.events import (
    Event,
    FetchFailed,
    PageDeferred,
    PageFetched,
    PageRecorded,
    PagesDiscovered,
    SuspectUnconfirmed,
)
from scraper.crawl.summary import COUNTER_NAMES
from scraper.models import Outcome

#: which counter a recorded outcome adds to (failures are counted from FetchFailed)
_RECORDED = {
    Outcome.NEW: "new",
    Outcome.CHANGED: "changed",
    Outcome.UNCHANGED: "unchanged",
    Outcome.NOT_MODIFIED: "not_modified",
    Outcome.ROBOTS_BLOCKED: "robots_blocked",
    Outcome.ALIAS: "duplicates",
}


class Tally:
    """The counts of a running crawl: a subscriber of its events."""

    def __init__(self) -> None:
        self.values = dict.fromkeys(COUNTER_NAMES, 0)

    def __call__(self, event: Event) -> None:
        values = self.values
        if isinstance(event, PageRecorded):
            name = _RECORDED.get(event.outcome)
            if name is not None:
                values[name] += 1
        elif isinstance(event, PageFetched):
            values["pages_fetched"] += 1
            values["bytes"] += event.bytes
        elif isinstance(event, FetchFailed):
            values["failed"] += 1
            values["pages_fetched"] += event.requested
        elif isinstance(event, PagesDiscovered):
            values["discovered"] += event.count
        elif isinstance(event, PageDeferred):
            values["deferred"] += 1
        elif isinstance(event, SuspectUnconfirmed):
            values["suspect"] += 1
