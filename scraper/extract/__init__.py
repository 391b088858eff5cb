"""Extract: HTML in, a clean Article out. Pure: no network, no database.

INTERFACE STUB written by the lead: the extraction helper implements it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from scraper.models import Article


def extract(
    html: str | bytes,
    url: str | None = None,
    *,
    strip: Sequence[str] = (),
    boilerplate: Collection[str] = (),
    timeout_seconds: float | None = None,
) -> Article:
    """The article of ``html``. Never raises for any input short of a wrong argument type:
    a page with no article gives ``Article(found=False, text="")``.

    :param strip: extra CSS selectors that are chrome on this site (config ``strip``)
    :param boilerplate: learned text blocks of this site to drop
    """
    raise NotImplementedError
