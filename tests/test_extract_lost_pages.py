"""The classes of page on which scraper's text was much worse than plain trafilatura's on the
benchmark (the "lost pages"), each as a small page built by hand: the structural signal that
each rule reads, never a site's own markup."""

from __future__ import annotations

from scraper.extract import extract
from scraper.extract.content import is_marquee

STORY = [
    f"Paragraph {i}: the harbour master said the new pier would open in spring, after two "
    "winters of delays and a long argument over the cost of the steel."
    for i in range(10)
]


def test_a_marquee_line_is_not_text() -> None:
    """A scrolling banner repeats one short phrase dozens of times in one line: a page of
    them would be mostly that phrase."""
    banner = "Book now * " * 40
    story = "".join(f"<p>{p}</p>" for p in STORY[:4])
    html = (
        f"<html><body><main><h1>Pier</h1>{story}<div class='ticker'><p>{banner}</p></div>"
        f"<p>{STORY[4]}</p></main></body></html>"
    )
    article = extract(html)
    assert STORY[0] in article.text
    assert STORY[4] in article.text
    assert "Book now" not in article.text


def test_what_is_a_marquee() -> None:
    assert is_marquee("Book Now *Book Now *Book Now *Book Now *Book Now *Book Now *")
    assert is_marquee("sale sale sale sale sale sale")
    assert not is_marquee("Book now * Book now * Book now")  # three times: a label's copies
    assert not is_marquee(STORY[0])
    assert not is_marquee("ha ha")
    assert not is_marquee("")


def test_the_budget_shares_have_public_names() -> None:
    """The crawl's worker reads them to tell whether an extraction cut anything short."""
    import sys

    module = sys.modules["scraper.extract"]  # the package: scraper.extract is the function
    assert module.BUDGET_SHARE_BEFORE_FALLBACK < module.BUDGET_SHARE_BEFORE_CONTENT
    assert "BUDGET_SHARE_BEFORE_CONTENT" in module.__all__
    assert "BUDGET_SHARE_BEFORE_FALLBACK" in module.__all__
    # the old private names stay until every caller has moved
    assert module._BUDGET_SHARE_BEFORE_CONTENT == module.BUDGET_SHARE_BEFORE_CONTENT
    assert module._BUDGET_SHARE_BEFORE_FALLBACK == module.BUDGET_SHARE_BEFORE_FALLBACK


ANSWERS = [
    f"Answer {i}: the ferry leaves the north quay every hour from six in the morning, and on "
    "weekdays the last boat back is at eleven; bicycles travel free, dogs on a lead too, and "
    "a ticket bought on board costs the same as one bought at the kiosk by the harbour. "
    "Tickets for groups of ten or more are sold at the kiosk only, on the day before."
    for i in range(4)
]


def test_answers_an_inline_style_collapses_are_content() -> None:
    """An FAQ (or an accordion) whose answers a script shows on click: each answer is hidden by
    its inline style until then, a passage of prose found nowhere else on the page."""
    faq = "".join(
        f"<div class='faq'><h3>Question {i}?</h3><div class='answer' style='display: none'>"
        f"<p>{answer}</p></div></div>"
        for i, answer in enumerate(ANSWERS)
    )
    html = f"<html><body><main><h1>Ferry</h1><p>{STORY[0]}</p>{faq}</main></body></html>"
    article = extract(html)
    for answer in ANSWERS:
        assert answer in article.text


def test_a_dialog_or_a_copy_an_inline_style_hides_is_not_content() -> None:
    """What a style hides and is not a passage of its own stays out: a sign-in dialog (short
    lines, labels), a copy of the page's text for another screen size."""
    dialog = (
        "<div style='display:none'><p>Sign in</p><p>Email</p><p>Password</p>"
        + "".join(f"<p>Option {i}</p>" for i in range(80))
        + "</div>"
    )
    story = "".join(f"<p>{p}</p>" for p in ANSWERS)
    copy = f"<div style='display:none'><div>{story}</div></div>"
    html = f"<html><body><main><h1>Ferry</h1>{story}{dialog}{copy}</main></body></html>"
    article = extract(html)
    assert "Option 7" not in article.text
    assert article.text.count(ANSWERS[1]) == 1
