"""A crawl learns a site's boilerplate from the texts it extracted during the run, instead of
extracting the stored pages again at its end, and learns the very same lines."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import scraper.learn
from scraper.archive import Archive
from scraper.cli import cli
from scraper.extract import extract
from scraper.learn import learn
from scraper.models import FetchResult
from tests.server import LocalServer
from tests.sites import VALLEY, serve_valley

SITE = VALLEY
PROMO = "Valley Post is free to read because readers like you chip in. Give what you can."
CREDIT = "Photos by the Valley Camera Club unless stated otherwise."
FETCHED_AT = "2024-05-01T10:00:00Z"
LATER = "2024-05-02T09:30:00Z"


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Count the pages ``scraper.learn`` extracts again (their URLs)."""
    calls: list[str] = []
    real: Callable[..., Any] = scraper.learn.extract

    def counted(html: str | bytes, url: str | None = None, **options: Any) -> Any:
        calls.append(url or "")
        return real(html, url, **options)

    monkeypatch.setattr(scraper.learn, "extract", counted)
    return calls


def test_a_first_crawl_learns_from_its_own_texts_the_same_lines(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = serve_valley(tmp_path, server)
    db = tmp_path / "archive.db"
    calls = _counting(monkeypatch)
    args = ["crawl", "--config", str(config), "--db", str(db), "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert calls == []  # every page learned from was extracted once, by the crawl
    with Archive(db, readonly=True) as archive:
        learned = archive.boilerplate("valley")
        learned_from = archive.boilerplate_learned_from("valley")
    assert learned == frozenset({PROMO, CREDIT})
    # learning from scratch, every stored page extracted again, gives the same
    copy = tmp_path / "copy.db"
    shutil.copy(db, copy)
    with Archive(copy) as archive:
        again = learn(archive, "valley", LATER)
    assert len(calls) == again.pages == learned_from
    assert frozenset(again.lines) == learned


def test_a_recrawl_that_relearns_extracts_the_stored_pages_again(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a site has learned boilerplate, its crawl's texts lack those lines: learning must
    not take them (it would unlearn the lines)."""
    config = serve_valley(tmp_path, server)
    db = tmp_path / "archive.db"
    args = ["crawl", "--config", str(config), "--db", str(db), "--quiet"]
    assert CliRunner().invoke(cli, args, catch_exceptions=False).exit_code == 0
    with Archive(db) as archive:
        # as if learned from fewer pages: the next crawl learns again
        archive.set_boilerplate(
            "valley", {PROMO: 5, CREDIT: 5}, learned_at=FETCHED_AT, learned_from=3
        )
    calls = _counting(monkeypatch)
    again = CliRunner().invoke(cli, [*args, "--revisit", "0"], catch_exceptions=False)
    assert again.exit_code == 0, again.stderr
    with Archive(db, readonly=True) as archive:
        assert archive.boilerplate("valley") == frozenset({PROMO, CREDIT})
        assert len(calls) == archive.boilerplate_learned_from("valley") >= 5


def _archive_of_the_site(db_path: Path) -> dict[str, str]:
    """The fixture site's pages stored as a crawl stores them; URL -> sha256 of the body."""
    shas = {}
    with Archive(db_path) as archive:
        for path in sorted(SITE.glob("*.html")):
            url = f"http://valley.example/{path.stem}"
            body = path.read_bytes()
            result = FetchResult(
                url=url,
                final_url=url,
                status_code=200,
                fetched_at=FETCHED_AT,
                elapsed_ms=3,
                headers=(("content-type", "text/html; charset=utf-8"),),
                body=body,
                text=body.decode("utf-8"),
                content_type="text/html",
            )
            archive.save_fetch(
                url, fetched_at=FETCHED_AT, result=result, article=extract(body, url), site="v"
            )
            shas[url] = hashlib.sha256(body).hexdigest()
    return shas


def test_learn_takes_a_known_text_only_for_the_body_it_came_from(db_path: Path) -> None:
    shas = _archive_of_the_site(db_path)
    line = "A line the known texts share and the stored pages do not have at all."
    urls = sorted(shas)
    known = {url: (shas[url], f"{line}\nSomething of page {url} alone.") for url in urls[:3]}
    known[urls[3]] = ("0" * 64, f"{line}\nA text of another body of that page.")  # stale
    with Archive(db_path) as archive:
        result = learn(archive, "v", LATER, min_pages=3, min_share=0.5, known=known)
    assert result.pages == 5
    # the three known texts carry the line (and lack the site's own recurring lines, now on
    # 2 pages of 5: too few); the stale one was extracted again, without the line
    assert dict(result.lines) == {line: 3}
