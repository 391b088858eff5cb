"""Extract: HTML in, a clean Article out. Pure: no network, no database.

The page is decoded and parsed once (selectolax/lexbor). Metadata is read from that tree
(JSON-LD, OpenGraph, ``<meta>``, the page), then the same tree is cut down to what could be
content (``clean.py``) and the region that holds the article is chosen. Its text is read
straight off the tree (``blocks.py``: the blocks of the element that holds most of the
page's prose, link farms and the chrome lines of ``content.py`` left out, the site's learned
boilerplate (``boilerplate.py``) too) and cross-checked against the page as a whole
(``crosscheck.py``). Only when the cross-check doubts it does trafilatura run, once, on the
whole page, and the better-supported of the two is kept; the evidence gives
``Article.confidence``. The links of the page (for a crawl's discovery) are read from the
same tree before any cleaning (:func:`extract_with_links`).

Time budget: the input is bounded (``MAX_HTML_CHARS`` characters, ``MAX_DEPTH`` levels of
nesting), so every stage has a bounded worst case; in addition the budget is checked between
stages: a page whose parse and cleaning already used half of it skips htmldate and the
content stages and gets the text of its paragraphs instead; one that used a quarter of it
before the cross-check skips the second candidate. A thread cannot be stopped from outside, so
the budget is cooperative: it bounds the expensive stages, not a single pathological call.
Never raises for any ``str`` or ``bytes``.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Collection, Sequence
from functools import cache, lru_cache

from selectolax.lexbor import LexborHTMLParser

from scraper.discover import PageLinks, parse_page
from scraper.extract.blocks import read_content
from scraper.extract.boilerplate import boilerplate_keys, learn_boilerplate
from scraper.extract.clean import (
    MAX_DEPTH,
    MAX_HTML_CHARS,
    Cleaned,
    Region,
    absolute_links,
    count_words,
    decode,
    drop_chrome,
    drop_never_content,
    is_story_header,
    main_region,
    norm_line,
    parse,
)
from scraper.extract.content import Content, is_chrome_line, main_content
from scraper.extract.crosscheck import (
    Whole,
    cheap_confidence,
    choose,
    cross_check,
    free_chars,
    misses_prose,
    whole_page,
    without_prose,
)
from scraper.extract.metadata import Metadata, guess_published, read_metadata, reading_time
from scraper.models import Article

__all__ = [
    "BUDGET_SHARE_BEFORE_CONTENT",
    "BUDGET_SHARE_BEFORE_FALLBACK",
    "MAX_DEPTH",
    "MAX_HTML_CHARS",
    "MIN_ARTICLE_WORDS",
    "extract",
    "extract_with_links",
    "extractor_versions",
    "learn_boilerplate",
]

#: The share of the time budget after which htmldate and trafilatura are skipped.
BUDGET_SHARE_BEFORE_CONTENT = 0.5
#: The share of the time budget after which the cross-check's second candidate is skipped:
#: it runs trafilatura on the whole page, which costs a few times the first run. A caller
#: that sees an extraction finish within the least of the two shares knows nothing was cut.
BUDGET_SHARE_BEFORE_FALLBACK = 0.25
#: The uncut candidate is read only when cleaning left less than this share of the page's
#: text outside links (cleaning that cut a thread of replies has not cut the article).
_UNCUT_KEPT_SHARE = 0.3
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
    links: bool = False,
) -> Article:
    """The article of ``html``. Never raises for any input short of a wrong argument type:
    a page with no article gives ``Article(found=False, text="")``.

    :param strip: extra CSS selectors that are chrome on this site (config ``strip``)
    :param boilerplate: learned text blocks of this site to drop
    :param timeout_seconds: the time budget (see the module docstring); None for no budget
    :param links: keep the article's hyperlinks in the Markdown as ``[text](absolute url)``
    """
    return _extract(html, url, strip, boilerplate, timeout_seconds, links, want_links=False)[0]


def extract_traced(
    html: str | bytes, *, timeout_seconds: float | None = None
) -> tuple[Article, str]:
    """``extract(html)`` and the path that gave its text (see :func:`_content`): for the
    benchmark's per-path counts and the tests, not part of the API."""
    article, _links, path = _extract(html, None, (), (), timeout_seconds, False, want_links=False)
    return article, path


def extract_with_links(
    html: str | bytes,
    url: str,
    *,
    strip: Sequence[str] = (),
    boilerplate: Collection[str] = (),
    timeout_seconds: float | None = None,
    links: bool = False,
) -> tuple[Article, PageLinks]:
    """The article of ``html`` and what the page links to, both from the one bounded parse
    (a crawl needs both: parsing the raw page again would undo the bounds on nesting)."""
    article, page_links, _path = _extract(
        html, url, strip, boilerplate, timeout_seconds, links, want_links=True
    )
    return article, page_links


