"""An article's content hash is computed once for the gate, the noise verdict and the write,
and is still the hash of that article whichever was hashed before it (issue 17)."""

from __future__ import annotations

import dataclasses
import hashlib
import json

from scraper.models import Article


def _by_hand(article: Article) -> str:
    """The content hash as DESIGN.md defines it: sha256 of the JSON of the fields that matter."""
    key = {
        "title": article.title,
        "author": article.author,
        "published": article.published,
        "updated": article.updated,
        "description": article.description,
        "text": article.text,
    }
    blob = json.dumps(key, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()


def test_each_article_gets_its_own_hash_in_any_order() -> None:
    first = Article(title="Pier", text="The pier reopens.", found=True)
    second = dataclasses.replace(first, text="The pier stays shut.")
    twin = dataclasses.replace(first)  # equal to first, another object
    for article in (first, second, first, twin, second, second, twin):
        assert article.content_hash() == _by_hand(article)
    assert first.content_hash() == twin.content_hash() != second.content_hash()
