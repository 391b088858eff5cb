"""The noise rules in a real crawl: a local site whose every request differs in noise only."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from tests import sites
from tests.noisy_site import NoisySite
from tests.server import LocalServer
from tests.sites import write_town as write_config


@pytest.fixture
def noisy() -> Iterator[tuple[NoisySite, LocalServer]]:
    site = NoisySite.build(4, ab_tests=1)
    server = LocalServer().start()
    site.serve(server)
    yield site, server
    server.stop()


def crawl(config: Path, db_path: Path) -> None:
    result = sites.crawl(config, db_path, "--quiet", "--revisit", "0")
    assert result.exit_code == 0, result.output


def rows(db_path: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(sql).fetchall()


def snapshots_per_page(db_path: Path) -> dict[str, int]:
    found = rows(
        db_path,
        "SELECT p.url, COUNT(s.id) FROM pages p LEFT JOIN snapshots s ON s.page_id = p.id "
        "WHERE p.url LIKE '%/news/%.html' GROUP BY p.url",
    )
    return {str(url).rsplit("/", 1)[1]: int(n) for url, n in found}  # type: ignore[call-overload]


def test_noise_adds_no_versions_and_edits_do(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server)
    for _ in range(4):
        crawl(config, db_path)
    counts = snapshots_per_page(db_path)
    # page 1 flips between two headlines: the second variant is new once, then reverted
    assert {k: v for k, v in counts.items() if k != "1.html"} == {
        "2.html": 1,
        "3.html": 1,
        "4.html": 1,
    }
    assert counts["1.html"] <= 2
    kinds = {str(k) for (k,) in rows(db_path, "SELECT DISTINCT change_kind FROM fetches")}
    assert "noise" in kinds
    site.edit(2, "number")
    site.edit(3, "correction")
    site.edit(4, "headline")
    crawl(config, db_path)
    after = snapshots_per_page(db_path)
    assert (after["2.html"], after["3.html"], after["4.html"]) == (2, 2, 2)
    edits = rows(
        db_path,
        "SELECT c.kind, c.words_added, c.words_removed, c.title_changed FROM changes c "
        "JOIN snapshots s ON s.id = c.snapshot_id JOIN pages p ON p.id = s.page_id "
        "WHERE c.previous_id IS NOT NULL AND p.url NOT LIKE '%/1.html' ORDER BY p.url",
    )
    # the changes row counts the stored texts' words (the counters line differs too)
    assert [(kind, title) for kind, _, _, title in edits] == [("edit", 0), ("edit", 0), ("edit", 1)]
    assert edits[0][1] >= 1
    assert edits[0][2] >= 1
    assert edits[1][1] >= 9  # the correction note's words


def test_a_flip_back_is_recorded_as_reverted(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server)
    # crawl until the A/B page has shown both headlines and flipped back at least once
    for _ in range(30):
        crawl(config, db_path)
        reverted = rows(
            db_path,
            "SELECT f.same_as_snapshot_id FROM fetches f JOIN pages p ON p.id = f.page_id "
            "WHERE p.url LIKE '%/1.html' AND f.change_kind = 'reverted'",
        )
        if reverted:
            break
    assert reverted, "the A/B page never flipped back in 30 crawls"
    assert snapshots_per_page(db_path)["1.html"] == 2
    (same_as,) = reverted[0]
    first = rows(
        db_path,
        "SELECT MIN(s.id) FROM snapshots s JOIN pages p ON p.id = s.page_id "
        "WHERE p.url LIKE '%/1.html'",
    )
    assert same_as == first[0][0]


def test_ignore_text_and_min_change_words_from_the_config(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, 'ignore_text = ["^Correction:"]\nmin_change_words = 3')
    crawl(config, db_path)
    site.edit(3, "correction")  # an ignored line: no version
    site.edit(2, "number")  # one word changed: a version, of kind minor
    crawl(config, db_path)
    counts = snapshots_per_page(db_path)
    assert (counts["2.html"], counts["3.html"]) == (2, 1)
    (kind,) = rows(
        db_path,
        "SELECT c.kind FROM changes c JOIN snapshots s ON s.id = c.snapshot_id "
        "JOIN pages p ON p.id = s.page_id "
        "WHERE p.url LIKE '%/2.html' AND c.previous_id IS NOT NULL",
    )
    assert kind == ("minor",)
    text = rows(
        db_path,
        "SELECT s.text FROM snapshots s JOIN pages p ON p.id = s.page_id "
        "WHERE p.url LIKE '%/3.html'",
    )
    assert "Correction:" not in str(text)  # the stored version is the one before the note
