"""Learning and re-extraction over the archive: site boilerplate, and extraction re-run on
stored raw bodies.

``learn`` re-extracts the newest stored capture of each page of a site *without* its learned
boilerplate (so that lines already learned are seen again and stay learned), finds the lines
that recur across pages (:func:`scraper.extract.learn_boilerplate`) and stores them.
``reextract`` runs the current extractor, the site's ``strip`` rules and its learned
boilerplate over each page's newest stored body; a result that differs from the page's latest
snapshot is stored as a snapshot with cause ``reextract``, so that ``diff`` and ``changes``
can tell "our extraction changed" from "the site changed".

Goes through the :class:`~scraper.archive.PageStore` protocol only (no SQL here); never fetches and
never reads the clock (``at`` is passed in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from scraper.admission import decide

# The extraction stack (scraper.extract) is imported where it is used, not here: the crawl
# imports this module, and its process has no page to extract on a recrawl of unchanged pages.

if TYPE_CHECKING:
    from scraper.archive import PageStore
    from scraper.models import Article


def extract(html: str | bytes, url: str | None = None, **options: Any) -> Article:
    """:func:`scraper.extract.extract`, imported at its first call (see the imports above)."""
    from scraper.extract import extract as extract_page

    return extract_page(html, url, **options)


#: Pages re-extracted per site to learn from (the newest captures the archive returns first).
LEARN_MAX_PAGES = 200
#: A crawl relearns a site's boilerplate when it has this many times the pages learned from.
RELEARN_GROWTH = 1.25


@dataclass(frozen=True, slots=True)
class LearnResult:
    """What ``learn`` found for one site."""

    site: str
    pages: int  #: pages learned from
    lines: Mapping[str, int] = field(default_factory=dict)  #: line -> pages it was seen on


@dataclass(frozen=True, slots=True)
class ReextractResult:
    """What ``reextract`` did, page by page."""

    pages: int = 0
    changed: tuple[tuple[str, int], ...] = ()  #: (url, new snapshot id)
    unchanged: int = 0
    not_found: tuple[str, ...] = ()  #: pages where no article was found any more
    #: pages whose new extraction the admission gate refused (a block page), with the reason
    refused: tuple[tuple[str, str], ...] = ()


def learn(
    archive: PageStore,
    site: str,
    at: str,
    *,
    strip: Sequence[str] = (),
    min_pages: int | None = None,
    min_share: float | None = None,
    max_pages: int = LEARN_MAX_PAGES,
    known: Mapping[str, tuple[str, str]] | None = None,
) -> LearnResult:
    """Relearn the boilerplate of ``site`` from its stored pages and store it (``at``: now).

    Pages without a stored raw body are learned from their stored text instead.

    :param min_pages: see :func:`~scraper.extract.learn_boilerplate` (None: its
        ``MIN_PAGES``; ``min_share`` likewise, None: ``MIN_SHARE``)
    :param known: texts already extracted the way learning extracts them (``strip``, no
        boilerplate, no time budget), by URL: ``(sha256 of the raw body, text)``; a page whose
        newest stored body is that one is not extracted again (a crawl passes what it just
        extracted)
    """
    from scraper.extract.boilerplate import MIN_PAGES, MIN_SHARE, learn_boilerplate

    texts = []
    for capture in islice(archive.latest_captures(site), max_pages):
        seen = None if known is None else known.get(capture.url)
        if seen is not None and seen[0] == capture.raw_sha256:
            texts.append(seen[1])
        else:
            texts.append(extract(capture.text(), capture.url, strip=strip).text)
    if not texts:
        texts = archive.site_texts(site, limit=max_pages)
    lines = learn_boilerplate(
        texts,
        min_pages=MIN_PAGES if min_pages is None else min_pages,
        min_share=MIN_SHARE if min_share is None else min_share,
    )
    archive.set_boilerplate(site, lines, learned_at=at, learned_from=len(texts))
    return LearnResult(site=site, pages=len(texts), lines=lines)


def learn_if_grown(
    archive: PageStore,
    site: str,
    at: str,
    *,
    strip: Sequence[str] = (),
    growth: float = RELEARN_GROWTH,
    known: Mapping[str, tuple[str, str]] | None = None,
) -> LearnResult | None:
    """Learn the site's boilerplate if it was never learned from enough pages, or if the site
    has grown by ``growth`` since: what ``scraper crawl`` calls after each run.

    Learning re-extracts up to LEARN_MAX_PAGES stored pages, so it is done a few times as a
    site grows (at 3 pages, then about every +25%), never on every cron run. Returns None
    when nothing was (re)learned. ``known``: as for :func:`learn`.
    """
    pages = min(archive.site_page_count(site), LEARN_MAX_PAGES)
    before = archive.boilerplate_learned_from(site)
    if before is not None and pages < before * growth:
        return None  # (the usual end of a crawl: decided without the extraction stack)
    from scraper.extract.boilerplate import MIN_PAGES

    if pages < MIN_PAGES:
        return None
    return learn(archive, site, at, strip=strip, known=known)


def reextract(
    archive: PageStore,
    site: str | None,
    at: str,
    *,
    strip_for: Callable[[str | None], Sequence[str]] = lambda site: (),
    on_page: Callable[[str, int | None], None] | None = None,
    on_snapshot: Callable[[str, str, int], None] | None = None,
) -> ReextractResult:
    """Re-run extraction on the newest stored body of every page (of ``site``, or all).

    :param strip_for: the ``strip`` selectors of a site (from the config)
    :param on_page: called with each URL and its new snapshot id (None when unchanged)
    :param on_snapshot: called with the URL, site ("" for none) and id of each snapshot
        written; ``scraper.crawl.events.reextracts_to(bus)`` makes each one a
        ``SnapshotWritten`` on an event bus, as the crawl and ``scraper fetch`` tell theirs
    """
    boilerplate: dict[str | None, frozenset[str]] = {}
    pages = unchanged = 0
    changed: list[tuple[str, int]] = []
    not_found: list[str] = []
    refused: list[tuple[str, str]] = []
    for capture in archive.latest_captures(site):
        pages += 1
        if capture.site not in boilerplate:
            learned = archive.boilerplate(capture.site) if capture.site else frozenset()
            boilerplate[capture.site] = learned
        article = extract(
            capture.text(),  # decoded as its fetch decoded it
            capture.url,
            strip=strip_for(capture.site),
            boilerplate=boilerplate[capture.site],
        )
        if not article.found:
            not_found.append(capture.url)
            snapshot_id = None
        else:
            # the capture passed the gate once; the new extraction of it must pass it too
            known = archive.known(capture.url)
            html = capture.body.decode("utf-8", "replace")
            decision = decide(capture.url, None, article, known, confirm=False, html=html)
            snapshot_id = None
            if not decision.admitted:
                refused.append((capture.url, decision.reason))
            elif (
                snapshot_id := archive.save_reextracted(
                    capture.url, article, at=at, raw_sha256=capture.raw_sha256, decision=decision
                )
            ) is None:
                unchanged += 1
            else:
                changed.append((capture.url, snapshot_id))
                if on_snapshot is not None:
                    on_snapshot(capture.url, capture.site or "", snapshot_id)
        if on_page is not None:
            on_page(capture.url, snapshot_id)
    return ReextractResult(
        pages=pages,
        changed=tuple(changed),
        unchanged=unchanged,
        not_found=tuple(not_found),
        refused=tuple(refused),
    )
