"""Admission: the one gate a fetch result passes before it may become a snapshot. Pure.

The archive promises that a page's history holds only versions of that page's article. The
crawl, ``scraper fetch`` and ``scraper reextract`` all ask :func:`decide` first and hand its
:class:`Decision` to the archive, which writes a snapshot only for an admitted one. The gate
refuses, with a reason that ends up in the ``fetches`` row:

- **alias**: the answer came from another URL (a redirect: a consent wall, a regional site, a
  parked domain, the home page) or the page names another as canonical. Never a version of the
  URL that was asked for; the caller may enqueue the target.
- **blocked**: a captcha or bot check, "access denied", a soft 404, a maintenance or paywall
  page answered 200, judged on the title, headings and extracted main text (not the size).
- **suspect**: a body cut short by a connection close, or a drastic change from the latest
  snapshot (most of the text gone, title and text replaced wholesale, confidence collapsed).
  Not stored on one fetch's word: a later fetch that gives the same content confirms it.
- **failed**: nothing that could be stored (no article).

It reads no clock, database or network: the caller passes what the archive knows (:class:`Known`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from itertools import islice
from typing import TYPE_CHECKING

from scraper.errors import UsageError
from scraper.fetch.blockpage import article_block_reason, html_title
from scraper.urls import normalise_url

if TYPE_CHECKING:
    from scraper.models import Article, FetchResult

#: a latest snapshot with fewer words than this is too short to judge a drastic change by
DRASTIC_MIN_WORDS = 50
#: "most of the text gone": the new text keeps less than this share of the old word count
DRASTIC_KEPT_SHARE = 0.4
#: "replaced wholesale": a new title and less than this share of the new words were there before
DRASTIC_OVERLAP_SHARE = 0.2
#: "confidence collapsed": from at least CONFIDENCE_FLOOR to less than this share of it
CONFIDENCE_FLOOR = 0.5
CONFIDENCE_KEPT_SHARE = 0.5
#: a suspect fetch is fetched again after this wait when the command goes on (a crawl, fetch)
CONFIRM_WAIT_SECONDS = 3.0
#: a refetch confirms a suspect when it gives the same content, or the same title and a word
#: count within this share of the suspect's (a rewritten page with a clock or counter in it)
CONFIRM_WORDS_SHARE = 0.05
#: how the reason of a suspect fetch carries the content it saw, for a later confirmation:
#: content hash, title hash, word count
_CONTENT_TAG = re.compile(r"\[content ([0-9a-f]{16} [0-9a-f]{8} \d+)\]")
_WORD = re.compile(r"\w+")
#: words this long carry the topic; shorter ones ("the", "und", "est") are shared by any texts
_TOPIC_WORD_CHARS = 5


class Verdict(StrEnum):
    """What the gate decided about one fetch result."""

    ADMIT = "admit"
    ALIAS = "alias"
    BLOCKED = "blocked"
    SUSPECT = "suspect"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Known:
    """What the archive knows of a page: its latest snapshot and an unconfirmed suspect fetch."""

    title: str | None = None
    text: str | None = None  #: the latest snapshot's text; None: the page has no snapshot
    confidence: float = 0.0  #: the latest snapshot's extraction confidence (0: not computed)
    #: the content hash tag of the newest suspect fetch since the latest snapshot
    suspect_content: str | None = None
    content_hash: str | None = None  #: the latest snapshot's ``Article.content_hash()``


NOTHING_KNOWN = Known()


@dataclass(frozen=True, slots=True)
class Decision:
    """The gate's verdict on one fetch result, with the reason a user reads in ``fetches``."""

    verdict: Verdict
    reason: str = ""
    target: str | None = None  #: an alias's target URL (normalised)
    #: a suspect's content fingerprint (see :func:`content_tag`), kept in its ``fetches`` row
    tag: str | None = None
    confirmable: bool = True  #: a suspect that the same content again would confirm

    @property
    def admitted(self) -> bool:
        return self.verdict is Verdict.ADMIT

    @property
    def error(self) -> str | None:
        """The ``fetches.error`` text of a refused result (``kind: reason``); None if admitted.

        The kinds: ``alias``, ``block_page`` (the same kind as fetch's BlockPageError) and
        ``suspect``.
        """
        if self.verdict in (Verdict.ADMIT, Verdict.FAILED):
            return None  # no article is stored as a fetch without a snapshot, no error
        kind = "block_page" if self.verdict is Verdict.BLOCKED else self.verdict.value
        if self.verdict is Verdict.SUSPECT:
            until = "until a refetch confirms it" if self.confirmable else "however often it comes"
            return f"suspect: {self.reason}; not stored {until} [content {self.tag}]"
        return f"{kind}: {self.reason}"


