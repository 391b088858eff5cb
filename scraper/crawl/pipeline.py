"""One page: robots -> fetch -> admission -> extract -> store -> reschedule, and its events.

:class:`PagePipeline` takes a due page of a crawl through every step; :func:`fetch_and_archive`
(oneoff.py) takes a URL of ``scraper fetch`` through the same steps: the one robots.txt rule and
cache (:class:`scraper.crawl.hosts.Hosts`), a :class:`~scraper.fetch.fetcher.Fetcher`, the one
admission gate (:func:`scraper.admission.decide`), extraction, and :func:`store`, the one write
of a fetch that tells the event bus what it wrote (``reextract`` writes through the archive's
own re-extraction and tells the bus the same way: scraper.learn). The stages are marked
``# --- stage:`` where their time is spent: fetch, hash, extract (parse, article and links, in
the pool), links, admission, archive write. This module owns no policy of its own: limits live
in Settings, the revisit policy in frontier.py, politeness in hosts.py, storage in archive/;
time comes from the clock it is given.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from scraper import stagecpu
from scraper.admission import (
    CONFIRM_WAIT_SECONDS,
    Decision,
    Verdict,
    decide,
)
from scraper.crawl.events import (
    Events,
    FetchFailed,
    PageDeferred,
    PageFetched,
    PageGone,
    PageRecorded,
    PagesDiscovered,
    SnapshotWritten,
    SuspectUnconfirmed,
)
from scraper.crawl.frontier import Candidate, reschedule
from scraper.errors import (
    BadStatusError,
    ExtractError,
    FetchError,
    FetchTimeoutError,
    RobotsDisallowedError,
    UsageError,
)
from scraper.models import Outcome, iso_utc
from scraper.urls import normalise_url

if TYPE_CHECKING:
    import httpx

    from scraper.archive import DuePage, Storage
    from scraper.crawl.context import RunContext, SiteRun
    from scraper.crawl.hosts import Host
    from scraper.crawl.processes import ExtractPool
    from scraper.crawl.sources import Sources
    from scraper.fetch.fetcher import Fetcher
    from scraper.models import Article, FetchResult, SaveOutcome
    from scraper.noise import NoiseRules

#: the outcomes that add nothing to the archive but a fetch row and a new due time
BOOKKEEPING_OUTCOMES = frozenset({Outcome.NOT_MODIFIED, Outcome.UNCHANGED})
#: these, and an admitted fetch (a new or changed snapshot), may wait for the group commit: a
#: crash loses them together with their pages' new due times, so that those pages are due
#: again and the next run fetches them; a failure, an alias, a suspect fetch or a robots.txt
#: block is committed at once


def store(
    archive: Storage,
    events: Events | None,
    url: str,
    *,
    fetched_at: str,
    site: str | None = None,
    result: FetchResult | None = None,
    article: Article | None = None,
    error: FetchError | str | None = None,
    run_id: int | None = None,
    decision: Decision | None = None,
    noise: NoiseRules | None = None,
) -> SaveOutcome:
    """Write one fetch of ``url`` (the archive decides whether it is a new snapshot), and tell
    ``events`` of a snapshot written."""
    saved = archive.save_fetch(
        url,
        fetched_at=fetched_at,
        result=result,
        article=article,
        error=error,
        site=site,
        run_id=run_id,
        decision=decision,
        noise=noise,
    )
    if events is not None and saved.snapshot_id is not None:
        events.emit(
            SnapshotWritten(url, site or "", saved.snapshot_id, saved.outcome, saved.change_kind)
        )
    return saved


def _gone(exc: FetchError) -> bool:
    return isinstance(exc, BadStatusError) and exc.status_code in (404, 410)


class PagePipeline:
    """Due pages of one crawl run through the steps, one :meth:`page` call each."""

    def __init__(
        self,
        run: RunContext,
        client: httpx.AsyncClient,
        fetcher: Fetcher,
        pool: ExtractPool,
        sources: Sources,
    ) -> None:
        self.run = run
        self.client = client  #: robots.txt is read over plain HTTP, whatever the fetcher
        self.fetcher = fetcher
        self.pool = pool
        self.sources = sources

    async def page(self, site_run: SiteRun, page: DuePage) -> None:
        """Visit one due page, refetching once to confirm what the gate finds suspect."""
        run, site, settings = self.run, site_run.site, site_run.site.settings
        host = run.hosts.get(page.host, settings)
        if host.deferred:
            _deferred(self.run, site_run, page, host)
            return
        robots = await run.hosts.robots(self.client, host, settings)
        if robots is not None and not robots.allowed(page.url, settings.user_agent):
            if robots.unreachable:
                _deferred(self.run, site_run, page, host)  # not now: the page stays due
                return
            site_run.done += 1
            error = RobotsDisallowedError(page.url, "disallowed by robots.txt")
            self.record(
                site_run, page, Outcome.ROBOTS_BLOCKED, fetched_at=iso_utc(run.now()), error=error
            )
            return
        etag, last_modified = (page.etag, page.last_modified) if page.fetched else (None, None)
        confirming = False
        while True:
            decision = await self._visit(site_run, page, host, etag, last_modified)
            if decision is None or decision.verdict is not Verdict.SUSPECT:
                return
            if confirming:
                run.events.emit(SuspectUnconfirmed(page.url, site.name))  # due again soon
                return
            # a drastic change or a cut body: the same content again after a short wait confirms
            # it; the old article again was a glitch (the suspect fetch stays recorded as such)
            await asyncio.sleep(CONFIRM_WAIT_SECONDS)
            confirming = True

    async def _visit(
        self,
        site_run: SiteRun,
        page: DuePage,
        host: Host,
        etag: str | None,
        last_modified: str | None,
    ) -> Decision | None:
        """Fetch, extract, pass the admission gate and record one page; the gate's decision
        (None when it was not asked: a failure, a 304, the same bytes again)."""
        run, site, settings = self.run, site_run.site, site_run.site.settings
        # --- stage: fetch
        async with host.slots:
            if host.deferred or not await host.turn():
                _deferred(self.run, site_run, page, host)
                return None
            fetched_at = iso_utc(run.now())
            try:
                async with run.fetch_slots:
                    result = await stagecpu.steps(
                        "fetch",
                        self.fetcher.fetch_page(
                            page.url,
                            settings,
                            etag=etag,
                            last_modified=last_modified,
                            before_redirect=run.hosts.redirect_check(self.client, settings),
                        ),
                    )
            except RobotsDisallowedError as exc:
                # a redirect to a URL robots.txt keeps us from (checked before it was followed)
                site_run.done += 1
                self.record(
                    site_run, page, Outcome.ROBOTS_BLOCKED, fetched_at=fetched_at, error=exc
                )
                return None
            except FetchError as exc:
                self._fetch_failed(site_run, page, host, exc, fetched_at)
                return None
        run.hosts.answered(host)
        site_run.done += 1
        size = 0 if result.not_modified else len(result.body)
        run.events.emit(PageFetched(page.url, site.name, size, result.not_modified))
        if result.not_modified:
            self.record(site_run, page, Outcome.NOT_MODIFIED, fetched_at=fetched_at, result=result)
            return None
        # --- stage: hash
        body_sha = hashlib.sha256(result.body).hexdigest()
        if page.fetched and body_sha == run.state.last_body_sha256(page.id):
            # the very same bytes as the last admitted fetch: the same article, no need to
            # extract again (refused fetches are not counted: their rows carry an error)
            self.record(site_run, page, Outcome.UNCHANGED, fetched_at=fetched_at, result=result)
            return None
        # --- stage: extract (parse, article and links: one parse, in the pool)
        try:
            done = await self.pool.extract(
                result.text,
                result.final_url,
                strip=site.strip,
                boilerplate=site_run.boilerplate,
                timeout_seconds=settings.extract_timeout_seconds,
            )
        except ExtractError as exc:
            site_run.done -= 1  # fetched, but it failed all the same
            why = f"extract: {exc}"
            self.failed(site_run, page.url, why.replace(f"{result.final_url}: ", "", 1))
            self.record(
                site_run, page, Outcome.FAILED, fetched_at=fetched_at, result=result, error=why
            )
            return None
        stagecpu.merge(done.cpu)
        site_run.extraction = site_run.extraction.add(done.article)
        # --- stage: links
        links = done.links
        redirected = _other_page(page.url, result.final_url)
        if page.depth < site.max_depth and not links.nofollow and not redirected:
            # the links of another page (the redirect's target) are that page's to give
            new = site_run.frontier.enqueue_many(
                [Candidate(u) for u in links.links], page.depth + 1, "link", page.url, now=run.now()
            )
            run.events.emit(PagesDiscovered(site.name, len(new)))
        if links.feeds and not redirected:
            self.sources.page_feeds(site_run, links.feeds, page.url)
        canonical = (
            site_run.frontier.scope(links.canonical, page.depth) if links.canonical else None
        )
        # --- stage: admission
        decision = decide(
            page.url, result, done.article, run.archive.known(page.url), canonical=canonical
        )
        # --- stage: archive write
        self._admit(site_run, page, result, done.article, decision, fetched_at)
        texts = site_run.learn_texts
        if (
            texts is not None
            and decision.admitted
            and done.unbudgeted
            and not redirected
            and result.final_url == page.url
        ):
            # what learning the boilerplate at the end of the run would extract again
            texts.add(page.id, page.url, body_sha, done.article.text)
        return decision

    def _admit(
        self,
        site_run: SiteRun,
        page: DuePage,
        result: FetchResult,
        article: Article,
        decision: Decision,
        fetched_at: str,
    ) -> None:
        """Record a fetch as the admission gate decided: a snapshot only for an admitted one."""
        run = self.run
        if decision.verdict is Verdict.ALIAS:
            # one page, one URL: a redirect or canonical link to another page is an alias; its
            # target is crawled as a page of its own when it is in scope, else a failure
            assert decision.target is not None
            source = "redirect" if decision.reason.startswith("redirect") else "canonical"
            normal = site_run.frontier.scope(decision.target, page.depth)
            if normal is None:
                why = f"{decision.error} (out of scope: not followed)"
                site_run.done -= 1  # fetched, but it failed all the same
                self.failed(site_run, page.url, why)
                self.record(
                    site_run, page, Outcome.FAILED, fetched_at=fetched_at, result=result, error=why
                )
                return
            new = site_run.frontier.enqueue_many(
                [Candidate(normal)], page.depth, source, page.url, now=run.now()
            )
            run.events.emit(PagesDiscovered(site_run.site.name, len(new)))
            self.record(
                site_run,
                page,
                Outcome.ALIAS,
                fetched_at=fetched_at,
                result=result,
                error=decision.error,
            )
            run.events.emit(PageGone(page.url, site_run.site.name, normal, decision.reason))
            return
        if decision.verdict is Verdict.BLOCKED:
            site_run.done -= 1  # fetched, but it failed all the same
            self.failed(site_run, page.url, decision.error or decision.reason)
            self.record(
                site_run,
                page,
                Outcome.FAILED,
                fetched_at=fetched_at,
                result=result,
                error=decision.error,
            )
            return
        if decision.verdict is Verdict.SUSPECT:
            self.record(
                site_run,
                page,
                Outcome.SUSPECT,
                fetched_at=fetched_at,
                result=result,
                error=decision.error,
            )
            return
        self.record(
            site_run,
            page,
            None,
            fetched_at=fetched_at,
            result=result,
            article=article,
            decision=decision,
        )

    def failed(self, site_run: SiteRun, url: str, cause: str, *, requested: bool = False) -> None:
        """Count a page that failed and tell whoever listens (``--verbose``, the log file)."""
        site_run.failed += 1
        site_run.not_done += 1
        self.run.events.emit(FetchFailed(url, site_run.site.name, cause, requested))

    def _fetch_failed(
        self, site_run: SiteRun, page: DuePage, host: Host, exc: FetchError, fetched_at: str
    ) -> None:
        host.failed += 1
        host.last_failure = exc.message
        # a request went out: it counts as fetched
        self.failed(site_run, page.url, f"{exc.kind}: {exc.message}", requested=True)
        self.record(site_run, page, Outcome.FAILED, fetched_at=fetched_at, error=exc)
        if _gone(exc):
            self.run.events.emit(PageGone(page.url, site_run.site.name, None, exc.message))
        transient = (
            isinstance(exc, FetchTimeoutError)
            or type(exc) is FetchError
            or (
                isinstance(exc, BadStatusError)
                and exc.status_code is not None
                and (exc.status_code >= 500 or exc.status_code == 429)
            )
        )
        if exc.retry_after_seconds or transient:
            self.run.hosts.trouble(host, f"{exc.kind}: {exc.message}", exc.retry_after_seconds)

    def record(
        self,
        site_run: SiteRun,
        page: DuePage,
        outcome: Outcome | None,
        *,
        fetched_at: str,
        result: FetchResult | None = None,
        article: Article | None = None,
        error: FetchError | str | None = None,
        decision: Decision | None = None,
    ) -> Outcome:
        """Store one page's fetch and its next due time together; return the outcome (``outcome``,
        or new/changed/unchanged as the archive decided). Committed at once when it tells of
        trouble, else with the group commit (:class:`scraper.archive.groupcommit.CommitGroup`)."""
        run = self.run
        site = site_run.site

        def write() -> tuple[Outcome, SaveOutcome]:
            saved = run.archive.save_fetch(
                page.url,
                fetched_at=fetched_at,
                result=result,
                article=article,
                error=error,
                site=site.name,
                run_id=run.run_id,
                decision=decision,
                noise=site_run.noise,
            )
            kind = outcome or saved.outcome
            reschedule(run.state, page, site.settings, kind, run.now())
            return kind, saved

        durable = outcome is not None and outcome not in BOOKKEEPING_OUTCOMES
        with stagecpu.stage("archive"):
            kind, saved = run.group.write(durable, write)
        run.events.emit(PageRecorded(page.url, site.name, kind))
        if saved.snapshot_id is not None:
            run.events.emit(
                SnapshotWritten(page.url, site.name, saved.snapshot_id, kind, saved.change_kind)
            )
        return kind


def _deferred(run: RunContext, site_run: SiteRun, page: DuePage, host: Host) -> None:
    """Count a due page left for a later run because its host cannot be asked now."""
    site_run.not_done += 1
    host.not_fetched += 1
    run.events.emit(PageDeferred(page.url, site_run.site.name, host.origin))


def _other_page(page_url: str, final_url: str) -> bool:
    """Whether a fetch of ``page_url`` ended at another page (a redirect)."""
    try:
        return normalise_url(final_url) != page_url
    except UsageError:
        return True
