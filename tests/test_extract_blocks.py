"""The direct path: the region's text read off the selectolax tree, without trafilatura, on
pages the cross-check confirms; trafilatura only for doubtful ones."""

from __future__ import annotations

import sys

import pytest
from selectolax.lexbor import LexborHTMLParser

from scraper.extract import extract, extract_traced
from scraper.extract.blocks import main_blocks, read_blocks, read_content

PROSE = (
    "The harbour master said the new pier would open in spring, after two winters of delays "
    "and a long argument over the cost of the steel."
)


def _body(html: str) -> LexborHTMLParser:
    return LexborHTMLParser(f"<html><body>{html}</body></html>")


def _never(tag: str, text: str, key: str) -> bool:
    return False


def test_blocks_are_lines_with_their_kind_and_inline_text_joined() -> None:
    tree = _body(
        "<div>Loose <b>bold</b> text<p>A <a href='/x'>linked</a> para<br>graph</p>tail</div>"
        "<h3>A heading</h3><ul><li>one</li><li>two <i>items</i></li></ul>"
        "<blockquote>quoted</blockquote><pre>x = 1\n  y = 2</pre>"
    )
    assert tree.body is not None
    blocks = read_blocks(tree.body)
    assert [(b.kind, b.text) for b in blocks] == [
        ("p", "Loose bold text"),
        ("p", "A linked para"),
        ("p", "graph"),
        ("p", "tail"),
        ("head", "A heading"),
        ("item", "one"),
        ("item", "two items"),
        ("quote", "quoted"),
        ("code", "x = 1\n  y = 2"),
    ]
    assert blocks[1].link_chars == len("linked")
    assert blocks[4].level == 3


def test_markdown_keeps_levels_numbers_tables_and_links() -> None:
    tree = _body(
        f"<p>{PROSE} See <a href='https://x.example/r'>the report</a>.</p>"
        "<h2>Costs</h2><ol><li>steel</li><li>labour</li></ol>"
        "<table><tr><th>item</th><th>cost</th></tr><tr><td>steel</td><td>4</td></tr></table>"
    )
    assert tree.body is not None
    content, _unguarded = read_content(tree.body, drop=_never, links=True)
    assert content.markdown.split("\n") == [
        f"{PROSE} See [the report](https://x.example/r).",
        "",
        "## Costs",
        "",
        "1. steel",
        "2. labour",
        "",
        "| item | cost |",
        "| steel | 4 |",
    ]
    assert content.text.split("\n") == [
        f"{PROSE} See the report.",
        "Costs",
        "steel",
        "labour",
        "item | cost",
        "steel | 4",
    ]


def test_a_list_of_short_links_is_dropped_and_a_list_of_prose_is_kept() -> None:
    menu = "".join(f"<li><a href='/s/{i}'>Section {i}</a></li>" for i in range(8))
    facts = "".join(f"<li>Fact {i}: the pier is {i} metres long</li>" for i in range(4))
    tree = _body(f"<p>{PROSE}</p><ul>{menu}</ul><ul>{facts}</ul>")
    assert tree.body is not None
    text = read_content(tree.body, drop=_never)[0].text
    assert "Section 3" not in text
    assert "Fact 3: the pier is 3 metres long" in text


def test_the_element_holding_the_prose_is_kept_and_the_frame_around_it_dropped() -> None:
    frame = "<div class='top'><a href='/'>Valley Post</a> <span>Est. 1901</span></div>"
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(5))
    footer = "<div class='end'>Valley Post, 4 Market Street</div>"
    tree = _body(f"{frame}<div class='story'><h2>Pier</h2>{story}</div>{footer}")
    assert tree.body is not None
    kept = [b.text for b in main_blocks(read_blocks(tree.body))]
    assert kept[0] == "Pier"
    assert kept[-1] == f"{PROSE} Part 4."
    assert len(kept) == 6


def test_little_prose_is_not_narrowed() -> None:
    """With fewer than three prose blocks there is nothing to tell the frame by."""
    tree = _body(f"<div><p>{PROSE}</p></div><div>Price: 40 dollars</div>")
    assert tree.body is not None
    blocks = read_blocks(tree.body)
    assert main_blocks(blocks) == blocks


def test_a_clean_article_takes_the_direct_path_without_trafilatura(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = sys.modules["scraper.extract"]
    calls: list[str] = []
    real = module.main_content

    def counting(html: str, **kwargs: object) -> object:
        calls.append(html)
        return real(html, **kwargs)

    monkeypatch.setattr(module, "main_content", counting)
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(6))
    html = f"<html><head><title>Pier</title></head><body><article>{story}</article></body></html>"
    article, path = extract_traced(html)
    assert path == "direct"
    assert calls == []
    assert f"{PROSE} Part 5." in article.text
    assert article.confidence >= 0.9


