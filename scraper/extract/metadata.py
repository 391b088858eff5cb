"""Extract, metadata: title, authors, dates, language and the rest, read from the one parse.

Sources in order of trust: JSON-LD (``@graph`` included), OpenGraph and ``<meta>``, then the
page itself (``<time>``, ``<h1>``, bylines, "N min read"); htmldate is the fallback for the
published date only. Runs on the parsed tree *before* chrome is removed (the head, the
JSON-LD scripts and the post-header lines live in what cleaning cuts). Must not fetch, must
not touch the archive, must not parse the page again (htmldate gets the already-decoded text
only when every other date source is empty).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin

from lxml.etree import LxmlError
from selectolax.lexbor import LexborHTMLParser

_ARTICLE_TYPES = frozenset(
    [
        "Article",
        "NewsArticle",
        "BlogPosting",
        "Report",
        "ScholarlyArticle",
        "TechArticle",
        "LiveBlogPosting",
        "AnalysisNewsArticle",
        "OpinionNewsArticle",
        "ReportageNewsArticle",
        "ReviewNewsArticle",
        "BackgroundNewsArticle",
        "SatiricalArticle",
        "SocialMediaPosting",
        "DiscussionForumPosting",
        "WebPage",
        "MedicalWebPage",
        "Recipe",
        "Review",
    ]
)
_PUBLISHER_TYPES = frozenset(["Organization", "NewsMediaOrganization", "Corporation", "WebSite"])
_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
#: A line that is only "3 min read" (no \s: it would backtrack across runs of blank lines).
_READ_TIME_RE = re.compile(
    r"^[ \t]*(\d{1,3})[ \t]*(?:-[ \t]*)?(?:min|mins|minute|minutes)\.?[ \t]*"
    r"(?:read|reading|de lectura|de leitura|Lesezeit|lecture)\b[^\n]{0,12}$",
    re.I | re.M,
)
_ISO_DURATION_RE = re.compile(r"^P(?:T)?(?:(\d+)H)?(?:(\d+)M)?", re.I)
_BY_RE = re.compile(r"^\s*(?:by|written by|posted by|von|par|por)\s+", re.I)
_SPACE_RE = re.compile(r"\s+")
_LANG_RE = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)*$")

#: ``<meta>`` names and properties per field, most trusted first.
_META_KEYS: dict[str, tuple[str, ...]] = {
    "title": ("og:title", "twitter:title", "dc.title", "parsely-title", "sailthru.title"),
    "author": (
        "author",
        "article:author",
        "parsely-author",
        "sailthru.author",
        "dc.creator",
        "byl",
        "twitter:creator",
    ),
    "published": (
        "article:published_time",
        "og:published_time",
        "datepublished",
        "parsely-pub-date",
        "sailthru.date",
        "dc.date.issued",
        "dc.date",
        "date",
        "pubdate",
        "publish-date",
        "publishdate",
        "article.published",
        "og:article:published_time",
        "cxenseparse:recs:publishtime",
    ),
    "updated": (
        "article:modified_time",
        "og:updated_time",
        "datemodified",
        "dc.date.modified",
        "last-modified",
        "article.updated",
        "og:article:modified_time",
    ),
    "description": ("description", "og:description", "twitter:description", "dc.description"),
    "site_name": ("og:site_name", "application-name", "publisher"),
    "image": (
        "og:image",
        "og:image:url",
        "og:image:secure_url",
        "twitter:image",
        "twitter:image:src",
    ),
    "language": ("og:locale", "content-language", "dc.language", "language"),
    "tags": ("article:tag", "parsely-tags", "news_keywords", "keywords"),
}
#: Tag links: rel=tag (WordPress and most blog engines), or /tag/ links inside the article.
_TAG_LINKS = "a[rel~=tag]:not([rel~=category]), article a[href*='/tag/'], article a[href*='/tags/']"
_META_FIELD = {key: field for field, keys in _META_KEYS.items() for key in keys}


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the page says about itself; every field may be missing."""

    title: str | None = None
    authors: tuple[str, ...] = ()
    published: str | None = None
    updated: str | None = None
    language: str | None = None
    description: str | None = None
    site_name: str | None = None
    canonical_url: str | None = None
    tags: tuple[str, ...] = ()
    image: str | None = None
    reading_time_minutes: int | None = None


#: A character reference with its semicolon (``&#39;``, ``&#x2019;``, ``&amp;``): bare forms
#: like ``&copy`` are left alone, as they occur in URLs' query strings.
_CHAR_REF_RE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")


def _unescape(value: str) -> str:
    """``value`` with character references decoded, twice at most (``&amp;#39;`` is
    escaped twice: JSON-LD and ``<meta>`` values often are, and the parser decodes once)."""
    for _ in range(2):
        if "&" not in value:
            break
        value = _CHAR_REF_RE.sub(lambda m: html.unescape(m.group(0)), value)
    return value


