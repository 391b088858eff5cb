"""The fast paths of extraction give exactly what their definitions give: the comparison
key (``\\W+`` runs to one space, stripped, casefolded), the word count, white space squashed,
the keys of a text's lines, and the chrome-attribute test."""

from __future__ import annotations

import random
import re

import pytest

from scraper.extract.clean import (
    _CHROME_WORD_SET,
    _is_chrome_attr,
    count_words,
    norm_line,
    squash_spaces,
)
from scraper.extract.crosscheck import Whole, cross_check, line_keys

_NON_WORD = re.compile(r"\W+")
_WORD = re.compile(r"\w+")


def reference_key(text: str) -> str:
    """The key as it was defined before the fast path: the pattern, written out here."""
    return _NON_WORD.sub(" ", text).strip().casefold()


CASES = [
    "",
    " ",
    "Hello, World!",
    "  Leading and trailing  ",
    "snake_case and CamelCase 2024-01-31",
    "...!!!---",
    "\t\n\r\x0b\x0c\x1c\x1d\x1e",
    "one\ntwo\r\nthree\rfour\x0bfive\x0csix\x1cseven\x85eight\u2028nine\u2029ten",
    "NUL\x00in\x00the\x00middle",
    "Café au lait, naïve façade",
    "Straße STRASSE ß ẞ",
    "ﬁnancial ﬂoor",
    "Ünïcödé—dashes – and ‘quotes’ and “double” … ellipsis",
    "non\xa0breaking\u2009thin\u3000ideographic spaces",
    "日本語のテキスト、句読点。",
    "Ελληνικά ΣΊΣΥΦΟΣ",
    "Кириллица: ТЕКСТ",
    "emoji 😀 between 🎉 words",
    "Kelvin \u212a and long \u017f and dotted \u0130 and dotless \u0131",
    "digits ١٢٣ and ² superscripts ½",
    "A" * 10_000 + "!" * 10_000 + "b" * 10_000,
]


@pytest.mark.parametrize("text", CASES)
def test_the_key_is_the_patterns_key(text: str) -> None:
    assert norm_line(text) == reference_key(text)


@pytest.mark.parametrize("text", CASES)
def test_the_word_count_is_the_patterns_count(text: str) -> None:
    assert count_words(text) == len(_WORD.findall(text))


def test_every_ascii_character_between_words() -> None:
    for code in range(128):
        text = f"Ab{chr(code)}Cd {chr(code)}{chr(code)} E{chr(code)}"
        assert text.isascii()
        assert norm_line(text) == reference_key(text), repr(chr(code))
        assert count_words(text) == len(_WORD.findall(text)), repr(chr(code))


def test_every_code_point_between_words() -> None:
    """Each character once, between ASCII letters (so the text is not ASCII and takes the
    general path) and alone."""
    for start in range(0, 0x110000, 0x1000):
        chars = [chr(c) for c in range(start, start + 0x1000)]
        text = "x".join(chars)
        assert norm_line(text) == reference_key(text)
        assert count_words(text) == len(_WORD.findall(text))
        for char in chars[::0x100]:
            assert norm_line(char) == reference_key(char)


def test_random_mixed_texts() -> None:
    rng = random.Random(17)
    alphabet = "aZ9_ .,-\n\t\r\x0b\x1c\u2028\xa0’éß" + "".join(chr(c) for c in range(0, 128))
    for _ in range(3000):
        size = rng.randint(0, 40)
        if rng.random() < 0.5:
            text = "".join(rng.choice(alphabet[:20]) for _ in range(size))
            ascii_text = "".join(c for c in text if c.isascii())
            assert norm_line(ascii_text) == reference_key(ascii_text)
        else:
            text = "".join(
                chr(rng.randrange(0x110000)) if rng.random() < 0.2 else rng.choice(alphabet)
                for _ in range(size)
            )
        assert norm_line(text) == reference_key(text), repr(text)
        assert count_words(text) == len(_WORD.findall(text)), repr(text)


