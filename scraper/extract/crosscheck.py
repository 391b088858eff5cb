"""Extract, step 3: never stake a page on one guess: cross-check the region's text against the
page as a whole, fall back when they disagree, and say how sure the result is.

The direct path (a container chosen by :func:`clean.main_region`, its own blocks read by
:mod:`blocks`, no trafilatura) is wrong on some pages: the container was a sidebar, a menu, a
post-header line or a cookie notice, or cleaning cut the article. Before chrome is cut,
:func:`whole_page` notes what the whole page holds: its link texts and its longest paragraphs;
once chrome is cut, the caller measures the text outside links that is left
(:func:`free_chars`). The region's text is *doubtful* (:func:`cross_check`) when it has few
words (under 20), when it reads hardly like prose (mostly link texts or short lines), when it
is under 35% of the cleaned page's text outside links, when it holds under half of the page's
paragraphs (:func:`held_prose`: measured before chrome was cut, less what the direct path left
out on purpose, so that a class word that cut the article's wrapper shows), or when its
confidence (below) is under 0.6. Only for a doubtful text is the second candidate computed:
trafilatura (fast mode, with comments: a forum's replies) on the whole page: the decoded
source, bounded as every input is, not the cleaned tree, so that no cleaning rule can have
removed the article there; when the region was a container, the blocks of the whole cleaned
page compete too. :func:`choose` keeps the second candidate when the region's text has fewer
than 70% of its words (unless what it adds repeats the region's own words: copies the page
hides) or reads clearly less like prose. When both candidates miss the page's longest
paragraphs (:func:`misses_prose`), the caller reads a third: the page's blocks with only
never-content and the page's landmarks cut. No rule names a site or a string of one site: they
are about lengths, shares and agreement, tuned on one half of the benchmark pages and checked
on the other, every page type of both sets.

**Confidence** (``Article.confidence``, in [0, 1], 0 for no article) says how sure the
extractor is that the text is the page's main content. It is a product of factors, each 1
for a clean article:

- evidence: when the region's text was not doubtful, 0.4 to 1 by the share of the page's
  longest paragraphs it holds times its length (full from 150 words); when both candidates
  were computed, 0.2 to 1 by how much they agree (the word-bag F1 of one against the
  other: two methods that found different things make a low score), times 0.5 to 1 by
  length;
- prose: 0.4 to 1 by how much the text reads like prose: the share of its characters
  outside lines that are a link's text, and in lines of 12 words or more (a menu, a list
  of teasers or of labels scores low);
- the cheap path (over the time budget, or a page too large for trafilatura): 0.3 at most.

A page whose confidence is below 0.5 is one to look at: its text may be chrome. Must not
fetch, must not touch the archive, must not parse the page again (trafilatura parses the
second candidate's HTML itself, and only on doubtful pages).
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass

from selectolax.lexbor import LexborHTMLParser, LexborNode

from scraper.extract.clean import count_words, norm_line, squash_spaces
from scraper.extract.content import Content

_WORD_RE = re.compile(r"\w+")
#: Paragraphs this long are prose; the page's longest ones are what an article must hold.
PROSE_MIN_CHARS = 150
#: Paragraphs this long count for the share of the page's prose a text holds.
HELD_MIN_CHARS = 80
#: How many of the page's longest paragraphs are checked.
PROSE_CHECKED = 5
#: The region's text is doubtful below these: words; share of the page's text outside links;
#: how much it reads as prose (see :func:`_prose_quality`).
DOUBT_MIN_WORDS = 20
DOUBT_PAGE_SHARE = 0.35
DOUBT_PROSE_QUALITY = 0.4
#: ... and when it holds less than this share of all the page's long paragraphs.
DOUBT_HELD_PROSE = 0.5
#: ... and below this confidence (short, or missing the page's longest paragraphs).
DOUBT_CONFIDENCE = 0.6
#: The second candidate is kept when the region's text has fewer words than this share of it.
FALLBACK_WORDS_SHARE = 0.7
#: ... or when its prose quality is higher by this margin and it has at least this share of
#: the region's words.
FALLBACK_PROSE_MARGIN = 0.4
#: What the second candidate adds is a repeat of the region's text when less than this share
#: of its words are new.
REPEAT_NOVELTY = 0.2
FALLBACK_MIN_WORDS_SHARE = 0.25
#: ... a share waived when the region's text reads hardly at all as prose (links, labels).
POOR_PROSE_QUALITY = 0.3
#: Texts this long (words) are long enough for full confidence.
CONFIDENT_WORDS = 150
#: Lines this long (words) are prose; a text with this share of its characters in them reads
#: as prose.
PROSE_LINE_WORDS = 12
PROSE_LINE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Whole:
    """What the whole page holds, noted before chrome is cut."""

    #: the page as trafilatura gets it for the second candidate
    html: str
    #: characters of visible text outside links (the caller narrows it to what cleaning left)
    free_chars: int
    #: comparison keys of the page's longest paragraphs, longest first
    prose: tuple[str, ...]
    #: comparison keys of the page's link texts
    link_keys: frozenset[str] = frozenset()
    #: the cleaned page with absolute links, for the Markdown when links are kept
    linked_html: str = ""
    #: comparison keys of all the page's paragraphs of HELD_MIN_CHARS or more
    all_prose: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the cross-check says of the region's text."""

    doubtful: bool
    confidence: float
    #: the words of the text checked (``\w+`` runs), counted on the way
    words: int = 0


