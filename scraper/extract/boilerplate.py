"""Extract, site boilerplate: lines of text that recur across many pages of one site.

A footer line, a standing promo, "top of page": text that the generic rules missed but that
shows up on page after page of the same site is not part of any one article. This module
learns such lines from extracted texts (pure: texts in, a mapping out) and builds the
matcher that extraction uses to drop them. Must not fetch and must not touch the archive:
``scraper.learn`` brings the texts from the archive and stores the result.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable

from scraper.extract.clean import norm_line

#: Lines longer than this are article prose even when repeated (a quoted statement).
MAX_LINE_CHARS = 400
#: Defaults used by ``scraper boilerplate --learn``.
MIN_PAGES = 3
MIN_SHARE = 0.5


def learn_boilerplate(
    texts: Iterable[str], *, min_pages: int = MIN_PAGES, min_share: float = MIN_SHARE
) -> dict[str, int]:
    """Lines found on at least ``min_pages`` pages and ``min_share`` of all pages given.

    Each text is one page's extracted text, one block per line. A line counts once per page
    however often it occurs there. Returns line (as first seen) -> number of pages, most
    frequent first. Fewer pages than ``min_pages`` learn nothing.
    """
    if min_pages < 1:
        raise ValueError("min_pages must be at least 1")
    if not 0.0 <= min_share <= 1.0:
        raise ValueError("min_share must be between 0 and 1")
    pages = 0
    counts: Counter[str] = Counter()
    first_form: dict[str, str] = {}
    for text in texts:
        pages += 1
        keys: set[str] = set()
        for line in text.splitlines():
            line = " ".join(line.split())
            if not line or len(line) > MAX_LINE_CHARS:
                continue
            key = norm_line(line)
            if not key:
                continue
            keys.add(key)
            first_form.setdefault(key, line)
        counts.update(keys)
    if pages < min_pages:
        return {}
    floor = max(min_pages, min_share * pages)
    learned = [(key, n) for key, n in counts.items() if n >= floor]
    learned.sort(key=lambda kv: (-kv[1], first_form[kv[0]]))
    return {first_form[key]: n for key, n in learned}


def boilerplate_keys(lines: Collection[str]) -> frozenset[str]:
    """The comparison keys of learned lines, for ``extract(boilerplate=...)``."""
    return frozenset(k for line in lines if (k := norm_line(line)))
