"""One page through the whole path: robots -> fetch -> extract -> admission -> archive.

Used by ``scraper fetch`` (one-off URLs). It owns no policy of its own: limits live in
Settings, fetching in fetch.py, extraction in extract/, storage in archive/. Time comes in
as an argument.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from scraper.admission import (
    CONFIRM_WAIT_SECONDS,
    NOTHING_KNOWN,
    Decision,
    Verdict,
    decide,
    suspect_content,
)
from scraper.errors import (
    BlockPageError,
    FetchError,
    SuspectFetchError,
    UsageError,
)
from scraper.extract import extract
from scraper.fetch import Robots, fetch, fetch_robots
from scraper.urls import normalise_url, origin_of

if TYPE_CHECKING:
    import httpx

    from scraper.archive import Archive
    from scraper.config import Settings
    from scraper.models import Article, FetchResult, SaveOutcome


@dataclass(frozen=True, slots=True)
class PageResult:
    """What happened to one URL: the article (when fetched), the archive outcome (when stored)."""

    url: str
    article: Article | None
    saved: SaveOutcome | None
    not_modified: bool = False
    alias_of: str | None = None  #: the URL asked for, when it redirected to ``url``


class RobotsCache:
    """robots.txt per origin for the length of one command."""

    def __init__(self, on_fetched: Callable[[Robots], None] | None = None) -> None:
        self._by_origin: dict[str, Robots] = {}
        #: told of each robots.txt as it is fetched (``scraper fetch`` honours its Crawl-delay)
        self.on_fetched = on_fetched

    async def check(self, client: httpx.AsyncClient, url: str, settings: Settings) -> None:
        """Raise RobotsDisallowedError unless robots.txt lets our User-Agent fetch ``url``."""
        if not settings.respect_robots:
            return
        origin = origin_of(url)
        robots = self._by_origin.get(origin)
        if robots is None:
            robots = await fetch_robots(client, origin, settings)
            self._by_origin[origin] = robots
            if self.on_fetched is not None:
                self.on_fetched(robots)
        refusal = robots.refusal(url, settings.user_agent)
        if refusal is not None:
            raise refusal

    def redirect_check(
        self, client: httpx.AsyncClient, settings: Settings
    ) -> Callable[[str], Awaitable[None]]:
        """A ``before_redirect`` for fetch(): each hop is checked against its host's robots.txt."""

        async def check(target: str) -> None:
            try:
                normal = normalise_url(target)
            except UsageError:
                return  # fetch's own check of the hop refuses it
            await self.check(client, normal, settings)

        return check


async def fetch_and_archive(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    archive: Archive | None,
    robots: RobotsCache,
    now: Callable[[], str],
    site: str | None = None,
    strip: Sequence[str] = (),
    boilerplate: Collection[str] = (),
    links: bool = False,
    confirm_wait_seconds: float = CONFIRM_WAIT_SECONDS,
) -> PageResult:
    """Fetch, extract, pass the admission gate and (when ``archive`` is given) store one URL
    (``links``: keep hyperlinks in the article's Markdown).

    A failure is recorded in ``fetches`` and then raised as the FetchError it was, so the
    caller can report it and go on with the next URL. What the gate refuses is recorded with
    its reason and raised too: a block page as BlockPageError, a drastic change or cut body as
    SuspectFetchError once a refetch after ``confirm_wait_seconds`` did not confirm it. A URL
    that redirects to another page is an alias: recorded as such; the answer is archived as
    the target's page (the result's ``url``; ``alias_of`` names the URL asked for), unless the
    URL has snapshots and the target is on another host: that is a FetchError.
    """
    first = await _fetch_once(
        client, url, settings, archive, robots, now, site, strip, boilerplate, links=links
    )
    if first.decision is None or first.decision.verdict is not Verdict.SUSPECT:
        return first.page
    # not on one fetch's word: the same content again confirms it, the old one clears it
    await asyncio.sleep(confirm_wait_seconds)
    # without an archive (--no-store) the first fetch's suspect is passed on by hand
    pending = suspect_content(first.decision.error)
    second = await _fetch_once(
        client, url, settings, archive, robots, now, site, strip, boilerplate, pending, links=links
    )
    if second.decision is not None and second.decision.verdict is Verdict.SUSPECT:
        raise SuspectFetchError(
            url, f"{second.decision.reason}: not stored, a refetch did not confirm it"
        )
    return second.page


@dataclass(frozen=True, slots=True)
class _Attempt:
    page: PageResult
    decision: Decision | None  #: None when the gate was not asked (a 304)


async def _fetch_once(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    archive: Archive | None,
    robots: RobotsCache,
    now: Callable[[], str],
    site: str | None,
    strip: Sequence[str],
    boilerplate: Collection[str],
    pending: str | None = None,
    *,
    links: bool = False,
) -> _Attempt:
    etag, last_modified = archive.validators(url) if archive is not None else (None, None)
    fetched_at = now()
    try:
        await robots.check(client, url, settings)
        result: FetchResult = await fetch(
            client,
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            before_redirect=robots.redirect_check(client, settings),
        )
    except FetchError as exc:
        if archive is not None:
            archive.save_fetch(url, fetched_at=fetched_at, error=exc, site=site)
        raise
    if result.not_modified:
        saved = (
            archive.save_fetch(url, fetched_at=fetched_at, result=result, site=site)
            if archive
            else None
        )
        return _Attempt(PageResult(url, None, saved, not_modified=True), None)
    article = extract(
        result.text,
        result.final_url,
        strip=strip,
        boilerplate=boilerplate,
        timeout_seconds=settings.extract_timeout_seconds,
        links=links,
    )
    known = archive.known(url) if archive is not None else NOTHING_KNOWN
    if pending is not None and known.suspect_content is None:
        known = dataclasses.replace(known, suspect_content=pending)
    decision = decide(url, result, article, known)
    alias_of = None
    if decision.verdict is Verdict.ALIAS and decision.target is not None:
        # one page, one URL: the redirect is recorded on the URL asked for, and the answer is
        # the target's own page, judged by the gate as that page
        if archive is not None:
            archive.save_fetch(url, fetched_at=fetched_at, result=result, decision=decision)
        if urlsplit(decision.target).netloc != urlsplit(url).netloc and known.text is not None:
            # a page with a history that now leads to another host (a consent wall, a regional
            # site, a parked domain): not what was asked. A first fetch follows it (a short
            # link, a moved page): the target is archived as its own page.
            raise FetchError(
                url,
                f"{decision.reason} on another host: an alias, not a version of this URL "
                "(fetch that URL itself to archive it)",
                status_code=result.status_code,
            )
        alias_of, url = url, decision.target
        known = archive.known(url) if archive is not None else NOTHING_KNOWN
        decision = decide(url, result, article, known)
    if archive is not None:
        saved = archive.save_fetch(
            url,
            fetched_at=fetched_at,
            result=result,
            article=article,
            site=site,
            decision=decision,
            noise=settings.noise_rules(boilerplate),
        )
    else:
        saved = None
    if decision.verdict is Verdict.BLOCKED:
        raise BlockPageError(url, decision.reason, status_code=result.status_code)
    page = PageResult(url, article, saved, alias_of=alias_of)
    return _Attempt(page, decision)
