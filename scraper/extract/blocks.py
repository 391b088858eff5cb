"""Extract, the direct path: the text of the chosen region read straight off the selectolax tree.

trafilatura is most of the cost of an extraction (it parses the region again with lxml,
cleans, converts and walks it). On a page whose region is an article container that holds
the page's prose, the region's own blocks are the text: one walk of the tree gives each
block (paragraph, heading, list item, quote, table cell, code) with its text and how much
of it is link text. Runs of blocks that are mostly link text (a list of links, a table of
links: navigation left inside the region) are dropped, as are blocks the caller's ``drop``
test calls chrome. Whether the result can stand without trafilatura is decided by the
caller (:mod:`scraper.extract.crosscheck`). Must not fetch, must not touch the archive, must
not parse the page again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selectolax.lexbor import LexborNode

from scraper.extract.clean import norm_line, squash_spaces
from scraper.extract.content import MAX_TESTED_CHARS, Content, is_marquee

#: Elements that stay within a line of text; every other element starts a new line.
_INLINE = frozenset(
    [
        "a",
        "abbr",
        "b",
        "bdi",
        "bdo",
        "big",
        "cite",
        "code",
        "data",
        "del",
        "dfn",
        "em",
        "font",
        "i",
        "img",
        "ins",
        "kbd",
        "label",
        "mark",
        "q",
        "s",
        "samp",
        "small",
        "span",
        "strike",
        "strong",
        "sub",
        "sup",
        "time",
        "tt",
        "u",
        "var",
        "wbr",
    ]
)
#: Elements whose subtree is never text (what cleaning left of them).
_SKIPPED = frozenset(
    [
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "canvas",
        "iframe",
        "object",
        "embed",
        "head",
        "title",
        "math",
        "select",
        "option",
        "button",
        "input",
        "textarea",
    ]
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_ITEMS = frozenset({"li", "dt", "dd"})
_CELLS = frozenset({"td", "th"})
#: Containers whose blocks are judged together for link density.
_LINK_TESTED = frozenset({"ul", "ol", "dl", "menu", "table", "div", "section", "nav"})
#: A run of blocks is a link farm when link text is this share of its characters ...
LINK_FARM_SHARE = 0.6
#: ... and it has at least this many blocks, each on average shorter than LINK_FARM_BLOCK_CHARS.
LINK_FARM_MIN_BLOCKS = 3
LINK_FARM_BLOCK_CHARS = 120
#: A link farm holding this share of the region's text is its content (an index, a listing).
FARM_KEEP_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class Block:
    """One line of the region's text."""

    #: "p", "head", "item", "quote", "cell" or "code" (the tags of trafilatura's tree)
    kind: str
    text: str
    #: characters of the text inside links
    link_chars: int
    #: heading level (1-6) or list nesting (1 for a top-level item); 0 otherwise
    level: int = 0
    #: for a cell, the index of its table row (cells of one row share it); -1 otherwise
    row: int = -1
    #: the text with its links as ``[text](url)``, when links are kept; "" otherwise
    linked: str = ""
    #: for an item of an ordered list, its number; 0 otherwise
    number: int = 0
    #: the ids of the elements that hold the block, outermost first (see :func:`main_blocks`)
    path: tuple[int, ...] = ()
    #: whether the block is inside a subtree named as chrome that cleaning's guard kept: 1
    #: by its class or id, 2 by its tag (a page landmark: header, footer, aside)
    guarded: int = 0


