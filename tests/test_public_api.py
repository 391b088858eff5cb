"""The public Python API is exactly what ``scraper.__all__`` says."""

from __future__ import annotations

import scraper


def test_public_surface() -> None:
    assert scraper.__all__ == sorted(scraper.__all__)
    assert set(scraper.__all__) == {
        "Archive",
        "Article",
        "FetchResult",
        "ScraperError",
        "Snapshot",
        "__version__",
        "extract",
    }
    for name in scraper.__all__:
        assert hasattr(scraper, name)


def test_extract_is_pure_and_returns_article() -> None:
    article = scraper.extract(b"<html><body><p>x</p></body></html>", url="http://127.0.0.1/x")
    assert isinstance(article, scraper.Article)
    assert article.to_dict()["url"] == "http://127.0.0.1/x"
