"""The noise rules in a real crawl: a local site whose every request differs in noise only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.archive import ChangeRecord, open_archive
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


def snapshots_per_page(db_path: Path, noisy: tuple[NoisySite, LocalServer]) -> dict[str, int]:
    """How many versions the archive holds of each article of the site, by file name."""
    site, server = noisy
    with open_archive(db_path, readonly=True) as archive:
        return {f"{n}.html": len(archive.snapshots(server.url(site.path(n)))) for n in site.pages}


def edits(db_path: Path, url: str) -> list[ChangeRecord]:
    """The page's changes from one stored version to the next (not its first version)."""
    with open_archive(db_path, readonly=True) as archive:
        changes = archive.snapshot_changes(url)
    return [change for _, change in sorted(changes.items()) if change.previous_id is not None]


def test_noise_adds_no_versions_and_edits_do(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server)
    for _ in range(4):
        crawl(config, db_path)
    counts = snapshots_per_page(db_path, noisy)
    # page 1 flips between two headlines: the second variant is new once, then reverted
    assert {k: v for k, v in counts.items() if k != "1.html"} == {
        "2.html": 1,
        "3.html": 1,
        "4.html": 1,
    }
    assert counts["1.html"] <= 2
    with open_archive(db_path, readonly=True) as archive:
        urls = [server.url("/news/"), *(server.url(site.path(n)) for n in site.pages)]
        kinds = {fetch.change_kind for url in urls for fetch in archive.fetches(url)}
    assert "noise" in kinds
    site.edit(2, "number")
    site.edit(3, "correction")
    site.edit(4, "headline")
    crawl(config, db_path)
    after = snapshots_per_page(db_path, noisy)
    assert (after["2.html"], after["3.html"], after["4.html"]) == (2, 2, 2)
    number, correction, headline = (edits(db_path, server.url(site.path(n))) for n in (2, 3, 4))
    # the change record counts the stored texts' words (the counters line differs too)
    assert [(c.kind, c.title_changed) for c in (*number, *correction, *headline)] == [
        ("edit", False),
        ("edit", False),
        ("edit", True),
    ]
    assert number[0].words_added >= 1
    assert number[0].words_removed >= 1
    assert correction[0].words_added >= 9  # the correction note's words


def test_a_flip_back_is_recorded_as_reverted(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server)
    # crawl until the A/B page has shown both headlines and flipped back at least once
    url = server.url(site.path(1))
    for _ in range(30):
        crawl(config, db_path)
        with open_archive(db_path, readonly=True) as archive:
            reverted = [f for f in archive.fetches(url) if f.change_kind == "reverted"]
        if reverted:
            break
    assert reverted, "the A/B page never flipped back in 30 crawls"
    assert snapshots_per_page(db_path, noisy)["1.html"] == 2
    with open_archive(db_path, readonly=True) as archive:
        first = min(snapshot.id for snapshot in archive.snapshots(url))
    assert reverted[-1].same_as_snapshot_id == first


def test_ignore_text_and_min_change_words_from_the_config(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, 'ignore_text = ["^Correction:"]\nmin_change_words = 3')
    crawl(config, db_path)
    site.edit(3, "correction")  # an ignored line: no version
    site.edit(2, "number")  # one word changed: a version, of kind minor
    crawl(config, db_path)
    counts = snapshots_per_page(db_path, noisy)
    assert (counts["2.html"], counts["3.html"]) == (2, 1)
    assert [change.kind for change in edits(db_path, server.url(site.path(2)))] == ["minor"]
    with open_archive(db_path, readonly=True) as archive:
        [stored] = archive.snapshots(server.url(site.path(3)))
    assert "Correction:" not in stored.text  # the stored version is the one before the note
