"""Extract, step 1: decode and parse the page once (selectolax/lexbor) and cut away chrome.

What is removed here is chrome for certain: scripts, styles, hidden subtrees, navigation,
banner/contentinfo landmarks, page headers and footers, share and social widgets, cookie
banners, newsletter boxes, comment threads, "Recent Posts"/related lists, scroll anchors
("top of page"), post-header blocks (byline, date, reading time, counters), standfirsts,
paragraphs that are only a link to another story, and the site's own ``strip`` selectors.
Every rule that matches a wide container is guarded: a subtree that holds a large share of
the page's text is never dropped, so a mislabelled wrapper cannot eat the article. Then the
smallest article-like container holding most of the paragraph text is the region (narrowed
to an ``article`` or ``main`` inside it that holds half of that text, when it leaves out
several other parts: :func:`_semantic_within`). Inputs whose tag count or tag length would
make any HTML5 parser slow are defused first, in one linear pass. This module must not
fetch, must not touch the archive and must not parse the same HTML twice.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

#: Pages are cut to this many characters before parsing: bounds time and memory. A longer
#: page loses its scripts, styles and inline SVG first (:func:`_drop_raw_text`).
MAX_HTML_CHARS = 3_000_000
#: Deeper subtrees are dropped: lxml and trafilatura recurse, and no article nests this deep.
MAX_DEPTH = 180

#: Subtrees that are never content.
_ALWAYS_DROP = (
    "script, style, noscript, template, svg, canvas, iframe, object, embed, link, meta, "
    "button, input, select, textarea, option, dialog, nav, "
    "[role=navigation], [role=banner], [role=contentinfo], "
    "[role=search], [role=dialog], [role=alertdialog], [role=menu], [role=menubar], "
    "[role=toolbar], [role=complementary], [aria-modal=true], "
    "[aria-label='top of page' i], [aria-label='bottom of page' i]"
)
#: Subtrees hidden by the ``hidden`` or ``aria-hidden`` attribute: dropped unless they hold
#: prose (:func:`_collapsed_prose`). A subtree hidden by its inline style only is dropped
#: unless it is a longer passage of prose found nowhere else on the page (pages hide
#: duplicate copies of their text that way, and dialogs: see STYLE_HIDDEN_PROSE_CHARS).
_HIDING = "[hidden], [aria-hidden='true' i]"
#: A tab list is a row of tab labels, or an accordion that holds its panels too: dropped
#: unless it holds prose (:func:`_collapsed_prose`), like a hidden subtree.
_TABLIST = "[role=tablist]"
#: A hidden subtree with this many characters of text outside links, and links making less
#: than half its text, is collapsed content (a tab, an accordion, a "read more"), not chrome.
HIDDEN_PROSE_CHARS = 500
#: Characters of hidden text that may be read for that test per page (see _collapsed_prose).
HIDDEN_TEXT_BUDGET = 2 * MAX_HTML_CHARS
#: Inline styles that hide: lexbor narrows the candidates, the pattern confirms.
_HIDDEN_STYLE = "[style*='none' i], [style*='hidden' i]"
_STYLE_HIDDEN_RE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)

#: Class/id/data-hook words naming chrome, matched as whole words of the attribute value
#: (words end at spaces, "-" and "_"), so "share" matches "post-share-bar" and "sharedaddy"
#: does not. One compiled pattern: this runs on every element with a class or id.
_CHROME_WORDS = (
    "share|sharing|shares|sharebar|sharetools|social|socialbar|"
    "cookie|cookies|consent|gdpr|newsletter|newsletters|subscribe|subscription|signup|"
    "related|recommended|recommendations|recirc|recirculation|popular|trending|mostread|"
    "most-read|more-stories|read-next|readnext|up-next|outbrain|taboola|"
    "comments|comment-form|comment-list|respond|disqus|"
    "breadcrumb|breadcrumbs|pagination|pager|skip-link|skiplink|scroll-to-top|back-to-top|"
    "sidebar|widget|widgets|advert|advertisement|ads|ad-slot|adslot|sponsored|promo|"
    "modal|popup|overlay|toolbar|gallery|slideshow|carousel|lightbox|footer|colophon|"
    "byline|author-info|author-bio|about-author|post-meta|entry-meta|article-meta|"
    "meta-data|dateline|timestamp|post-date|entry-date|publish-date|reading-time|read-time|"
    "time-to-read|time-ago|views-counter|view-count|like-button|comment-counter|"
    "post-footer|post-tags|entry-footer|article-footer|tags|tag-list|"
    "subheadline|standfirst|dek|strapline|"
    "recent-posts|related-posts|related-articles|print-button"
)
_CHROME_WORD_SET = frozenset(_CHROME_WORDS.split("|"))
#: The first words of the chrome words joined by "-" ("most" of "most-read"): a value none of
#: whose words but the last is one of them matches no joined word.
_CHROME_FIRST_WORDS = frozenset(w.split("-")[0] for w in _CHROME_WORD_SET if "-" in w)
#: Class/id words that name the page's footer: a ``div`` built as one (or a second copy of
#: the footer, for small screens) is a landmark as much as a ``footer`` element; inside
#: ``main`` or an ``article`` they name a section's own footer (its notes), not chrome.
_FOOTER_WORDS = frozenset({"footer", "colophon"})
_ATTR_SPLIT_RE = re.compile(r"[\s_-]+")

#: Headings that open a block of links to other pages, or the comments.
_CHROME_HEADING_RE = re.compile(
    r"^\s*(recent posts|related( posts| articles| stories| content| coverage| reading)?|"
    r"more (from|on|in|stories|news|articles)\b.*|you (may|might) (also )?like|"
    r"read (more|next|also)|popular( posts| stories| now)?|trending( now)?|most (read|popular)|"
    r"recommended( for you| stories| articles)?|see also|further reading|latest (news|posts)|"
    r"comments?|\d+ comments?|leave a (reply|comment)|write a comment|join the discussion|"
    r"share (this|the) (post|article|story)|sign up for .*|subscribe to .*|"
    r"(top|editor'?s) picks|don'?t miss|also (read|on)\b.*)\s*:?\s*$",
    re.I,
)


def decode(html: str | bytes) -> str:
    """``html`` as text: bytes go through :func:`scraper.decode.decode_body`, the decoder that
    fetch uses too (BOM, ``<meta charset>``, UTF-8, then detection)."""
    from scraper.decode import decode_body

    if isinstance(html, str):
        text = html[: MAX_HTML_CHARS * 2]
    else:
        text, _charset = decode_body(html[: MAX_HTML_CHARS * 2])
    if len(text) > MAX_HTML_CHARS:
        text = _drop_raw_text(text)
    return _defuse(text[:MAX_HTML_CHARS])


_RAW_OPEN_RE = re.compile(r"<(script|style|svg)(?=[\s/>])[^>]*>", re.I)
_RAW_CLOSE_RES = {name: re.compile(rf"</{name}\s*>", re.I) for name in ("script", "style", "svg")}


def _drop_raw_text(text: str) -> str:
    """``text`` without its scripts (JSON-LD kept: metadata is read from it), styles and
    inline SVG: on a page over MAX_HTML_CHARS, the cut must fall on what could be content,
    not on code (a page of 5 MB can be 2 MB of markup and 3 MB of scripts). One forward pass:
    each search starts where the last one ended; an element left open runs to the end, as it
    does for an HTML parser."""
    out: list[str] = []
    pos = 0
    while (start := _RAW_OPEN_RE.search(text, pos)) is not None:
        name = start.group(1).lower()
        close = _RAW_CLOSE_RES[name].search(text, start.end())
        end = close.end() if close is not None else len(text)
        if name == "script" and "ld+json" in start.group(0).lower():
            out.append(text[pos:end])
        else:
            out.append(text[pos : start.start()])
        pos = end
    out.append(text[pos:])
    return "".join(out)


#: Pages with more tags than this, or more characters per tag than MAX_CHARS_PER_TAG, go
#: through :func:`_bound_tags` before parsing. lexbor (like every HTML5 tree builder) does
#: work proportional to the nesting depth for each tag and to the attribute count for each
#: attribute, so 100,000 nested ``<div>`` or one tag with 100,000 attributes take minutes;
#: real pages stay far below both limits (the benchmark's largest: 3,229 tags, 720
#: characters a tag), so the check costs one ``str.count``.
MAX_TAGS_UNCHECKED = 10_000
MAX_CHARS_PER_TAG = 2_000
#: A tag longer than this keeps its name only (no attributes).
MAX_TAG_CHARS = 4_000
_TAG_RE = re.compile(r"<(/?)([A-Za-z][^\s/<>]*)[^<>]*>")
_NOT_NESTING = frozenset(
    [
        "area",
        "base",
        "br",
        "col",
        "embed",
        "hr",
        "img",
        "input",
        "link",
        "meta",
        "param",
        "source",
        "track",
        "wbr",
        "p",
        "li",
        "td",
        "th",
        "tr",
        "dt",
        "dd",
        "option",
    ]
)


def _defuse(text: str) -> str:
    tags = text.count("<")
    if tags <= MAX_TAGS_UNCHECKED and len(text) <= MAX_CHARS_PER_TAG * (tags + 1):
        return text
    return _bound_tags(text)


def _bound_tags(text: str) -> str:
    """``text`` with tags nested deeper than MAX_DEPTH removed (their text kept) and every
    tag longer than MAX_TAG_CHARS cut down to its name: one linear pass."""
    out: list[str] = []
    position = depth = skipped = 0
    for match in _TAG_RE.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        closing, name = match.group(1), match.group(2).lower()
        tag = match.group(0)
        if len(tag) > MAX_TAG_CHARS:
            tag = f"<{closing}{name}>"
        if name in _NOT_NESTING or tag.endswith("/>"):
            out.append(tag)
        elif closing:
            if skipped:
                skipped -= 1
            else:
                depth = max(0, depth - 1)
                out.append(tag)
        elif depth >= MAX_DEPTH // 2:  # room for the nesting implied by the kept tags
            skipped += 1
        else:
            depth += 1
            out.append(tag)
    out.append(text[position:])
    return "".join(out)


def parse(text: str) -> LexborHTMLParser | None:
    """The one parse of the page, or None when lexbor cannot build a tree."""
    try:
        return LexborHTMLParser(text)
    except (SelectolaxError, ValueError, MemoryError):
        return None


@lru_cache(maxsize=8192)
def _is_chrome_attr(value: str) -> bool:
    """Whether a class/id value names chrome: one of its words, or two joined by "-"."""
    words = _ATTR_SPLIT_RE.split(value.lower())
    if not _CHROME_WORD_SET.isdisjoint(words):
        return True
    if _CHROME_FIRST_WORDS.isdisjoint(words[:-1]):
        return False  # no joined word can start here: most values end at this test
    pairs = zip(words, words[1:], strict=False)
    if any(f"{a}-{b}" in _CHROME_WORD_SET for a, b in pairs):
        return True
    triples = zip(words, words[1:], words[2:], strict=False)
    return any(f"{a}-{b}-{c}" in _CHROME_WORD_SET for a, b, c in triples)


def _text_chars(node: LexborNode) -> int:
    return len(node.text(deep=True))


#: A candidate holding this share of the page's text is never dropped by a wide rule.
_GUARD_SHARE = 0.3
_GUARD_MIN_CHARS = 300


def _drop(node: LexborNode, total_chars: int) -> bool:
    """Drop ``node`` unless it holds much of the page's text (the guard on wide rules)."""
    chars = _text_chars(node)
    if chars >= _GUARD_MIN_CHARS and chars >= _GUARD_SHARE * total_chars:
        return False
    node.remove()
    return True