def _clean(value: Any) -> str | None:
    """A metadata string: references decoded, white space (``&nbsp;`` too) collapsed."""
    if not isinstance(value, str):
        return None
    value = _SPACE_RE.sub(" ", _unescape(value)).strip()
    return value or None


def _date(value: Any) -> str | None:
    """The calendar date (``YYYY-MM-DD``) in an ISO-ish date string, or None."""
    text = _clean(value)
    if not text:
        return None
    match = _DATE_RE.search(text)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not (1990 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def _language(value: Any) -> str | None:
    text = _clean(value)
    if not text:
        return None
    match = _LANG_RE.match(text.split(",")[0].strip())
    return match.group(1).lower() if match else None


def _jsonld_objects(tree: LexborHTMLParser) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object of the page, ``@graph`` members and lists flattened."""
    for script in tree.css("script[type='application/ld+json']"):
        raw = script.text(deep=True) or ""
        try:
            data = json.loads(raw.strip().rstrip(";"))
        except (ValueError, RecursionError):
            continue
        stack: list[Any] = [data]
        seen = 0
        while stack and seen < 200:
            item = stack.pop(0)
            seen += 1
            if isinstance(item, list):
                stack.extend(item)
            elif isinstance(item, dict):
                graph = item.get("@graph")
                if isinstance(graph, list):
                    stack.extend(graph)
                yield item


def _types(obj: dict[str, Any]) -> set[str]:
    kind = obj.get("@type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {k for k in kind if isinstance(k, str)}
    return set()


def _names(value: Any) -> list[str]:
    """Person names in a JSON-LD ``author`` value (a string, an object or a list of them)."""
    out: list[str] = []
    items = value if isinstance(value, list) else [value]
    for item in items[:20]:
        name = _clean(item.get("name")) if isinstance(item, dict) else _clean(item)
        if name and not name.startswith(("http://", "https://")):
            out.append(name)
    return out


def _image(value: Any) -> str | None:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict):
        value = value.get("url") or value.get("contentUrl")
    return _clean(value)


def _keywords(value: Any) -> list[str]:
    if isinstance(value, str):
        return [k for k in (_clean(v) for v in value.split(",")) if k]
    if isinstance(value, list):
        return [k for k in (_clean(v) for v in value if isinstance(v, str)) if k]
    return []


def _minutes(value: Any) -> int | None:
    text = _clean(value)
    if not text:
        return None
    match = _ISO_DURATION_RE.match(text)
    if not match or not (match.group(1) or match.group(2)):
        return None
    return int(match.group(1) or 0) * 60 + int(match.group(2) or 0) or None


def _resolve(value: Any, by_id: dict[str, dict[str, Any]]) -> Any:
    """``value`` with ``{"@id": ...}`` references (Yoast's ``@graph`` style) looked up."""
    if isinstance(value, list):
        return [_resolve(item, by_id) for item in value[:20]]
    if isinstance(value, dict) and "name" not in value and isinstance(value.get("@id"), str):
        return by_id.get(value["@id"], value)
    return value


def _from_jsonld(tree: LexborHTMLParser, found: dict[str, Any]) -> None:
    article: dict[str, Any] | None = None
    publisher_name: str | None = None
    website_name: str | None = None
    by_id: dict[str, dict[str, Any]] = {}
    for obj in _jsonld_objects(tree):
        if isinstance(obj.get("@id"), str):
            by_id.setdefault(obj["@id"], obj)
        types = _types(obj)
        if types & _ARTICLE_TYPES and (article is None or "WebPage" in _types(article)):
            article = obj
        if types & _PUBLISHER_TYPES and "WebSite" in types and website_name is None:
            website_name = _clean(obj.get("name"))
    if article is not None:
        found.setdefault("title", _clean(article.get("headline")) or _clean(article.get("name")))
        found.setdefault("authors", _names(_resolve(article.get("author"), by_id)))
        found.setdefault("published", _date(article.get("datePublished")))
        found.setdefault("updated", _date(article.get("dateModified")))
        found.setdefault("description", _clean(article.get("description")))
        found.setdefault("image", _image(article.get("image")))
        found.setdefault("language", _language(article.get("inLanguage")))
        found.setdefault("tags", _keywords(article.get("keywords")))
        found.setdefault("reading_time_minutes", _minutes(article.get("timeRequired")))
        publisher = _resolve(article.get("publisher"), by_id)
        if isinstance(publisher, dict):
            publisher_name = _clean(publisher.get("name"))
    # the publisher is an organisation: og:site_name, when present, names the site better
    found["site_fallback"] = publisher_name or website_name
    for key in list(found):
        if found[key] in (None, []):
            del found[key]


def _from_meta(tree: LexborHTMLParser, found: dict[str, Any]) -> None:
    tags: list[str] = []
    for meta in tree.css("meta[content]"):
        attrs = meta.attributes
        key = attrs.get("property") or attrs.get("name") or attrs.get("itemprop")
        key = key or attrs.get("http-equiv")
        if not key:
            continue
        field = _META_FIELD.get(key.strip().lower())
        if field is None:
            continue
        content = _clean(attrs.get("content"))
        if not content:
            continue
        if field == "tags":
            if key.lower() in {"article:tag", "parsely-tags"} or not tags:
                tags.extend(_keywords(content))
            continue
        if field == "author":
            if content.startswith(("http://", "https://", "@")) or "authors" in found:
                continue
            found["authors"] = [_BY_RE.sub("", content)]
            continue
        if field == "site_name" and content.startswith(("@", "http://", "https://")):
            continue  # a social handle or a URL, not a name
        if field in {"published", "updated"}:
            date = _date(content)
            if date:
                found.setdefault(field, date)
            continue
        if field == "language":
            found.setdefault(field, _language(content))
            continue
        found.setdefault(field, content)
    if tags and "tags" not in found:
        found["tags"] = tags


def _from_page(tree: LexborHTMLParser, found: dict[str, Any], url: str | None) -> None:
    root = tree.css_first("html")
    if root is not None:
        lang = _language(root.attributes.get("lang") or root.attributes.get("xml:lang"))
        if lang:
            found["language"] = lang  # the document's own declaration beats og:locale
    link = tree.css_first("link[rel=canonical][href]")
    href = _clean(link.attributes.get("href")) if link is not None else None
    if href is None:
        og_url = tree.css_first("meta[property='og:url'][content]")
        href = _clean(og_url.attributes.get("content")) if og_url is not None else None
    if href:
        found["canonical_url"] = urljoin(url, href) if url else href
    if "title" not in found:
        h1 = tree.css_first("h1")
        title = _clean(h1.text(deep=True)) if h1 is not None else None
        if not title:
            node = tree.css_first("title")
            title = _clean(node.text(deep=True)) if node is not None else None
        if title:
            found["title"] = title
    if "published" not in found:
        for node in tree.css("time[datetime], [itemprop=datePublished]"):
            date = _date(node.attributes.get("datetime") or node.attributes.get("content"))
            if date:
                found["published"] = date
                break
    if "authors" not in found:
        names = _byline(tree)
        if names:
            found["authors"] = names
    if "tags" not in found:
        tags = [t for a in tree.css(_TAG_LINKS) if (t := _clean(a.text(deep=True)))]
        if tags:
            found["tags"] = tags
    if "image" in found and url:
        found["image"] = urljoin(url, found["image"])


def _byline(tree: LexborHTMLParser) -> list[str]:
    selector = (
        "[rel=author], [itemprop=author] [itemprop=name], [itemprop=author], "
        "[data-hook=user-name], .author-name, .byline a, .byline, .author"
    )
    for node in tree.css(selector):
        text = _clean(node.text(deep=True))
        if text and len(text) <= 80:
            return [_BY_RE.sub("", text)]
    return []


def reading_time(page_text: str) -> int | None:
    """The reading time a page states ("3 min read"), from its text, one text node a line."""
    match = _READ_TIME_RE.search(page_text)
    return int(match.group(1)) if match else None


_TITLE_SEPARATORS = (" - ", " | ", " – ", " — ", " :: ", " · ")


def _without_site_name(title: str | None, site_name: str | None) -> str | None:
    """``title`` without a trailing (or leading) " - Site Name" part."""
    if not title or not site_name:
        return title
    for sep in _TITLE_SEPARATORS:
        suffix = f"{sep}{site_name}"
        if title.endswith(suffix) and len(title) > len(suffix):
            return title[: -len(suffix)].strip()
        prefix = f"{site_name}{sep}"
        if title.startswith(prefix) and len(title) > len(prefix):
            return title[len(prefix) :].strip()
    return title


def read_metadata(tree: LexborHTMLParser, url: str | None) -> Metadata:
    """The page's metadata from the parsed ``tree``, without the htmldate fallback."""
    found: dict[str, Any] = {}
    _from_jsonld(tree, found)
    _from_meta(tree, found)
    _from_page(tree, found, url)
    site_name = found.get("site_name") or found.get("site_fallback")
    return Metadata(
        title=_without_site_name(found.get("title"), site_name),
        authors=tuple(dict.fromkeys(found.get("authors", ()))),
        published=found.get("published"),
        updated=found.get("updated"),
        language=found.get("language"),
        description=found.get("description"),
        site_name=site_name,
        canonical_url=found.get("canonical_url"),
        tags=tuple(dict.fromkeys(found.get("tags", ()))),
        image=found.get("image"),
        reading_time_minutes=found.get("reading_time_minutes"),
    )


def guess_published(html: str, url: str | None) -> str | None:
    """htmldate's guess at the published date (its fast mode), or None.

    The fallback when no JSON-LD, ``<meta>`` or ``<time>`` gives the date; ``html`` should
    be the page without scripts and styles (a third of the size, a third of the time).
    """
    from htmldate import find_date

    try:
        return _date(find_date(html, extensive_search=False, url=url))
    except (ValueError, TypeError, LookupError, AttributeError, RecursionError, LxmlError):
        # htmldate has no error contract of its own; these are what odd pages raise
        return None
