"""extract(): the seed page, hand-checked pages of five page builders, metadata and chrome rules."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import scraper
from scraper.extract import extract, extractor_versions
from scraper.models import Article

PAGES = Path(__file__).parent / "fixtures" / "pages"
BUILDERS = ["wordpress", "wix", "ghost", "medium", "liveblog"]
METADATA_FIELDS = [
    "title",
    "author",
    "authors",
    "published",
    "updated",
    "language",
    "description",
    "site_name",
    "canonical_url",
    "tags",
    "image",
    "reading_time_minutes",
]


def _expected(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((PAGES / f"{name}.json").read_text(encoding="utf-8"))
    return data


def _assert_in_order(text: str, pieces: list[str]) -> None:
    position = 0
    for piece in pieces:
        found = text.find(piece, position)
        assert found >= 0, f"missing or out of order: {piece!r}"
        position = found + len(piece)


# --- the seed page -------------------------------------------------------------------------


def test_seed_page_metadata(seed_dir: Path) -> None:
    expected = json.loads((seed_dir / "expected.json").read_text(encoding="utf-8"))
    article = extract((seed_dir / "post.html").read_bytes(), url=expected["url"])
    assert article.found
    for field in ("title", "author", "published", "reading_time_minutes", "site_name", "language"):
        assert getattr(article, field) == expected[field], field


def test_seed_page_text_has_every_paragraph_and_no_chrome(seed_dir: Path) -> None:
    expected = json.loads((seed_dir / "expected.json").read_text(encoding="utf-8"))
    article = extract((seed_dir / "post.html").read_bytes(), url=expected["url"])
    _assert_in_order(article.text, expected["paragraphs"])
    for chrome in expected["chrome"]:
        assert chrome not in article.text, chrome
        assert chrome not in article.markdown, chrome


# --- hand-checked pages of different builders ---------------------------------------------


@pytest.fixture(scope="module", params=BUILDERS)
def builder_page(request: pytest.FixtureRequest) -> tuple[Article, dict[str, Any]]:
    name = request.param
    expected = _expected(name)
    article = extract((PAGES / f"{name}.html").read_bytes(), url=expected["url"])
    return article, expected


def test_builder_page_metadata_is_exact(builder_page: tuple[Article, dict[str, Any]]) -> None:
    article, expected = builder_page
    assert article.found
    assert article.url == expected["url"]
    got = {field: article.to_dict()[field] for field in METADATA_FIELDS}
    want = {field: expected[field] for field in METADATA_FIELDS}
    assert got == want


def test_builder_page_keeps_first_and_last_paragraphs_and_lists(
    builder_page: tuple[Article, dict[str, Any]],
) -> None:
    article, expected = builder_page
    _assert_in_order(article.text, expected["paragraphs"])
    _assert_in_order(article.markdown, expected["paragraphs"])


def test_builder_page_keeps_captions_in_markdown(
    builder_page: tuple[Article, dict[str, Any]],
) -> None:
    """Figure captions stay in the Markdown; the text is the prose alone."""
    article, expected = builder_page
    for caption in expected["captions"]:
        assert caption in article.markdown
        assert caption not in article.text


def test_builder_page_has_no_chrome(builder_page: tuple[Article, dict[str, Any]]) -> None:
    article, expected = builder_page
    lines = set(article.text.splitlines()) | set(article.markdown.splitlines())
    for chrome in expected["chrome"]:
        if len(chrome.split()) == 1:
            # a single word such as "Share" may occur in prose: it must not be a line of its own
            assert chrome not in lines, chrome
        else:
            assert chrome not in article.text, chrome
            assert chrome not in article.markdown, chrome


def test_title_is_not_repeated_in_the_text(builder_page: tuple[Article, dict[str, Any]]) -> None:
    article, expected = builder_page
    assert expected["title"] not in article.text.splitlines()


def test_markdown_has_headings_and_list_markers() -> None:
    article = extract((PAGES / "wordpress.html").read_bytes())
    assert "## What the crew kept" in article.markdown.splitlines()
    assert "- the iron railings, shot-blasted and repainted" in article.markdown.splitlines()
    ordered = extract((PAGES / "wix.html").read_bytes())
    assert "1. Nobody swims alone." in ordered.markdown.splitlines()


# --- the result object ---------------------------------------------------------------------


def test_provenance_names_both_extractor_versions() -> None:
    import trafilatura

    article = extract((PAGES / "ghost.html").read_bytes())
    assert article.extractor == {
        "scraper": scraper.__version__,
        "trafilatura": trafilatura.__version__,
    }
    assert extractor_versions() == article.extractor


def test_word_count_counts_words_of_the_text() -> None:
    html = (
        "<html><body><article>"
        + "<p>one two three four five.</p>" * 60
        + "</article></body></html>"
    )
    article = extract(html)
    assert article.word_count == 300
    assert article.reading_time_minutes == 1  # not stated by the page: 300 words at 230 a minute


def test_to_dict_has_the_design_fields() -> None:
    data = extract((PAGES / "wix.html").read_bytes()).to_dict()
    for key in [
        "url",
        "title",
        "author",
        "published",
        "updated",
        "language",
        "description",
        "site_name",
        "canonical_url",
        "tags",
        "reading_time_minutes",
        "word_count",
        "text",
        "markdown",
    ]:
        assert key in data
    json.dumps(data)


# --- no article ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "html",
    [
        "",
        b"",
        "<html></html>",
        "<html><body></body></html>",
        "<html><head><title>Only a title</title></head><body></body></html>",
        "<html><body><nav><a href='/'>Home</a><a href='/about'>About</a></nav></body></html>",
        "<html><body><div id='SCROLL_TO_TOP' aria-label='top of page'>top of page</div>"
        "<footer><p>© 2024 Example. Privacy Policy</p></footer></body></html>",
        "<html><body><p>3 min read</p><p>Apr 28, 2024</p><p>1,204 views</p></body></html>",
        b"\x00\x01\x02\xff\xfe",
        "two words",
    ],
)
def test_no_article_is_reported_as_not_found(html: str | bytes) -> None:
    article = extract(html)
    assert not article.found
    assert article.text == ""
    assert article.markdown == ""
    assert article.word_count == 0


def test_chrome_only_page_keeps_its_metadata() -> None:
    html = (
        "<html lang='de'><head><title>Kontakt</title>"
        "<meta property='og:site_name' content='Beispiel'></head>"
        "<body><header><nav><a href='/'>Start</a></nav></header>"
        "<footer>Impressum</footer></body></html>"
    )
    article = extract(html, url="https://example.org/kontakt")
    assert not article.found
    assert article.title == "Kontakt"
    assert article.site_name == "Beispiel"
    assert article.language == "de"


# --- chrome rules --------------------------------------------------------------------------

_BODY = (
    "<p>The first paragraph of a real article, long enough to count as prose for the extractor."
    " It tells the reader what happened and where it happened.</p>"
    "<p>The middle paragraph adds detail: who said what, and when they said it, with a quote"
    " that runs on for a while so the page looks like an article.</p>"
    "<p>The last paragraph closes the story and says what happens next week.</p>"
)


def _page(extra_before: str = "", extra_after: str = "", head: str = "") -> str:
    return (
        f"<html><head>{head}</head><body><article>{extra_before}{_BODY}{extra_after}"
        "</article></body></html>"
    )


@pytest.mark.parametrize(
    "chrome",
    [
        "<p>5 min read</p>",
        "<p>12 minute read</p>",
        "<p>1,204 views</p>",
        "<p>14 likes</p>",
        "<p>Apr 28, 2024</p>",
        "<p>Published on 28 April 2024</p>",
        "<p>Updated: March 3, 2024 at 10:15 am</p>",
        "<p>By Jane Doe</p>",
        "<p>top of page</p>",
        "<p>Share this article</p>",
        "<div class='share-buttons'><a href='#'>Tweet this story to your friends</a></div>",
        "<div class='social-links'><p>Follow us everywhere we are</p></div>",
        "<div hidden><p>Hidden promotion text that nobody sees</p></div>",
        "<div aria-hidden='true'><p>Decorative duplicate text</p></div>",
        "<div style='display: none'><p>Invisible newsletter pitch</p></div>",
        "<div class='newsletter-box'><p>Get our newsletter every morning at six</p></div>",
        "<div id='cookie-banner'><p>We use cookies to make this site work</p></div>",
        "<section class='comments'><p>Great article, thanks for sharing it</p></section>",
        "<div class='related-posts'><h3>Related posts</h3><ul><li><a href='/x'>Another story"
        " about something else entirely</a></li></ul></div>",
        "<div><h2>Recent Posts</h2><ul><li><a href='/y'>A recent post with a long title here</a>"
        "</li></ul></div>",
        "<nav><a href='/'>Home page link text</a></nav>",
        "<div role='navigation'><a href='/'>Navigation link text</a></div>",
    ],
)
def test_chrome_before_or_after_the_article_is_dropped(chrome: str) -> None:
    for html in (_page(extra_before=chrome), _page(extra_after=chrome)):
        article = extract(html)
        assert article.found
        assert article.text.startswith("The first paragraph")
        assert article.text.endswith("says what happens next week.")
        assert len(article.text.splitlines()) == 3, article.text


def test_article_inside_a_wrapper_named_like_chrome_is_kept() -> None:
    """A wide wrapper whose class happens to name chrome holds the article: it stays."""
    wrapper = "<div class='has-sidebar social-enabled'>"
    html = f"<html><body>{wrapper}<div>{_BODY}</div></div></body></html>"
    article = extract(html)
    assert article.text.startswith("The first paragraph")
    assert article.text.endswith("says what happens next week.")


def test_a_sentence_starting_with_by_is_not_a_byline() -> None:
    html = _page(extra_after="<p>By the end of the week the bridge was open again.</p>")
    assert "By the end of the week the bridge was open again." in extract(html).text


def test_numbers_in_tables_and_lists_are_kept() -> None:
    table = (
        "<table><tr><th>Year</th><th>Count</th></tr><tr><td>2023</td><td>1,204</td></tr></table>"
    )
    article = extract(_page(extra_after=table + "<ol><li>42</li><li>17</li></ol>"))
    assert "1,204" in article.text
    assert "42" in article.text


def test_title_heading_is_not_in_the_text() -> None:
    head = "<title>Council approves the new budget | Town Paper</title>"
    html = _page(extra_before="<h1>Council approves the new budget</h1>", head=head)
    article = extract(html)
    assert article.title == "Council approves the new budget"  # the h1 beats <title>
    assert "Council approves the new budget" not in article.text


def test_site_strip_selectors_remove_their_subtrees() -> None:
    promo = "<div class='tip-jar'><p>Buy the author a coffee if you liked this piece</p></div>"
    html = _page(extra_after=promo)
    assert "Buy the author a coffee" in extract(html).text
    assert "Buy the author a coffee" not in extract(html, strip=[".tip-jar"]).text


def test_a_bad_strip_selector_is_ignored() -> None:
    article = extract(_page(), strip=["div[[[", ":not("])
    assert article.found


def test_learned_boilerplate_lines_are_dropped_from_text_and_markdown() -> None:
    promo = "<p>Support local news: become a member for the price of a coffee a month.</p>"
    html = _page(extra_after=promo)
    assert "become a member" in extract(html).text
    article = extract(
        html, boilerplate={"Support local news: become a member for the price of a coffee a month."}
    )
    assert "become a member" not in article.text
    assert "become a member" not in article.markdown
    assert article.text.endswith("says what happens next week.")


# --- metadata sources ----------------------------------------------------------------------


def test_jsonld_graph_and_author_list() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {"@type": "WebSite", "name": "Graph Site"},
            {
                "@type": "NewsArticle",
                "headline": "Graph headline",
                "author": [{"@type": "Person", "name": "A. One"}, "B. Two"],
                "datePublished": "2021-05-06T07:08:09+02:00",
                "dateModified": "2021-05-07",
                "keywords": ["alpha", "beta"],
                "image": ["https://example.org/a.jpg"],
                "inLanguage": "fr-FR",
            },
        ],
    }
    head = f"<script type='application/ld+json'>{json.dumps(ld)}</script>"
    article = extract(_page(head=head))
    assert article.title == "Graph headline"
    assert article.authors == ("A. One", "B. Two")
    assert article.author == "A. One, B. Two"
    assert article.published == "2021-05-06"
    assert article.updated == "2021-05-07"
    assert article.tags == ("alpha", "beta")
    assert article.image == "https://example.org/a.jpg"
    assert article.language == "fr"
    assert article.site_name == "Graph Site"


def test_broken_jsonld_falls_back_to_opengraph() -> None:
    head = (
        "<script type='application/ld+json'>{not json</script>"
        "<meta property='og:title' content='OG title'>"
        "<meta property='og:site_name' content='OG site'>"
        "<meta property='article:published_time' content='2020-02-03T04:05:06Z'>"
        "<meta name='description' content='Meta description'>"
    )
    article = extract(_page(head=head))
    assert (article.title, article.site_name, article.published) == (
        "OG title",
        "OG site",
        "2020-02-03",
    )
    assert article.description == "Meta description"


def test_time_element_gives_the_date() -> None:
    html = _page(extra_before="<time datetime='2019-11-18T10:00:00Z'>Nov 18</time>")
    assert extract(html).published == "2019-11-18"


def test_htmldate_is_the_last_resort_for_the_date() -> None:
    html = _page(extra_before="<p class='when'>Posted 2018-07-22 by the desk</p>")
    assert extract(html, url="https://example.org/news/story").published == "2018-07-22"


def test_canonical_url_and_image_are_resolved_against_the_url() -> None:
    head = "<link rel='canonical' href='/story'><meta property='og:image' content='/img/a.png'>"
    article = extract(_page(head=head), url="https://example.org/story?utm_source=x")
    assert article.canonical_url == "https://example.org/story"
    assert article.image == "https://example.org/img/a.png"


# --- input types ---------------------------------------------------------------------------


def test_bytes_in_a_legacy_charset_are_decoded() -> None:
    html = _page(head="<meta charset='windows-1252'>").replace(
        "first paragraph", "first café paragraph"
    )
    article = extract(html.encode("cp1252"))
    assert "first café paragraph" in article.text


def test_utf8_bytes_and_str_give_the_same_article() -> None:
    html = _page().replace("first paragraph", "first naïve paragraph")
    assert extract(html.encode("utf-8")) == extract(html)


@pytest.mark.parametrize("bad", [None, 42, ["<p>x</p>"], object()])
def test_wrong_argument_type_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError):
        extract(bad)


def test_wrong_url_or_rule_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        extract("<p>x</p>", url=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        extract("<p>x</p>", strip=".share")
    with pytest.raises(TypeError):
        extract("<p>x</p>", boilerplate="a line")


def test_a_tiny_time_budget_still_gives_the_article() -> None:
    """Past the budget, trafilatura is skipped and the paragraphs' text is the fallback."""
    article = extract(_page(), timeout_seconds=0.0)
    assert article.found
    assert article.text.startswith("The first paragraph")
    assert article.text.endswith("says what happens next week.")