_DEEP_SELECTOR = "body > " + " > ".join(["*"] * MAX_DEPTH)


def _drop_deep(node: LexborNode) -> None:
    """Remove subtrees nested deeper than MAX_DEPTH below ``body`` (lexbor keeps them; lxml
    stops parsing at depth 256 and would lose the rest of the article)."""
    for deep in node.css(_DEEP_SELECTOR):
        deep.remove()


@dataclass(frozen=True, slots=True)
class Cleaned:
    """What cleaning learned about the page on the way."""

    #: the visible text before chrome was removed, one text node a line ("3 min read" is here)
    page_text: str = ""
    #: the ``mem_id`` of subtrees named as chrome but kept by the guard (they hold much of
    #: the page's text: a long comment thread, or a mislabelled wrapper of the article)
    guarded: frozenset[int] = frozenset()
    #: those subtrees
    guarded_nodes: tuple[LexborNode, ...] = ()
    #: the ``mem_id`` of the guarded subtrees that are page landmarks (header, footer, aside)
    landmarks: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Region:
    """The part of the page the content is read from."""

    #: the chosen container, or the body; None for a page without a body
    node: LexborNode | None = None
    #: whether ``node`` is the whole body (no container qualified)
    is_body: bool = True
    #: the comparison keys of figure captions (kept in Markdown, not in the text)
    captions: frozenset[str] = frozenset()

    def html(self) -> str:
        """The region as a document, for trafilatura (serialised only when asked)."""
        if self.node is None:
            return "<html><body></body></html>"
        if self.is_body:
            return f"<html>{self.node.html or ''}</html>"
        return f"<html><body>{self.node.html or ''}</body></html>"


