"""Diff: what changed between two snapshots of a page, as a unified diff, inline words or JSON.

Pure: snapshots (or texts) in, strings and dicts out. It never reads the archive, the network
or the clock.

Long articles stay cheap: the texts are compared paragraph by paragraph first (one line of
text is one paragraph), and words are compared only inside the paragraphs that changed.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from scraper.models import Snapshot

#: the metadata fields compared and reported, in this order
METADATA_FIELDS = ("title", "author", "published", "updated", "description", "language")

#: marks the end of a paragraph in a word list (JSON ``diff_ops`` shows it as "\n")
PARAGRAPH_BREAK = "\n"

#: above this many words on both sides of one changed block, the word alignment is skipped
#: (SequenceMatcher is quadratic in the worst case) and the block is reported as one replace
MAX_ALIGNED_WORDS = 20_000

Op = Literal["equal", "insert", "delete", "replace"]
WordOp = tuple[Op, list[str], list[str]]

RED = "\x1b[31m"
GREEN = "\x1b[32m"
RESET = "\x1b[0m"


# --- building blocks ------------------------------------------------------------------------
def paragraphs(text: str) -> list[str]:
    """The non-blank lines of ``text``, trailing spaces removed: one paragraph each."""
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def _words(paras: Sequence[str]) -> list[str]:
    """The words of some paragraphs, each paragraph followed by a PARAGRAPH_BREAK."""
    out: list[str] = []
    for para in paras:
        out.extend(para.split())
        out.append(PARAGRAPH_BREAK)
    return out


def word_ops(old_text: str, new_text: str) -> Iterator[WordOp]:
    """Edit operations turning the words of ``old_text`` into those of ``new_text``.

    Each op is ``(tag, old_words, new_words)``; for ``equal`` both lists are the same words.
    Paragraphs are aligned first; words are aligned only within replaced paragraph blocks.
    """
    old_p, new_p = paragraphs(old_text), paragraphs(new_text)
    matcher = difflib.SequenceMatcher(None, old_p, new_p, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        old_w, new_w = _words(old_p[i1:i2]), _words(new_p[j1:j2])
        if tag == "equal":
            yield "equal", old_w, new_w
        elif tag == "delete":
            yield "delete", old_w, []
        elif tag == "insert":
            yield "insert", [], new_w
        elif min(len(old_w), len(new_w)) > MAX_ALIGNED_WORDS:
            yield "replace", old_w, new_w
        else:
            yield from _align_words(old_w, new_w)


def _align_words(old_w: list[str], new_w: list[str]) -> Iterator[WordOp]:
    words = difflib.SequenceMatcher(None, old_w, new_w, autojunk=True)
    for tag, i1, i2, j1, j2 in words.get_opcodes():
        op: Op = tag  # difflib's tags are exactly our four
        yield op, old_w[i1:i2], new_w[j1:j2]


def _count(words: Sequence[str]) -> int:
    return sum(1 for word in words if word != PARAGRAPH_BREAK)


def word_counts(old_text: str, new_text: str) -> tuple[int, int]:
    """(words added, words removed) from ``old_text`` to ``new_text``.

    Counted on the same edit operations that ``word_diff`` shows. A word moved to another
    paragraph counts as removed and added, as the diff shows it.
    """
    if old_text == new_text:
        return 0, 0
    if not old_text or not new_text:  # a first version (or an emptied page): no diff to run
        return len(new_text.split()), len(old_text.split())
    added = removed = 0
    for tag, old_w, new_w in word_ops(old_text, new_text):
        if tag != "equal":
            removed += _count(old_w)
            added += _count(new_w)
    return added, removed


def multiset_counts(old_text: str, new_text: str) -> tuple[int, int]:
    """(words added, words removed) as a multiset difference: linear time, ignores order."""
    old, new = Counter(old_text.split()), Counter(new_text.split())
    return sum((new - old).values()), sum((old - new).values())


def metadata_changes(old: Snapshot, new: Snapshot) -> dict[str, tuple[str | None, str | None]]:
    """The metadata fields whose value differs: field -> (old value, new value)."""
    changes: dict[str, tuple[str | None, str | None]] = {}
    for name in METADATA_FIELDS:
        before, after = getattr(old, name), getattr(new, name)
        if before != after:
            changes[name] = (before, after)
    return changes


# --- the three output formats -----------------------------------------------------------------
def _label(snapshot: Snapshot) -> str:
    return f"snapshot {snapshot.id} ({snapshot.fetched_at})"


def _metadata_lines(old: Snapshot, new: Snapshot) -> list[str]:
    return [
        f"{name}: {before!r} -> {after!r}"
        for name, (before, after) in metadata_changes(old, new).items()
    ]


def unified_diff(old: Snapshot, new: Snapshot, *, context: int = 3) -> str:
    """A unified diff of the two texts, one line per paragraph, after a line per changed
    metadata field (``title: 'old' -> 'new'``). Empty when nothing differs."""
    lines = _metadata_lines(old, new)
    lines.extend(
        difflib.unified_diff(
            paragraphs(old.text),
            paragraphs(new.text),
            fromfile=_label(old),
            tofile=_label(new),
            n=context,
            lineterm="",
        )
    )
    return "".join(line + "\n" for line in lines)


class _InlineRenderer:
    """Collects marked-up words into paragraphs, remembering which paragraphs changed."""

    def __init__(self, marks: dict[str, tuple[str, str]]) -> None:
        self.marks = marks
        self.paragraphs: list[tuple[str, bool]] = []
        self._parts: list[str] = []
        self._changed = False
        self._glue = False  # the next part follows the previous one without a space

    def add(self, words: Sequence[str], kind: str | None) -> None:
        """Add words (``kind`` None: unchanged, or ``delete``/``insert``)."""
        run: list[str] = []
        for word in words:
            if word == PARAGRAPH_BREAK:
                self._flush(run, kind)
                run = []
                self._end_paragraph(changed=kind is not None)
            else:
                run.append(word)
        self._flush(run, kind)

    def glue_next(self) -> None:
        """Join the next part to the previous one (``[-old-]{+new+}``)."""
        self._glue = True

    def finish(self) -> list[tuple[str, bool]]:
        if self._parts:
            self._end_paragraph(changed=False)
        return self.paragraphs

    def _flush(self, run: list[str], kind: str | None) -> None:
        if not run:
            self._glue = False
            return
        text = " ".join(run)
        if kind is not None:
            start, end = self.marks[kind]
            text = f"{start}{text}{end}"
            self._changed = True
        if self._glue and self._parts:
            self._parts[-1] += text
        else:
            self._parts.append(text)
        self._glue = False

    def _end_paragraph(self, *, changed: bool) -> None:
        self.paragraphs.append((" ".join(self._parts), self._changed or changed))
        self._parts, self._changed, self._glue = [], False, False


def word_diff(old: Snapshot, new: Snapshot, *, color: bool = False) -> str:
    """The changed paragraphs with deleted and inserted words marked inline.

    Plain: ``[-deleted-]{+inserted+}``; coloured: deleted in red, inserted in green (ANSI).
    Unchanged paragraphs are left out; a ``...`` line stands for each run of them. Changed
    metadata fields come first, one line each. Empty when nothing differs.
    """
    if color:
        marks = {"delete": (RED, RESET), "insert": (GREEN, RESET)}
    else:
        marks = {"delete": ("[-", "-]"), "insert": ("{+", "+}")}
    renderer = _InlineRenderer(marks)
    for tag, old_w, new_w in word_ops(old.text, new.text):
        if tag == "equal":
            renderer.add(old_w, None)
            continue
        renderer.add(old_w, "delete")
        if tag == "replace" and PARAGRAPH_BREAK not in old_w:
            renderer.glue_next()
        renderer.add(new_w, "insert")
    rendered = renderer.finish()

    lines = _metadata_lines(old, new)
    shown_until = -1
    for index, (para, is_changed) in enumerate(rendered):
        if not is_changed:
            continue
        if index > shown_until + 1:
            lines.append("...")
        lines.append(para)
        shown_until = index
    if shown_until != -1 and shown_until < len(rendered) - 1:
        lines.append("...")
    return "".join(line + "\n" for line in lines)


def diff_ops(old: Snapshot, new: Snapshot) -> dict[str, Any]:
    """The difference as JSON-ready data.

    ``{"from": {...}, "to": {...}, "metadata": {field: {"old", "new"}}, "words_added",
    "words_removed", "ops": [...]}``: each op is ``{"op": "equal", "words": [...]}``,
    ``{"op": "delete", "old": [...]}``, ``{"op": "insert", "new": [...]}`` or
    ``{"op": "replace", "old": [...], "new": [...]}``; a ``"\\n"`` item ends a paragraph.
    """
    ops: list[dict[str, Any]] = []
    added = removed = 0
    for tag, old_w, new_w in word_ops(old.text, new.text):
        if tag == "equal" and ops and ops[-1]["op"] == "equal":
            ops[-1]["words"] = ops[-1]["words"] + old_w
        elif tag == "equal":
            ops.append({"op": "equal", "words": old_w})
        elif tag == "delete":
            ops.append({"op": "delete", "old": old_w})
        elif tag == "insert":
            ops.append({"op": "insert", "new": new_w})
        else:
            ops.append({"op": "replace", "old": old_w, "new": new_w})
        if tag != "equal":
            removed += _count(old_w)
            added += _count(new_w)
    return {
        "from": {"id": old.id, "fetched_at": old.fetched_at},
        "to": {"id": new.id, "fetched_at": new.fetched_at},
        "metadata": {
            name: {"old": before, "new": after}
            for name, (before, after) in metadata_changes(old, new).items()
        },
        "words_added": added,
        "words_removed": removed,
        "ops": ops,
    }