ADMIT = Decision(Verdict.ADMIT)


def content_tag(article: Article, content_hash: str | None = None) -> str:
    """The content fingerprint a suspect fetch records and a confirmation compares: the
    content hash (``content_hash`` when the caller has it), a hash of the title, the words."""
    title = hashlib.sha256((article.title or "").strip().lower().encode("utf-8")).hexdigest()
    content = content_hash or article.content_hash()
    return f"{content[:16]} {title[:8]} {_words(article.text)}"


def confirms(tag: str | None, now: str) -> bool:
    """Whether the content tagged ``now`` is what a suspect fetch tagged ``tag`` saw (near
    enough)."""
    if not tag:
        return False
    if now == tag:
        return True
    parts, now_parts = tag.split(" "), now.split(" ")
    if len(parts) != 3 or not parts[2].isdigit():
        return False
    if parts[0] == now_parts[0]:
        return True
    title, now_title = parts[1], now_parts[1]
    old_n, new_n = int(parts[2]), int(now_parts[2])
    return title == now_title and abs(new_n - old_n) <= CONFIRM_WORDS_SHARE * max(old_n, new_n)


def suspect_content(error: str | None) -> str | None:
    """The content tag recorded in a suspect fetch's error text, or None."""
    if not error or not error.startswith("suspect:"):
        return None
    match = _CONTENT_TAG.search(error)
    return match.group(1) if match else None


def decide(
    page_url: str,
    result: FetchResult | None,
    article: Article | None,
    known: Known = NOTHING_KNOWN,
    *,
    canonical: str | None = None,
    confirm: bool = True,
    html: str | None = None,
) -> Decision:
    """May this fetch result of ``page_url`` (normalised) become a snapshot of that page?

    :param result: the fetch (None for a re-extraction, whose capture was checked already)
    :param canonical: the page's canonical URL when the caller honours it (normalised, in scope)
    :param confirm: False for a re-extraction: the same bytes again, nothing to confirm by a
        refetch, so a drastic change of extraction is admitted (blocks and aliases are not)
    :param html: the page's HTML when there is no ``result`` (a re-extraction), for its title
    """
    if result is not None:
        target = _other_url(page_url, result.final_url)
        if target is not None:
            return Decision(Verdict.ALIAS, f"redirects to {target}", target)
    if canonical is not None and _other_url(page_url, canonical) is not None:
        return Decision(Verdict.ALIAS, f"canonical URL is {canonical}", canonical)
    if article is None or not article.found:
        return Decision(Verdict.FAILED, "no article found")
    page_html = result.text if result is not None else (html or "")
    titles = tuple(t for t in (html_title(page_html), article.title) if t)
    blocked = article_block_reason(
        titles, article.markdown, article.text, lambda: html_headings(page_html)
    )
    if blocked is not None:
        return Decision(Verdict.BLOCKED, f"not the page but a block page ({blocked})")
    if not confirm:
        return ADMIT  # a re-extraction: the same bytes again, nothing to confirm by a refetch
    content_hash = article.content_hash()
    if content_hash == known.content_hash:
        return ADMIT  # the same article: nothing changes
    cut = truncated_reason(result) if result is not None else None
    drastic = drastic_change(known, article)
    if cut is None and drastic is None:
        return ADMIT
    tag = content_tag(article, content_hash)
    if cut is not None and drastic is not None:
        # a cut body that loses most of the article: however often it comes back, not a version
        return Decision(Verdict.SUSPECT, f"{cut}, and {drastic}", tag=tag, confirmable=False)
    why = cut or drastic or ""
    if confirms(known.suspect_content, tag):
        return Decision(Verdict.ADMIT, f"confirmed by a second fetch: {why}")
    return Decision(Verdict.SUSPECT, why, tag=tag)