def test_a_lone_surrogate_is_not_a_word() -> None:
    text = "before\ud800after \udfff end"
    assert norm_line(text) == reference_key(text) == "before after end"
    assert count_words(text) == 3


LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"


def test_every_line_break_is_outside_words() -> None:
    """What makes :func:`line_keys` exact: ``splitlines`` breaks only at non-word characters."""
    for code in range(0x110000):
        char = chr(code)
        if len(f"a{char}b".splitlines()) > 1:
            assert char in LINE_BREAKS
            assert not _WORD.match(char)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "\n\n",
        "One line",
        "First line.\nSecond, line!\r\nThird\rFourth\x0bFifth\x0cSixth\x1cSeventh\x85Eighth",
        "word\u2028split\u2029across\r\n\r\nbreaks and  spaces\n",
        "Ünïcödé line\nStraße\n\n日本語\n!!!\n",
        "trailing break\n",
        "\rleading break",
    ],
)
def test_line_keys_join_to_the_texts_key(text: str) -> None:
    lines, keys, key = line_keys(text)
    assert lines == text.splitlines()
    assert keys == [reference_key(line) for line in lines]
    assert key == reference_key(text)
    assert (key.count(" ") + 1 if key else 0) == len(_WORD.findall(text))


@pytest.mark.parametrize(
    "text",
    [*CASES, "\x1c\x1d\x1e\x1f sep\x1farators\x1c" * 30, "a\u00a0b\u2003c" * 100],
)
def test_squashed_spaces_are_split_and_joined(text: str) -> None:
    assert squash_spaces(text) == " ".join(text.split())


def test_every_ascii_character_squashed() -> None:
    for code in range(128):
        char = chr(code)
        short = f" Ab{char}Cd {char}{char} E{char}\t"
        for text in (short, short * 40):  # both sides of the fast path's length
            assert squash_spaces(text) == " ".join(text.split()), repr(char)


def _reference_chrome_attr(value: str) -> bool:
    """The chrome-attribute test without its shortcut, written out here."""
    words = re.split(r"[\s_-]+", value.lower())
    if not _CHROME_WORD_SET.isdisjoint(words):
        return True
    pairs = zip(words, words[1:], strict=False)
    if any(f"{a}-{b}" in _CHROME_WORD_SET for a, b in pairs):
        return True
    triples = zip(words, words[1:], words[2:], strict=False)
    return any(f"{a}-{b}-{c}" in _CHROME_WORD_SET for a, b, c in triples)


def test_the_chrome_attribute_shortcut_changes_no_verdict() -> None:
    parts = sorted({p for w in _CHROME_WORD_SET for p in w.split("-")}) + [
        "post",
        "main",
        "content",
        "wrapper",
        "col",
        "md",
        "8",
        "",
        "MOST",
        "Read",
    ]
    rng = random.Random(5)
    joiners = [" ", "-", "_", "__", " - ", "\t"]
    checked = chrome = 0
    for _ in range(20_000):
        words = [rng.choice(parts) for _ in range(rng.randint(1, 5))]
        value = "".join(w + rng.choice(joiners) for w in words).strip(rng.choice(["", " ", "-"]))
        verdict = _is_chrome_attr.__wrapped__(value)
        assert verdict == _reference_chrome_attr(value), value
        checked += 1
        chrome += verdict
    assert 0 < chrome < checked
    for word in _CHROME_WORD_SET:  # each joined word, as it is and with its parts split by "_"
        for value in (word, word.replace("-", "_"), f"x {word} y", f"{word}er"):
            assert _is_chrome_attr.__wrapped__(value) == _reference_chrome_attr(value), value


@pytest.mark.parametrize("text", CASES)
def test_the_cross_checks_word_count_is_the_patterns_count(text: str) -> None:
    """The article's word count on the direct path is the one the cross-check made."""
    assert cross_check(text, Whole("", 0, ())).words == len(_WORD.findall(text))