def test_over_budget_fallback_keeps_captions_out_of_the_text_and_blocks_once() -> None:
    figure = "<figure><img src='a.jpg'><figcaption>A caption under the photo</figcaption></figure>"
    nested = "<ul><li><p>an item in a paragraph</p></li><li>a plain item of the list</li></ul>"
    article = extract(_page(extra_after=figure + nested), timeout_seconds=0.0)
    assert article.text.splitlines()[-2:] == ["an item in a paragraph", "a plain item of the list"]
    assert "A caption under the photo" not in article.text
    assert "A caption under the photo" in article.markdown


def test_jsonld_references_by_id_are_resolved() -> None:
    ld = {
        "@context": "https://schema.org",
        "@graph": [
            {
                "@type": "Article",
                "headline": "Ref",
                "author": {"@id": "#p1"},
                "publisher": {"@id": "#org"},
            },
            {"@type": "Person", "@id": "#p1", "name": "Ref Author"},
            {"@type": "Organization", "@id": "#org", "name": "Ref Org"},
        ],
    }
    head = f"<script type='application/ld+json'>{json.dumps(ld)}</script>"
    article = extract(_page(head=head))
    assert article.author == "Ref Author"
    assert article.site_name == "Ref Org"


def test_og_site_name_beats_the_publisher_organisation() -> None:
    ld = {"@type": "NewsArticle", "headline": "H", "publisher": {"name": "Big Media Group Inc."}}
    head = (
        f"<script type='application/ld+json'>{json.dumps(ld)}</script>"
        "<meta property='og:site_name' content='Town Paper'>"
    )
    assert extract(_page(head=head)).site_name == "Town Paper"


