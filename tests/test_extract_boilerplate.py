"""Site boilerplate learning (pure part): lines that recur across pages of one site."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.extract import extract, learn_boilerplate

SITE = Path(__file__).parent / "fixtures" / "pages" / "boilerplate-site"
PROMO = "Valley Post is free to read because readers like you chip in. Give what you can."
CREDIT = "Photos by the Valley Camera Club unless stated otherwise."


@pytest.fixture(scope="module")
def site_texts() -> list[str]:
    """The text of each page of the fixture site, extracted without learned boilerplate."""
    return [extract(path.read_bytes()).text for path in sorted(SITE.glob("*.html"))]


def test_generic_rules_leave_the_site_boilerplate_in(site_texts: list[str]) -> None:
    assert len(site_texts) == 5
    for text in site_texts:
        assert PROMO in text.splitlines()
        assert CREDIT in text.splitlines()


def test_learns_the_lines_every_page_repeats_and_no_article_line(site_texts: list[str]) -> None:
    assert learn_boilerplate(site_texts, min_pages=3, min_share=0.5) == {PROMO: 5, CREDIT: 5}


def test_learned_lines_are_dropped_and_the_articles_kept(site_texts: list[str]) -> None:
    learned = learn_boilerplate(site_texts, min_pages=3, min_share=0.5)
    article = extract((SITE / "post-3.html").read_bytes(), boilerplate=frozenset(learned))
    assert article.text.splitlines() == [
        "The waiting list for allotments at Mill Lane has closed after reaching two hundred names.",
        "The parish clerk said the average wait is now four years, and new plots are unlikely"
        " before the autumn.",
        "Gardeners on the list can help at the community orchard in the meantime.",
    ]
    assert PROMO not in article.markdown
    assert CREDIT not in article.markdown


def test_too_few_pages_learn_nothing(site_texts: list[str]) -> None:
    assert learn_boilerplate(site_texts[:2], min_pages=3, min_share=0.5) == {}


def test_share_threshold() -> None:
    texts = ["a shared line\nunique one", "a shared line\nunique two", "other\nunique three"]
    texts += ["other\nunique four"]
    assert learn_boilerplate(texts, min_pages=2, min_share=0.5) == {
        "a shared line": 2,
        "other": 2,
    }
    assert learn_boilerplate(texts, min_pages=2, min_share=0.75) == {}


def test_a_line_counts_once_per_page_and_matching_ignores_case_and_spacing() -> None:
    texts = ["Sign up now!\nSign up now!\nA", "sign  up NOW\nB", "C"]
    assert learn_boilerplate(texts, min_pages=2, min_share=0.5) == {"Sign up now!": 2}


def test_long_lines_are_prose_even_when_repeated() -> None:
    quote = "A long quoted statement that several stories repeat word for word. " * 8
    texts = [quote, quote, quote]
    assert learn_boilerplate(texts, min_pages=2, min_share=0.5) == {}


@pytest.mark.parametrize(("min_pages", "min_share"), [(0, 0.5), (3, -0.1), (3, 1.5)])
def test_bad_thresholds_are_value_errors(min_pages: int, min_share: float) -> None:
    with pytest.raises(ValueError, match="min_"):
        learn_boilerplate([], min_pages=min_pages, min_share=min_share)