def drop_never_content(tree: LexborHTMLParser, *, strip: Sequence[str] = ()) -> None:
    """Step 1 of cleaning, on the body only: what is never content (scripts, styles, forms'
    controls, hidden subtrees, navigation landmarks) and the site's ``strip`` selectors.

    The head is left alone: metadata is read from it, before or after this step.
    """
    body = tree.body
    if body is None:
        return
    for node in body.css(_ALWAYS_DROP):
        node.remove()
    for selector in strip:
        try:
            found = body.css(selector)
        except (SelectolaxError, ValueError):
            continue  # a bad site selector must not break extraction
        for node in found:
            node.remove()
    budget = [HIDDEN_TEXT_BUDGET]
    for node in body.css(_TABLIST):
        if not _collapsed_prose(node, budget):
            node.remove()
    for node in body.css(_HIDING):
        if not _collapsed_prose(node, budget):
            node.remove()
    page = _PageText(body)
    for node in body.css(_HIDDEN_STYLE):
        attributes = node.attributes
        if "hidden" in attributes or (attributes.get("aria-hidden") or "").lower() == "true":
            continue  # judged above, by the prose it holds
        if not _STYLE_HIDDEN_RE.search(attributes.get("style") or ""):
            continue
        # an answer of an FAQ, an accordion's panel: collapsed prose (once the budget is
        # spent, what a style hides goes, as it always did)
        collapsed = (
            budget[0] > 0
            and page.calls < COPY_CHECKS_MAX
            and _collapsed_prose(node, budget)
            and _reads_as_prose(node)
        )
        if not collapsed or _copied(node, page):
            node.remove()


