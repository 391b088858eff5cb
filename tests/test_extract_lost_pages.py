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


DESCRIPTION = [
    f"Feature {i}: the two preamps give the interface a clean and quiet gain for a voice or an "
    "instrument, and the converters keep the detail of a recording from the first take."
    for i in range(6)
]


def _shop_page(description: str) -> str:
    specs = "".join(f"<li>Spec {i}: {i * 3} inputs</li>" for i in range(12))
    reviews = "".join(
        f"<div class='review'><p>Review {i}: I bought it for my home studio last winter and it "
        "has worked every day since; the software took an hour to set up.</p></div>"
        for i in range(3)
    )
    pitch = (
        "<p>Our advisers are musicians and engineers who have played and recorded for years and "
        "will help you choose the right gear for your studio, by phone or by mail.</p>"
    )
    return (
        "<html><body><main><h1>Audio interface</h1>"
        f"{description}<section><h2>Specs</h2><ul>{specs}</ul></section>"
        f"<section><h2>Reviews</h2>{reviews}</section>{pitch}</main></body></html>"
    )


def test_an_article_holding_half_the_pages_prose_is_the_region() -> None:
    """A shop's page: the description in an ``article``, beside its specs, reviews and the
    shop's pitch. No part holds the 80% of the page's paragraph text a container needs, but
    an element whose tag says it is the article holds more than half of it."""
    description = "<article>" + "".join(f"<p>{p}</p>" for p in DESCRIPTION) + "</article>"
    article = extract(_shop_page(description))
    assert DESCRIPTION[0] in article.text
    assert DESCRIPTION[5] in article.text
    assert "Review 0" not in article.text
    assert "Our advisers" not in article.text


def test_a_class_word_is_not_trusted_at_half_the_prose() -> None:
    """The same page with the description in a ``div`` whose class says ``entry-content``:
    a class word names tab panels and review lists too, so below 80% it is not the region
    (the whole page's text is kept)."""
    description = (
        "<div class='entry-content'>" + "".join(f"<p>{p}</p>" for p in DESCRIPTION) + "</div>"
    )
    article = extract(_shop_page(description))
    assert DESCRIPTION[0] in article.text
    assert "Review 0" in article.text


def test_an_article_with_one_block_of_notes_beside_it_keeps_them() -> None:
    """What the narrower region would leave out is one part (a section's notes): the region
    stays the ``main`` that holds both."""
    notes = "".join(
        f"<p>{i}. Figures from the port authority's own survey of the harbour; delivery dates "
        "of the steel may vary with the weather.</p>"
        for i in range(1, 4)
    )
    story = "".join(f"<p>{p}</p>" for p in STORY[:5])
    html = f"<html><body><main><article>{story}</article><div>{notes}</div></main></body></html>"
    article = extract(html)
    assert STORY[4] in article.text
    assert "port authority's own survey" in article.text


def test_a_caption_a_class_word_names_is_a_caption() -> None:
    """A photo's caption in a paragraph whose class says ``caption`` (not a ``figcaption``):
    in the Markdown, not in the text, like a figure's."""
    story = "".join(f"<p>{p}</p>" for p in STORY[:4])
    photo = (
        "<div class='wp-caption'><img src='/pier.jpg' alt=''>"
        "<p class='wp-caption-text'>The new pier at dawn, seen from the old harbour wall "
        "(Credit: the port)</p></div>"
    )
    html = f"<html><body><article><h1>Pier</h1>{photo}{story}</article></body></html>"
    article = extract(html)
    assert STORY[3] in article.text
    assert "seen from the old harbour wall" not in article.text
    assert "seen from the old harbour wall" in article.markdown


def test_a_grid_of_captioned_cards_keeps_its_names() -> None:
    """Many captions are a grid of cards (a collection page): their captions are the items."""
    cards = "".join(
        f"<div class='card'><img src='/{i}.jpg' alt=''><p class='card-caption'>Harbour print "
        f"number {i}, framed in oak, 40 by 60 centimetres</p></div>"
        for i in range(8)
    )
    html = f"<html><body><main><h1>Prints</h1><p>{STORY[0]}</p>{cards}</main></body></html>"
    article = extract(html)
    assert "Harbour print number 0" in article.text
    assert "Harbour print number 7" in article.text


def test_hidden_passages_are_compared_with_the_page_a_bounded_number_of_times() -> None:
    """Each comparison reads the page's text: past COPY_CHECKS_MAX of them, what a style
    hides goes, as it did before, so that thousands of hidden passages cost no more."""
    from scraper.extract.clean import COPY_CHECKS_MAX, drop_never_content, parse

    passages = "".join(
        f"<div style='display:none'><p>Passage {i}: "
        + ", ".join(
            f"boat {i} leaves the quay at {hour} and is back by {hour + 1}" for hour in range(16)
        )
        + "</p></div>"
        for i in range(COPY_CHECKS_MAX + 6)
    )
    tree = parse(f"<html><body><main><p>{STORY[0]}</p>{passages}</main></body></html>")
    assert tree is not None
    assert tree.body is not None
    drop_never_content(tree)
    text = tree.body.text(deep=True)
    assert "Passage 0:" in text
    assert f"Passage {COPY_CHECKS_MAX - 1}:" in text
    assert f"Passage {COPY_CHECKS_MAX}:" not in text
