"""Storage contract, one page through time: its site, snapshot references, validators,
boilerplate (moved here from tests/test_archive_sqlite_writes.py: they need no SQL)."""

from __future__ import annotations

import pytest

from scraper.archive import Storage
from scraper.errors import UsageError
from scraper.models import FetchResult
from tests.contract.values import URL, article, result


def test_the_page_site_is_set_when_given_and_kept_when_not(store: Storage) -> None:
    at = "2024-05-01T10:00:00+00:00"
    store.save_fetch(URL, fetched_at=at, result=result(), article=article())
    assert store.page(URL).site is None  # a one-off fetch names no site
    store.save_fetch(URL, fetched_at=at, result=result(not_modified=True), site="news")
    assert store.page(URL).site == "news"  # a crawl of site "news" claims it
    store.save_fetch(URL, fetched_at=at, result=result(), article=article())
    store.save_fetch(URL, fetched_at=at, error="timeout: slow")
    assert store.page(URL).site == "news"  # later one-off fetches keep it
    store.save_fetch(URL, fetched_at=at, error="timeout: slow", site="wire")
    assert store.page(URL).site == "wire"


@pytest.fixture
def three_versions(store: Storage) -> tuple[Storage, list[int]]:
    ids = []
    for day, text in (("01", "one"), ("03", "one two"), ("05", "one two three")):
        out = store.save_fetch(
            URL,
            fetched_at=f"2024-05-{day}T12:00:00+00:00",
            article=article(text),
        )
        assert out.snapshot_id is not None
        ids.append(out.snapshot_id)
    return store, ids


@pytest.mark.parametrize(
    ("ref", "index"),
    [
        ("-1", 2),
        ("-2", 1),
        ("-3", 0),
        ("2024-05-04", 1),
        ("2024-05-03", 1),  # a bare date counts to the end of that day
        ("2024-05-03T11:59:59Z", 0),
        ("2024-05-03T12:00:00+00:00", 1),
        ("2024-05-03T13:30:00+01:00", 1),
        ("2030-01-01", 2),
    ],
)
def test_snapshot_refs(three_versions: tuple[Storage, list[int]], ref: str, index: int) -> None:
    store, ids = three_versions
    assert store.snapshot(URL, ref).id == ids[index]


def test_snapshot_ref_by_id(three_versions: tuple[Storage, list[int]]) -> None:
    store, ids = three_versions
    assert store.snapshot(URL, ids[1]).text == "one two"
    assert store.snapshot(URL, str(ids[0])).text == "one"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("-4", "no snapshot -4: the page has 3 snapshots"),
        ("999", "no snapshot with id 999"),
        ("yesterday", "unknown snapshot reference 'yesterday'"),
        ("2024-04-30", "no snapshot on or before 2024-04-30"),
    ],
)
def test_unknown_snapshot_refs_are_usage_errors(
    three_versions: tuple[Storage, list[int]], ref: str, message: str
) -> None:
    store, _ = three_versions
    with pytest.raises(UsageError) as info:
        store.snapshot(URL, ref)
    assert str(info.value).startswith(f"{URL}: {message}")


def test_snapshot_of_an_unknown_page(store: Storage) -> None:
    with pytest.raises(UsageError, match="no snapshots in the archive"):
        store.snapshot("https://nowhere.example/", "-1")
    assert store.page("https://nowhere.example/") is None
    assert store.snapshots("https://nowhere.example/") == []
    assert store.fetches("https://nowhere.example/") == []


def test_snapshot_at(three_versions: tuple[Storage, list[int]]) -> None:
    store, ids = three_versions
    at = store.snapshot_at(URL, "2024-05-02")
    assert at is not None
    assert at.id == ids[0]
    assert store.snapshot_at(URL, "2024-04-01") is None


def test_validators(store: Storage) -> None:
    assert store.validators(URL) == (None, None)
    fetched = FetchResult(
        url=URL,
        final_url=URL,
        status_code=200,
        fetched_at="2024-05-01T10:00:00+00:00",
        elapsed_ms=1,
        headers=(("ETag", '"abc"'), ("Last-Modified", "Wed, 01 May 2024 09:00:00 GMT")),
        body=b"x",
    )
    store.save_fetch(URL, fetched_at="2024-05-01T10:00:00+00:00", result=fetched, article=article())
    assert store.validators(URL) == ('"abc"', "Wed, 01 May 2024 09:00:00 GMT")


def test_boilerplate_round_trip_and_site_texts(store: Storage) -> None:
    for n in (1, 2):
        store.save_fetch(
            f"https://news.example/post/{n}",
            fetched_at=f"2024-05-0{n}T10:00:00+00:00",
            article=article(f"Story {n}\nShare this"),
            site="news",
        )
    store.save_fetch(
        "https://other.example/", fetched_at="2024-05-01T10:00:00+00:00", article=article("x")
    )
    assert store.site_texts("news") == ["Story 2\nShare this", "Story 1\nShare this"]
    assert store.site_texts("news", limit=1) == ["Story 2\nShare this"]
    assert store.boilerplate("news") == frozenset()
    store.set_boilerplate(
        "news", {"Share this": 2, "Subscribe": 5}, learned_at="2024-05-03T00:00:00Z"
    )
    assert store.boilerplate("news") == frozenset({"Share this", "Subscribe"})
    store.set_boilerplate("news", {"Subscribe": 6}, learned_at="2024-05-04T00:00:00Z")
    assert store.boilerplate("news") == frozenset({"Subscribe"})
    assert store.boilerplate("other") == frozenset()
