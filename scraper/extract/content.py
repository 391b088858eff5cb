"""Extract, step 2: the main content of the cleaned page, by trafilatura, as text and Markdown.

trafilatura runs once per page (fast mode, no comments, no metadata: the metadata comes from
our own parse) with formatting kept, and both the plain text and the Markdown are rendered
from that one result tree. Before rendering, blocks that are chrome for certain are dropped
from the tree: post-header lines ("3 min read", "1,204 views", a lone date or byline, share
labels), teaser lines ("Related: ...", "Don't miss"), copyright lines, the title and
standfirst when trafilatura kept them, and the site's learned boilerplate. Figure captions
stay in the Markdown and are left out of the text. Must not fetch, must not touch the
archive.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from lxml.etree import LxmlError, _Element, strip_tags

from scraper.extract.clean import norm_line

#: The leaf blocks of trafilatura's output tree: each becomes a line of text.
_LEAF_BLOCKS = ("p", "head", "item", "quote", "cell", "code")

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t|tember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*,?\s+)?"
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}\s+{_MONTH},?\s+\d{{4}}|"
    rf"\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[./]\d{{1,2}}[./]\d{{2,4}})"
    rf"(?:,?\s+(?:at\s+)?\d{{1,2}}[:.]\d{{2}}(?:\s*[ap]\.?m\.?)?(?:\s+[A-Z]{{2,4}})?)?"
)
#: Whole lines that are post-header or widget chrome on any site.
_CHROME_LINE_RE = re.compile(
    r"^(?:"
    r"\d{1,3}\s*(?:-\s*)?min(?:ute)?s?\.?\s*(?:read|reading)|"
    r"[\d.,]+\s*[kKmM]?\s*(?:views?|likes?|comments?|shares?|reads?)|"
    r"(?:top|bottom) of page|back to top|scroll to top|skip to (?:main )?content|"
    r"share(?: this)?(?: (?:post|article|story|page))?(?: on \w+)?|"
    r"(?:facebook|twitter|x \(twitter\)|linkedin|pinterest|whatsapp|reddit|email|print|"
    r"copy link|link copied|tweet|pin it)|"
    r"post not marked as liked|see all|log ?in|sign ?in|"
    r"(?:©|copyright\b|\(c\)\s).*|.*\ball rights reserved|"
    rf"(?:(?:published|updated|posted|last updated|modified)\s*(?:on|:)?\s*)?{_DATE}"
    r")\s*[.:|·•]?$",
    re.I,
)
#: Lines that point away from the article: "Related: ...", "READ MORE: ...", "Don't miss".
_TEASER_LINE_RE = re.compile(
    r"^(?:related(?: articles?| stories| posts| coverage)?|see (?:more|also)|"
    r"read (?:more|also|next)|also read|more (?:from|on|in) [^:]{1,40}|don'?t miss|"
    r"you (?:may|might) also like|"
    r"recommended(?: for you)?|most (?:read|popular)|watch|trending)\s*(?:[:|»]|\.\.\.|…|$)",
    re.I,
)
#: Post-header facts ("5 min read", a date, "1.2K views"), any number of them run together on
#: one line ("5 min read · Feb 11, 2024", or with no separator once the "·" was hidden).
_META_ATOM = (
    r"(?:\d{1,3}\s*(?:-\s*)?min(?:ute)?s?\.?\s*(?:read|reading)|"
    r"[\d.,]+\s*[kKmM]?\s*(?:views?|likes?|comments?|shares?|reads?)|"
    rf"(?:(?:published|updated|posted|last updated|modified)\s*(?:on|:)?\s*)?{_DATE})"
)
_META_LINE_RE = re.compile(rf"^{_META_ATOM}(?:\s*[·•|/,-]?\s*{_META_ATOM})+\s*[.:|·•]?$", re.I)
_BYLINE_RE = re.compile(
    r"^(?i:by|written by|posted by|words by|von|par|por)\s+"
    r"[A-Z][\w.'’-]*(?:\s+(?:(?i:and)\s+|&\s+|,\s*)?[A-Z][\w.'’-]*){0,4}\s*$"
)
_COUNT_RE = re.compile(r"^[\d.,]+\s*[kKmM]?$")
_SPACE_RE = re.compile(r"\s+")

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Content:
    """The main content of a page."""

    text: str
    markdown: str


@cache
def _options(fast: bool = True, links: bool = False, comments: bool = False) -> object:
    """trafilatura's options, built once each: formatting kept, no metadata; ``fast`` skips
    trafilatura's own fallback extractors, ``links`` keeps hyperlinks, ``comments`` adds
    what trafilatura takes for comments (a forum's replies)."""
    from trafilatura.settings import Extractor

    return Extractor(
        output_format="txt",  # "python" would render a text we do not use
        fast=fast,
        precision=False,
        recall=False,
        comments=comments,
        formatting=True,
        tables=True,
        images=False,
        links=links,
        with_metadata=False,
    )


#: Blocks longer than this are prose: no chrome, title, caption or boilerplate test applies.
MAX_TESTED_CHARS = 400


def main_content(
    html: str,
    *,
    drop: Callable[[str, str, str], bool],
    markdown_only: frozenset[str] = frozenset(),
    links: bool = False,
    fast: bool = True,
    comments: bool = False,
) -> Content:
    """Run trafilatura over the cleaned ``html`` and render text and Markdown.

    :param drop: says whether a block is chrome to remove, given its tag in trafilatura's
        tree, its text (spaces normalised) and its comparison key (:func:`norm_line`)
    :param markdown_only: keys of blocks that stay in the Markdown but not in the text
        (figure captions)
    :param links: keep hyperlinks in the Markdown (``[text](url)``; the URLs as in ``html``)
    :param fast: False lets trafilatura try its fallback extractors too (slower)
    :param comments: also keep what trafilatura takes for comments (a forum's replies)
    """
    from trafilatura import bare_extraction
    from trafilatura.utils import normalize_unicode
    from trafilatura.xml import xmltotxt

    try:
        options = _options(fast, links, comments)
        document = bare_extraction(html, options=options)  # type: ignore[arg-type]
        body = getattr(document, "body", None) if document is not None else None
        if body is None:
            return Content("", "")
        replies = getattr(document, "commentsbody", None) if comments else None
        if replies is not None:
            body.extend(list(replies))  # after the body, as trafilatura's own output has them
        kept_aside = _drop_blocks(body, drop, markdown_only)
        if links:  # a link with no target is its text; the text never has links
            _unlink(body, lambda ref: not ref.get("target"))
        markdown = normalize_unicode(xmltotxt(body, True)).strip()
        if links:
            _unlink(body, lambda ref: True)
        for element in kept_aside:
            parent = element.getparent()
            if parent is not None:
                _remove_keep_tail(element, parent)
        text = normalize_unicode(xmltotxt(body, False)).strip()
    except (
        ValueError,
        TypeError,
        LookupError,
        AttributeError,
        LxmlError,
        RecursionError,
        MemoryError,
    ) as exc:
        # trafilatura has no error contract of its own; these are what malformed trees raise
        LOG.debug("trafilatura failed: %s", exc)
        return Content("", "")
    return Content(text, markdown)


def _drop_blocks(
    body: _Element, drop: Callable[[str, str, str], bool], markdown_only: frozenset[str]
) -> list[_Element]:
    """Remove leaf blocks that ``drop`` calls chrome (and lists left empty); return the
    blocks that belong in the Markdown only."""
    doomed = []
    aside = []
    for element in body.iter(*_LEAF_BLOCKS):
        text = "".join(element.itertext())
        if not text:
            continue
        if element.tag != "cell" and is_marquee(text):
            doomed.append(element)
            continue
        if len(text) > MAX_TESTED_CHARS:
            if markdown_only and norm_line(text) in markdown_only:
                aside.append(element)
            continue
        text = _SPACE_RE.sub(" ", text).strip()
        key = norm_line(text)
        if not key:
            continue
        if drop(str(element.tag), text, key):
            doomed.append(element)
        elif key in markdown_only:
            aside.append(element)
    for element in doomed:
        parent = element.getparent()
        if parent is not None:
            _remove_keep_tail(element, parent)
            if (
                parent.tag in {"list", "row"}
                and len(parent) == 0
                and not (parent.text or "").strip()
            ):
                grand = parent.getparent()
                if grand is not None:
                    _remove_keep_tail(parent, grand)
    return aside


def _unlink(body: _Element, which: Callable[[_Element], bool]) -> None:
    """Replace the ``ref`` (link) elements that ``which`` picks by their content."""
    doomed = [ref for ref in body.iter("ref") if which(ref)]
    for ref in doomed:
        ref.tag = "_unlinked"
    if doomed:
        strip_tags(body, "_unlinked")


def _remove_keep_tail(element: _Element, parent: _Element) -> None:
    tail = element.tail
    if tail and tail.strip():
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(element)


#: A line that is one phrase of at most this many words said again and again, at least
#: MARQUEE_MIN_REPEATS times, is a marquee or ticker ("Book now * Book now * ..."), not text.
MARQUEE_MAX_WORDS = 4
MARQUEE_MIN_REPEATS = 5
_WORD_RE = re.compile(r"\w+")


def is_marquee(text: str) -> bool:
    """Whether ``text`` is one short phrase repeated (a scrolling banner's copies of it)."""
    head = text[:2]
    if len(text) < MARQUEE_MIN_REPEATS * 2 or text.count(head) < MARQUEE_MIN_REPEATS:
        return False  # cheap: a repeated phrase repeats its first characters
    words = _WORD_RE.findall(text.casefold())
    for period in range(1, MARQUEE_MAX_WORDS + 1):
        if len(words) < MARQUEE_MIN_REPEATS * period:
            break
        if all(words[i] == words[i + period] for i in range(len(words) - period)):
            return True
    return False


def is_chrome_line(tag: str, text: str) -> bool:
    """True for a line that is post-header or widget chrome (see the module docstring).

    A bare count ("1.2K", "14") is chrome as a paragraph or heading, not as a table cell or
    list item.
    """
    if len(text) > 120:
        return False
    if _CHROME_LINE_RE.match(text) or _BYLINE_RE.match(text) or _TEASER_LINE_RE.match(text):
        return True
    if _META_LINE_RE.match(text):
        return True
    return tag in {"p", "head"} and _COUNT_RE.match(text) is not None
