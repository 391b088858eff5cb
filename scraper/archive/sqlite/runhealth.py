"""Archive, extraction health per run and site: the ``run_extraction`` rows.

What :mod:`scraper.sitehealth` needs to tell whether a site's extraction collapsed in a run:
how many pages each run extracted per site, and how many of them were weak. It never fetches,
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
    with archive.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO run_extraction "
            "(run_id, site, extracted, no_article, low_confidence) VALUES (?, ?, ?, ?, ?)",
            (run_id, site, counts.extracted, counts.no_article, counts.low_confidence),
        )


def earlier_extraction(
    archive: Archive, site: str, before_run_id: int, *, runs: int = EARLIER_RUNS
) -> ExtractionCounts:
    """The counts of the last ``runs`` runs before ``before_run_id`` that extracted pages of
    ``site``, added up (zeros when there are none)."""
    rows = archive._rows(
        """
        SELECT COALESCE(SUM(extracted), 0) AS extracted,
            COALESCE(SUM(no_article), 0) AS no_article,
            COALESCE(SUM(low_confidence), 0) AS low_confidence
        FROM (
            SELECT extracted, no_article, low_confidence FROM run_extraction
            WHERE site = ? AND run_id < ? AND extracted > 0
            ORDER BY run_id DESC LIMIT ?
        )
        """,
        (site, before_run_id, runs),
    )
    row = rows[0]
    return ExtractionCounts(
        int(row["extracted"]), int(row["no_article"]), int(row["low_confidence"])
    )
