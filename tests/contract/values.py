"""Values the contract tests store: fetch results and articles written by hand."""

from __future__ import annotations

from typing import Any

from scraper.models import Article, FetchResult

URL = "https://news.example/post/1"
OTHER = "https://news.example/post/2"
BODY_V1 = b"<html><body><article><p>The quick brown fox</p></article></body></html>"
BODY_V2 = b"<html><body><article><p>The quick red fox</p></article></body></html>"
T1 = "2024-05-01T10:00:00+00:00"
T2 = "2024-05-02T10:00:00+00:00"
T3 = "2024-05-03T10:00:00+00:00"


def result(
    body: bytes = BODY_V1,
    *,
    url: str = URL,
    status: int = 200,
    etag: str | None = '"v1"',
    not_modified: bool = False,
    fetched_at: str = T1,
) -> FetchResult:
    headers: list[tuple[str, str]] = [("Content-Type", "text/html; charset=utf-8")]
    if etag:
        headers.append(("ETag", etag))
    return FetchResult(
        url=url,
        final_url=url,
        status_code=status,
        fetched_at=fetched_at,
        elapsed_ms=12,
        headers=tuple(headers),
        request_headers=(("Host", "news.example"), ("User-Agent", "scraper-test")),
        body=b"" if not_modified else body,
        text="" if not_modified else body.decode(),
        content_type="text/html",
        not_modified=not_modified,
    )


def article(
    text: str = "The quick brown fox jumps over the lazy dog in the morning sun",
    *,
    url: str = URL,
    **fields: Any,
) -> Article:
    values: dict[str, Any] = {"title": "Foxes", "author": "Ann", "found": True}
    values.update(fields)
    return Article(url=url, text=text, markdown=text, word_count=len(text.split()), **values)


#: a second version of ``article()``: a real edit (words replaced, not noise)
EDITED = (
    "The quick red fox jumps over the sleeping dog in the evening rain, and the farmer "
    "watches from the barn"
)
