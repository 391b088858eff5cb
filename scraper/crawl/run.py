"""The crawl's entry point (:func:`crawl`): lock, open the archive, record the run, run the
engine, learn, notify.

On a SQLite file the crawl lock stops a second crawl; on a database URL (PostgreSQL) there is
no lock, many crawls at once share the archive under host leases (shared.py), and a config
whose lease settings cannot hold is refused first. It reads the clock through ``clock`` and
does no SQL of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from scraper.archive import check_not_foreign, open_archive
from scraper.archive.backends import is_database_url, sender_lock
from scraper.crawl.engine import Clock, Crawler, sigterm_held, utc_now
from scraper.crawl.events import Events, RunFinished
from scraper.crawl.lock import CrawlLock
from scraper.crawl.processes import DEFAULT_EXTRACT_WORKERS
from scraper.crawl.shared import check_leases
from scraper.crawl.summary import CrawlSummary
from scraper.errors import ArchiveError
from scraper.learn import learn_if_grown
from scraper.models import iso_utc

if TYPE_CHECKING:
    import httpx

    from scraper.config import Config

__all__ = ["crawl"]


def crawl(
    config: Config,
    db_path: str | Path,
    *,
    site_names: Sequence[str] = (),
    max_pages: int | None = None,
    revisit: float | None = None,
    clock: Clock = utc_now,
    extract_workers: int = DEFAULT_EXTRACT_WORKERS,
    transport: httpx.AsyncBaseTransport | None = None,
    on_progress: Callable[[CrawlSummary], None] | None = None,
    on_start: Callable[[CrawlLock], None] | None = None,
    on_failure: Callable[[str, str], None] | None = None,
    events: Events | None = None,
) -> CrawlSummary:
    """Run one crawl of the selected sites into the archive at ``db_path``.

    Takes the lock first (:class:`CrawlLockedError` when another crawl holds it; none on a
    database URL, where crawls share the archive under host leases), records the
    run in ``runs`` at the start and again at the end, and returns the summary. Pages that fail
    are recorded, counted and passed to ``on_failure(url, cause)``; they do not make the crawl
    fail, unless every due page of a site failed (``summary.exit_code`` is then 1, and so is
    the exit code stored in ``runs``). ``events``: a bus whose subscribers are told what
    happens to each page (:mod:`scraper.crawl.events`), and last of the run's end.
    """
    sites = config.select(tuple(site_names))
    if is_database_url(db_path):
        check_leases(config)  # many crawls at once, under host leases that must hold
    check_not_foreign(db_path)  # before the lock file is put beside another program's file
    with CrawlLock(db_path) as lock:
        if on_start is not None:
            on_start(lock)
        with open_archive(db_path) as archive:
            state = archive.crawl_state()
            crawler = Crawler(
                archive,
                sites,
                defaults=config.defaults,
                clock=clock,
                max_pages=max_pages,
                revisit=revisit,
                extract_workers=extract_workers,
                transport=transport,
                on_progress=on_progress,
                on_failure=on_failure,
                events=events,
            )
            crawler.stale_lock_pid = lock.stale_pid
            started_at = iso_utc(clock())
            with sigterm_held():  # a SIGTERM from now on stops the run, whose end is recorded
                run_id = state.start_run(
                    started_at=started_at, pid=os.getpid(), sites=[s.name for s in sites]
                )
                exit_code = 1
                try:
                    summary = asyncio.run(crawler.run_crawl(run_id))
                    summary = dataclasses.replace(
                        summary, collapsed_sites=crawler.judge_extraction()
                    )
                    for run in crawler.sites if summary.stopped is None else ():
                        # the new pages teach what recurs on every page; the next run drops it
                        # (from the texts this run extracted, where they are the ones it needs)
                        texts = run.learn_texts
                        learn_if_grown(
                            archive,
                            run.site.name,
                            iso_utc(clock()),
                            strip=run.site.strip,
                            known={} if texts is None else texts.texts,
                        )
                    exit_code = summary.exit_code
                except KeyboardInterrupt:
                    exit_code = 130
                    raise
                finally:
                    final = crawler.summary()
                    with contextlib.suppress(ArchiveError):
                        state.update_run(
                            run_id,
                            final.counts(),
                            ended_at=iso_utc(clock()),
                            seconds=round(final.seconds, 3),
                            exit_code=exit_code,
                        )
            # after the run's writes are committed; never fails the crawl (scraper.notify)
            from scraper.notify import after_run

            with sender_lock(db_path):  # workers ending together would send a message twice
                notices = after_run(
                    archive,
                    sites,
                    now=iso_utc(clock()),
                    started_at=started_at,
                    targets=config.notify_targets(),
                    warnings=summary.collapsed_sites,
                )
            summary = dataclasses.replace(summary, notices=tuple(notices))
            crawler.events.emit(RunFinished(summary))
            return summary