def _extract(
    html: str | bytes,
    url: str | None,
    strip: Sequence[str],
    boilerplate: Collection[str],
    timeout_seconds: float | None,
    links: bool,
    *,
    want_links: bool,
) -> tuple[Article, PageLinks, str]:
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
        return Article(url=url, extractor=versions), PageLinks(), "direct"
    # before any cleaning: navigation is where most of a page's links are
    page_links = parse_page(tree, url) if want_links and url else PageLinks()
    meta = read_metadata(tree, url)
    titles = _title_keys(meta.title, _first_text(tree, "title"), _first_text(tree, "h1"))
    headings = titles | ({norm_line(meta.description)} if meta.description else set())
    drop_never_content(tree, strip=tuple(strip))
    if links:
        absolute_links(tree, url)
    if meta.published is None and not _over_budget(started, timeout_seconds):
        meta = dataclasses.replace(meta, published=guess_published(tree.html or "", url))
    whole = whole_page(tree, source, linked=links)
    cleaned = drop_chrome(tree)
    stated_minutes = reading_time(cleaned.page_text)
    if stated_minutes is not None:
        meta = dataclasses.replace(meta, reading_time_minutes=stated_minutes)
    region = main_region(tree)

    authors = frozenset(norm_line(a) for a in meta.authors)
    learned = (
        _cached_keys(boilerplate)
        if isinstance(boilerplate, frozenset)
        else boilerplate_keys(boilerplate)
    )

    def drop(tag: str, text: str, key: str) -> bool:
        return (
            is_chrome_line(tag, text)
            or key in authors
            or key in titles
            or (tag == "head" and key in headings)
            or key in learned
        )

    def over_budget(share: float) -> bool:
        return _over_budget(started, timeout_seconds, share)

    def uncut() -> Content:
        return _uncut_content(whole.html, url, strip, drop, links)

    content, confidence, path, words = _content(
        region, tree, whole, drop, links, over_budget, cleaned, uncut
    )
    if words is None:
        words = count_words(content.text)
    return _article(url, meta, content, versions, confidence, words), page_links, path


def _content(
    region: Region,
    tree: LexborHTMLParser,
    whole: Whole,
    drop: Callable[[str, str, str], bool],
    links: bool,
    over_budget: Callable[[float], bool],
    cleaned: Cleaned,
    uncut: Callable[[], Content],
) -> tuple[Content, float, str, int | None]:
    """The main content, its confidence and the path that gave it: "direct" (the region's
    own blocks: confirmed by the cross-check, or doubtful too late in the time budget for
    trafilatura), "fallback" (doubtful: trafilatura ran on the whole page too, and the
    better-supported candidate is kept), "uncut" (both candidates missed the page's longest
    paragraphs: the page's blocks with no chrome cut held them) or "cheap" (over the budget
    before any of it), and the words of its text when they were counted on the way."""
    if region.node is None:
        return Content("", ""), 0.0, "direct", 0
    if over_budget(BUDGET_SHARE_BEFORE_CONTENT):
        content = _cheap_content(tree, drop, region.captions)
        return content, cheap_confidence(content.text, whole), "cheap", None
    guarded = cleaned.guarded
    direct, unguarded = read_content(
        region.node,
        drop=drop,
        markdown_only=region.captions,
        links=links,
        guarded=guarded,
        landmarks=cleaned.landmarks,
    )
    if unguarded:
        # what the direct path left out is no part of the page's text for the cross-check
        left_out: set[str] = set()
        for node in cleaned.guarded_nodes:
            left_out.update(norm_line(p.text(deep=True)) for p in node.css("p"))
            node.remove()
        whole = without_prose(whole, left_out)
    page_chars = whole.free_chars  # before chrome was cut
    if tree.body is not None:  # what cleaning left: the chrome it cut is no part of the article
        whole = dataclasses.replace(whole, free_chars=free_chars(tree.body))
    verdict = cross_check(direct.text, whole)
    if not verdict.doubtful or over_budget(BUDGET_SHARE_BEFORE_FALLBACK):
        return direct, verdict.confidence, "direct", verdict.words
    if not region.is_body and tree.body is not None:
        # the container may be the wrong one: the blocks of the whole cleaned page compete
        body, _unguarded = read_content(
            tree.body,
            drop=drop,
            markdown_only=region.captions,
            links=links,
            guarded=guarded,
            landmarks=cleaned.landmarks,
        )
        direct, _confidence = choose(direct, body, whole)
    # the source is bounded (MAX_HTML_CHARS, nesting defused): trafilatura copes with it
    alternative = main_content(whole.html, drop=drop, comments=True)
    if (
        misses_prose(direct.text, whole)
        and misses_prose(alternative.text, whole)
        and whole.free_chars < _UNCUT_KEPT_SHARE * page_chars
        and not over_budget(BUDGET_SHARE_BEFORE_CONTENT)
    ):
        # neither holds the page's longest paragraphs, and cleaning cut most of the page:
        # it cut the article (a class word on its wrapper) and trafilatura took another
        # part; the page's own blocks, with nothing cut but what is never content, are the
        # third candidate when they hold them and more than trafilatura's text
        third = uncut()
        if not misses_prose(third.text, whole) and _words(third.text) > _words(alternative.text):
            content, confidence = choose(direct, third, whole)
            return content, confidence, "uncut", None
    alternative = _linked(
        alternative,
        links and (lambda: main_content(whole.linked_html, drop=drop, comments=True, links=True)),
    )
    content, confidence = choose(direct, alternative, whole)
    return content, confidence, "fallback", None


