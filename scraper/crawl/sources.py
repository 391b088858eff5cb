"""Sources: the sitemaps and feeds of a crawl, read when due, their URLs put in the frontier.

Each site's configured sitemaps and feeds, the ``Sitemap:`` lines of its hosts' robots.txt,
sitemap index children and feeds found on pages are rows of the archive's ``sources`` table;
:class:`Sources` reads the due ones (each at most once a run, at most MAX_SOURCES_PER_RUN per
site), with the same politeness as pages (robots.txt, the host's slots and turn, the run's
fetch slots), parses them off the event loop (discover.py) and queues what they list. It stores
no page and decides no revisit of pages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from scraper.crawl.events import PagesDiscovered
from scraper.crawl.frontier import Candidate
from scraper.discover import parse_source
from scraper.errors import DiscoverError, FetchError, RobotsDisallowedError
from scraper.fetch import fetch
from scraper.models import iso_utc
from scraper.urls import origin_of

if TYPE_CHECKING:
    import httpx

    from scraper.archive import SourceRow
    from scraper.crawl.context import RunContext, SiteRun
    from scraper.fetch.robots import Robots

#: media types a sitemap or feed is taken as: any, since ``.xml.gz`` sitemaps come as gzip data
#: under every label (text/xml, application/x-gzip, octet-stream); discover.parse_source tells a
#: sitemap or feed from anything else by its content, and refuses the rest
SOURCE_TYPES: tuple[str, ...] = ()
#: sitemaps and feeds read per site per run at most (sitemap indexes can be large)
MAX_SOURCES_PER_RUN = 200


class Sources:
    """The discovery sources of one run.

    ``may_read(origin)``: whether this run may send a request to ``origin`` now (a worker of
    many: it holds the host, or took it); a source whose host another worker holds stays due,
    for that worker or a later look."""

    def __init__(
        self,
        run: RunContext,
        started_at: datetime,
        may_read: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:
        self.run = run
        self.started_at = started_at
        self.may_read = may_read
        #: sitemaps and feeds read in this run: read once per run at most
        self._read: set[str] = set()

    def seed(self, now: datetime) -> None:
        """Put each site's configured sitemaps and feeds in the archive's sources."""
        for site_run in self.run.sites:
            site = site_run.site
            self.run.state.add_sources(
                [(u, site.name, "sitemap") for u in site.sitemaps]
                + [(u, site.name, "feed") for u in site.feeds],
                now=iso_utc(now),
            )

    def robots_sitemaps(self, robots: Robots, now: datetime) -> None:
        """The ``Sitemap:`` lines of a host's robots.txt, for each site the host belongs to."""
        sitemaps = [
            (normal, site_run.site.name, "sitemap")
            for u in robots.sitemaps()
            for site_run in self.run.sites
            if robots.origin in site_run.frontier.hosts
            and (normal := site_run.frontier.source_scope(u)) is not None
        ]
        self.run.state.add_sources(sitemaps, now=iso_utc(now), found_on="robots.txt")

    def page_feeds(self, site_run: SiteRun, feeds: tuple[str, ...], page_url: str) -> None:
        """The feeds a page links to, those the site may read."""
        self.run.state.add_sources(
            [
                (normal, site_run.site.name, "feed")
                for u in feeds
                if (normal := site_run.frontier.source_scope(u)) is not None
            ],
            now=iso_utc(self.run.now()),
            found_on=page_url,
        )

    async def read_due(self, client: httpx.AsyncClient) -> int:
        """Read the due sitemaps and feeds of every site; return how many were read."""
        read = 0
        revisit = self.run.revisit
        for site_run in self.run.sites:
            before = None
            if revisit is not None:
                before = iso_utc(self.started_at - timedelta(seconds=revisit))
                if revisit == 0:
                    before = "9999"  # read before this run, even within this very second
            skipped: set[str] = set()  # their hosts are other workers' now
            for _ in range(MAX_SOURCES_PER_RUN):
                sources = self.run.state.due_sources(
                    site_run.site.name,
                    now=iso_utc(self.run.now()),
                    checked_before=before,
                    limit=len(skipped) + 1,
                )
                sources = [row for row in sources if row.url not in skipped]
                if not sources or sources[0].url in self._read:
                    break  # none due, or (--revisit) every due one already read in this run
                if self.may_read is not None and not await self.may_read(origin_of(sources[0].url)):
                    skipped.add(sources[0].url)
                    continue
                self._read.add(sources[0].url)
                await self._read_one(client, site_run, sources[0].url, sources[0])
                read += 1
        return read

    async def _read_one(
        self, client: httpx.AsyncClient, site_run: SiteRun, url: str, row: SourceRow
    ) -> None:
        run, site, settings = self.run, site_run.site, site_run.site.settings
        now = run.now()
        next_at = iso_utc(now + timedelta(seconds=max(settings.revisit_min, 60.0)))
        host = run.hosts.get(origin_of(url), settings)
        robots = await run.hosts.robots(client, host, settings)
        status: int | None = None
        error: str | None = None
        entries: int | None = None
        etag = last_modified = None
        try:
            if host.deferred:
                raise FetchError(url, "host is backing off; not now")
            if robots is not None and not robots.allowed(url, settings.user_agent):
                raise RobotsDisallowedError(url, "disallowed by robots.txt")
            async with host.slots:
                if not await host.turn():
                    raise FetchError(url, "host is busy; not now")
                async with run.fetch_slots:
                    result = await fetch(
                        client,
                        url,
                        settings,
                        etag=row.etag,
                        last_modified=row.last_modified,
                        accept=SOURCE_TYPES,
                        before_redirect=run.hosts.redirect_check(client, settings),
                    )
            status, etag, last_modified = result.status_code, result.etag, result.last_modified
            if not result.not_modified:
                # a big sitemap takes a while to parse: not on the event loop, which fetches on
                parsed = await asyncio.to_thread(
                    parse_source, result.body, result.final_url, max_bytes=settings.max_bytes
                )
                children = [site_run.frontier.source_scope(e.url) for e in parsed.sitemaps]
                if any(children):
                    run.state.add_sources(
                        [(u, site.name, "sitemap") for u in children if u],
                        now=iso_utc(now),
                        found_on=url,
                    )
                new = site_run.frontier.enqueue_many(
                    [Candidate(e.url, e.lastmod) for e in parsed.urls],
                    0,
                    "feed" if parsed.kind in {"rss", "atom"} else "sitemap",
                    url,
                    now=now,
                )
                run.events.emit(PagesDiscovered(site.name, len(new)))
                entries = len(parsed.urls) + len(parsed.sitemaps)
        except FetchError as exc:
            status, error = exc.status_code, f"{exc.kind}: {exc.message}"
        except DiscoverError as exc:
            error = f"parse: {exc}"
        run.state.source_read(
            url,
            fetched_at=iso_utc(now),
            next_fetch_at=next_at,
            status=status,
            error=error,
            etag=etag,
            last_modified=last_modified,
            entries=entries,
        )
