"""The classes of page on which the direct path once lost the article: an accordion's panel, a
footer built of ``div``s (or a second copy of it for small screens), an article whose wrapper
a class word named as chrome, leaving the page's notices as its text."""

from __future__ import annotations

from scraper.extract import extract, extract_traced
from scraper.extract.clean import main_region, norm_line, parse
from scraper.extract.content import Content
from scraper.extract.crosscheck import Whole, choose

STORY = [
    f"Paragraph {i}: the harbour master said the new pier would open in spring, after two "
    "winters of delays and a long argument over the cost of the steel."
    for i in range(10)
]
NOTICE = (
    "This site is operated by a division of a holding company, an independent licensee of the "
    "association, which provides and hosts the community platform on its behalf. Files in "
    "portable document format need a reader program; most readers are a free download and "
    "some have a screen reader built in."
)


def test_an_accordion_that_holds_the_article_is_content() -> None:
    """A tab list built as an accordion holds its panels: the transcript is the page's text."""
    panel = "".join(f"<p>{p}</p>" for p in STORY)
    intro = "".join(f"<p>{NOTICE}</p>" for _ in range(2))
    html = (
        f"<html><body><main><h1>Episode 12</h1>{intro}"
        "<div role='tablist'><h3 role='tab'>Transcript</h3>"
        f"<div role='tabpanel' class='collapse'>{panel}</div></div></main></body></html>"
    )
    article = extract(html)
    assert STORY[0] in article.text
    assert STORY[9] in article.text


def test_a_tab_list_of_labels_is_not_content() -> None:
    story = "".join(f"<p>{p}</p>" for p in STORY[:4])
    html = (
        "<html><body><article>"
        "<div role='tablist'><a role='tab' href='#a'>Overview</a><a role='tab' href='#b'>"
        "Specifications</a><a role='tab' href='#c'>Reviews</a></div>"
        f"{story}</article></body></html>"
    )
    article = extract(html)
    assert STORY[0] in article.text
    assert "Specifications" not in article.text


def test_a_footer_built_of_divs_is_left_out_even_when_it_is_long() -> None:
    """A copy of the footer for small screens, outside the ``footer`` element, holding a long
    run of testimonials: more of the page's text than cleaning's guard lets a class rule drop."""
    story = "".join(f"<p>{p}</p>" for p in STORY[:3])
    quotes = "".join(
        f"<div class='quote'><p>Review {i}: the staff were kind and the waiting room was calm, "
        "we would recommend the clinic to every family we know.</p><p>A. Parent</p></div>"
        for i in range(12)
    )
    html = (
        f"<html><body><article><h1>Pier</h1>{story}</article>"
        f"<div class='x-bar x-bar-footer mobile-only'>{quotes}</div></body></html>"
    )
    article = extract(html)
    assert STORY[0] in article.text
    assert STORY[2] in article.text
    assert "Review 0:" not in article.text


def test_a_footer_div_with_the_sites_contact_notice_is_left_out() -> None:
    story = "".join(f"<p>{p}</p>" for p in STORY[:2])
    html = (
        f"<html><body><div class='container'><h1>Breaking</h1>{story}</div>"
        f"<div class='footer-wrap'><div class='footer-bottom-text'>{NOTICE} {NOTICE}</div>"
        "</div></body></html>"
    )
    article = extract(html)
    assert STORY[1] in article.text
    assert "holding company" not in article.text


def test_an_article_whose_wrapper_a_class_word_removed_is_not_lost() -> None:
    """Every section of a page-builder page is named ``widget``, each too small for cleaning's
    guard: cleaning leaves the page's long notices. They hold the page's longest paragraphs,
    but few of its paragraphs: the cross-check doubts them and the article is found."""
    sections = "".join(
        f"<div class='builder-widget text-widget'><p>{STORY[i]}</p><p>{STORY[i + 1]}</p></div>"
        for i in range(0, 10, 2)
    )
    notices = "".join(f"<div class='legal'><p>{NOTICE}</p></div>" for _ in range(2))
    html = f"<html><body><main>{sections}</main>{notices}</body></html>"
    article, path = extract_traced(html)
    assert path in {"fallback", "uncut"}
    assert STORY[0] in article.text
    assert STORY[9] in article.text


def test_a_section_footer_inside_main_keeps_its_notes() -> None:
    """Inside ``main`` a footer-named block is the section's own (footnotes), not the site's."""
    story = "".join(f"<p>{p}</p>" for p in STORY[:4])
    notes = "".join(
        f"<p>{i}. Figures from the port authority's own survey; delivery dates may vary.</p>"
        for i in range(1, 4)
    )
    html = (
        f"<html><body><main id='main'><article>{story}</article>"
        f"<div id='section-footer'>{notes}</div></main></body></html>"
    )
    article = extract(html)
    assert STORY[3] in article.text
    assert "port authority's own survey" in article.text


def test_a_figure_with_a_quote_keeps_the_quote_as_well_as_its_caption() -> None:
    """A page of testimonials: each is a figure of a quote and its attribution."""
    quotes = "".join(
        f"<figure><blockquote><p>{p}</p></blockquote><figcaption>Reader {i}</figcaption></figure>"
        for i, p in enumerate(STORY[:6])
    )
    html = f"<html><body><main><h1>What readers say</h1>{quotes}</main></body></html>"
    tree = parse(html)
    assert tree is not None
    region = main_region(tree)
    assert region.node is not None
    kept = region.node.text(deep=True)
    assert STORY[0] in kept
    assert STORY[5] in kept
    assert "Reader 5" in kept
    assert "reader 5" in region.captions
    article = extract(html)
    assert STORY[5] in article.text


def test_a_story_built_inside_a_header_element_in_main_is_kept() -> None:
    """A page builder that puts the story's rich text in a ``header`` inside ``main``: it is
    not the page's header, whatever the tag."""
    story = "".join(f"<p>{p}</p>" for p in STORY)
    intro = "".join(f"<p>{NOTICE}</p>" for _ in range(1))
    html = (
        f"<html><body><header><a href='/'>Home</a></header><main><section>{intro}</section>"
        f"<section><header class='rich-text'>{story}</header></section></main>"
        "<footer><p>All rights reserved.</p></footer></body></html>"
    )
    article = extract(html)
    assert STORY[0] in article.text
    assert STORY[9] in article.text


def test_a_short_prose_text_beats_a_long_run_of_link_lines() -> None:
    """A collection page: the region's text is the product links (no prose), trafilatura's
    the category's short description. The description is kept although it is short."""
    links = [f"Ergonomic mouse model {i} wireless" for i in range(60)]
    primary = Content("\n".join(links), "")
    description = STORY[0]
    whole = Whole("", 0, (), frozenset(norm_line(t) for t in links))
    kept, _confidence = choose(primary, Content(description, ""), whole)
    assert kept.text == description


def test_a_short_prose_fragment_does_not_beat_a_text_that_reads_as_prose() -> None:
    primary = Content("\n".join(STORY), "")
    kept, _confidence = choose(primary, Content(STORY[0], ""), Whole("", 0, ()))
    assert kept is primary
