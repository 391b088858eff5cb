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