def free_chars(node: LexborNode) -> int:
    """Characters of ``node``'s visible text outside links, spaces counted once."""
    text_chars = len(squash_spaces(node.text(deep=True)))
    link_chars = sum(len(squash_spaces(a.text(deep=True))) for a in node.css("a"))
    return max(0, text_chars - link_chars)


def whole_page(tree: LexborHTMLParser, source: str, *, linked: bool = False) -> Whole:
    """Note what ``tree`` (parsed from ``source``, never-content dropped) holds as a whole.

    :param linked: also keep the tree's HTML (its links made absolute) for linked Markdown
    """
    body = tree.body
    if body is None:
        return Whole(source, 0, ())
    text_chars = len(body.text(deep=True))
    link_texts = [a.text(deep=True) for a in body.css("a")]
    link_chars = sum(len(t) for t in link_texts)
    link_keys = frozenset(k for t in link_texts if (k := norm_line(t)))
    paragraphs = [p.text(deep=True) for p in body.css("p")]
    long_ones = sorted((p for p in paragraphs if len(p) >= PROSE_MIN_CHARS), key=len, reverse=True)
    prose = tuple(k for p in long_ones[:PROSE_CHECKED] if (k := norm_line(p)))
    all_prose = tuple(k for p in paragraphs if len(p) >= HELD_MIN_CHARS and (k := norm_line(p)))
    linked_html = f"<html>{body.html or ''}</html>" if linked else ""
    return Whole(source, max(0, text_chars - link_chars), prose, link_keys, linked_html, all_prose)


def _prose_share(
    text: str, whole: Whole, key: str | None = None, lines: Collection[str] = ()
) -> float:
    """The share of the page's longest paragraphs (by characters) that ``text`` holds
    (``key``: ``norm_line(text)`` when the caller has it; ``lines``: the keys of its lines,
    whose members are in ``key`` and found without a search through it)."""
    if not whole.prose:
        return 1.0
    if key is None:
        key = norm_line(text)
    total = sum(len(p) for p in whole.prose)
    return sum(len(p) for p in whole.prose if p in lines or p in key) / total


#: A text misses the page's prose when it holds less than this share of its longest paragraphs.
MISSED_PROSE_SHARE = 0.5


def without_prose(whole: Whole, keys: Collection[str]) -> Whole:
    """``whole`` without the paragraphs of ``keys`` in its share of the page's prose (chrome
    the direct path left out on purpose: a comment thread, a footer of testimonials)."""
    if not keys:
        return whole
    return dataclasses.replace(whole, all_prose=tuple(k for k in whole.all_prose if k not in keys))


def held_prose(
    text: str, whole: Whole, key: str | None = None, lines: Collection[str] = ()
) -> float:
    """The share of all the page's long paragraphs (by characters, measured before chrome
    was cut) that ``text`` holds: a class word that named the article's wrapper as chrome
    leaves the direct text with the page's notices and little of its prose (``key`` and
    ``lines`` as for :func:`_prose_share`)."""
    if not whole.all_prose:
        return 1.0
    if key is None:
        key = norm_line(text)
    total = sum(len(p) for p in whole.all_prose)
    return sum(len(p) for p in whole.all_prose if p in lines or p in key) / total


def misses_prose(text: str, whole: Whole) -> bool:
    """Whether ``text`` leaves out most of the page's longest paragraphs."""
    return _prose_share(text, whole) < MISSED_PROSE_SHARE


def _length_factor(words: int) -> float:
    return min(1.0, words / CONFIDENT_WORDS)


def _prose_quality(text: str, whole: Whole) -> float:
    """How much ``text`` reads like prose, in [0, 1]: the share of its characters in lines
    that are not a link's text, and in lines of PROSE_LINE_WORDS words or more (a menu, a
    list of teasers or of labels is neither)."""
    lines = text.splitlines()
    return _quality(lines, [norm_line(line) for line in lines], whole.link_keys)


