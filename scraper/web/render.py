"""Web stage: a word diff of two texts as HTML (inline, and side by side). Pure: texts in,
escaped HTML out; no archive, no Datasette, no clock.

Words come from :func:`scraper.diff.word_ops`, so the browser shows exactly the change that
``scraper diff --format words`` prints: deleted words in ``<del>``, inserted ones in ``<ins>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from scraper.diff import PARAGRAPH_BREAK, word_ops


@dataclass(slots=True)
class _Column:
    """Paragraphs of HTML fragments, built word by word."""

    paragraphs: list[list[str]] = field(default_factory=lambda: [[]])

    def add(self, words: list[str], tag: str | None = None) -> None:
        run: list[str] = []

        def flush() -> None:
            if run:
                text = escape(" ".join(run))
                self.paragraphs[-1].append(f"<{tag}>{text}</{tag}>" if tag else text)
                run.clear()

        for word in words:
            if word == PARAGRAPH_BREAK:
                flush()
                self.paragraphs.append([])
            else:
                run.append(word)
        flush()

    def html(self) -> str:
        return "".join(f"<p>{' '.join(p)}</p>" for p in self.paragraphs if p)


@dataclass(frozen=True, slots=True)
class RenderedDiff:
    """One diff, three ways; counts of the words that changed."""

    inline: str
    old: str  #: the old text with its deleted words marked
    new: str  #: the new text with its inserted words marked
    words_added: int
    words_removed: int


def render_diff(old_text: str, new_text: str) -> RenderedDiff:
    """The word diff of two article texts as HTML."""
    inline, old, new = _Column(), _Column(), _Column()
    added = removed = 0
    for tag, old_words, new_words in word_ops(old_text, new_text):
        if tag == "equal":
            inline.add(old_words)
            old.add(old_words)
            new.add(new_words)
            continue
        if old_words:
            inline.add(old_words, "del")
            old.add(old_words, "del")
            removed += sum(1 for w in old_words if w != PARAGRAPH_BREAK)
        if new_words:
            inline.add(new_words, "ins")
            new.add(new_words, "ins")
            added += sum(1 for w in new_words if w != PARAGRAPH_BREAK)
    return RenderedDiff(inline.html(), old.html(), new.html(), added, removed)


def paragraphs_html(text: str) -> str:
    """An article text (one paragraph per line) as escaped HTML paragraphs."""
    return "".join(f"<p>{escape(line.strip())}</p>" for line in text.splitlines() if line.strip())
