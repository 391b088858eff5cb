"""extract(): metadata values are plain text: character references never reach the Article."""

from __future__ import annotations

import json

from scraper.extract import extract

PARAGRAPH = (
    "<p>The council met on Tuesday evening to discuss the new library budget, and after a "
    "long debate the members agreed to keep the branch open for another two years.</p>"
)


def _page(head: str, body: str = "") -> str:
    return f"<html><head>{head}</head><body><article>{body}{PARAGRAPH * 3}</article></body></html>"


def test_title_references_are_decoded_once_and_twice_escaped() -> None:
    article = extract(
        _page('<meta property="og:title" content="Rock &amp;amp; roll&amp;#39;s &amp;#8217;70s">')
    )
    assert article.title == "Rock & roll's \u201970s"


def test_jsonld_values_are_unescaped_and_nbsp_is_a_space() -> None:
    ld = {
        "@type": "NewsArticle",
        "headline": "Mayor&#39;s plan &amp; the&nbsp;budget",
        "description": "What&#8217;s next &gt; what was",
        "author": {"@type": "Person", "name": "Ana&nbsp;O&#39;Neil"},
        "keywords": "R&amp;D, city&#8217;s news",
    }
    script = f'<script type="application/ld+json">{json.dumps(ld)}</script>'
    article = extract(_page(script))
    assert article.title == "Mayor's plan & the budget"
    assert article.description == "What\u2019s next > what was"
    assert article.authors == ("Ana O'Neil",)
    assert article.tags == ("R&D", "city\u2019s news")


def test_title_from_the_page_is_unescaped_and_bare_ampersands_stay() -> None:
    article = extract(_page("<title>AT&amp;amp;T &amp; R&D news</title>"))
    assert article.title == "AT&T & R&D news"


def test_urls_keep_bare_ampersand_parameters() -> None:
    article = extract(
        _page('<meta property="og:image" content="https://example.test/i.jpg?a=1&amp;copy=2">'),
        url="https://example.test/story",
    )
    assert article.image == "https://example.test/i.jpg?a=1&copy=2"