def _words(text: str) -> int:
    return len(text.split())


#: the page's own headings: outside these, headings are the site's chrome
_CHROME = "nav, header, footer, aside, script, style, noscript, template, [hidden]"
_MAX_HEADINGS = 12


def html_headings(page_html: str) -> tuple[str, ...]:
    """The first ``<h1>``-``<h3>`` headings of the page outside nav/header/footer/aside (a
    paywall's "Subscribe to continue reading" is a heading the extractor drops). Parsed the way
    extraction parses, nesting bounded, so a hostile page costs what it costs extraction."""
    # here, not at the top: a crawl of unchanged pages never comes here, and importing the
    # extraction stack would cost its process about 30 ms of start-up
    from scraper.extract.clean import decode, parse

    tree = parse(decode(page_html))
    if tree is None:
        return ()
    for node in tree.css(_CHROME):
        node.decompose()
    found = (" ".join(n.text(separator=" ").split()) for n in tree.css("h1, h2, h3"))
    return tuple(h for h in islice(found, _MAX_HEADINGS) if h)


def _other_url(page_url: str, url: str) -> str | None:
    """``url`` normalised when it is another page than ``page_url``, else None."""
    try:
        other = normalise_url(url)
    except UsageError:
        return url
    try:
        same = normalise_url(page_url) == other
    except UsageError:
        same = page_url == other
    return None if same else other


def truncated_reason(result: FetchResult) -> str | None:
    """Why the body looks cut short: HTML that opened ``<body>`` and never closed it, on a
    response whose end was the connection closing (no Content-Length, not chunked: HTTP/1)."""
    if result.not_modified or "html" not in (result.content_type or "text/html"):
        return None
    if not result.http_version.upper().startswith("HTTP/1"):
        return None  # HTTP/2 and 3 frame their bodies: a cut is an error, not an end
    if result.header("content-length") is not None:
        return None
    if "chunked" in (result.header("transfer-encoding") or "").lower():
        return None
    lower = result.text.lower()
    if "<body" not in lower or "</body" in lower or "</html" in lower:
        return None
    return (
        f"body cut short ({len(result.body)} bytes ending inside <body>, "
        "connection closed without a Content-Length)"
    )


def _topic_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if len(w) >= _TOPIC_WORD_CHARS}


def drastic_change(known: Known, article: Article) -> str | None:
    """Why ``article`` is a drastic change from the page's latest snapshot, or None."""
    if known.text is None:
        return None
    old_n, new_n = _words(known.text), _words(article.text)
    if old_n >= DRASTIC_MIN_WORDS and new_n < DRASTIC_KEPT_SHARE * old_n:
        return f"most of the text gone ({new_n} of {old_n} words left)"
    if (
        old_n >= DRASTIC_MIN_WORDS
        and known.title
        and article.title
        and known.title.strip().lower() != article.title.strip().lower()
    ):
        # only a new title makes the words worth comparing
        before = _topic_words(known.text)
        distinct = _topic_words(article.text)
        kept = sum(1 for w in distinct if w in before) / max(1, len(distinct))
        if kept < DRASTIC_OVERLAP_SHARE:
            return (
                f"title and text replaced wholesale ({known.title[:60]!r} -> "
                f"{article.title[:60]!r}, {kept:.0%} of the words were there before)"
            )
    # confidence: 0 means "not computed", so only two real values are compared
    old, new = known.confidence, article.confidence
    if old >= CONFIDENCE_FLOOR and 0 < new < old * CONFIDENCE_KEPT_SHARE:
        return f"extraction confidence collapsed ({old:.2f} -> {new:.2f})"
    return None