class _Walker:
    """One depth-first walk that turns a subtree into blocks."""

    __slots__ = (
        "blocks",
        "farms",
        "_flushes",
        "_in_link",
        "_link",
        "_links",
        "_marked",
        "_number",
        "_parts",
        "_path",
        "_rows",
        "_elements",
        "_guarded",
        "_in_guarded",
        "_in_landmark",
        "_landmarks",
    )

    def __init__(
        self,
        links: bool,
        guarded: frozenset[int] = frozenset(),
        landmarks: frozenset[int] = frozenset(),
    ) -> None:
        self.blocks: list[Block] = []
        #: the (start, end) ranges of ``blocks`` that are link farms, inner ones first
        self.farms: list[tuple[int, int]] = []
        self._parts: list[str] = []
        #: the parts with link markup, when links are kept
        self._marked: list[str] = []
        self._links = links
        self._link = 0
        self._in_link = 0
        self._rows = 0
        self._flushes = 0
        #: the number of the ordered-list item whose first line comes next
        self._number = 0
        #: the ids of the elements being walked, outermost first; ids count elements
        self._path: list[int] = []
        self._elements = 0
        self._guarded = guarded
        self._landmarks = landmarks
        #: how many guarded subtrees are being walked, and how many of them are landmarks
        self._in_guarded = 0
        self._in_landmark = 0

    def flush(self, kind: str, level: int, row: int) -> None:
        if not self._parts:
            self._marked = []
            return
        text = squash_spaces("".join(self._parts))
        link = self._link
        linked = " ".join("".join(self._marked).split()) if self._links else ""
        self._parts = []
        self._marked = []
        self._link = 0
        self._flushes += 1
        if text:
            number, self._number = self._number, 0
            self.blocks.append(
                Block(
                    kind,
                    text,
                    min(link, len(text)),
                    level,
                    row,
                    linked,
                    number,
                    tuple(self._path),
                    2 if self._in_landmark else 1 if self._in_guarded else 0,
                )
            )

    def visit(
        self, node: LexborNode, kind: str, level: int, row: int, counter: list[int] | None = None
    ) -> None:
        """Walk the children of ``node``, within a block of ``kind``; ``counter`` numbers the
        items of the ordered list being walked."""
        for child in node.iter(include_text=True):
            tag = child.tag
            if tag == "-text":
                text = child.text_content
                if text:
                    self._parts.append(text)
                    if self._links:
                        self._marked.append(text)
                    if self._in_link:
                        self._link += len(text.strip())
                continue
            if tag is None or tag[0] == "-" or tag in _SKIPPED:
                continue
            if tag in _INLINE:
                if tag == "a":
                    self._visit_link(child, kind, level, row)
                else:
                    self.visit(child, kind, level, row)
                continue
            if tag == "br":
                self.flush(kind, level, row)
                continue
            self.flush(kind, level, row)
            if tag == "pre":
                text = child.text(deep=True).strip("\n")
                if text.strip():
                    linked = text if self._links else ""
                    self.blocks.append(
                        Block("code", text, 0, linked=linked, path=tuple(self._path))
                    )
                continue
            start = len(self.blocks)
            inner_kind, inner_level, inner_row = kind, level, row
            inner_counter = counter
            inner_number = 0
            if tag in _HEADINGS:
                inner_kind, inner_level = "head", _HEADINGS[tag]
            elif tag == "ol":
                inner_counter = [0]
            elif tag in {"ul", "menu", "dl"}:
                inner_counter = None
            elif tag in _ITEMS:
                inner_kind, inner_level = "item", (level + 1 if kind == "item" else 1)
                if tag == "li" and counter is not None:
                    counter[0] += 1
                    inner_number = counter[0]
            elif tag == "blockquote":
                inner_kind = "quote"
            elif tag == "tr":
                self._rows += 1
                inner_row = self._rows
            elif tag in _CELLS:
                inner_kind = "cell"
            elif kind not in {"item", "quote", "cell"}:
                inner_kind = "p"
            if inner_number:
                self._number = inner_number
            self._elements += 1
            self._path.append(self._elements)
            guarded = bool(self._guarded) and child.mem_id in self._guarded
            landmark = guarded and child.mem_id in self._landmarks
            self._in_guarded += guarded
            self._in_landmark += landmark
            self.visit(child, inner_kind, inner_level, inner_row, inner_counter)
            self.flush(inner_kind, inner_level, inner_row)
            self._in_guarded -= guarded
            self._in_landmark -= landmark
            self._path.pop()
            if tag in _LINK_TESTED and _link_farm(self.blocks, start):
                self.farms.append((start, len(self.blocks)))

    def _visit_link(self, node: LexborNode, kind: str, level: int, row: int) -> None:
        self._in_link += 1
        href = (node.attributes.get("href") or "") if self._links else ""
        marked_at, flushes = len(self._marked), self._flushes
        self.visit(node, kind, level, row)
        self._in_link -= 1
        # only a link within one line is marked up: one that holds blocks keeps its text
        if href and flushes == self._flushes and len(self._marked) > marked_at:
            self._marked.insert(marked_at, "[")
            self._marked.append(f"]({href})")


