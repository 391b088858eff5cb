"""Fetch, block pages: is a 200 answer a captcha, bot check or "access denied" page? Pure.

A block page must never replace a good snapshot, so fetch raises BlockPageError for one. The test
is conservative: an article that talks about captchas is an article.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from itertools import islice

_BLOCK_TITLE = re.compile(
    r"^\s*(access denied|attention required!?|just a moment\.*|please wait\.*|one more step"
    r"|security check|are you a robot\??|robot or human\??|verify you are (?:a )?human"
    r"|human verification|captcha|bot check|pardon our interruption|request blocked"
    r"|you have been blocked|access to this page has been denied\.?|ddos-guard"
    r"|checking your browser\.*|403 forbidden|forbidden)"
    r"(\s*[|:\-\u2013\u2014].*)?\s*$",
    re.I,
)
# vendor challenge pages: these strings appear on the challenge itself, not on normal pages
_BLOCK_VENDOR = (
    "cf_chl_opt",
    "cf-browser-verification",
    "/cdn-cgi/challenge-platform/",
    "captcha-delivery.com",
    "_incapsula_resource",
    "px-captcha",
    "sec-if-cpt-container",
)
_BLOCK_PHRASES = (
    "verify you are human",
    "verify that you are human",
    "are you a robot",
    "not a robot",
    "checking your browser",
    "enable javascript and cookies to continue",
    "access denied",
    "you don't have permission to access",
    "you do not have permission to access",
    "request unsuccessful",
    "incapsula incident",
    "complete the security check",
    "unusual traffic",
    "why have i been blocked",
    "captcha",
    "ray id",
    "reference #",
)
_INVISIBLE_OPEN = re.compile(r"<(script|style|noscript|template)\b", re.I)
_TAG = re.compile(r"<[^<>]*>")  # never past the next "<": linear on "<a <a <a ..."
#: a page with more visible text than this is never taken for a block page
BLOCK_PAGE_MAX_TEXT_CHARS = 2000
_BLOCK_PAGE_MAX_CHARS = 256 * 1024
#: the first prefix of a page whose visible text is measured (then 4x as long, and so on)
_PREFIX_CHARS = 8192


def _strip_invisible(text: str) -> str:
    """``text`` without its script, style, noscript and template elements, in one pass (an
    unclosed one runs to the end, as in a browser; no regex backtracking over many of them)."""
    lower = text.lower()
    kept: list[str] = []
    at = 0
    while (match := _INVISIBLE_OPEN.search(text, at)) is not None:
        kept.append(text[at : match.start()])
        end = lower.find(f"</{match.group(1).lower()}", match.end())
        if end < 0:
            return " ".join(kept)
        close = lower.find(">", end)
        at = len(text) if close < 0 else close + 1
        kept.append(" ")
    kept.append(text[at:])
    return "".join(kept)


def _longer_than(text: str, limit: int) -> bool:
    """Whether ``" ".join(text.split())`` is longer than ``limit``, reading only as far as it
    takes: the words of a prefix are those of the whole up to it (the last one maybe cut), so
    a prefix that is too long already tells (an article's text is not split whole)."""
    size = limit + 1
    while True:
        if len(" ".join(text[:size].split())) > limit:
            return True
        if size >= len(text):
            return False
        size *= 4


def _visible(text: str) -> str:
    """The visible text of the HTML ``text``: no tags, scripts or styles; entities unescaped."""
    return html.unescape(_TAG.sub(" ", _strip_invisible(text)))


def _has_long_text(text: str) -> bool:
    """Whether the page's visible text is longer than BLOCK_PAGE_MAX_TEXT_CHARS, read from as
    short a prefix of the HTML as tells (an article's 50 KB is not stripped whole).

    A prefix cut just before a ``<`` is tokenised as the whole page is up to there (a tag
    ends before the next ``<``), and an element left open in it hides the rest, so its visible
    text is the start of the page's: when that is too long already, so is the page's."""
    size = _PREFIX_CHARS
    while size < len(text):
        cut = text.rfind("<", 0, size)
        if cut > 0 and _longer_than(_visible(text[:cut]), BLOCK_PAGE_MAX_TEXT_CHARS):
            return True
        size *= 4
    return _longer_than(_visible(text), BLOCK_PAGE_MAX_TEXT_CHARS)


def block_page_reason(text: str) -> str | None:
    """Why the HTML ``text`` looks like a captcha, bot check or "access denied" page, or None.

    Conservative on purpose: only a page with little visible text (an article has more) and a
    tell-tale title, a bot-vendor challenge marker, or two block phrases counts.
    """
    if len(text) > _BLOCK_PAGE_MAX_CHARS or _has_long_text(text):
        return None  # an article: most pages stop here
    visible = " ".join(_visible(text).split())
    title = html_title(text)
    if title and _BLOCK_TITLE.match(title):
        return f"title {title[:80]!r}"
    lower = text.lower()
    for marker in _BLOCK_VENDOR:
        if marker in lower:
            return f"bot-check marker {marker!r}"
    found = [p for p in _BLOCK_PHRASES if p in visible.lower()]
    if len(found) >= 2:
        return f"{found[0]!r} and {found[1]!r} on a near-empty page"
    return None


# --- block pages of any size: what is left once the site's chrome is stripped ----------------
# The HTML test above is cheap and runs while fetching, but only on near-empty pages. A block
# page inside the site's own template (nav, footer, a 300 KB challenge script) passes it; the
# admission gate (scraper/admission.py) then looks at the title, the headings and the extracted
# main text instead, which hold only the block page's own few words whatever the page weighs.

#: a title or heading that is, in full (or as one " - "/" | " part), one of these names a block
#: page; several languages, no site names
_BLOCK_NAMES = re.compile(
    r"^(?:access denied|access to this page has been denied|attention required|just a moment"
    r"|please wait|one more step|security check|security verification|are you a robot"
    r"|robot or human|verify you are (?:a )?human|human verification|captcha|bot check"
    r"|pardon our interruption|request blocked|you have been blocked|checking your browser"
    r"|(?:error )?40[34](?: error)?(?: page)?|(?:40[34] )?forbidden|(?:404 )?(?:page )?not found"
    r"|(?:error )?404(?: not found)?|page (?:could not be|cannot be|can ?not be) found"
    r"|this page (?:does not|doesn't) exist|oops|nothing (?:was )?found|file not found"
    r"|under maintenance|down for maintenance|maintenance(?: mode| in progress)?"
    r"|(?:we'll|we will) be (?:right )?back(?: soon)?|site (?:is )?(?:temporarily )?unavailable"
    r"|service (?:temporarily )?unavailable|temporarily unavailable"
    r"|subscribe to (?:continue|read)(?: reading)?|subscribers only|subscriber exclusive"
    r"|this (?:article|content|story) is for subscribers(?: only)?|sign in to (?:continue|read)"
    r"|before you continue|cookie consent|consent required"
    # parked, expired or suspended sites and bare server pages
    r"|(?:this )?domain (?:name )?(?:is |may be )?for sale|buy this domain|(?:domain )?parked"
    r"|parked domain|account suspended|this account has been suspended|website expired"
    r"|domain expired|this site can't be reached|welcome to nginx|it works"
    r"|apache2? (?:ubuntu |debian )?default page|test page for (?:the )?(?:apache|nginx).*"
    # German, French, Spanish, Italian, Portuguese, Dutch
    r"|zugriff verweigert|sicherheitsüberprüfung|seite nicht gefunden|wartungsarbeiten"
    r"|accès refusé|acces refuse|page (?:introuvable|non trouvée)|vérification de sécurité"
    r"|en maintenance|acceso denegado|página no encontrada|pagina no encontrada"
    r"|en mantenimiento|accesso negato|pagina non trovata|in manutenzione|acesso negado"
    r"|página não encontrada|em manutenção|toegang geweigerd|pagina niet gevonden"
    r"|in onderhoud)[.!?…]*$",
    re.I,
)
#: sentences of a block page's body: the page says it is not the page
_BLOCK_SENTENCES = (
    "checking your browser",
    "checking if the site connection is secure",
    "verify you are human",
    "verify that you are human",
    "enable javascript and cookies to continue",
    "you don't have permission to access",
    "you do not have permission to access",
    "your access to this site has been",
    "access to this page has been denied",
    "the page you are looking for",
    "the page you requested",
    "the page you were looking for",
    "this page could not be found",
    "this page does not exist",
    "page not found",
    "404 not found",
    "error 404",
    "down for maintenance",
    "undergoing maintenance",
    "scheduled maintenance",
    "we'll be back soon",
    "subscribe to continue reading",
    "subscribe to read the full",
    "to continue reading, subscribe",
    "this article is for subscribers",
    "this content is for subscribers",
    "already a subscriber? sign in",
    "access denied",
    "zugriff verweigert",
    "seite wurde nicht gefunden",
    "accès refusé",
    "la page que vous recherchez",
    "la página que buscas",
    "la pagina che stai cercando",
    "a página que você procura",
    "de pagina die u zoekt",
    "this domain is for sale",
    "this domain may be for sale",
    "buy this domain",
    "this account has been suspended",
)
#: a main text longer than this is an article, whatever its title says: block pages say little
BLOCK_PAGE_MAX_WORDS = 150
#: ... and block sentences without a block title or heading count only in a main text this short
BLOCK_SENTENCE_MAX_WORDS = 40
_SEPARATORS = re.compile(r"\s+[|:\-\u2013\u2014\u00b7/]\s+|\s*[|\u2013\u2014\u00b7]\s*")


def _names_a_block_page(line: str) -> bool:
    """Whether a title or heading, whole or one of its " - " / " | " parts, is a block name."""
    line = " ".join(line.split())
    if not line:
        return False
    parts = [line, *(p.strip() for p in _SEPARATORS.split(line))]
    return any(p and _BLOCK_NAMES.match(p.strip(" .!")) for p in parts)


#: a ``<title>`` is looked for in this many first characters (it belongs in the head)
_TITLE_SCAN_CHARS = 256 * 1024
_TITLE_MAX_CHARS = 2000
_TITLE_OPEN = re.compile("<title", re.I)
_TITLE_CLOSE = re.compile("</title", re.I)


def html_title(text: str) -> str:
    """The text of the HTML ``<title>`` (the first one), unescaped, or "".

    Plain searches, so a page of many unclosed ``<title`` tags costs one pass; no lowered copy
    of the page (its offsets could differ from the page's: some characters lower to two)."""
    head = text[:_TITLE_SCAN_CHARS]
    found = _TITLE_OPEN.search(head)
    if found is None:
        return ""
    opened = head.find(">", found.start())
    closed = _TITLE_CLOSE.search(head, max(opened, 0))
    if opened < 0 or closed is None:
        return ""
    end = closed.start()
    title = text[opened + 1 : min(end, opened + 1 + _TITLE_MAX_CHARS)]
    return " ".join(html.unescape(_TAG.sub("", title)).split())


#: a line of fewer words is a menu item or a label, not prose (chrome that extraction kept)
_PROSE_LINE_MIN_WORDS = 5


def _prose_words(text: str) -> int:
    """The words of ``text``'s prose lines, counted up to just past BLOCK_PAGE_MAX_WORDS (an
    article's long text is not split whole). Lines of a few words (a menu, labels that a
    fallback extraction kept from the template) do not make a block page an article."""
    words = 0
    for line in text.splitlines():
        count = len(line.split(None, BLOCK_PAGE_MAX_WORDS + 1))
        if count >= _PROSE_LINE_MIN_WORDS:
            words += count
            if words > BLOCK_PAGE_MAX_WORDS:
                break
    return words


def article_block_reason(
    titles: tuple[str, ...],
    markdown: str,
    text: str,
    page_headings: Callable[[], Sequence[str]] = tuple,
) -> str | None:
    """Why a page whose extracted main text is ``text`` is a block page, or None.

    ``titles`` are the page's titles (HTML ``<title>``, the article's title), ``markdown`` the
    extracted article as Markdown (for its headings) and ``page_headings`` gives the page's own
    headings (asked only for a short main text: it parses the page).
    Size-independent: the chrome is gone by now, so only the main text counts, and a main text
    of more than ``BLOCK_PAGE_MAX_WORDS`` words is an article (one that merely mentions
    "access denied" or "404" stays one).
    """
    words = _prose_words(text)
    if words > BLOCK_PAGE_MAX_WORDS:
        return None
    for title in titles:
        if _names_a_block_page(title):
            return f"title {title[:80]!r}"
    headings = [
        line.lstrip("#").strip(" #")[:_TITLE_MAX_CHARS]
        for line in islice(markdown.splitlines(), 200)
        if line.startswith("#")
    ][:3]
    headings.extend(page_headings())
    first_line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    for heading in (*headings, first_line):
        if _names_a_block_page(heading):
            return f"heading {heading[:80]!r}"
    if words > BLOCK_SENTENCE_MAX_WORDS:
        return None  # a news brief that quotes "access denied" or "404 not found" is news
    lower = " ".join(text.lower().replace("\u2019", "'").split())
    found = [s for s in _BLOCK_SENTENCES if s in lower]
    if found:
        return f"{' and '.join(repr(s) for s in found[:2])} in a {words}-word main text"
    return None