def line_keys(text: str) -> tuple[list[str], list[str], str]:
    """The lines of ``text``, their keys and the key of the whole text, each line normalised
    once: a line break is never inside a word (every character ``str.splitlines`` breaks at
    is ``\\W``), so the keys of the lines joined are ``norm_line(text)``."""
    lines = text.splitlines()
    keys = [norm_line(line) for line in lines]
    return lines, keys, " ".join(k for k in keys if k)


def _quality(lines: list[str], keys: list[str], link_keys: frozenset[str]) -> float:
    """:func:`_prose_quality` of the text of ``lines``, whose keys are ``keys``."""
    total = linked = long = 0
    for line, key in zip(lines, keys, strict=True):
        size = len(line)
        total += size
        if key in link_keys:
            linked += size
        elif len(line.split(None, PROSE_LINE_WORDS - 1)) >= PROSE_LINE_WORDS:
            # split no further than the words needed: a long line is not split whole
            long += size
    if not total:
        return 0.0
    return (1 - linked / total) * min(1.0, long / total / PROSE_LINE_SHARE)


def cross_check(text: str, whole: Whole) -> Verdict:
    """Whether the region's ``text`` is doubtful against the whole page, and how sure it is
    when it is not."""
    lines, keys, key = line_keys(text)
    words = key.count(" ") + 1 if key else 0  # casefold makes no space: the key's words
    # a paragraph that is a line of the text is in its key: a set lookup, not a search
    known = frozenset(keys)
    prose = _prose_share(text, whole, key, known)
    quality = _quality(lines, keys, whole.link_keys)
    poor = words < DOUBT_MIN_WORDS or quality < DOUBT_PROSE_QUALITY
    small = (
        len(text) < DOUBT_PAGE_SHARE * whole.free_chars
        or held_prose(text, whole, key, known) < DOUBT_HELD_PROSE
    )
    confidence = (0.4 + 0.6 * prose * _length_factor(words)) * (0.4 + 0.6 * quality)
    doubtful = poor or small or confidence < DOUBT_CONFIDENCE
    return Verdict(doubtful, confidence, words)


def agreement(first: str, second: str) -> float:
    """The word-bag F1 of two texts (lower-cased ``\\w+`` multisets; both empty: 1)."""
    a = Counter(_WORD_RE.findall(first.lower()))
    b = Counter(_WORD_RE.findall(second.lower()))
    if not a and not b:
        return 1.0
    common = sum((a & b).values())
    if not common:
        return 0.0
    return 2 * common / (sum(a.values()) + sum(b.values()))


def _repeats(primary: str, alternative: str) -> bool:
    """Whether what ``alternative`` has beyond ``primary`` is mostly ``primary``'s own words
    again: copies of the article that the page hides (trafilatura reads the source, where an
    inline style does not hide them), not an article that the region missed."""
    mine = Counter(_WORD_RE.findall(primary.lower()))
    extra = Counter(_WORD_RE.findall(alternative.lower())) - mine
    if not extra:
        return True
    new = sum(n for word, n in extra.items() if word not in mine)
    return new < REPEAT_NOVELTY * sum(extra.values())


def choose(primary: Content, alternative: Content, whole: Whole) -> tuple[Content, float]:
    """The region's content or the whole page's, and the confidence in the one kept."""
    words = count_words(primary.text)
    other = count_words(alternative.text)
    primary_quality = _prose_quality(primary.text, whole)
    other_quality = _prose_quality(alternative.text, whole)
    better_prose = other_quality >= primary_quality + FALLBACK_PROSE_MARGIN and (
        other >= FALLBACK_MIN_WORDS_SHARE * words
        or (primary_quality < POOR_PROSE_QUALITY and other >= DOUBT_MIN_WORDS)
    )
    longer = words < FALLBACK_WORDS_SHARE * other and not _repeats(primary.text, alternative.text)
    kept = alternative if longer or better_prose else primary
    kept_words = other if kept is alternative else words
    agreed = agreement(primary.text, alternative.text)
    quality = other_quality if kept is alternative else primary_quality
    confidence = (
        (0.2 + 0.8 * agreed) * (0.5 + 0.5 * _length_factor(kept_words)) * (0.4 + 0.6 * quality)
    )
    return kept, confidence


def cheap_confidence(text: str, whole: Whole) -> float:
    """The confidence in the cheap path's text (block text with no extractor behind it)."""
    words = count_words(text)
    quality = _prose_quality(text, whole)
    return 0.3 * _prose_share(text, whole) * _length_factor(words) * quality
