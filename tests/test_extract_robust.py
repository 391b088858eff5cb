"""extract() never raises: random bytes, random text, tag soup, mangled real pages, extremes."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.extract import extract
from scraper.models import Article

PAGES = Path(__file__).parent / "fixtures" / "pages"
WORDPRESS = (PAGES / "wordpress.html").read_bytes()
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_TAGS = ["div", "p", "span", "a", "article", "main", "nav", "ul", "li", "table", "td", "h1", "h2"]
_TAGS += ["script", "style", "figure", "figcaption", "header", "footer", "b", "i", "br", "img"]
_ATTRS = ["", " class='share'", " id='content'", " hidden", " style='display:none'"]
_ATTRS += [" aria-hidden='true'", " role='navigation'", " class='post-content'", " data-hook='x'"]


def _check(article: Article) -> None:
    assert isinstance(article, Article)
    assert article.found == bool(article.text)
    if not article.found:
        assert article.text == article.markdown == ""
        assert article.word_count == 0
    assert set(article.extractor) == {"scraper", "trafilatura"}


@st.composite
def tag_soup(draw: st.DrawFn) -> str:
    """Random, often unbalanced markup from a small vocabulary with real words in between."""
    parts = []
    for _ in range(draw(st.integers(0, 60))):
        kind = draw(st.integers(0, 3))
        tag = draw(st.sampled_from(_TAGS))
        if kind == 0:
            parts.append(f"<{tag}{draw(st.sampled_from(_ATTRS))}>")
        elif kind == 1:
            parts.append(f"</{tag}>")
        else:
            parts.append(draw(st.text(min_size=0, max_size=80)))
    return "".join(parts)


@FAST
@given(st.binary(max_size=3000))
def test_any_bytes(data: bytes) -> None:
    _check(extract(data))


@FAST
@given(st.text(max_size=3000))
def test_any_text(text: str) -> None:
    _check(extract(text, url="https://example.org/x"))


@FAST
@given(tag_soup())
def test_tag_soup(html: str) -> None:
    _check(extract(html))


@FAST
@given(st.data())
def test_mangled_real_page(data: st.DataObject) -> None:
    """A real page cut, spliced and sprinkled with NUL and invalid UTF-8 bytes."""
    page = bytearray(WORDPRESS)
    for _ in range(data.draw(st.integers(1, 8))):
        start = data.draw(st.integers(0, len(page)))
        end = data.draw(st.integers(start, min(len(page), start + 2000)))
        action = data.draw(st.sampled_from(["delete", "insert", "duplicate", "truncate"]))
        if action == "delete":
            del page[start:end]
        elif action == "insert":
            page[start:start] = data.draw(st.sampled_from([b"\x00", b"\xff\xfe", b"<", b"<div>"]))
        elif action == "duplicate":
            page[start:start] = page[start:end]
        else:
            del page[end:]
    _check(extract(bytes(page)))


@pytest.mark.parametrize(
    "html",
    [
        "<div>" * 100_000 + "<p>deep words one two three four</p>" + "</div>" * 100_000,
        "<div>" * 100_000,
        "<span><b><i>" * 30_000 + "words words words words words",
        "<div class='" + "a" * 5_000_000 + "'><p>huge attribute</p></div>",
        "<div " + " ".join(f"a{i}=x" for i in range(100_000)) + "><p>many attributes</p></div>",
        "<p>" + "\x00" * 10_000 + "nul bytes everywhere</p>",
        "<p>lone surrogate \ud800 and noncharacter \uffff in text</p>",
        "<script type='application/ld+json'>" + "[" * 50_000 + "</script><p>a b c d e</p>",
        "<table>" * 20_000,
        "<!--" * 10_000,
    ],
    ids=[
        "nested-divs",
        "unclosed-divs",
        "nested-inline",
        "huge-attribute",
        "many-attributes",
        "nul-bytes",
        "surrogates",
        "deep-json-ld",
        "nested-tables",
        "comments",
    ],
)
def test_extremes(html: str) -> None:
    _check(extract(html))
    _check(extract(html.encode("utf-8", "surrogatepass")))


@pytest.mark.parametrize(
    "data",
    [
        "<p>Caf\xe9 cr\xe8me br\xfbl\xe9e and more words</p>".encode("latin-1"),
        b"\xef\xbb\xbf<p>with a byte order mark and words</p>",
        "<p>utf-16 text with enough words</p>".encode("utf-16"),
        b"<meta charset='no-such-charset'><p>an unknown charset and words</p>",
        b"<p>\x80\x81\x82 invalid utf-8 \xc3\x28 bytes and words</p>",
    ],
    ids=["latin-1", "bom", "utf-16", "unknown-charset", "invalid-utf-8"],
)
def test_encodings(data: bytes) -> None:
    article = extract(data)
    _check(article)
    assert "words" in article.text


def test_a_large_page_is_cut_after_its_scripts_are_gone() -> None:
    """A page over MAX_HTML_CHARS whose bulk is scripts and styles keeps its article (the cut
    falls on what could be content) and its JSON-LD metadata."""
    from scraper.extract import MAX_HTML_CHARS

    code = "<script>var data = '" + "x" * 1000 + "';</script><style>p{}</style>"
    bulk = code * (MAX_HTML_CHARS // len(code) + 100)
    story = "".join(
        f"<p>Paragraph {i}: the harbour master said the new pier would open in spring, after "
        "two winters of delays and a long argument over the cost of the steel.</p>"
        for i in range(8)
    )
    html = (
        "<html><head><script type='application/ld+json'>"
        '{"@type": "NewsArticle", "headline": "The pier opens"}</script></head>'
        f"<body>{bulk}<article>{story}</article></body></html>"
    )
    assert len(html) > MAX_HTML_CHARS
    article = extract(html)
    assert article.title == "The pier opens"
    assert "Paragraph 7: the harbour master" in article.text
