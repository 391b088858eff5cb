"""Noise rules: is a new extraction of a page a real change from its last versions?

The archive asks this only when the content hash differs from the latest snapshot. Both
sides are reduced to a comparison key that leaves out what changes without anyone editing
the article, and the keys are compared with the page's last few versions (as urlwatch's
``compared_versions`` does):

- Unicode (NFKC, quotes, dashes, zero-width characters) and whitespace are normalised;
- relative times ("5 minutes ago", "just now", "yesterday") are masked everywhere;
- in *furniture*, lines of at most FURNITURE_MAX_WORDS words (bylines, datelines, counters,
  list items), counters ("1,234 views", "12 comments") are masked too, and so are dates and
  clock times in datelines (a short line that is little more than a date or time, or that says
  "posted", "updated", "published"...); in longer lines (the body) every number and date counts;
- a run of consecutive furniture lines (a "related" or "most read" list) is compared as a
  set of lines: a reshuffle is not a change; an item added or removed is;
- query strings of URLs written in the text (cache busters) are dropped;
- lines matching a site's ``ignore_text`` regexes are left out (the stored text keeps them),
  and so are the site's learned boilerplate lines (which extraction drops once learned).

The verdict: ``unchanged``/``noise`` (same key as the latest version), ``reverted`` (same key
as an earlier one of the last COMPARED_VERSIONS: a page flipping between variants), ``minor``
(fewer words changed than ``min_change_words``, title unchanged: stored, no alert), ``edit``
or ``first``. Metadata other than title and author (dates, description) is not compared: it
is page furniture as far as change monitoring is concerned.

Pure: texts in, a verdict out; no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from scraper.diff import word_counts

#: how many of a page's latest versions a new extraction is compared with
COMPARED_VERSIONS = 5
#: a line of at most this many words is furniture (byline, dateline, counter, list item)
FURNITURE_MAX_WORDS = 12

Kind = Literal["first", "edit", "minor", "unchanged", "noise", "reverted"]
#: the verdicts that write a snapshot
WRITES: frozenset[str] = frozenset({"first", "edit", "minor"})

_TRANSLATE = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\u00a0": " ",
        "\u200b": None,
        "\u200c": None,
        "\u200d": None,
        "\u2060": None,
        "\ufeff": None,
        "\u00ad": None,
    }
)
_UNITS = (
    r"(?:sec(?:ond)?s?|min(?:ute)?s?|h(?:ou)?rs?|days?|weeks?|wks?|months?|mos?|years?|yrs?|"
    r"[smhdwy])"
)
_RELATIVE = re.compile(
    rf"\b(?:(?:\d+|an?|one|a few|several)\s*{_UNITS}\.?\s+ago|just now|moments? ago|"
    rf"yesterday|today|(?:in|for) (?:the )?(?:last|past) \d+\s*{_UNITS})\b",
    re.IGNORECASE,
)
_MONTHS = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAYS = r"(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*\.?"
_DATE = re.compile(
    r"\b(?:\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?|"
    rf"\d{{1,2}}[./-]\d{{1,2}}[./-]\d{{2,4}}|"
    rf"(?:{_WEEKDAYS},?\s+)?(?:\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTHS},?(?:\s+\d{{4}})?|"
    rf"{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?(?:\s+\d{{4}})?|{_MONTHS}\s+\d{{4}})|{_WEEKDAYS})",
    re.IGNORECASE,
)
_CLOCK = re.compile(
    r"\b\d{1,2}:\d{2}(?::\d{2})?\s*(?:[ap]\.?m\.?)?(?:\s*(?:utc|gmt|[a-z]{2,4}t))?\b|"
    r"\b\d{1,2}\s*[ap]\.?m\.?(?=\W|$)",
    re.IGNORECASE,
)
_COUNTER = re.compile(
    r"\b\d[\d,.\s]*[kmb]?\+?\s*(?:views?|reads?|comments?|replies|shares?|likes?|votes?|"
    r"reactions?|followers?|subscribers?|readers?|visits?|clicks?|hits?|plays?|watching|"
    r"people|min(?:ute)?s? read|responses?)\b|"
    r"\b(?:views?|reads?|comments?|shares?|likes?|votes?|hits?|visits?)\s*[:(]?\s*\d[\d,.]*[kmb]?\b",
    re.IGNORECASE,
)
#: words that make a short line with a date or a time a dateline
_DATELINE_WORDS = re.compile(
    r"\b(?:posted|published|updated|modified|edited|as of|ago|copyright|last (?:updated|modified))"
    r"\b|©",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(?:19|20)\d{2}\b")
#: words one of which every match of _RELATIVE contains
_RELATIVE_HINTS = ("ago", "now", "yesterday", "today", "last", "past")
#: a date and a clock time side by side, in either order, are one moment
_WHEN = re.compile(r"<(?:date|time)>(?:(?:\s*(?:[,|·@-]|at|on)\s*|\s+)<(?:date|time)>)*")
_URL_QUERY = re.compile(r"(https?://[^\s?#]+)\?[^\s#]*")


@dataclass(frozen=True, slots=True)
class NoiseRules:
    """A site's rules: ``ignore_text`` regexes and ``min_change_words`` (0: every change)."""

    ignore_text: tuple[re.Pattern[str], ...] = ()
    min_change_words: int = 0
    compared_versions: int = COMPARED_VERSIONS
    #: the site's learned boilerplate lines: a version stored before they were learned
    #: still has them, and their going is our extraction changing, not the site
    boilerplate: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Version:
    """What of a stored version (or a new extraction) the comparison reads."""

    id: int | None
    title: str | None
    author: str | None
    text: str


