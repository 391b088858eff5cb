"""Frontier: which URLs belong to a site's crawl, and which known pages are due.

``Frontier.enqueue`` normalises a candidate URL and applies the site's scope (http(s) only, the
private-address policy, same host unless ``allow`` patterns say otherwise, ``deny``,
``max_depth``) before it reaches the archive; ``Frontier.due`` claims the pages that are due,
oldest first and fair across hosts. The revisit policy (how long until a page is due again)
is here too. State lives in the archive (:class:`scraper.archive.crawlstate.CrawlState`); this
module holds none between calls, never fetches and never reads the clock: time is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scraper.archive.crawlstate import DuePage, NewPage
from scraper.errors import BlockedAddressError, UsageError
from scraper.models import iso_utc
from scraper.urls import check_url_target, normalise_url, origin_of, url_allowed

if TYPE_CHECKING:
    from scraper.archive.crawlstate import CrawlState
    from scraper.config import Settings, Site

#: an unchanged page waits this much longer each time, a changed one this much less
GROWTH = 1.5
SHRINK = 0.5
#: URLs whose scope a frontier remembers (the same links appear on page after page)
SCOPE_CACHE_SIZE = 100_000


def next_interval(previous: float | None, outcome: str, settings: Settings) -> float:
    """The adaptive revisit interval (seconds) after a fetch with ``outcome``.

    A new page starts at ``revisit``; a changed page comes back sooner (x0.5, down to
    ``revisit_min``), an unchanged or not-modified one later (x1.5, up to ``revisit_max``).
    """
    floor, cap = settings.revisit_min, max(settings.revisit_min, settings.revisit_max)
    base = settings.revisit if previous is None else previous
    if outcome == "changed":
        base *= SHRINK
    elif outcome in {"unchanged", "not_modified"}:
        base *= GROWTH
    return min(cap, max(floor, base))


def failure_delay(failures: int, settings: Settings) -> float:
    """How long a page that failed ``failures`` times in a row waits before the next attempt."""
    floor = max(settings.revisit_min, 60.0)
    return min(max(settings.revisit_max, floor), floor * 2.0 ** max(0, min(failures - 1, 20)))


@dataclass(frozen=True, slots=True)
class Candidate:
    """A URL found somewhere, before scoping: from a start URL, sitemap, feed or link."""

    url: str
    lastmod: str | None = None


class Frontier:
    """One site's frontier over the archive's crawl state."""

    def __init__(self, state: CrawlState, site: Site) -> None:
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
        """Queue many URLs at once (one transaction); return the normalised URLs that were new."""
        seed = source == "start"
        pages: list[NewPage] = []
        for candidate in candidates:
            if seed:
                normal = self.scope(candidate.url, depth, seed=True)
            else:
                normal = self._scope_cached(candidate.url, depth)
            if normal is None or normal == found_on:
                continue
            if candidate.lastmod is None and self._queued.get(normal, depth + 1) <= depth:
                continue  # queued already this run, at this depth or less
            if len(self._queued) >= SCOPE_CACHE_SIZE:
                self._queued.clear()
            self._queued[normal] = min(depth, self._queued.get(normal, depth))
            pages.append(
                NewPage(
                    url=normal,
                    site=self.site.name,
                    host=origin_of(normal),
                    depth=depth,
                    source=source,
                    found_on=found_on,
                    lastmod=candidate.lastmod,
                )
            )
        return self.state.enqueue(pages, now=iso_utc(now))

    def due(
        self,
        limit: int,
        now: datetime,
        *,
        run_id: int,
        revisit_override: float | None = None,
    ) -> list[DuePage]:
        """Claim up to ``limit`` due pages for run ``run_id``, oldest first, fair across hosts.

        ``revisit_override`` (``--revisit``) also makes due every page the crawl last handled
        at least that many seconds ago; ``0`` makes every known page due.
        """
        before = None
        if revisit_override is not None:
            before = iso_utc(now - timedelta(seconds=revisit_override))
            if revisit_override == 0:
                before = "9999"  # anything handled before this run, even within this second
        return self.state.claim_due(
            self.site.name,
            now=iso_utc(now),
            limit=limit,
            run_id=run_id,
            crawled_before=before,
        )
