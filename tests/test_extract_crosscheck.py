"""extract(): a wrong guess of the article's container does not lose the article, and the
confidence says how sure the extractor is."""

from __future__ import annotations

from pathlib import Path

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
