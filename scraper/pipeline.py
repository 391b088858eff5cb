"""One page through the whole path: robots -> fetch -> extract -> archive.

Used by ``scraper fetch`` (one-off URLs). It owns no policy of its own: limits live in
Settings, fetching in fetch.py, extraction in extract/, storage in archive/. Time comes in
as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from scraper.errors import FetchError, RobotsDisallowedError
from scraper.extract import extract
from scraper.fetch import Robots, fetch, fetch_robots
from scraper.urls import origin_of

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


class RobotsCache:
    """robots.txt per origin for the length of one command."""

    def __init__(self) -> None:
        self._by_origin: dict[str, Robots] = {}

    async def check(self, client: httpx.AsyncClient, url: str, settings: Settings) -> None:
        """Raise RobotsDisallowedError unless robots.txt lets our User-Agent fetch ``url``."""
        if not settings.respect_robots:
            return
        origin = origin_of(url)
        robots = self._by_origin.get(origin)
        if robots is None:
            robots = await fetch_robots(client, origin, settings)
            self._by_origin[origin] = robots
        if not robots.allowed(url, settings.user_agent):
            if robots.unreachable:
                cause = robots.error or f"HTTP {robots.status}"
                why = f"robots.txt could not be fetched ({cause}), so not now"
            else:
                why = "disallowed by robots.txt"
            raise RobotsDisallowedError(url, why)


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
) -> PageResult:
    """Fetch, extract and (when ``archive`` is given) store one URL.

    A failure is recorded in ``fetches`` and then raised as the FetchError it was, so the
    caller can report it and go on with the next URL.
    """
    etag, last_modified = archive.validators(url) if archive is not None else (None, None)
    fetched_at = now()
    try:
        await robots.check(client, url, settings)
        result: FetchResult = await fetch(
            client, url, settings, etag=etag, last_modified=last_modified
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
        return PageResult(url, None, saved, not_modified=True)
    article = extract(
        result.text,
        result.final_url,
        strip=strip,
        boilerplate=boilerplate,
        timeout_seconds=settings.extract_timeout_seconds,
    )
    saved = (
        archive.save_fetch(
            url,
            fetched_at=fetched_at,
            result=result,
            article=article,
            site=site,
            noise=settings.noise_rules(boilerplate),
        )
        if archive is not None
        else None
    )
    return PageResult(url, article, saved)
