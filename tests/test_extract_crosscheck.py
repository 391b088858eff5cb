"""extract(): a wrong guess of the article's container does not lose the article, and the
confidence says how sure the extractor is."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.extract import extract, extract_traced

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


# The uncut candidate: when the region's text and trafilatura's both miss the page's longest
# paragraphs, and cleaning cut most of the page, the page's own blocks with nothing cut but
# what is never content are read. trafilatura is replaced by a stub here: what it returns on
# such a page is another part of it, and the rules under test are ours.
LONG = [
    f"Paragraph {i}: the harbour master said the new pier would open in spring, after two "
    "winters of delays and a long argument over the cost of the steel and of the stone."
    for i in range(10)
]
LEGAL = (
    "This site is operated by a division of a holding company, an independent licensee of the "
    "association, which provides and hosts the community platform on its behalf."
)


def _trafilatura_returns(monkeypatch: pytest.MonkeyPatch, text: str, cost: float = 0.0) -> None:
    """Make the whole-page candidate ``text``, and let it take ``cost`` seconds of the clock
    extraction reads its budget from."""
    import sys
    import types

    from scraper.extract.content import Content

    module = sys.modules["scraper.extract"]
    now = [0.0]
    monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=lambda: now[0]))

    def stub(html: str, **kwargs: object) -> Content:
        now[0] += cost
        return Content(text, text)

    monkeypatch.setattr(module, "main_content", stub)


def _story_cut_by_cleaning() -> str:
    """A page whose every section a class word names as chrome, each too small for cleaning's
    guard: cleaning leaves the legal notice, and so does the (stubbed) trafilatura."""
    sections = "".join(
        f"<div class='widget'><p>{LONG[i]}</p><p>{LONG[i + 1]}</p></div>" for i in range(0, 10, 2)
    )
    return (
        f"<html><body><main>{sections}</main><div class='legal'><p>{LEGAL}</p></div></body></html>"
    )


def test_the_uncut_candidate_finds_an_article_cleaning_cut(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _trafilatura_returns(monkeypatch, LEGAL)
    article, path = extract_traced(_story_cut_by_cleaning())
    assert path == "uncut"
    assert LONG[0] in article.text
    assert LONG[9] in article.text


def test_the_uncut_candidate_waits_for_no_spent_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past half the time budget the slow steps are skipped: the uncut candidate parses the
    page a second time, so a page whose trafilatura run took the budget past half does not
    pay for it (the text is the better of the two candidates it has)."""
    _trafilatura_returns(monkeypatch, LEGAL, cost=6.0)
    article, path = extract_traced(_story_cut_by_cleaning(), timeout_seconds=10.0)
    assert path == "fallback"
    assert LONG[0] not in article.text
    _trafilatura_returns(monkeypatch, LEGAL, cost=4.0)  # under half: it is read
    article, path = extract_traced(_story_cut_by_cleaning(), timeout_seconds=10.0)
    assert path == "uncut"
    assert LONG[0] in article.text


def test_the_uncut_candidate_is_not_read_when_cleaning_cut_only_replies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 30% gate: cleaning cut a thread of long replies (each its own chrome-named block)
    and left the article's many short lines, well over 30% of the page's text. Both
    candidates miss the page's longest paragraphs (the replies'), but the article was not
    cut: the page's uncut blocks would bring the replies back."""
    lines = [f"Line {i}: the pier opens in spring, the council said on Monday." for i in range(30)]
    replies = "".join(
        f"<div class='comments'><p>Reply {i}: {LONG[i]} I do not believe a word of it.</p></div>"
        for i in range(6)
    )
    story = "".join(f"<p>{line}</p>" for line in lines)
    html = f"<html><body><main>{story}{replies}</main></body></html>"
    _trafilatura_returns(monkeypatch, "\n".join(lines))
    article, path = extract_traced(html)
    assert path == "fallback"
    assert lines[29] in article.text
    assert "Reply 0" not in article.text
