"""What one crawl did: the counters (defined once, here), the summary line, the runs row.

:class:`Counts` declares every counter with its label in the summary line and whether the
``runs`` row stores it; :class:`CrawlSummary` is the counts plus the run's verdicts. These are
values only: the events carry the summary (``RunFinished``) and :class:`scraper.crawl.tally.Tally`
counts them into it, so nothing here imports the events, reads the archive or the clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


def _size(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def _counter(label: str | Callable[[int], str], *, runs: bool = True, always: bool = True) -> Any:
    """A counter field: ``label`` (a suffix, or a function of the count) in the summary line,
    stored in the ``runs`` row when ``runs``, shown even when 0 when ``always``."""
    shown = label if callable(label) else (lambda n, suffix=label: f"{n} {suffix}")
    return field(default=0, metadata={"label": shown, "runs": runs, "always": always})


@dataclass(frozen=True, slots=True, kw_only=True)
class Counts:
    """The counters of a crawl, in the order of the summary line."""

    pages_fetched: int = _counter("pages fetched")
    new: int = _counter("new")
    changed: int = _counter("changed")
    unchanged: int = _counter("unchanged")
    not_modified: int = _counter("not modified")
    #: pages whose canonical URL or redirect target is another page
    duplicates: int = _counter("duplicates", runs=False, always=False)
    failed: int = _counter("failed")
    robots_blocked: int = _counter("blocked by robots.txt")
    discovered: int = _counter("discovered")
    bytes: int = _counter(_size)
    #: due pages left for a later run (host backing off, robots unreachable)
    deferred: int = _counter("deferred to a later run", runs=False, always=False)
    #: pages whose drastic change or cut body no refetch confirmed (not stored)
    suspect: int = _counter(
        "suspect (not stored until a refetch confirms)", runs=False, always=False
    )

    def counts(self) -> dict[str, int]:
        """The counters the ``runs`` row stores."""
        return {f.name: getattr(self, f.name) for f in _COUNTERS if f.metadata["runs"]}


_COUNTERS = tuple(dataclasses.fields(Counts))
COUNTER_NAMES = tuple(f.name for f in _COUNTERS)


@dataclass(frozen=True, slots=True, kw_only=True)
class CrawlSummary(Counts):
    """What one crawl did; also stored as its ``runs`` row."""

    run_id: int
    seconds: float = 0.0
    stale_lock_pid: int | None = None
    #: warning lines for the sites whose extraction collapsed this run (scraper.sitehealth)
    collapsed_sites: tuple[str, ...] = ()
    #: one line per problem a cron user must see: a host that is down (with its cause), a site
    #: of which every page failed
    problems: tuple[str, ...] = ()
    #: sites that had pages due and got none of them: the run failed for them (exit code 1)
    failed_sites: tuple[str, ...] = ()
    #: why the run had to stop before it was done (exit code 1), None when it was not
    stopped: str | None = None
    #: lines from the notifications and feeds sent after the run (scraper.notify)
    notices: tuple[str, ...] = ()

    @property
    def exit_code(self) -> int:
        """1 when every page of some site failed or could not be fetched, or the run had to
        stop, else 0."""
        return 1 if self.failed_sites or self.stopped else 0

    def text(self) -> str:
        """The one-line summary printed at the end of a crawl."""
        rate = self.pages_fetched / self.seconds if self.seconds > 0 else 0.0
        parts = []
        for counter in _COUNTERS:
            value = getattr(self, counter.name)
            if value or counter.metadata["always"]:
                parts.append(counter.metadata["label"](value))
            if counter.name == "bytes":
                parts.append(f"{self.seconds:.1f} s ({rate:.1f} pages/s)")
        return "\n".join(
            [
                f"crawl #{self.run_id}: " + ", ".join(parts),
                *self.extraction_warnings(),
                *self.notices,
            ]
        )

    def extraction_warnings(self) -> list[str]:
        """The lines after the summary naming the sites where many more pages than in earlier
        runs had no article or a low confidence (a redesign, a consent wall)."""
        return list(self.collapsed_sites)
