"""Frontier: which URLs belong to a site's crawl, and which known pages are due.

``Frontier.enqueue`` normalises a candidate URL and applies the site's scope (http(s) only, the
private-address policy, same host unless ``allow`` patterns say otherwise, ``deny``,
``max_depth``) before it reaches the archive; ``Frontier.due`` claims the pages that are due,
oldest first and fair across hosts. The whole revisit policy (how long until a page is due
again after each outcome, :func:`reschedule`) is here too. State lives in the archive
(:class:`scraper.archive.CrawlStore`); this module holds none between calls, never
fetches and never reads the clock: time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scraper.archive import DuePage, NewPage
from scraper.errors import BlockedAddressError, UsageError
from scraper.models import Outcome, iso_utc
from scraper.urls import check_url_target, normalise_url, origin_of, url_allowed

if TYPE_CHECKING:
    from scraper.archive import CrawlStore
    from scraper.config import Settings, Site

#: an unchanged page waits this much longer each time, a changed one this much less
GROWTH = 1.5
SHRINK = 0.5
#: URLs whose scope a frontier remembers (the same links appear on page after page)
SCOPE_CACHE_SIZE = 100_000
#: of a page's links, at most this many times ``max_links_per_page`` are even looked at: the
#: cost of scoping a page's links stays bounded however many it has
LINKS_LOOKED_AT_FACTOR = 10
#: a suspect fetch (a drastic change, a cut body) still unconfirmed at the end of a run (the same
#: run refetches it after admission.CONFIRM_WAIT_SECONDS) is due again after this at most
SUSPECT_RECHECK_SECONDS = 600.0
#: the outcomes of a visit that found the page as it was
_SAME = frozenset({Outcome.UNCHANGED, Outcome.NOT_MODIFIED})


def next_interval(previous: float | None, outcome: Outcome, settings: Settings) -> float:
    """The adaptive revisit interval (seconds) after a fetch with ``outcome``.

    A new page starts at ``revisit``; a changed page comes back sooner (x0.5, down to
    ``revisit_min``), an unchanged or not-modified one later (x1.5, up to ``revisit_max``).
    """
    floor, cap = settings.revisit_min, max(settings.revisit_min, settings.revisit_max)
    base = settings.revisit if previous is None else previous
    if outcome == Outcome.CHANGED:
        base *= SHRINK
    elif outcome in _SAME:
        base *= GROWTH
    return min(cap, max(floor, base))


def failure_delay(failures: int, settings: Settings) -> float:
    """How long a page that failed ``failures`` times in a row waits before the next attempt."""
    floor = max(settings.revisit_min, 60.0)
    return min(max(settings.revisit_max, floor), floor * 2.0 ** max(0, min(failures - 1, 20)))


def reschedule(
    state: CrawlStore, page: DuePage, settings: Settings, outcome: Outcome, now: datetime
) -> None:
    """Store when ``page`` is due again after a fetch that came to ``outcome``."""
    interval = page.revisit_seconds
    unchanged = page.unchanged_count
    if outcome == Outcome.FAILED:
        wait = failure_delay(page.failures + 1, settings)
    elif outcome == Outcome.ALIAS:
        wait = max(settings.revisit_max, settings.revisit_min)
    elif outcome == Outcome.ROBOTS_BLOCKED:
        wait = next_interval(interval, outcome, settings)
    elif outcome == Outcome.SUSPECT:
        # due again soon: the next run confirms or clears it (when this one did not)
        wait = min(SUSPECT_RECHECK_SECONDS, max(interval or 0.0, settings.revisit_min))
    else:
        interval = next_interval(interval, outcome, settings)
        wait = interval
        unchanged = unchanged + 1 if outcome in _SAME else 0
    state.reschedule(
        page.id,
        crawled_at=iso_utc(now),
        next_fetch_at=iso_utc(now + timedelta(seconds=wait)),
        revisit_seconds=interval,
        unchanged_count=unchanged,
    )


@dataclass(frozen=True, slots=True)
class Candidate:
    """A URL found somewhere, before scoping: from a start URL, sitemap, feed or link."""

    url: str
    lastmod: str | None = None


class Frontier:
    """One site's frontier over the archive's crawl state."""

    def __init__(self, state: CrawlStore, site: Site) -> None:
        self.state = state
        self.site = site
        self.hosts = frozenset(
            origin_of(u)
            for u in (self._normalise(x) for x in (*site.start_urls, *site.sitemaps, *site.feeds))
            if u is not None
        )
        #: raw URL -> normalised URL, or None when out of scope (depth aside)
        self._scoped: dict[str, str | None] = {}
        #: normalised URL -> the smallest depth it was queued at by this frontier
        self._queued: dict[str, int] = {}
        #: URLs new to the archive this frontier added (start URLs aside): the run's budget
        self.added = 0
        #: candidates left out because a page or the run reached its limit
        self.limited = 0

    def _normalise(self, url: str) -> str | None:
        try:
            return normalise_url(url, trailing_slash=self.site.trailing_slash)
        except (UsageError, ValueError):
            return None

    def scope(self, url: str, depth: int = 0, *, seed: bool = False) -> str | None:
        """The normalised URL when it belongs to this site's crawl at ``depth``, else None.

        Seeds (start URLs) skip the allow/deny and depth rules but not the address policy.
        """
        normal = self._normalise(url)
        if normal is None:
            return None
        try:
            check_url_target(normal, self.site.settings.allow_private)
        except (BlockedAddressError, UsageError):
            return None
        if seed:
            return normal
        if depth > self.site.max_depth:
            return None
        if not url_allowed(normal, self.site.allow, self.site.deny):
            return None
        if not self.site.allow and origin_of(normal) not in self.hosts:
            return None
        return normal

    def source_scope(self, url: str) -> str | None:
        """The normalised URL of a sitemap or feed the crawl found (a sitemap index's child, a
        robots.txt ``Sitemap:`` line, a feed a page links to) when this site may read it, else
        None: the address policy, ``deny``, and one of the site's hosts or an ``allow`` pattern.
        (``allow`` patterns describe pages, so a sitemap on the site's own host needs none.)
        """
        normal = self._normalise(url)
        if normal is None:
            return None
        try:
            check_url_target(normal, self.site.settings.allow_private)
        except (BlockedAddressError, UsageError):
            return None
        if any(p.search(normal) for p in self.site.deny):
            return None
        if origin_of(normal) in self.hosts or any(p.search(normal) for p in self.site.allow):
            return normal
        return None

    def _scope_cached(self, url: str, depth: int) -> str | None:
        if depth > self.site.max_depth:
            return None
        if url not in self._scoped:
            if len(self._scoped) >= SCOPE_CACHE_SIZE:
                self._scoped.clear()
            self._scoped[url] = self.scope(url, 0)
        return self._scoped[url]

    def enqueue(
        self,
        url: str,
        depth: int,
        source: str,
        found_on: str | None = None,
        *,
        now: datetime,
        lastmod: str | None = None,
    ) -> bool:
        """Queue ``url`` found at ``depth``; True when it is new to the archive and in scope."""
        return bool(self.enqueue_many([Candidate(url, lastmod)], depth, source, found_on, now=now))

    def enqueue_many(
        self,
        candidates: Iterable[Candidate],
        depth: int,
        source: str,
        found_on: str | None = None,
        *,
        now: datetime,
    ) -> list[str]:
        """Queue many URLs at once; return the normalised URLs that were new.

        Bounded: a page's links (``source == "link"``) add at most ``max_links_per_page`` new
        URLs, the first in page order, and only the first ``LINKS_LOOKED_AT_FACTOR`` times that
        many links are looked at; and everything but start URLs adds at most
        ``max_new_pages_per_run`` new URLs over the frontier's life (one run). What is left out
        is counted in :attr:`limited`; it is found again by a later run.
        """
        settings = self.site.settings
        seed = source == "start"
        wanted = None if seed else max(0, settings.max_new_pages_per_run - self.added)
        items: Iterable[Candidate] = candidates
        if source == "link":
            wanted = min(wanted or 0, settings.max_links_per_page)
            items = list(candidates)
            looked_at = settings.max_links_per_page * LINKS_LOOKED_AT_FACTOR
            if len(items) > looked_at:
                self.limited += len(items) - looked_at
                items = items[:looked_at]
        new: list[str] = []
        pages: list[NewPage] = []
        left = iter(items)
        for candidate in left:
            if wanted is not None and len(new) >= wanted:
                self.limited += 1 + sum(1 for _ in left)
                break
            page = self._new_page(candidate, depth, source, found_on, seed)
            if page is None:
                continue
            pages.append(page)
            # the archive says which are new; ask it once the batch could fill the budget
            if wanted is not None and len(pages) >= wanted - len(new):
                new += self.state.enqueue(pages, now=iso_utc(now))
                pages = []
        if pages:
            new += self.state.enqueue(pages, now=iso_utc(now))
        if not seed:
            self.added += len(new)
        return new

    def _new_page(
        self, candidate: Candidate, depth: int, source: str, found_on: str | None, seed: bool
    ) -> NewPage | None:
        """The archive row for a candidate in scope and not queued already this run."""
        if seed:
            normal = self.scope(candidate.url, depth, seed=True)
        else:
            normal = self._scope_cached(candidate.url, depth)
        if normal is None or normal == found_on:
            return None
        if candidate.lastmod is None and self._queued.get(normal, depth + 1) <= depth:
            return None  # queued already this run, at this depth or less
        if len(self._queued) >= SCOPE_CACHE_SIZE:
            self._queued.clear()
        self._queued[normal] = min(depth, self._queued.get(normal, depth))
        return NewPage(
            url=normal,
            site=self.site.name,
            host=origin_of(normal),
            depth=depth,
            source=source,
            found_on=found_on,
            lastmod=candidate.lastmod,
        )

    def due(
        self,
        limit: int,
        now: datetime,
        *,
        run_id: int,
        revisit_override: float | None = None,
        revisit_since: datetime | None = None,
    ) -> list[DuePage]:
        """Claim up to ``limit`` due pages for run ``run_id``, oldest first, fair across hosts.

        ``revisit_override`` (``--revisit``) also makes due every page the crawl last handled
        at least that many seconds ago; ``0`` makes every known page due. ``revisit_since``
        (a run of many at once on a shared archive: its start) counts them back from then, so
        that pages the other runs handle meanwhile are not due again.
        """
        return self.state.claim_due(
            self.site.name,
            now=iso_utc(now),
            limit=limit,
            run_id=run_id,
            crawled_before=revisit_before(revisit_override, now, revisit_since),
        )


def revisit_before(
    revisit: float | None, now: datetime, since: datetime | None = None
) -> str | None:
    """``--revisit``'s bound: pages last handled before it are due (None: no ``--revisit``).

    Counted back from ``now``, or from ``since`` (a shared archive's run: its start; ``0`` is
    then "handled before this run started", as the other runs handle pages meanwhile)."""
    if revisit is None:
        return None
    if since is not None:
        return iso_utc(since - timedelta(seconds=revisit))
    if revisit == 0:
        return "9999"  # anything handled before this run, even within this second
    return iso_utc(now - timedelta(seconds=revisit))
