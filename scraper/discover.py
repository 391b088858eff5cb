"""Discover: candidate URLs from pages, sitemaps and feeds. Pure: bodies in, values out.

Reads HTML (in-page links, ``rel=canonical``, ``<link rel=alternate>`` feeds, robots ``<meta>``),
sitemaps (``urlset`` and sitemap indexes, gzipped or not, plain-text lists, ``lastmod``) and RSS
1.0/2.0 and Atom feeds. It must not fetch, store, normalise beyond resolving relative URLs and
dropping fragments, or decide scope: that is the frontier's job.

XML is parsed with entity resolution, DTD loading and network access off and without lxml's
huge-tree mode, so an external entity is never read and an entity-expansion bomb never expands.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urldefrag, urljoin

from scraper.errors import DiscoverError as DiscoverError  # re-exported: the name callers import

# lxml and selectolax are imported where they parse, not with the module: the crawl's own
# process imports this one for its values, and on a recrawl of unchanged pages parses nothing
if TYPE_CHECKING:
    from lxml import etree
    from selectolax.lexbor import LexborHTMLParser

#: decompressed size cap of a sitemap or feed (the sitemap protocol allows 50 MB)
MAX_XML_BYTES = 50 * 1024 * 1024
FEED_TYPES = frozenset(
    {"application/rss+xml", "application/atom+xml", "application/rdf+xml", "application/feed+json"}
)
_SCHEMES = ("http://", "https://")
_GZIP_MAGIC = b"\x1f\x8b"
_W3C_DATE = re.compile(
    r"^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?"
    r"\s*(Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


@dataclass(frozen=True, slots=True)
class PageLinks:
    """What a page points at."""

    links: tuple[str, ...] = ()  #: absolute http(s) URLs of <a>/<area>, no fragment, in order
    canonical: str | None = None  #: the absolute rel=canonical URL, if any
    feeds: tuple[str, ...] = ()  #: RSS/Atom URLs from <link rel="alternate">
    nofollow: bool = False  #: <meta name="robots" content="nofollow">: links must not be followed
    noindex: bool = False  #: <meta name="robots" content="noindex">


@dataclass(frozen=True, slots=True)
class Entry:
    """One URL from a sitemap or feed, with its date (UTC ISO 8601, seconds) when given."""

    url: str
    lastmod: str | None = None


@dataclass(frozen=True, slots=True)
class Source:
    """A parsed sitemap or feed: the page URLs it lists and, for a sitemap index, its children."""

    kind: str  #: "sitemap", "sitemapindex", "rss", "atom" or "text"
    urls: tuple[Entry, ...] = ()
    sitemaps: tuple[Entry, ...] = ()


def _absolute(href: str, base: str) -> str | None:
    href = href.strip()
    if not href or href.startswith("#"):
        return None
    try:
        url = urldefrag(urljoin(base, href))[0]
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    return url if url.lower().startswith(_SCHEMES) else None


def parse_page(html: str | bytes | LexborHTMLParser, base_url: str) -> PageLinks:
    """Links, canonical URL and feeds of an HTML page; ``<base href>`` is honoured.

    ``html`` may be a tree already parsed (extraction's bounded parse: no second parse).
    """
    from selectolax.lexbor import LexborHTMLParser

    tree = html if isinstance(html, LexborHTMLParser) else LexborHTMLParser(html)
    base = base_url
    for node in tree.css("base[href]"):
        href = node.attributes.get("href")
        if href:
            base = _absolute(href, base_url) or base_url
        break
    nofollow = noindex = False
    for node in tree.css("meta[name]"):
        if (node.attributes.get("name") or "").strip().lower() in {"robots", "googlebot"}:
            content = (node.attributes.get("content") or "").lower()
            nofollow = nofollow or "nofollow" in content or "none" in content
            noindex = noindex or "noindex" in content or "none" in content
    canonical: str | None = None
    feeds: list[str] = []
    for node in tree.css("link[rel][href]"):
        rels = (node.attributes.get("rel") or "").lower().split()
        href = node.attributes.get("href") or ""
        if "canonical" in rels and canonical is None:
            canonical = _absolute(href, base)
        elif "alternate" in rels:
            ctype = (node.attributes.get("type") or "").strip().lower()
            url = _absolute(href, base)
            if ctype in FEED_TYPES and url and url not in feeds:
                feeds.append(url)
    links: dict[str, None] = {}
    if not nofollow:
        for node in tree.css("a[href], area[href]"):
            rels = (node.attributes.get("rel") or "").lower().split()
            if "nofollow" in rels:
                continue
            url = _absolute(node.attributes.get("href") or "", base)
            if url is not None:
                links.setdefault(url, None)
    return PageLinks(
        links=tuple(links),
        canonical=canonical,
        feeds=tuple(feeds),
        nofollow=nofollow,
        noindex=noindex,
    )


def normalise_date(value: str | None) -> str | None:
    """A W3C datetime (sitemaps, Atom) or RFC 822 date (RSS) as UTC ``YYYY-MM-DDTHH:MM:SSZ``."""
    if not value:
        return None
    value = value.strip()
    match = _W3C_DATE.match(value)
    try:
        if match:
            year, month, day, hour, minute, second, zone = match.groups()
            moment = datetime(
                int(year),
                int(month or 1),
                int(day or 1),
                int(hour or 0),
                int(minute or 0),
                int(second or 0),
                tzinfo=UTC,
            )
            if zone and zone != "Z":
                sign = 1 if zone[0] == "+" else -1
                digits = zone[1:].replace(":", "")
                offset = sign * (int(digits[:2]) * 60 + int(digits[2:]))
                moment -= timedelta(minutes=offset)
        else:
            moment = parsedate_to_datetime(value)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            moment = moment.astimezone(UTC)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _inflate(body: bytes, max_bytes: int) -> bytes:
    """Undo gzip (a ``.xml.gz`` served as is), never inflating past ``max_bytes``."""
    out = bytearray()
    data = body
    while data.startswith(_GZIP_MAGIC):
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunk = inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise DiscoverError(f"bad gzip data: {exc}") from exc
        out += chunk
        if len(out) > max_bytes or inflater.unconsumed_tail:
            raise DiscoverError(f"larger than {max_bytes} bytes once inflated")
        data = inflater.unused_data  # concatenated gzip members
        if not data:
            break
    return bytes(out) if out else body


def _xml_parser() -> etree.XMLParser:
    from lxml import etree

    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
        remove_pis=True,
    )


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""  # comments, processing instructions, entity references
    return tag.rsplit("}", 1)[-1].lower()


def _text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if _local(child.tag) == name:
            text = "".join(t for t in child.itertext() if isinstance(t, str)).strip()
            return text or None
    return None


def parse_source(body: bytes, url: str, *, max_bytes: int = MAX_XML_BYTES) -> Source:
    """A sitemap, sitemap index, RSS or Atom feed, or plain-text sitemap, told apart by content.

    Gzipped bodies are inflated (capped at ``max_bytes``). Raises :class:`DiscoverError` when the
    body is none of these.
    """
    data = _inflate(body, max_bytes)
    if len(data) > max_bytes:
        raise DiscoverError(f"larger than {max_bytes} bytes")
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<"):
        return _parse_text(data, url)
    from lxml import etree

    try:
        root = etree.fromstring(data, parser=_xml_parser(), base_url=None)
    except (etree.XMLSyntaxError, ValueError) as exc:
        raise DiscoverError(f"not XML: {exc}") from exc
    if root is None:
        raise DiscoverError("not XML: empty document")
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        # defusedxml's rule: no sitemap or feed needs entity declarations; bombs and XXE do
        raise DiscoverError("declares XML entities, refused")
    kind = _local(root.tag)
    if kind in {"urlset", "sitemapindex"}:
        return _parse_sitemap(root, url, kind)
    if kind in {"rss", "rdf"}:
        return Source("rss", urls=_parse_rss(root, url))
    if kind == "feed":
        return Source("atom", urls=_parse_atom(root, url))
    raise DiscoverError(f"not a sitemap or feed (root element <{kind}>)")


def _parse_text(data: bytes, url: str) -> Source:
    seen: dict[str, None] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.lower().startswith(_SCHEMES):
            absolute = _absolute(line, url)
            if absolute:
                seen.setdefault(absolute, None)
    if not seen and data.strip():
        raise DiscoverError("not a sitemap or feed")
    return Source("text", urls=tuple(Entry(u) for u in seen))


def _parse_sitemap(root: etree._Element, url: str, kind: str) -> Source:
    entries: dict[str, Entry] = {}
    for element in root:
        if _local(element.tag) not in {"url", "sitemap"}:
            continue
        loc = _text(element, "loc")
        absolute = _absolute(loc, url) if loc else None
        if absolute and absolute not in entries:
            entries[absolute] = Entry(absolute, normalise_date(_text(element, "lastmod")))
    found = tuple(entries.values())
    if kind == "sitemapindex":
        return Source(kind, sitemaps=found)
    return Source(kind, urls=found)


def _parse_rss(root: etree._Element, url: str) -> tuple[Entry, ...]:
    entries: dict[str, Entry] = {}
    for item in root.iter():
        if _local(item.tag) != "item":
            continue
        link = _text(item, "link")
        if not link:
            for child in item:
                is_permalink = (child.get("isPermaLink") or "true").lower() != "false"
                if _local(child.tag) == "guid" and is_permalink:
                    link = (child.text or "").strip()
        absolute = _absolute(link, url) if link else None
        if absolute and absolute not in entries:
            date = _text(item, "pubdate") or _text(item, "date") or _text(item, "updated")
            entries[absolute] = Entry(absolute, normalise_date(date))
    return tuple(entries.values())


def _parse_atom(root: etree._Element, url: str) -> tuple[Entry, ...]:
    entries: dict[str, Entry] = {}
    base = url
    for entry in root:
        if _local(entry.tag) != "entry":
            continue
        link: str | None = None
        for child in entry:
            if _local(child.tag) != "link":
                continue
            rel = (child.get("rel") or "alternate").lower()
            if rel == "alternate" and child.get("href"):
                link = child.get("href")
                break
        absolute = _absolute(link, base) if link else None
        if absolute and absolute not in entries:
            date = _text(entry, "updated") or _text(entry, "published")
            entries[absolute] = Entry(absolute, normalise_date(date))
    return tuple(entries.values())