@pytest.mark.parametrize(
    "hiding", [" hidden", " aria-hidden='true'", " hidden style='display: none'"]
)
def test_prose_in_a_collapsed_panel_is_kept(hiding: str) -> None:
    """Tabs, accordions and "read more" hide their panels until clicked; prose in them is the
    page's content, while a hidden menu (links) is still dropped."""
    panel = "".join(
        f"<p>Step {i}: unscrew the back cover, lift the old battery out by its tab and press "
        "the new one into the same place until it clicks.</p>"
        for i in range(6)
    )
    menu = "".join(
        f"<li><a href='/p/{i}'>Another product page number {i}</a></li>" for i in range(20)
    )
    html = (
        "<html><head><title>Replacing the battery</title></head><body><main>"
        "<h1>Replacing the battery</h1>"
        "<p>The battery lasts about two years; this guide shows how to replace it at home "
        "with nothing but a small screwdriver and ten minutes.</p>"
        f"<div role='tabpanel'{hiding}>{panel}</div>"
        f"<ul{hiding}>{menu}</ul></main></body></html>"
    )
    article = extract(html)
    for i in range(6):
        assert f"Step {i}: unscrew the back cover" in article.text
    assert "Another product page" not in article.text


def test_prose_hidden_by_its_style_alone_is_dropped() -> None:
    """Pages hide duplicate copies of their text (or of other stories) with an inline style;
    those are no panel waiting for a click."""
    copy = "".join(
        f"<p>Copy {i}: the harbour master said the new pier would open in spring, after two "
        "winters of delays and a long argument over the cost of the steel.</p>"
        for i in range(6)
    )
    html = (
        "<html><head><title>The pier</title></head><body><article>"
        "<p>The harbour master said the new pier would open in spring, after two winters of "
        "delays and a long argument over the cost of the steel and the stone.</p>"
        f"<div style='display:none'>{copy}</div></article></body></html>"
    )
    article = extract(html)
    assert article.found
    assert "Copy 0" not in article.text
