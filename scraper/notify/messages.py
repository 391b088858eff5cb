"""Notify: the text of each message (a changed page, a page gone, a site whose extraction
dropped, a digest, a test). Pure: snapshots in, (title, body) out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from scraper.diff import PARAGRAPH_BREAK, word_counts, word_ops
from scraper.noise import NoiseRules, comparison_lines

if TYPE_CHECKING:
    from scraper.models import Snapshot

#: the word diff excerpt in a message stops after about this many characters
EXCERPT_CHARS = 400
#: words of unchanged context kept on each side of a change in the excerpt
CONTEXT_WORDS = 4


def _words(words: Sequence[str]) -> str:
    return " ".join(w for w in words if w != PARAGRAPH_BREAK)


def excerpt(old_text: str, new_text: str, *, limit: int = EXCERPT_CHARS) -> str:
    """A short word diff: ``[-removed-]`` and ``{+added+}`` with a few words around them."""
    parts: list[str] = []
    ops = list(word_ops(old_text, new_text))
    if all(tag == "equal" for tag, _, _ in ops):
        return ""
    for index, (tag, old_w, new_w) in enumerate(ops):
        if tag == "equal":
            words = [w for w in old_w if w != PARAGRAPH_BREAK]
            before = index > 0
            after = index < len(ops) - 1
            if before and after and len(words) > 2 * CONTEXT_WORDS:
                parts.append(
                    f"{_words(words[:CONTEXT_WORDS])} ... {_words(words[-CONTEXT_WORDS:])}"
                )
            elif before and not after:
                parts.append(
                    _words(words[:CONTEXT_WORDS]) + (" ..." if len(words) > CONTEXT_WORDS else "")
                )
            elif after and not before:
                parts.append(
                    ("... " if len(words) > CONTEXT_WORDS else "") + _words(words[-CONTEXT_WORDS:])
                )
            elif words:
                parts.append(_words(words))
            continue
        if old_w and _words(old_w):
            parts.append(f"[-{_words(old_w)}-]")
        if new_w and _words(new_w):
            parts.append(f"{{+{_words(new_w)}+}}")
    text = " ".join(p for p in parts if p)
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


def change_counts(old: Snapshot, new: Snapshot, rules: NoiseRules | None) -> tuple[int, int]:
    """(words added, words removed), counted with the noise masked as the comparison does."""
    return word_counts(
        "\n".join(comparison_lines(old.text, rules)), "\n".join(comparison_lines(new.text, rules))
    )


def change_message(
    old: Snapshot, new: Snapshot, rules: NoiseRules | None = None
) -> tuple[str, str]:
    """The (title, body) telling that ``new`` replaced ``old`` of a page."""
    title_changed = (old.title or "") != (new.title or "")
    shown = f"{old.title} -> {new.title}" if title_changed else (new.title or new.url)
    added, removed = change_counts(old, new, rules)
    lines = [new.url]
    if title_changed:
        lines.append(f"Title: {old.title or '(none)'} -> {new.title or '(none)'}")
    lines.append(f"{added} words added, {removed} removed")
    diff = excerpt(
        "\n".join(comparison_lines(old.text, rules)), "\n".join(comparison_lines(new.text, rules))
    )
    if diff:
        lines.append(diff)
    lines.append(
        f"Snapshots: {old.id} -> {new.id} (scraper diff {new.url} --from {old.id} --to {new.id})"
    )
    return f"Changed: {shown}", "\n".join(lines)


def gone_message(url: str, status: int, title: str | None, snapshot_id: int) -> tuple[str, str]:
    return (
        f"Page gone: {title or url}",
        f"{url}\nanswered {status} on two runs in a row\nLast snapshot: {snapshot_id}",
    )


def dropped_message(site: str, warning: str) -> tuple[str, str]:
    return f"Site extraction dropped: {site}", warning.removeprefix("warning: ")


def digest_message(items: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """One message for several: each item's title, then its body, separated by blank lines."""
    title = f"scraper: {len(items)} change{'s' if len(items) != 1 else ''}"
    body = "\n\n".join(f"{t}\n{b}" for t, b in items)
    return title, body


def test_message(target: str) -> tuple[str, str]:
    return (
        "scraper: test message",
        f"This is a test message from scraper notify --test to {target}.",
    )