#: A subtree that an inline style hides is kept only when it is a passage of prose: this many
#: characters (more than HIDDEN_PROSE_CHARS: styles also hide dialogs and sign-in notices),
#: most of them in lines of _PROSE_LINE_WORDS words or more (not a menu, a cart or a form's
#: labels), and no copy of text shown elsewhere on the page (:func:`_copied`).
STYLE_HIDDEN_PROSE_CHARS = 600
_PROSE_LINE_WORDS = 12
_PROSE_LINE_SHARE = 0.5


def _reads_as_prose(node: LexborNode) -> bool:
    """Whether ``node`` is a passage of prose (see STYLE_HIDDEN_PROSE_CHARS)."""
    lines = node.text(deep=True, separator="\n").splitlines()
    total = sum(len(line) for line in lines)
    long = sum(len(line) for line in lines if len(line.split()) >= _PROSE_LINE_WORDS)
    return total >= STYLE_HIDDEN_PROSE_CHARS and long >= _PROSE_LINE_SHARE * total


#: Characters of a hidden subtree's longest line compared with the page by :func:`_copied`.
COPY_PROBE_CHARS = 80
#: At most this many hidden subtrees of a page are compared with it (each comparison reads the
#: page's text): past them, what a style hides goes, as it always did.
COPY_CHECKS_MAX = 64


