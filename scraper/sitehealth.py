"""Crawl, extraction health per site: did a site's extraction collapse in this run?

A redesign or a consent wall does not make fetches fail: the pages still answer 200 and the
crawl would go on archiving chrome. What changes is what extraction finds. Each run counts,
per site, the pages it extracted, those where no article was found, and those whose article
had a confidence below LOW_CONFIDENCE (the archive keeps the counts in ``run_extraction``).
A site is named in the crawl's summary when the share of such "weak" pages among this run's
extracted pages jumped against its earlier runs:

- this run extracted at least MIN_PAGES of its pages, and earlier runs (the last EARLIER_RUNS
  that extracted any) at least MIN_EARLIER_PAGES, so that a share means something;
- the weak share is at least MIN_SHARE now and at least MIN_JUMP above the earlier share.

A site whose pages never had articles keeps a high share in every run, so it never warns;
after a lasting change the new share becomes the earlier one within a few runs and the
warning stops. Two shares are compared: no article or low confidence together, and no article
alone (a site whose articles were already doubtful and are now gone has collapsed too).

Pure: counts in, text out; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scraper.models import Article

#: An article whose confidence is below this is doubtful.
LOW_CONFIDENCE = 0.5
#: Pages this run must have extracted for a site to be judged.
MIN_PAGES = 5
#: Pages its earlier runs must have extracted, together, to be compared with.
MIN_EARLIER_PAGES = 5
#: The weak share this run, at least, for a warning.
MIN_SHARE = 0.5
#: ... and how far above the earlier share it must be.
MIN_JUMP = 0.3
#: How many of a site's earlier runs (those that extracted pages) make up "earlier".
EARLIER_RUNS = 10


@dataclass(frozen=True, slots=True)
class ExtractionCounts:
    """Pages extracted in a run (or several) of one site, and how many were weak."""

    extracted: int = 0
    no_article: int = 0  #: no article found
    low_confidence: int = 0  #: an article, with confidence below LOW_CONFIDENCE

    @property
    def weak(self) -> int:
        return self.no_article + self.low_confidence

    def add(self, article: Article) -> ExtractionCounts:
        """These counts with one more extracted page."""
        missing = not article.found
        doubtful = article.found and article.confidence < LOW_CONFIDENCE
        return ExtractionCounts(
            self.extracted + 1,
            self.no_article + missing,
            self.low_confidence + doubtful,
        )

    def __add__(self, other: ExtractionCounts) -> ExtractionCounts:
        return ExtractionCounts(
            self.extracted + other.extracted,
            self.no_article + other.no_article,
            self.low_confidence + other.low_confidence,
        )


def collapse_warning(site: str, now: ExtractionCounts, earlier: ExtractionCounts) -> str | None:
    """The summary line naming ``site`` when its extraction collapsed in this run, else None."""
    if now.extracted < MIN_PAGES or earlier.extracted < MIN_EARLIER_PAGES:
        return None
    for what, count_now, count_before in (
        ("no article or low confidence", now.weak, earlier.weak),
        ("no article", now.no_article, earlier.no_article),
    ):
        share_now = count_now / now.extracted
        share_before = count_before / earlier.extracted
        if share_now >= MIN_SHARE and share_now - share_before >= MIN_JUMP:
            return (
                f"warning: site {site}: {count_now} of {now.extracted} pages had {what} "
                f"this run (earlier runs: {count_before} of {earlier.extracted})"
            )
    return None