def _link_farm(blocks: list[Block], start: int) -> bool:
    """Whether ``blocks[start:]`` are a run of short links (navigation, a list of teasers)."""
    count = len(blocks) - start
    if count < LINK_FARM_MIN_BLOCKS:
        return False
    chars = linked = 0
    for block in blocks[start:]:
        chars += len(block.text)
        linked += block.link_chars
    return linked >= LINK_FARM_SHARE * chars and chars < LINK_FARM_BLOCK_CHARS * count


#: Blocks of this many words, with little link text, are prose: :func:`main_blocks` looks for
#: the smallest element holding MAIN_PROSE_SHARE of the prose characters.
PROSE_WORDS = 12
PROSE_LINK_SHARE = 0.3
MAIN_PROSE_SHARE = 0.8
#: Pages with less prose than this (characters, blocks) are not narrowed: too little to judge by.
MAIN_MIN_PROSE_CHARS = 300
MAIN_MIN_PROSE_BLOCKS = 3


def _prose_chars(block: Block) -> int:
    size = len(block.text)
    if block.link_chars > PROSE_LINK_SHARE * size or block.text.count(" ") < PROSE_WORDS - 1:
        return 0
    return size


def main_blocks(blocks: list[Block]) -> list[Block]:
    """The blocks inside the smallest element that holds MAIN_PROSE_SHARE of the prose of
    ``blocks`` (the article body within a page frame: menus, footers, sidebars and teaser
    lists around it have little prose), or all of them when there is too little prose."""
    prose_by_element: dict[int, int] = {}
    depth: dict[int, int] = {}
    total = count = 0
    for block in blocks:
        chars = _prose_chars(block)
        if not chars:
            continue
        total += chars
        count += 1
        for index, element in enumerate(block.path):
            prose_by_element[element] = prose_by_element.get(element, 0) + chars
            depth[element] = index
    if total < MAIN_MIN_PROSE_CHARS or count < MAIN_MIN_PROSE_BLOCKS:
        return blocks
    floor = MAIN_PROSE_SHARE * total
    # the elements that qualify hold one another: the deepest is the smallest
    best, best_depth = -1, -1
    for element, chars in prose_by_element.items():
        if chars >= floor and depth[element] > best_depth:
            best, best_depth = element, depth[element]
    if best < 0:
        return blocks
    return [b for b in blocks if len(b.path) > best_depth and b.path[best_depth] == best]


#: Words outside guarded landmarks from which those landmarks are left out (the article's
#: floor: MIN_ARTICLE_WORDS of :mod:`scraper.extract`).
LANDMARK_MIN_WORDS = 5


def unguarded_blocks(blocks: list[Block]) -> list[Block]:
    """``blocks`` without those in guarded chrome (see :class:`clean.Cleaned`) when the rest
    has prose enough to be the article: a comment thread longer than the story is kept by
    cleaning's guard, and dropped here; a mislabelled wrapper holding the story is not."""
    if not any(b.guarded for b in blocks):
        return blocks
    # a page's header, footer or aside holds the site's text, not the article, whenever there
    # is anything else: a block page's one line is not to be outweighed by the site's footer
    beside = [b for b in blocks if b.guarded != 2]
    if (
        len(beside) < len(blocks)
        and sum(b.text.count(" ") + 1 for b in beside) >= LANDMARK_MIN_WORDS
    ):
        blocks = beside
    rest = [b for b in blocks if not b.guarded]
    prose = [chars for b in rest if (chars := _prose_chars(b))]
    if sum(prose) < MAIN_MIN_PROSE_CHARS or len(prose) < MAIN_MIN_PROSE_BLOCKS:
        return blocks
    return rest


#: A line of at most this many words that occurs this often is a control's label ("Back",
#: "Read more", "Image", "Add to cart"), not text.
LABEL_MAX_WORDS = 3
LABEL_MIN_REPEATS = 3
#: A loose line shorter than this, with this share of its characters in links, is a link to
#: somewhere else (list items are judged as a list, by the link-farm test).
LINK_LINE_MAX_CHARS = 200
LINK_LINE_SHARE = 0.8


def _without_labels(blocks: list[Block]) -> list[Block]:
    """``blocks`` without loose lines that are links (:func:`_link_line`), without short
    loose lines repeated LABEL_MIN_REPEATS times or more (table cells, list items and
    headings repeat values by nature and are kept) and without marquees (one short phrase
    said again and again in one line: :func:`content.is_marquee`; table cells excepted)."""
    counts: dict[str, int] = {}
    for block in blocks:
        if block.kind == "p" and block.text.count(" ") < LABEL_MAX_WORDS:
            counts[block.text] = counts.get(block.text, 0) + 1
    labels = {text for text, n in counts.items() if n >= LABEL_MIN_REPEATS}

    def kept(block: Block) -> bool:
        if block.kind == "cell":
            return True
        if block.kind == "p" and (block.text in labels or _link_line(block)):
            return False
        return not is_marquee(block.text)

    return [b for b in blocks if kept(b)]


