"""extract(): a wrong guess of the article's container does not lose the article, and the
confidence says how sure the extractor is."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.extract import extract

STORY = "<br>".join(
    f"Line {i}: the harbour master said the new pier would open in spring, after two "
    "winters of delays and a long argument over the cost of the steel."
    for i in range(12)
)
TEASERS = "".join(
    f"<p>Teaser {i}: a short summary of another story about the town council and its plans "
    "for the market square this year.</p>"
    for i in range(6)
)


def test_article_outside_the_guessed_container_is_not_lost() -> None:
    """The story is line-broken text in a div; an <article> of teaser paragraphs holds
    all the page's <p> text, so it is the container guessed first: the cross-check must
    notice that it misses most of the page's text and fall back."""
    html = (
        "<html><head><title>The new pier opens in spring</title></head><body>"
        f'<div class="thread"><div class="message">{STORY}</div></div>'
        f'<article class="teaser-list">{TEASERS}</article></body></html>'
    )
    article = extract(html)
    assert article.found
    for i in (0, 5, 11):
        assert f"Line {i}: the harbour master" in article.text


def test_confidence_is_high_for_a_clean_article(seed_dir: Path) -> None:
    article = extract((seed_dir / "post.html").read_bytes())
    assert article.found
    assert article.confidence >= 0.9


def test_confidence_is_zero_without_an_article() -> None:
    article = extract("<html><body><nav><a href='/'>Home</a></nav></body></html>")
    assert not article.found
    assert article.confidence == 0.0


def test_confidence_is_low_when_the_page_is_mostly_links_and_short_lines() -> None:
    menu = "".join(f"<li><a href='/s/{i}'>Section number {i}</a></li>" for i in range(60))
    html = f"<html><body><div><ul>{menu}</ul></div><p>Welcome to our site.</p></body></html>"
    article = extract(html)
    assert article.confidence < 0.5


def test_confidence_is_in_the_unit_interval_for_odd_inputs() -> None:
    for html in ("", "<p>x</p>", b"\xff\xfe\x00<", "<div>" * 5000, "a " * 10_000):
        article = extract(html)
        assert 0.0 <= article.confidence <= 1.0


def test_a_region_holding_most_of_the_page_is_not_run_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The article holds most of the page's text and reads as prose, but the page's longest
    paragraphs are outside it (a long notice beside it): the region's own blocks are the
    text, confirmed by the cross-check, and trafilatura is not paid for at all."""
    import sys

    module = sys.modules["scraper.extract"]
    calls: list[str] = []
    real = module.main_content

    def counting(html: str, **kwargs: object) -> object:
        calls.append(html)
        return real(html, **kwargs)

    monkeypatch.setattr(module, "main_content", counting)
    story = "".join(
        f"<p>Paragraph {i}: the harbour master said the new pier would open in spring, after "
        "two winters of delays, a long argument over the cost of the steel and a vote.</p>"
        for i in range(14)
    )
    notice = "".join(
        f"<p>Notice {i}: " + "the council reminds every resident that the market square "
        "will be closed to traffic on weekdays while the works on the new drains go on, "
        * 4
        + "</p>"
        for i in range(3)
    )
    html = (
        "<html><head><title>The new pier opens in spring</title></head><body>"
        f"<article>{story}</article><div class='notice'>{notice}</div></body></html>"
    )
    article = extract(html)
    assert "Paragraph 0: the harbour master" in article.text
    assert "Paragraph 13: the harbour master" in article.text
    assert calls == []
