"""Discovery parsing: links, canonical and feeds from HTML; sitemaps and feeds from XML."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from scraper.discover import DiscoverError, Entry, normalise_date, parse_page, parse_source
from tests.conftest import FIXTURES

SITE = FIXTURES / "crawl_site"
BASE = "http://news.example/"


def test_page_links_are_absolute_without_fragments_or_other_schemes() -> None:
    html = """<html><head></head><body>
    <a href="/a#top">a</a> <a href="b.html">b</a> <a href="/a">again</a>
    <a href="mailto:x@example.org">m</a> <a href="javascript:void(0)">j</a>
    <a href="#only-a-fragment">f</a> <a href="https://other.example/x">x</a>
    <a rel="nofollow ugc" href="/spam">s</a> <area href="/map-area">
    </body></html>"""
    links = parse_page(html, "http://news.example/section/page.html")
    assert links.links == (
        "http://news.example/a",
        "http://news.example/section/b.html",
        "https://other.example/x",
        "http://news.example/map-area",
    )


def test_base_href_canonical_and_alternate_feeds() -> None:
    html = """<html><head><base href="/base/">
    <link rel="canonical" href="/story">
    <link rel="alternate" type="application/rss+xml" href="rss.xml">
    <link rel="alternate" type="application/atom+xml" href="/atom.xml">
    <link rel="alternate" hreflang="fr" href="/fr/story">
    </head><body><a href="rel.html">r</a></body></html>"""
    links = parse_page(html, "http://news.example/x/y")
    assert links.canonical == "http://news.example/story"
    assert links.feeds == ("http://news.example/base/rss.xml", "http://news.example/atom.xml")
    assert links.links == ("http://news.example/base/rel.html",)


def test_meta_robots_nofollow_drops_links() -> None:
    html = '<head><meta name="robots" content="noindex, nofollow"></head><a href="/a">a</a>'
    links = parse_page(html, BASE)
    assert links.links == ()
    assert links.nofollow
    assert links.noindex


def test_fixture_index_page() -> None:
    links = parse_page((SITE / "index.html").read_text(), "http://127.0.0.1:1/index.html")
    assert "http://127.0.0.1:1/articles/a1.html?utm_source=feed" in links.links
    assert "http://127.0.0.1:1/private/secret.html" in links.links
    assert not any(link.startswith("mailto:") for link in links.links)
    assert links.feeds == ("http://127.0.0.1:1/feed.xml", "http://127.0.0.1:1/atom.xml")


def test_sitemap_with_lastmod() -> None:
    source = parse_source((SITE / "sitemap.xml").read_bytes(), "http://127.0.0.1:1/sitemap.xml")
    assert source.kind == "urlset"
    assert source.urls == (
        Entry("http://127.0.0.1:1/articles/s1.html", "2026-01-02T00:00:00Z"),
        Entry("http://127.0.0.1:1/articles/a1.html", None),
    )


def test_sitemap_index_lists_child_sitemaps() -> None:
    body = (SITE / "sitemap_index.xml").read_bytes()
    source = parse_source(body, "http://127.0.0.1:1/sitemap_index.xml")
    assert source.kind == "sitemapindex"
    assert source.urls == ()
    assert source.sitemaps == (
        Entry("http://127.0.0.1:1/sitemaps/s2.xml.gz", "2026-01-03T10:00:00Z"),
    )


def test_gzipped_sitemap_is_inflated() -> None:
    body = (SITE / "sitemaps" / "s2.xml.gz").read_bytes()
    assert body[:2] == b"\x1f\x8b"
    source = parse_source(body, "http://127.0.0.1:1/sitemaps/s2.xml.gz")
    assert source.urls == (Entry("http://127.0.0.1:1/articles/s2.html"),)


def test_rss_feed_links_guids_and_dates() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><link>/home</link>
    <item><link>/one</link><pubDate>Fri, 02 Jan 2026 09:00:00 +0100</pubDate></item>
    <item><guid>http://news.example/two</guid></item>
    <item><guid isPermaLink="false">tag:news.example,2026:3</guid></item>
    </channel></rss>"""
    source = parse_source(body, "http://news.example/feed.xml")
    assert source.kind == "rss"
    assert source.urls == (
        Entry("http://news.example/one", "2026-01-02T08:00:00Z"),
        Entry("http://news.example/two"),
    )


def test_atom_feed() -> None:
    source = parse_source((SITE / "atom.xml").read_bytes(), "http://127.0.0.1:1/atom.xml")
    assert source.kind == "atom"
    assert source.urls == (Entry("http://127.0.0.1:1/articles/f2.html", "2026-01-02T09:00:00Z"),)


def test_plain_text_sitemap() -> None:
    body = b"http://news.example/a\n\nhttps://news.example/b\nnot a url\n"
    source = parse_source(body, "http://news.example/sitemap.txt")
    assert [e.url for e in source.urls] == ["http://news.example/a", "https://news.example/b"]


def test_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = f"""<?xml version="1.0"?>
    <!DOCTYPE urlset [<!ENTITY x SYSTEM "file://{secret}">]>
    <urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
    <url><loc>http://news.example/&x;</loc></url></urlset>""".encode()
    with pytest.raises(DiscoverError, match="entities"):
        parse_source(body, "http://news.example/sitemap.xml")


def test_entity_expansion_bomb_is_refused_quickly() -> None:
    levels = ['<!ENTITY e0 "lol">'] + [
        f'<!ENTITY e{i} "{("&e" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    body = (
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(levels)}]>'
        "<rss><channel><item><link>http://news.example/&e9;</link></item></channel></rss>"
    ).encode()
    # refused for declaring entities, before any is expanded (a billion "lol"s never exist):
    # the reason proves it, no timing needed
    with pytest.raises(DiscoverError, match="entities"):
        parse_source(body, "http://news.example/feed.xml")


def test_gzip_bomb_stops_at_the_cap() -> None:
    body = gzip.compress(b"<urlset>" + b" " * (5 * 1024 * 1024) + b"</urlset>")
    with pytest.raises(DiscoverError, match="larger than"):
        parse_source(body, "http://news.example/sitemap.xml.gz", max_bytes=1024 * 1024)


@pytest.mark.parametrize(
    "body",
    [b"<html><body>not a sitemap</body></html>", b"\x00\x01\x02binary", b"<catalogue/>"],
)
def test_not_a_sitemap_or_feed(body: bytes) -> None:
    with pytest.raises(DiscoverError):
        parse_source(body, "http://news.example/sitemap.xml")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-02", "2026-01-02T00:00:00Z"),
        ("2026-01", "2026-01-01T00:00:00Z"),
        ("2026-01-02T10:30+02:00", "2026-01-02T08:30:00Z"),
        ("2026-01-02T10:30:15.5Z", "2026-01-02T10:30:15Z"),
        ("Fri, 02 Jan 2026 09:00:00 GMT", "2026-01-02T09:00:00Z"),
        ("yesterday", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_date(value: str | None, expected: str | None) -> None:
    assert normalise_date(value) == expected
