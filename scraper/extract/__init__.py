"""Extract: HTML in, a clean Article out. Pure: no network, no database.

The page is decoded and parsed once (selectolax/lexbor). Metadata is read from that tree
(JSON-LD, OpenGraph, ``<meta>``, the page), then the same tree is cut down to what could be
content (``clean.py``), and trafilatura finds the main content in the much smaller rest
(``content.py``), from which post-header lines and the site's learned boilerplate
(``boilerplate.py``) are dropped.

Time budget: the input is bounded (``MAX_HTML_CHARS`` characters, ``MAX_DEPTH`` levels of
nesting), so every stage has a bounded worst case; in addition the budget is checked between
stages, and a page whose cleaning already used most of it, or whose cleaned tree is still
larger than ``MAX_CONTENT_CHARS``, skips trafilatura and gets the cheap text of its
paragraphs instead. Never raises for any ``str`` or ``bytes``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Collection, Sequence
from functools import cache

from selectolax.lexbor import LexborHTMLParser

from scraper.extract.boilerplate import boilerplate_keys, learn_boilerplate
from scraper.extract.clean import (
    MAX_DEPTH,
    MAX_HTML_CHARS,
    content_html,
    decode,
    drop_chrome,
    drop_never_content,
    norm_line,
    parse,
)
from scraper.extract.content import Content, is_chrome_line, main_content
from scraper.extract.metadata import Metadata, guess_published, read_metadata, reading_time
from scraper.models import Article

__all__ = [
    "MAX_CONTENT_CHARS",
    "MAX_DEPTH",
    "MAX_HTML_CHARS",
    "MIN_ARTICLE_WORDS",
    "extract",
    "extractor_versions",
    "learn_boilerplate",
]

#: A cleaned page larger than this skips trafilatura (its cost grows with the tree).
MAX_CONTENT_CHARS = 1_500_000
#: The share of the time budget after which trafilatura is skipped.
_BUDGET_SHARE_BEFORE_CONTENT = 0.5
_WORD_RE = re.compile(r"\w+")
#: Fewer words than this is not an article (stray glyphs, a lone label), so ``found`` is False.
MIN_ARTICLE_WORDS = 5
#: Reading speed used when the page does not say how long it takes to read.
WORDS_PER_MINUTE = 230


@cache
def extractor_versions() -> dict[str, str]:
    """The versions of our extractor and of trafilatura, recorded with every snapshot."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for name in ("scraper", "trafilatura"):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "unknown"
    return versions


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
    :param timeout_seconds: the time budget (see the module docstring); None for no budget
    """
    if not isinstance(html, str | bytes | bytearray | memoryview):
        raise TypeError(f"extract() wants str or bytes, not {type(html).__name__}")
    if url is not None and not isinstance(url, str):
        raise TypeError(f"url must be a str or None, not {type(url).__name__}")
    if isinstance(strip, str):
        raise TypeError("strip must be a sequence of CSS selectors, not one string")
    if isinstance(boilerplate, str):
        raise TypeError("boilerplate must be a collection of lines, not one string")
    started = time.perf_counter()
    versions = dict(extractor_versions())
    source = decode(bytes(html) if not isinstance(html, str | bytes) else html)
    tree = parse(source)
    if tree is None:
        return Article(url=url, extractor=versions)
    meta = read_metadata(tree, url)
    titles = _title_keys(meta.title, _first_text(tree, "title"), _first_text(tree, "h1"))
    headings = titles | ({norm_line(meta.description)} if meta.description else set())
    drop_never_content(tree, strip=tuple(strip))
    if meta.published is None:
        meta = dataclasses.replace(meta, published=guess_published(tree.html or "", url))
    cleaned = drop_chrome(tree)
    stated_minutes = reading_time(cleaned.page_text)
    if stated_minutes is not None:
        meta = dataclasses.replace(meta, reading_time_minutes=stated_minutes)
    html_in = content_html(tree)

    authors = frozenset(norm_line(a) for a in meta.authors)
    learned = boilerplate_keys(boilerplate)

    def drop(tag: str, text: str, key: str) -> bool:
        return (
            is_chrome_line(tag, text)
            or key in authors
            or key in titles
            or (tag == "head" and key in headings)
            or key in learned
        )

    over_budget = (
        timeout_seconds is not None
        and time.perf_counter() - started > timeout_seconds * _BUDGET_SHARE_BEFORE_CONTENT
    )
    if over_budget or len(html_in) > MAX_CONTENT_CHARS:
        content = _cheap_content(tree, drop)
    else:
        content = main_content(html_in, drop=drop, markdown_only=cleaned.captions)
    return _article(url, meta, content, versions)


def _first_text(tree: LexborHTMLParser, selector: str) -> str | None:
    node = tree.css_first(selector)
    return node.text(deep=True) if node is not None else None


_TITLE_SPLIT_RE = re.compile(r"\s+[|\-–—:·»]\s+")


def _title_keys(*titles: str | None) -> frozenset[str]:
    """Comparison keys of the page's title candidates, with and without a " | Site" part."""
    keys: set[str] = set()
    for title in titles:
        if not title:
            continue
        keys.add(norm_line(title))
        parts = _TITLE_SPLIT_RE.split(title)
        if len(parts) > 1:
            keys.update(norm_line(p) for p in parts if len(p.split()) >= 3)
    keys.discard("")
    return frozenset(keys)


def _cheap_content(tree: LexborHTMLParser, drop: Callable[[str, str, str], bool]) -> Content:
    """The text of the cleaned page's paragraphs: the fallback when trafilatura is skipped."""
    lines: list[str] = []
    for node in tree.css("p, h2, h3, li, blockquote"):
        text = " ".join(node.text(deep=True).split())
        if text and not drop("p", text, norm_line(text)):
            lines.append(text)
    text = "\n".join(lines)
    return Content(text, text)


def _article(
    url: str | None, meta: Metadata, content: Content, versions: dict[str, str]
) -> Article:
    words = len(_WORD_RE.findall(content.text))
    found = words >= MIN_ARTICLE_WORDS
    reading = meta.reading_time_minutes
    if reading is None and found:
        reading = max(1, round(words / WORDS_PER_MINUTE))
    return Article(
        url=url,
        title=meta.title,
        author=", ".join(meta.authors) or None,
        authors=meta.authors,
        published=meta.published,
        updated=meta.updated,
        language=meta.language,
        description=meta.description,
        site_name=meta.site_name,
        canonical_url=meta.canonical_url,
        tags=meta.tags,
        image=meta.image,
        reading_time_minutes=reading,
        word_count=words if found else 0,
        text=content.text if found else "",
        markdown=content.markdown if found else "",
        found=found,
        extractor=versions,
    )
