"""The storage contract's crawl-state tests run on PostgreSQL's CrawlStore as well.

Every test of ``tests/contract/test_crawlstate.py`` that needs only ``state`` (a CrawlStore) is
collected here again with ``state`` a :class:`PgCrawlState` on a new, migrated database: the
same calls, the same answers as SQLite's. (The tests that need the whole ``store`` join when
the PostgreSQL archive implements the other protocols; then ``postgres`` joins the contract's
own ``BACKENDS`` and this module goes.)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator

import pytest

from scraper.archive.postgres.backend import migrate_archive
from scraper.archive.postgres.crawlstore import PgCrawlState
from tests.contract import test_crawlstate as contract

REUSED = sorted(
    name
    for name, test in vars(contract).items()
    if name.startswith("test_") and set(inspect.signature(test).parameters) == {"state"}
)
globals().update({name: getattr(contract, name) for name in REUSED})


@pytest.fixture
def state(pg_url: str) -> Iterator[PgCrawlState]:
    migrate_archive(pg_url, now="2024-05-01T00:00:00+00:00")
    opened = PgCrawlState.open(pg_url)
    try:
        yield opened
    finally:
        opened.close()


def test_most_of_the_crawl_state_contract_runs_here() -> None:
    everything = [n for n in vars(contract) if n.startswith("test_")]
    assert len(REUSED) >= len(everything) - 2, set(everything) - set(REUSED)