_LANDMARKS = "header, footer, aside"


def _uncut_content(
    source: str,
    url: str | None,
    strip: Sequence[str],
    drop: Callable[[str, str, str], bool],
    links: bool,
) -> Content:
    """The blocks of the page with nothing cut but what is never content and the page's
    landmarks: a second parse of the (bounded) source, for the few pages where cleaning
    cut the article."""
    tree = parse(source)
    if tree is None or tree.body is None:
        return Content("", "")
    drop_never_content(tree, strip=tuple(strip))
    for node in tree.body.css(_LANDMARKS):  # the site's own text, never the article's
        if not is_story_header(node):
            node.remove()
    if links:
        absolute_links(tree, url)
    region = main_region(tree)
    if region.node is None:
        return Content("", "")
    content, _unguarded = read_content(
        region.node, drop=drop, markdown_only=region.captions, links=links
    )
    return content


def _words(text: str) -> int:
    return count_words(text)


def _linked(content: Content, linked: Callable[[], Content] | bool) -> Content:
    """``content`` with the Markdown of ``linked()`` when links are asked for: the text always
    comes from the run without links, so that asking for links never changes the text (nor,
    so, the content hash of a snapshot)."""
    if not callable(linked):
        return content
    return Content(content.text, linked().markdown)


@lru_cache(maxsize=32)
def _cached_keys(lines: frozenset[str]) -> frozenset[str]:
    """boilerplate_keys for the frozensets a crawl passes page after page."""
    return boilerplate_keys(lines)


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


def _over_budget(
    started: float, timeout_seconds: float | None, share: float = BUDGET_SHARE_BEFORE_CONTENT
) -> bool:
    if timeout_seconds is None:
        return False
    return time.perf_counter() - started > timeout_seconds * share


_CHEAP_BLOCKS = "p, h2, h3, h4, li, blockquote, pre"


def _cheap_content(
    tree: LexborHTMLParser, drop: Callable[[str, str, str], bool], captions: frozenset[str]
) -> Content:
    """The text of the cleaned page's innermost blocks: the fallback when trafilatura is
    skipped (over the time budget, or a page too large for it)."""
    body = tree.body
    text_lines: list[str] = []
    markdown_lines: list[str] = []
    for node in body.css(_CHEAP_BLOCKS) if body is not None else []:
        if len(node.css(_CHEAP_BLOCKS)) > 1:  # lexbor's css() includes the node itself
            continue  # its inner blocks give the text
        text = " ".join(node.text(deep=True).split())
        key = norm_line(text)
        if not key or drop("p", text, key):
            continue
        markdown_lines.append(text)
        if key not in captions:
            text_lines.append(text)
    return Content("\n".join(text_lines), "\n\n".join(markdown_lines))


def _markdown(title: str | None, markdown: str) -> str:
    """The article's Markdown, opening with its title as a level-1 heading."""
    if not title:
        return markdown
    heading = "# " + " ".join(title.split())
    return f"{heading}\n\n{markdown}" if markdown else heading


def _article(
    url: str | None,
    meta: Metadata,
    content: Content,
    versions: dict[str, str],
    confidence: float,
    words: int,
) -> Article:
    """The Article of ``content`` (``words``: the words of its text)."""
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
        markdown=_markdown(meta.title, content.markdown) if found else "",
        found=found,
        confidence=round(confidence, 3) if found else 0.0,
        extractor=versions,
    )