class _PageText:
    """The body's text key, read when a hidden subtree is first compared with it."""

    __slots__ = ("_body", "_key", "calls")

    def __init__(self, body: LexborNode) -> None:
        self._body = body
        self._key: str | None = None
        #: how many comparisons were made (COPY_CHECKS_MAX)
        self.calls = 0

    def count(self, probe: str) -> int:
        self.calls += 1
        if self._key is None:
            self._key = norm_line(self._body.text(deep=True))
        return self._key.count(probe)


def _copied(node: LexborNode, page: _PageText) -> bool:
    """Whether the longest line of ``node`` (hidden by an inline style) is also on the page
    outside it: a copy of the page's text for another screen size, not collapsed content."""
    lines = node.text(deep=True, separator="\n").splitlines()
    key = norm_line(max(lines, key=len, default=""))
    middle = len(key) // 2
    probe = key[max(0, middle - COPY_PROBE_CHARS // 2) : middle + COPY_PROBE_CHARS // 2]
    return bool(probe) and page.count(probe) >= 2


def _collapsed_prose(node: LexborNode, budget: list[int]) -> bool:
    """Whether a hidden subtree holds prose: the panels of tabs and accordions and the rest of
    a "read more" are hidden until clicked, yet they are the page's content; a hidden menu,
    modal or icon is links or little text. ``budget`` holds the characters of text that may
    still be read for this test on this page (hidden subtrees nested thousands deep would read
    the same text again for each level): once it is spent, the rest are kept, as they are
    almost all nested in subtrees already judged (and kept: a dropped one took its own along)."""
    if budget[0] <= 0:
        return True
    text = len(node.text(deep=True))
    budget[0] -= text
    if text < HIDDEN_PROSE_CHARS:
        return False
    linked = sum(len(a.text(deep=True)) for a in node.css("a"))
    return text - linked >= HIDDEN_PROSE_CHARS and linked < text / 2


def drop_chrome(tree: LexborHTMLParser) -> Cleaned:
    """Step 2 of cleaning: chrome named by landmarks, class/id words and headings (see the
    module docstring), guarded so that no rule drops most of the page's text.
    """
    body = tree.body
    if body is None:
        return Cleaned()
    page_text: str = body.text(deep=True, separator="\n")
    total = len(page_text)
    guarded: dict[int, LexborNode] = {}
    landmarks: set[int] = set()
    for node in body.css("header, footer, aside, form"):
        # a form around the whole page is how some frameworks build every page
        if not _drop(node, total) and node.tag != "form":
            guarded[node.mem_id] = node
            if not is_story_header(node):
                landmarks.add(node.mem_id)
    # a second query: what the first pass removed is no longer listed
    for node in body.css("[class], [id], [data-hook], [data-testid]"):
        if node.tag == "body":
            continue
        attrs = node.attributes
        for key in ("class", "id", "data-hook", "data-testid"):
            value = attrs.get(key)
            if value and _is_chrome_attr(value):
                footer = _names_footer(value)
                if footer and in_main(node) and not _is_chrome_attr(_without_footer(value)):
                    break  # a section's own footer: its notes, its footnotes
                if not _drop(node, total):
                    guarded[node.mem_id] = node
                    if footer:
                        landmarks.add(node.mem_id)
                break

    for heading in body.css("h1, h2, h3, h4, h5, h6"):
        if _CHROME_HEADING_RE.match(heading.text(deep=True)):
            parent = heading.parent
            if (
                parent is None
                or parent.tag in {"body", "html", "main", "article"}
                or not _drop(parent, total)
            ):
                heading.remove()
    return Cleaned(page_text, frozenset(guarded), tuple(guarded.values()), frozenset(landmarks))


def _names_footer(value: str) -> bool:
    return not _FOOTER_WORDS.isdisjoint(_ATTR_SPLIT_RE.split(value.lower()))


def _without_footer(value: str) -> str:
    return " ".join(w for w in _ATTR_SPLIT_RE.split(value.lower()) if w not in _FOOTER_WORDS)


def is_story_header(node: LexborNode) -> bool:
    """Whether ``node`` is a ``header`` inside ``main`` or an ``article``: the story's own
    (a page builder may put the story's text in it), not the page's."""
    return node.tag == "header" and in_main(node)


def in_main(node: LexborNode) -> bool:
    """Whether ``node`` is inside the page's ``main`` or an ``article``."""
    parent = node.parent
    while parent is not None:
        if parent.tag in {"main", "article"}:
            return True
        parent = parent.parent
    return False


#: A teaser: a paragraph that is one link of this many words or more (not a bare URL).
_TEASER_MIN_WORDS = 4
_TEASER_MAX_CHARS = 200


def _drop_link_paragraphs(body: LexborNode) -> None:
    """Remove paragraphs that are nothing but a link to another story ("SEAN SPICER
    ELIMINATED FROM ..."): teasers set between the paragraphs of the article."""
    for paragraph in body.css("p"):
        links = paragraph.css("a")
        if not links:
            continue
        text = paragraph.text(deep=True).strip()
        if not text or len(text) > _TEASER_MAX_CHARS or len(text.split()) < _TEASER_MIN_WORDS:
            continue
        linked = sum(len(a.text(deep=True).strip()) for a in links)
        if linked >= 0.9 * len(text) and "://" not in text and not text.startswith("www."):
            paragraph.remove()


_LINK_SCHEMES = ("http://", "https://", "mailto:")


def absolute_links(tree: LexborHTMLParser, url: str | None) -> None:
    """Make every ``<a href>`` of the body absolute (against ``<base href>``, then ``url``),
    so that links kept in the Markdown work outside the page; other schemes
    (``javascript:``) and fragment-only links lose their href and keep their text."""
    body = tree.body
    if body is None:
        return
    base = url or ""
    node = tree.css_first("base[href]")
    if node is not None:
        # an invalid IPv6 literal and the like: the page's URL stands
        with contextlib.suppress(ValueError):
            base = urljoin(base, (node.attributes.get("href") or "").strip())
    for link in body.css("a[href]"):
        href = (link.attributes.get("href") or "").strip()
        try:
            target = urljoin(base, href) if base else href
        except ValueError:  # an invalid IPv6 literal and the like
            target = ""
        if href.startswith("#") or not target.lower().startswith(_LINK_SCHEMES):
            del link.attrs["href"]
        else:
            link.attrs["href"] = target


def clean(tree: LexborHTMLParser, *, strip: Sequence[str] = ()) -> Cleaned:
    """Both cleaning steps: remove the chrome of a parsed page in place."""
    drop_never_content(tree, strip=strip)
    return drop_chrome(tree)


#: A figure with this many characters of text beside its caption keeps them (a quote).
FIGURE_TEXT_CHARS = 20


def _captions_to_paragraphs(tree: LexborHTMLParser, node: LexborNode) -> frozenset[str]:
    """Replace each captioned figure (or a stray ``<figcaption>``) under ``node`` by a
    paragraph holding the caption's flat text; return the captions' keys."""
    keys: set[str] = set()
    for caption in node.css("figcaption"):
        # flat text: trafilatura would split inner blocks ("Image caption", "Credit")
        # into lines that no longer match the caption's key
        text = " ".join(caption.text(deep=True, separator=" ").split())
        figure = caption.parent
        while figure is not None and figure.tag != "figure":
            figure = figure.parent
        target = figure if figure is not None else caption
        own = len(" ".join(figure.text(deep=True).split())) - len(text) if figure else 0
        if own >= FIGURE_TEXT_CHARS:
            # the figure holds text of its own (a quote and its attribution, a testimonial):
            # only the caption becomes the paragraph
            target = caption
        key = norm_line(text)
        if not key:
            continue
        keys.add(key)
        paragraph = tree.create_node("p")
        paragraph.insert_child(text)
        target.replace_with(paragraph)
    keys.update(_class_captions(node))
    return frozenset(keys)


#: Elements a class word names ``caption`` are captions like ``<figcaption>`` (shown in the
#: Markdown, not in the text) when a page has at most this many of them: more are a grid of
#: cards, whose captions are the items' names.
CLASS_CAPTIONS_MAX = 3


def _class_captions(node: LexborNode) -> list[str]:
    """The keys of the captions a class word names under ``node`` ("wp-caption-text",
    "image-caption"), or none when there are more than CLASS_CAPTIONS_MAX."""
    found: list[str] = []
    for caption in node.css("[class*=caption i]"):
        words = _ATTR_SPLIT_RE.split((caption.attributes.get("class") or "").lower())
        if "caption" not in words:
            continue
        text = " ".join(caption.text(deep=True, separator=" ").split())
        if len(text) <= _CAPTION_MAX_CHARS and (key := norm_line(text)):
            found.append(key)
            if len(found) > CLASS_CAPTIONS_MAX:
                return []
    return found


#: Longer "captions" are text (a panel a class calls a caption).
_CAPTION_MAX_CHARS = 400


_WORD_RE = re.compile(r"\w+")
#: A ``bytes.translate`` table giving the key of ASCII text: the ASCII word characters of
#: ``\w`` (``[A-Za-z0-9_]``) kept, capitals lowered (what ``casefold`` does to ASCII), every
#: other ASCII byte a space; bytes >= 0x80 never occur (the text is ASCII).
_ASCII_KEY_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 or c == 95 else 32
    for c in range(256)
)
#: Runs of spaces in the translated bytes, collapsed to one (fewer matches than words: a
#: split into words would make an object of each).
_SPACES_RE = re.compile(b"  +")


def norm_line(text: str) -> str:
    """The comparison key of a line of text: words only, lower case (the ``\\w+`` runs of
    ``text`` joined by one space, casefolded).

    ASCII text (most pages' text, and ``str.isascii`` is free) goes through one
    ``bytes.translate``: the same key as the pattern, several times faster on long texts.
    """
    if text.isascii():
        spaced = text.encode("ascii").translate(_ASCII_KEY_TABLE)
        return _SPACES_RE.sub(b" ", spaced).strip().decode("ascii")
    return " ".join(_WORD_RE.findall(text)).casefold()


#: ``str.split()``'s white space among ASCII characters (``\t\n\v\f\r``, the four
#: separators ``\x1c``-``\x1f`` and the space) made a space, every other byte kept.
_ASCII_SPACE_TABLE = bytes(32 if 9 <= c <= 13 or 28 <= c <= 31 else c for c in range(256))


_SQUASH_MIN_CHARS = 256


def squash_spaces(text: str) -> str:
    """``" ".join(text.split())``: runs of white space made one space, none at the ends; a
    long ASCII text by one ``bytes.translate`` (no object per word; on a short one the
    calls cost more than the split)."""
    if len(text) >= _SQUASH_MIN_CHARS and text.isascii():
        spaced = text.encode("ascii").translate(_ASCII_SPACE_TABLE)
        return _SPACES_RE.sub(b" ", spaced).strip().decode("ascii")
    return " ".join(text.split())


def count_words(text: str) -> int:
    """How many words (``\\w+`` runs) ``text`` has, as ``re.findall`` counts them; the
    ASCII case as in :func:`norm_line`."""
    if text.isascii():
        key = norm_line(text)
        return key.count(" ") + 1 if key else 0
    return len(_WORD_RE.findall(text))


#: Containers that usually hold the article, for :func:`content_html`.
_REGION_SELECTOR = (
    "[itemprop=articleBody], [itemprop=articlebody], article, main, [role=main], "
    "[class*=article-body], [class*=articleBody], [class*=post-content], "
    "[class*=entry-content], [class*=story-body], [class*=post-body]"
)
#: A region must hold this share of the page's paragraph text to stand for the page.
_REGION_SHARE = 0.8
#: ... or, inside it (or inside the body when none does), this share when the element's tag
#: or role says it is the article or the main part: a class word is trusted only at 80% (it
#: names tab panels and review lists as well as article bodies).
_SEMANTIC_REGION_SELECTOR = (
    "article, [itemprop=articleBody], [itemprop=articlebody], main, [role=main]"
)
_SEMANTIC_REGION_SHARE = 0.5
#: ... and when what it leaves out is several parts (a product's specs, reviews and the shop's
#: pitch), not one (a section's notes, a notice below the story).
_SEMANTIC_MIN_PARTS_BESIDE = 2
_REGION_MIN_CHARS = 500


def _paragraph_chars(node: LexborNode) -> int:
    return sum(len(p.text(deep=True)) for p in node.css("p"))


def main_region(tree: LexborHTMLParser) -> Region:
    """What trafilatura gets: the smallest article-like container that holds most of the
    page's paragraph text (or the whole cleaned body), with teaser links and too-deep
    subtrees removed and figure captions turned into paragraphs.

    Less HTML makes trafilatura faster and keeps it from wandering into leftovers of the
    page frame; the share test keeps the whole article in.
    """
    body = tree.body
    if body is None:
        return Region()
    _drop_link_paragraphs(body)  # before the choice: teasers are not the article's text
    node = _article_container(body) or body
    _drop_deep(node)
    captions = _captions_to_paragraphs(tree, node)
    return Region(node, node is body, captions)


def _article_container(body: LexborNode) -> LexborNode | None:
    total = _paragraph_chars(body)
    if total < _REGION_MIN_CHARS:
        return None
    best: LexborNode | None = None
    for node in body.css(_REGION_SELECTOR):
        # qualifying containers nest (two cannot each hold most of the text), and css()
        # lists them in document order: the last one is the innermost
        if _paragraph_chars(node) >= _REGION_SHARE * total:
            best = node
    return _semantic_within(best or body, total) or best


def _semantic_within(outer: LexborNode, total: int) -> LexborNode | None:
    """The innermost element inside ``outer`` that says by its tag or role that it is the
    article or the page's main part and holds _SEMANTIC_REGION_SHARE of the page's paragraph
    text: a product's description in an ``article`` beside its specs, its reviews and the
    shop's pitch, no part of which holds the 80% a container needs. Only when it leaves out
    _SEMANTIC_MIN_PARTS_BESIDE parts with paragraphs or more: a story's one block of notes
    or one notice beside it stays in the region, as it did."""
    found: LexborNode | None = None
    threshold = _SEMANTIC_REGION_SHARE * total
    for node in outer.css(_SEMANTIC_REGION_SELECTOR):
        # css() lists the node itself too
        if node.mem_id != outer.mem_id and _paragraph_chars(node) >= threshold:
            found = node  # nested, as above: the last one is the innermost
    if found is None or _parts_beside(found, outer) < _SEMANTIC_MIN_PARTS_BESIDE:
        return None
    return found


def _parts_beside(node: LexborNode, outer: LexborNode) -> int:
    """How many elements beside ``node`` and its ancestors up to ``outer`` hold paragraph
    text: the other parts of the page the narrower region leaves out."""
    parts = 0
    current = node
    while current.mem_id != outer.mem_id and current.parent is not None:
        parent = current.parent
        for sibling in parent.iter():
            if sibling.mem_id == current.mem_id or sibling.tag == "-text":
                continue
            if sibling.tag == "p" or sibling.css_first("p") is not None:
                parts += 1
        current = parent
    return parts
