"""Storage contract, atomic writes and the group commit."""

from __future__ import annotations

import pytest

from scraper.archive import Storage, open_archive
from tests.contract.values import OTHER, T1, URL, article, result


class Boom(Exception):
    pass


def fail_after(store: Storage, url: str) -> None:
    """Save a fetch of ``url`` in a transaction, then fail inside it."""
    with store.transaction():
        store.save_fetch(url, fetched_at=T1, result=result(url=url), article=article(url=url))
        raise Boom


def test_a_transaction_is_all_or_nothing(store: Storage) -> None:
    with pytest.raises(Boom):
        fail_after(store, URL)
    assert store.page(URL) is None
    with store.transaction():
        store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    assert store.page(URL) is not None


def test_a_group_commits_many_writes_at_once(store: Storage, db: str) -> None:
    assert not store.in_group
    store.begin_group()
    assert store.in_group
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    with open_archive(db, readonly=True) as other:
        assert other.page(URL) is None  # not committed: another connection does not see it
    store.commit_group()
    assert not store.in_group
    with open_archive(db, readonly=True) as other:
        assert other.page(URL) is not None
    store.commit_group()  # none open: nothing happens


def test_a_rolled_back_group_leaves_nothing(store: Storage) -> None:
    store.begin_group()
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    store.save_fetch(OTHER, fetched_at=T1, result=result(url=OTHER), article=article(url=OTHER))
    store.rollback_group()
    assert (store.page(URL), store.page(OTHER)) == (None, None)
    store.rollback_group()  # none open: nothing happens


def test_a_failed_write_inside_a_group_keeps_the_others(store: Storage) -> None:
    store.begin_group()
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    with pytest.raises(Boom):
        fail_after(store, OTHER)
    store.commit_group()
    assert store.page(URL) is not None
    assert store.page(OTHER) is None


def test_crawl_state_writes_join_the_open_group(store: Storage) -> None:
    state = store.crawl_state()
    out = store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    store.begin_group()
    state.reschedule(
        out.page_id, crawled_at=T1, next_fetch_at=T1, revisit_seconds=60.0, unchanged_count=1
    )
    store.rollback_group()
    page = store.page(URL)
    assert page is not None
    assert page.revisit_seconds is None
