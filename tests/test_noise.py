"""scraper.noise: which new extractions are real changes (hand-written texts in fixtures/noise)."""

from __future__ import annotations

import re
import unicodedata

import pytest

from scraper.noise import NoiseRules, Version, comparison_lines, judge
from tests.conftest import FIXTURES

NOISE = FIXTURES / "noise"
BASE = (NOISE / "base.txt").read_text(encoding="utf-8")
TITLE = "Council approves riverside park"


def v(text: str, title: str = TITLE, id: int | None = None, author: str = "Ana Ruiz") -> Version:
    return Version(id, title, author, text)


LATEST = [v(BASE, id=1)]


@pytest.mark.parametrize("name", ["noisy.txt", "noisy2.txt"])
def test_every_kind_of_noise_at_once_is_no_change(name: str) -> None:
    """Relative times, counters, datelines, a reshuffled list, cache busters, spaces."""
    verdict = judge(v((NOISE / name).read_text(encoding="utf-8")), LATEST)
    assert (verdict.kind, verdict.same_as, verdict.writes) == ("noise", 1, False)


@pytest.mark.parametrize(
    "text",
    [
        BASE.replace("years of debate", "years of debate"),
        BASE.replace("'", "\u2019").replace("-", "\u2013"),
        unicodedata.normalize("NFD", BASE.replace("town", "café")),
        BASE.replace("\n", "\n\n").replace(" ", "\u00a0", 5),
        BASE.replace("Posted 12:04 PM, Tue, 3 March 2026", "Posted Mar 3, 2026 at 1:15 pm"),
        BASE.replace("45 comments", "1.2k comments"),
    ],
)
def test_one_kind_of_noise_is_no_change(text: str) -> None:
    base = BASE.replace("town", "café") if "caf" in text else BASE
    assert judge(v(text), [v(unicodedata.normalize("NFC", base), id=1)]).kind == "noise"


@pytest.mark.parametrize(
    ("text", "title"),
    [
        (BASE.replace("the mayor said", "the deputy mayor said"), TITLE),  # a changed sentence
        (BASE.replace("2.5 million", "3.1 million"), TITLE),  # a changed number in the body
        (BASE.replace("on Tuesday evening", "on Monday evening"), TITLE),  # a day in the body
        (BASE + "Correction: an earlier version gave the wrong cost.\n", TITLE),  # a note
        (BASE + "A public meeting about the design will be held next week.\n", TITLE),
        (BASE, "Riverside park gets the green light"),  # a new headline
        (BASE.replace("Story two about the town\n", ""), TITLE),  # a list item removed
    ],
)
def test_real_edits_are_changes(text: str, title: str) -> None:
    verdict = judge(v(text, title), LATEST)
    assert verdict.kind == "edit"
    assert verdict.writes
    assert verdict.alerts


@pytest.mark.parametrize(
    ("old", "new", "kind"),
    [
        ("The vote is set for 5 March.", "The vote is set for 12 March.", "edit"),
        ("Doors open at 7 pm.", "Doors open at 8 pm.", "edit"),
        ("Posted on 5 March", "Posted on 6 March", "noise"),
        ("Tue, 3 March 2026", "Wed, 4 March 2026", "noise"),
        ("Last updated 10:15", "Last updated 11:40", "noise"),
        ("© 2025 Town News", "© 2026 Town News", "noise"),
    ],
)
def test_a_date_in_a_short_sentence_counts_but_not_in_a_dateline(
    old: str, new: str, kind: str
) -> None:
    assert judge(v(BASE + new + "\n"), [v(BASE + old + "\n", id=1)]).kind == kind


def test_a_changed_author_is_a_change() -> None:
    assert judge(v(BASE, author="Ben Okafor"), LATEST).kind == "edit"


def test_a_byline_as_author_with_counters_is_no_change() -> None:
    old = [v(BASE, id=1, author="Ana Ruiz · Updated 7 minutes ago · 90,881 views")]
    new = v(BASE, author="Ana Ruiz · Updated 53 minutes ago · 21,633 views")
    assert judge(new, old).kind == "noise"


def test_a_flip_back_to_an_earlier_version_is_reverted() -> None:
    """An A/B headline: B is new once; back to A matches the version before: reverted."""
    a, b = v(BASE, id=1), v(BASE, "Riverside park gets the green light", id=2)
    assert judge(v(BASE, "Riverside park gets the green light"), [a]).kind == "edit"
    verdict = judge(v(BASE), [b, a])
    assert (verdict.kind, verdict.same_as, verdict.writes) == ("reverted", 1, False)
    # a third variant is new; flipping among the three stays reverted
    c = v(BASE, "Park wins approval", id=3)
    assert judge(v(BASE, "Riverside park gets the green light"), [c, b, a]).kind == "reverted"


def test_only_the_last_compared_versions_count() -> None:
    history = [v(BASE + f"Update {i}: more on the vote.\n", id=10 - i) for i in range(6)]
    rules = NoiseRules(compared_versions=3)
    assert judge(v(history[2].text), history, rules).kind == "reverted"
    assert judge(v(history[4].text), history, rules).kind == "edit"


def test_first_version() -> None:
    assert judge(v(BASE), []).kind == "first"


def test_ignore_text_lines_do_not_count() -> None:
    rules = NoiseRules(ignore_text=(re.compile(r"^Weather:"),))
    old = [v(BASE + "Weather: 12 degrees and cloudy over the whole region this afternoon\n", id=1)]
    new = v(BASE + "Weather: 15 degrees and sunny over the whole region this afternoon\n")
    assert judge(new, old).kind == "edit"  # without the rule it is a change
    assert judge(new, old, rules).kind == "noise"
    # other lines still count
    changed = v(new.text.replace("2.5 million", "3 million"))
    assert judge(changed, old, rules).kind == "edit"


def test_min_change_words_makes_small_changes_minor() -> None:
    rules = NoiseRules(min_change_words=5)
    small = judge(v(BASE.replace("the mayor said", "the deputy mayor said")), LATEST, rules)
    assert (small.kind, small.words_added, small.words_removed) == ("minor", 1, 0)
    assert small.writes
    assert not small.alerts
    big = BASE + "A public meeting about the design will be held next week.\n"
    assert judge(v(big), LATEST, rules).kind == "edit"
    # a new headline always alerts, however few words changed
    assert judge(v(BASE, "Park approved"), LATEST, rules).kind == "edit"


def test_comparison_lines_keep_the_body_and_mask_the_furniture() -> None:
    lines = comparison_lines(BASE)
    assert "By Ana Ruiz · Updated <ago> · <count>" in lines
    assert "Posted <when>" in lines
    assert any("2.5 million euros" in line for line in lines)
    assert "See https://example.org/map.png for the plan." in lines