def _link_line(block: Block) -> bool:
    """A loose line that is a link and little else: a teaser for another page ("Lakers vs
    Nets: NBA make final decision [VIDEO]"), a masthead, "Explore further"."""
    size = len(block.text)
    return size < LINK_LINE_MAX_CHARS and block.link_chars >= LINK_LINE_SHARE * size


def read_blocks(
    node: LexborNode,
    *,
    links: bool = False,
    guarded: frozenset[int] = frozenset(),
    landmarks: frozenset[int] = frozenset(),
) -> list[Block]:
    """The blocks of ``node``'s subtree, in document order, link farms left out.

    :param links: also render each block with its links as ``[text](url)`` (``linked``)
    :param guarded: ``mem_id`` of subtrees whose blocks are marked ``guarded``
    :param landmarks: those of them that are page landmarks
    """
    walker = _Walker(links, guarded, landmarks)
    walker.visit(node, "p", 0, -1)
    walker.flush("p", 0, -1)
    return _without_farms(walker.blocks, walker.farms)


def _without_farms(blocks: list[Block], farms: list[tuple[int, int]]) -> list[Block]:
    """``blocks`` without the link farms that are a small part of the text: a menu beside
    the article goes, a list of links that is the page (an index, a listing) stays."""
    if not farms:
        return blocks
    total = sum(len(b.text) for b in blocks)
    doomed = [False] * len(blocks)
    for start, end in farms:
        if sum(len(b.text) for b in blocks[start:end]) < FARM_KEEP_SHARE * total:
            doomed[start:end] = [True] * (end - start)
    return [b for b, gone in zip(blocks, doomed, strict=True) if not gone]


def read_content(
    node: LexborNode,
    *,
    drop: Callable[[str, str, str], bool],
    markdown_only: frozenset[str] = frozenset(),
    links: bool = False,
    guarded: frozenset[int] = frozenset(),
    landmarks: frozenset[int] = frozenset(),
) -> tuple[Content, bool]:
    """Text and Markdown of ``node``'s blocks, without those ``drop`` calls chrome (see
    :func:`scraper.extract.content.main_content` for ``drop`` and ``markdown_only``), and
    whether all the blocks of ``guarded`` subtrees were left out (:func:`unguarded_blocks`)."""
    text_lines: list[str] = []
    markdown: list[str] = []
    previous = ""
    row = -1
    row_in_text = False  # whether the current table row has a line in the text
    blocks = read_blocks(node, links=links, guarded=guarded, landmarks=landmarks)
    kept = unguarded_blocks(blocks)
    for block in _without_labels(main_blocks(kept)):
        key = norm_line(block.text) if len(block.text) <= MAX_TESTED_CHARS else ""
        if key and drop(block.kind, block.text, key):
            continue
        shown = block.linked or block.text
        in_text = not key or key not in markdown_only
        if block.kind == "cell" and block.row == row and previous == "cell":
            # the cells of one row are one line: "a | b | c"
            if in_text and row_in_text:
                text_lines[-1] += " | " + block.text
            elif in_text:
                text_lines.append(block.text)
                row_in_text = True
            markdown[-1] += f" {shown} |"
            continue
        row = block.row if block.kind == "cell" else -1
        row_in_text = in_text
        if in_text:
            text_lines.append(block.text)
        separator = "\n" if block.kind == previous and block.kind in {"item", "cell"} else "\n\n"
        markdown.append(separator + _markdown_line(block.kind, block.level, shown, block.number))
        previous = block.kind
    content = Content("\n".join(text_lines), "".join(markdown).strip("\n"))
    return content, kept is not blocks and not any(b.guarded for b in kept)


def _markdown_line(kind: str, level: int, text: str, number: int = 0) -> str:
    if kind == "head":
        return "#" * level + " " + text
    if kind == "item":
        return "  " * (level - 1) + (f"{number}. " if number else "- ") + text
    if kind == "quote":
        return "> " + text
    if kind == "code":
        return f"```\n{text}\n```"
    if kind == "cell":
        return f"| {text} |"
    return text
