"""The crawl says when a site's extraction collapsed: a site whose pages were articles starts
serving chrome only (a redesign, a consent wall), and the summary names it; a site that never
had articles does not warn on every run."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from click.testing import Result

from scraper.extract import extract
from scraper.sitehealth import LOW_CONFIDENCE, ExtractionCounts, collapse_warning
from tests import sites
from tests.gazette import article, chrome, serve
from tests.server import LocalServer
from tests.sites import write_sites


def weak_pages(pages: dict[str, bytes]) -> tuple[int, int]:
    """How many of ``pages`` extract() finds no article in, or one with a low confidence; and
    how many no article in."""
    results = [extract(body) for body in pages.values()]
    weak = sum(not a.found or a.confidence < LOW_CONFIDENCE for a in results)
    return weak, sum(not a.found for a in results)


def crawl(tmp_path: Path, server: LocalServer, site: str) -> Result:
    config = write_sites(tmp_path, f"{server.base}/index.html", name=site, max_depth=1)
    return sites.crawl(config, tmp_path / "a.db", "--revisit", "0")


def warnings(result: Result) -> list[str]:
    assert result.exit_code == 0, result.stderr
    return [line for line in result.stderr.splitlines() if line.startswith("warning: site")]


def test_a_site_whose_pages_turn_to_chrome_is_named(tmp_path: Path, server: LocalServer) -> None:
    articles = serve(server, article, "monday")
    weak_before, none_before = weak_pages(articles)
    assert none_before <= 1  # the premise: these pages are articles (the index may not be)
    assert warnings(crawl(tmp_path, server, "gazette")) == []

    walled = serve(server, chrome, "tuesday")
    weak_after, none_after = weak_pages(walled)
    assert weak_after == len(walled)  # the premise: nothing here is a sure article
    second = crawl(tmp_path, server, "gazette")
    (line,) = warnings(second)
    n = len(walled)
    assert line in {  # whichever share jumped (confidence makes the first one the sharper)
        f"warning: site gazette: {weak_after} of {n} pages had no article or low confidence "
        f"this run (earlier runs: {weak_before} of {len(articles)})",
        f"warning: site gazette: {none_after} of {n} pages had no article "
        f"this run (earlier runs: {none_before} of {len(articles)})",
    }
    with closing(sqlite3.connect(tmp_path / "a.db")) as conn:
        stored = conn.execute(
            "select run_id, site, extracted, no_article + low_confidence from run_extraction "
            "order by run_id"
        ).fetchall()
        # the crawl's captures record their charset too (reextract decodes with it)
        charsets = conn.execute(
            "select distinct charset from fetches where raw_sha256 is not null"
        ).fetchall()
    assert stored == [
        (1, "gazette", len(articles), weak_before),
        (2, "gazette", len(walled), weak_after),
    ]
    assert charsets == [("utf-8",)]


def test_a_site_that_never_had_articles_does_not_warn(tmp_path: Path, server: LocalServer) -> None:
    for edition in ("monday", "tuesday", "wednesday"):
        pages = serve(server, chrome, edition)
        assert weak_pages(pages)[0] == len(pages)  # the premise: no sure article here
        assert warnings(crawl(tmp_path, server, "portal")) == []
    with closing(sqlite3.connect(tmp_path / "a.db")) as conn:
        runs = conn.execute("select count(*) from run_extraction where site = 'portal'").fetchone()
    assert runs == (3,)  # each run was judged


def test_the_rule() -> None:
    """Hand-written counts: a jump of the weak share warns; small runs and steady shares not."""
    steady = ExtractionCounts(extracted=40, no_article=2, low_confidence=2)
    assert collapse_warning("news", ExtractionCounts(10, 1, 0), steady) is None
    assert collapse_warning("news", ExtractionCounts(10, 1, 8), steady) == (
        "warning: site news: 9 of 10 pages had no article or low confidence this run "
        "(earlier runs: 4 of 40)"
    )
    # too few pages this run, or too few to compare with
    assert collapse_warning("news", ExtractionCounts(4, 4, 0), steady) is None
    assert collapse_warning("news", ExtractionCounts(10, 10, 0), ExtractionCounts(4, 0, 0)) is None
    # a site that always was this way
    always = ExtractionCounts(extracted=50, no_article=45, low_confidence=5)
    assert collapse_warning("portal", ExtractionCounts(10, 10, 0), always) is None
    # doubtful articles before, none at all now: still a collapse, said as such
    doubtful = ExtractionCounts(extracted=30, no_article=0, low_confidence=30)
    assert collapse_warning("blog", ExtractionCounts(10, 10, 0), doubtful) == (
        "warning: site blog: 10 of 10 pages had no article this run (earlier runs: 0 of 30)"
    )
    # a share that rose a little is not a jump
    assert collapse_warning("news", ExtractionCounts(10, 5, 0), ExtractionCounts(40, 12, 0)) is None
