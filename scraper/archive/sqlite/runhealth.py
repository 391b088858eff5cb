"""Archive, extraction health per run and site: the ``run_extraction`` rows of a SQLite file.

What :mod:`scraper.sitehealth` needs to tell whether a site's extraction collapsed in a run; the
SQL is the archive core's (:meth:`~scraper.archive.sql.crawlstate.CrawlStateCore.
record_run_extraction`), these are its functions over an :class:`Archive`. It never fetches,
parses or reads the clock; each call is one short transaction or one read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from scraper.sitehealth import EARLIER_RUNS, ExtractionCounts

if TYPE_CHECKING:
    from scraper.archive.sqlite.store import Archive


def record_run_extraction(
    archive: Archive, run_id: int, site: str, counts: ExtractionCounts
) -> None:
    """Store (or replace) the extraction counts of ``site`` in crawl run ``run_id``."""
    archive.crawl_state().record_run_extraction(run_id, site, counts)


def earlier_extraction(
    archive: Archive, site: str, before_run_id: int, *, runs: int = EARLIER_RUNS
) -> ExtractionCounts:
    """The counts of the last ``runs`` runs before ``before_run_id`` that extracted pages of
    ``site``, added up (zeros when there are none)."""
    return archive.crawl_state().earlier_extraction(site, before_run_id, runs=runs)