@dataclass(frozen=True, slots=True)
class Verdict:
    """Whether a new extraction is a new version, and why."""

    kind: Kind
    same_as: int | None = None  #: the version it equals (noise, reverted)
    #: counted on the comparison keys (noise masked), only when ``min_change_words`` is set
    words_added: int = 0
    words_removed: int = 0

    @property
    def writes(self) -> bool:
        """A snapshot is written for this verdict."""
        return self.kind in WRITES

    @property
    def alerts(self) -> bool:
        """Subscribers are told (an edit; not a first version, a minor change or noise)."""
        return self.kind == "edit"


def normalise_line(line: str) -> str:
    """One line with Unicode and whitespace normalised (what every comparison starts from)."""
    if not line.isascii():
        if not unicodedata.is_normalized("NFKC", line):
            line = unicodedata.normalize("NFKC", line)
        line = line.translate(_TRANSLATE)
    return " ".join(line.split())


def _mask_line(line: str) -> tuple[str, bool]:
    """The line with its noise masked, and whether it is furniture."""
    # the cheap tests first: most body lines hold no URL and no relative time
    if "://" in line:
        line = _URL_QUERY.sub(r"\1", line)
    lower = line.lower()
    if any(word in lower for word in _RELATIVE_HINTS):
        line = _RELATIVE.sub("<ago>", line)
    furniture = line.count(" ") < FURNITURE_MAX_WORDS
    if furniture:
        line = _COUNTER.sub("<count>", line)
        dated = _CLOCK.sub("<time>", _DATE.sub("<date>", line))
        dateline = _DATELINE_WORDS.search(line) is not None
        if dateline:
            dated = _YEAR.sub("<date>", dated)  # "(c) 2026", "updated in 2025"
        dated = _WHEN.sub("<when>", dated)
        if dated != line:
            # a dateline ("Posted 9:30 AM, 4 March", "Tue, 3 March 2026"), not a short
            # sentence of the article that names a date ("The vote is set for 5 March.")
            rest = [w for w in dated.split() if w[0] != "<" and any(c.isalnum() for c in w)]
            if len(rest) <= 2 or dateline:
                line = dated
    return line, furniture


def comparison_lines(text: str, rules: NoiseRules | None = None) -> list[str]:
    """The lines of ``text`` that a comparison reads, noise masked, lists in a stable order."""
    ignore = rules.ignore_text if rules is not None else ()
    boilerplate = rules.boilerplate if rules is not None else frozenset()
    out: list[str] = []
    block: list[str] = []
    for raw in text.splitlines():
        line = normalise_line(raw)
        if not line or raw.strip() in boilerplate or any(p.search(line) for p in ignore):
            continue
        masked, furniture = _mask_line(line)
        if furniture:
            block.append(masked)
            continue
        out.extend(sorted(block))
        block = []
        out.append(masked)
    out.extend(sorted(block))
    return out


def _key_title(title: str | None) -> str:
    return _RELATIVE.sub("<ago>", normalise_line(title or ""))


def _key_author(author: str | None) -> str:
    # a byline extracted as the author often carries "Updated 5 minutes ago · 1,234 views"
    return _mask_line(normalise_line(author or ""))[0]


def judge(
    new: Version,
    recent: Sequence[Version],
    rules: NoiseRules | None = None,
) -> Verdict:
    """The verdict on ``new`` against ``recent`` (the page's latest versions, newest first)."""
    rules = rules or NoiseRules()
    if not recent:
        return Verdict("first")
    new_lines = comparison_lines(new.text, rules)
    new_key = (_key_title(new.title), _key_author(new.author), new_lines)
    recent = recent[: max(1, rules.compared_versions)]
    latest_lines: list[str] = []
    for index, old in enumerate(recent):
        old_lines = comparison_lines(old.text, rules)
        if index == 0:
            latest_lines = old_lines
        old_key = (_key_title(old.title), _key_author(old.author), old_lines)
        if old_key == new_key:
            return Verdict("noise" if index == 0 else "reverted", same_as=old.id)
    if not rules.min_change_words:
        return Verdict("edit")  # the words are counted only when a rule needs them
    added, removed = word_counts("\n".join(latest_lines), "\n".join(new_lines))
    title_changed = _key_title(new.title) != _key_title(recent[0].title)
    if not title_changed and added + removed < rules.min_change_words:
        return Verdict("minor", words_added=added, words_removed=removed)
    return Verdict("edit", words_added=added, words_removed=removed)