def test_a_doubtful_region_pays_for_trafilatura_on_the_whole_page() -> None:
    """The container (all the page's <p>: teasers) holds little of the page's text; the
    story is line-broken text beside it."""
    story = "<br>".join(f"Line {i}: {PROSE}" for i in range(12))
    teasers = "".join(
        f"<p>Teaser {i}: another story about the market square.</p>" for i in range(12)
    )
    html = f"<html><body><div class='thread'>{story}</div><main>{teasers}</main></body></html>"
    article, path = extract_traced(html)
    assert path == "fallback"
    assert "Line 0:" in article.text
    assert "Line 11:" in article.text


def test_the_direct_text_is_stable_across_runs() -> None:
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(6))
    html = f"<html><body><article><h1>Pier</h1>{story}<ul><li>a</li></ul></article></body></html>"
    first = extract(html)
    assert all(extract(html) == first for _ in range(3))


def test_a_comment_thread_longer_than_the_story_is_left_out() -> None:
    """Cleaning's guard keeps a chrome-named subtree that holds much of the page's text; the
    direct path drops it when the rest has prose enough to be the article."""
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(4))
    replies = "".join(
        f"<li><p>Reply {i}: I have walked past that pier every morning for thirty years and "
        "I do not believe a word of the council's promises about the spring opening.</p></li>"
        for i in range(20)
    )
    html = (
        "<html><body><article>"
        f"{story}<div class='comments-area'><ol>{replies}</ol></div>"
        "</article></body></html>"
    )
    article = extract(html)
    assert f"{PROSE} Part 3." in article.text
    assert "Reply 0:" not in article.text


def test_a_chrome_named_wrapper_around_the_whole_story_keeps_it() -> None:
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(6))
    html = f"<html><body><div class='sidebar-layout'>{story}</div></body></html>"
    article = extract(html)
    assert f"{PROSE} Part 0." in article.text
    assert f"{PROSE} Part 5." in article.text


def test_an_image_gallery_is_chrome() -> None:
    story = "".join(f"<p>{PROSE} Part {i}.</p>" for i in range(5))
    gallery = (
        "<div class='asset_gallery'><div class='caption'>The pier at dawn, seen from the "
        "harbour wall. Photo: the harbour office</div><span>Image 1 of 8</span></div>"
    )
    article = extract(f"<html><body><article>{gallery}{story}</article></body></html>")
    assert "Image 1 of 8" not in article.text
    assert "Photo: the harbour office" not in article.text
    assert f"{PROSE} Part 4." in article.text


def test_a_list_of_links_that_is_most_of_the_region_is_its_content() -> None:
    """An index page: the list of links is the page, not a menu beside it."""
    index = "".join(f"<li><a href='/l/{i}'>Language {i}</a></li>" for i in range(40))
    tree = _body(f"<p>This is a list of programming languages.</p><ul>{index}</ul>")
    assert tree.body is not None
    text = read_content(tree.body, drop=_never)[0].text
    assert "Language 0" in text
    assert "Language 39" in text


def test_short_lines_repeated_three_times_are_labels() -> None:
    cards = "".join(
        f"<div><p>{PROSE} Card {i}.</p><div>Read more</div><div>Back</div></div>" for i in range(3)
    )
    tree = _body(f"{cards}<table><tr><td>Yes</td></tr><tr><td>Yes</td></tr><tr><td>Yes</td></tr>")
    assert tree.body is not None
    lines = read_content(tree.body, drop=_never)[0].text.splitlines()
    assert "Read more" not in lines
    assert "Back" not in lines
    assert f"{PROSE} Card 2." in lines
    assert lines.count("Yes") == 3  # a table's cells repeat values by nature


def test_a_loose_line_that_is_a_link_is_a_teaser() -> None:
    tree = _body(
        f"<p>{PROSE}</p><div><a href='/other'>Lakers vs Nets: NBA make final decision</a> "
        "[VIDEO]</div><p>The pier, said the <a href='/m'>harbour master</a>, is ready.</p>"
    )
    assert tree.body is not None
    text = read_content(tree.body, drop=_never)[0].text
    assert "Lakers vs Nets" not in text
    assert "The pier, said the harbour master, is ready." in text


def test_a_long_site_footer_does_not_outweigh_a_short_page() -> None:
    """The guard keeps a footer that holds much of a short page's text; its lines are not the
    article's when the page has any text of its own (a block page, a short notice)."""
    about = " ".join([PROSE] * 4)
    html = (
        "<html><body><main><h1>Access denied</h1><p>You may not see this page.</p></main>"
        f"<footer><p>{about}</p><p>{about}</p></footer></body></html>"
    )
    article = extract(html)
    assert "Access denied" in article.text or "You may not see this page." in article.text
    assert "harbour master" not in article.text
