"""One URL of ``scraper fetch`` through the page pipeline's steps, with no crawl run around it.

robots (the one rule and cache of :class:`scraper.crawl.hosts.Hosts`) -> fetch (a
:class:`~scraper.fetch.fetcher.Fetcher`) -> extract -> admission (:func:`scraper.admission.decide`)
-> store (:func:`scraper.crawl.pipeline.store`, which tells the event bus). What differs from a
crawl is the command's, not the page's: extraction inline, no frontier (links are not followed,
an alias's target is archived at once as its own page), and a refused fetch is raised to the
caller as the error it is. Time comes in as an argument.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Collection, Sequence
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
from scraper.crawl.pipeline import store
from scraper.errors import BlockPageError, FetchError, SuspectFetchError
from scraper.extract import extract
from scraper.fetch.fetcher import HttpFetcher

if TYPE_CHECKING:
    import httpx

    from scraper.archive import Storage
    from scraper.config import Settings
    from scraper.crawl.events import Events
    from scraper.crawl.hosts import Hosts
    from scraper.fetch.fetcher import Fetcher
    from scraper.models import Article, SaveOutcome


@dataclass(frozen=True, slots=True)
class PageResult:
    """What happened to one URL: the article (when fetched), the archive outcome (when stored)."""

    url: str
    article: Article | None
    saved: SaveOutcome | None
    not_modified: bool = False
    alias_of: str | None = None  #: the URL asked for, when it redirected to ``url``


@dataclass(frozen=True, slots=True)
class _Steps:
    """What every attempt at one URL uses."""

    client: httpx.AsyncClient
    fetcher: Fetcher
    settings: Settings
    archive: Storage | None
    hosts: Hosts
    events: Events | None
    now: Callable[[], str]
    site: str | None
    strip: Sequence[str]
    boilerplate: Collection[str]
    links: bool


async def fetch_and_archive(
    client: httpx.AsyncClient,
    url: str,
    settings: Settings,
    *,
    archive: Storage | None,
    hosts: Hosts,
    now: Callable[[], str],
    site: str | None = None,
    strip: Sequence[str] = (),
    boilerplate: Collection[str] = (),
    links: bool = False,
    confirm_wait_seconds: float = CONFIRM_WAIT_SECONDS,
    fetcher: Fetcher | None = None,
    events: Events | None = None,
) -> PageResult:
    """Fetch, extract, pass the admission gate and (when ``archive`` is given) store one URL
    (``links``: keep hyperlinks in the article's Markdown; ``fetcher``: the client's
    :class:`HttpFetcher` unless given).

    A failure is recorded in ``fetches`` and then raised as the FetchError it was, so the
    caller can report it and go on with the next URL (robots.txt that cannot be read is "not
    now" for the host, by the crawl's rule: hosts.py). What the
    gate refuses is recorded with its reason and raised too: a block page as BlockPageError, a
    drastic change or cut body as SuspectFetchError once a refetch after
    ``confirm_wait_seconds`` did not confirm it. A URL that redirects to another page is an
    alias: recorded as such; the answer is archived as the target's page (the result's
    ``url``; ``alias_of`` names the URL asked for), unless the URL has snapshots and the
    target is on another host: that is a FetchError.
    """
    steps = _Steps(
        client,
        fetcher or HttpFetcher(client),
        settings,
        archive,
        hosts,
        events,
        now,
        site,
        strip,
        boilerplate,
        links,
    )
    first = await _fetch_once(steps, url)
    if first.decision is None or first.decision.verdict is not Verdict.SUSPECT:
        return first.page
    # not on one fetch's word: the same content again confirms it, the old one clears it
    await asyncio.sleep(confirm_wait_seconds)
    # without an archive (--no-store) the first fetch's suspect is passed on by hand
    pending = suspect_content(first.decision.error)
    second = await _fetch_once(steps, url, pending)
    if second.decision is not None and second.decision.verdict is Verdict.SUSPECT:
        raise SuspectFetchError(
            url, f"{second.decision.reason}: not stored, a refetch did not confirm it"
        )
    return second.page


@dataclass(frozen=True, slots=True)
class _Attempt:
    page: PageResult
    decision: Decision | None  #: None when the gate was not asked (a 304)


async def _fetch_once(steps: _Steps, url: str, pending: str | None = None) -> _Attempt:
    archive, settings, site = steps.archive, steps.settings, steps.site
    etag, last_modified = archive.validators(url) if archive is not None else (None, None)
    fetched_at = steps.now()
    try:
        # --- stage: robots (the one rule: unreadable is "not now" for the host)
        await steps.hosts.check(steps.client, url, settings)
        # --- stage: fetch
        result = await steps.fetcher.fetch_page(
            url,
            settings,
            etag=etag,
            last_modified=last_modified,
            before_redirect=steps.hosts.redirect_check(steps.client, settings),
        )
    except FetchError as exc:
        if archive is not None:
            store(archive, steps.events, url, fetched_at=fetched_at, error=exc, site=site)
        raise
    if result.not_modified:
        saved = None
        if archive is not None:
            saved = store(
                archive, steps.events, url, fetched_at=fetched_at, result=result, site=site
            )
        return _Attempt(PageResult(url, None, saved, not_modified=True), None)
    # --- stage: extract
    article = extract(
        result.text,
        result.final_url,
        strip=steps.strip,
        boilerplate=steps.boilerplate,
        timeout_seconds=settings.extract_timeout_seconds,
        links=steps.links,
    )
    # --- stage: admission
    known = archive.known(url) if archive is not None else NOTHING_KNOWN
    if pending is not None and known.suspect_content is None:
        known = dataclasses.replace(known, suspect_content=pending)
    decision = decide(url, result, article, known)
    alias_of = None
    if decision.verdict is Verdict.ALIAS and decision.target is not None:
        # one page, one URL: the redirect is recorded on the URL asked for, and the answer is
        # the target's own page, judged by the gate as that page
        if archive is not None:
            store(
                archive, steps.events, url, fetched_at=fetched_at, result=result, decision=decision
            )
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
    # --- stage: archive write
    saved = None
    if archive is not None:
        saved = store(
            archive,
            steps.events,
            url,
            fetched_at=fetched_at,
            result=result,
            article=article,
            site=site,
            decision=decision,
            noise=settings.noise_rules(steps.boilerplate),
        )
    if decision.verdict is Verdict.BLOCKED:
        raise BlockPageError(url, decision.reason, status_code=result.status_code)
    return _Attempt(PageResult(url, article, saved, alias_of=alias_of), decision)
