"""Storage contract, pages: fetches, versions, references, the admission gate, raw bodies."""

from __future__ import annotations

import hashlib

import pytest

from scraper.admission import Decision, Verdict
from scraper.archive import FetchRecord, PageRecord, Storage
from scraper.errors import FetchTimeoutError, UsageError
from tests.contract.values import (
    BODY_V1,
    BODY_V2,
    EDITED,
    OTHER,
    T1,
    T2,
    T3,
    URL,
    article,
    result,
)


def test_first_fetch_creates_the_page_a_fetch_and_a_snapshot(store: Storage) -> None:
    out = store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    assert (out.new_page, out.changed) == (True, False)
    assert out.snapshot_id is not None
    page = store.page(URL)
    assert isinstance(page, PageRecord)
    assert (page.url, page.site, page.first_seen, page.last_fetched) == (URL, "news", T1, T1)
    assert (page.last_changed, page.etag, page.last_status, page.failures) == (T1, '"v1"', 200, 0)
    (fetch,) = store.fetches(URL)
    assert isinstance(fetch, FetchRecord)
    assert (fetch.id, fetch.snapshot_id, fetch.status_code) == (out.fetch_id, out.snapshot_id, 200)
    assert (fetch.not_modified, fetch.error, fetch.bytes) == (False, None, len(BODY_V1))
    assert fetch.raw_sha256 == hashlib.sha256(BODY_V1).hexdigest()
    (snap,) = store.snapshots(URL)
    assert (snap.id, snap.url, snap.title, snap.author) == (out.snapshot_id, URL, "Foxes", "Ann")
    assert snap.raw_sha256 == fetch.raw_sha256
    assert store.snapshot_by_id(snap.id) == snap


def test_unknown_page_reads_as_nothing(store: Storage) -> None:
    assert store.page(URL) is None
    assert store.snapshots(URL) == []
    assert store.fetches(URL) == []
    assert store.snapshot_changes(URL) == {}
    assert store.snapshot_by_id(12345) is None
    assert store.validators(URL) == (None, None)
    with pytest.raises(UsageError, match="no snapshots"):
        store.snapshot(URL, "-1")


def test_same_content_adds_a_fetch_and_no_version(store: Storage) -> None:
    first = store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    again = store.save_fetch(URL, fetched_at=T2, result=result(), article=article())
    assert again.snapshot_id is None
    assert (again.new_page, again.changed) == (False, False)
    assert [s.id for s in store.snapshots(URL)] == [first.snapshot_id]
    assert [f.snapshot_id for f in store.fetches(URL)] == [None, first.snapshot_id]
    page = store.page(URL)
    assert page is not None
    assert (page.last_fetched, page.last_changed) == (T2, T1)


def test_an_edit_is_a_new_version_with_its_change(store: Storage) -> None:
    first = store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    second = store.save_fetch(
        URL,
        fetched_at=T2,
        result=result(BODY_V2, etag='"v2"'),
        article=article(EDITED, title="Red foxes"),
    )
    assert second.changed
    assert second.snapshot_id is not None
    assert [s.title for s in store.snapshots(URL)] == ["Red foxes", "Foxes"]  # newest first
    changes = store.snapshot_changes(URL)
    assert set(changes) == {first.snapshot_id, second.snapshot_id}
    change = changes[second.snapshot_id]
    assert (change.previous_id, change.cause) == (first.snapshot_id, "fetch")
    assert change.words_added > 0
    assert change.words_removed > 0
    assert change.changed_fields() == ["title"]
    assert changes[first.snapshot_id].previous_id is None
    assert store.validators(URL) == ('"v2"', None)


def test_snapshot_references(store: Storage) -> None:
    first = store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    second = store.save_fetch(URL, fetched_at=T3, result=result(BODY_V2), article=article(EDITED))
    assert store.snapshot(URL, "-1").id == second.snapshot_id
    assert store.snapshot(URL, -2).id == first.snapshot_id
    assert store.snapshot(URL, str(first.snapshot_id)).id == first.snapshot_id
    assert store.snapshot(URL, "2024-05-02").id == first.snapshot_id  # a date: to its end
    assert store.snapshot(URL, "2024-05-03T10:00:00Z").id == second.snapshot_id
    at = store.snapshot_at(URL, "2024-05-02T23:00:00+00:00")
    assert at is not None
    assert at.id == first.snapshot_id
    assert store.snapshot_at(URL, "2024-04-30") is None
    with pytest.raises(UsageError, match="no snapshot -3"):
        store.snapshot(URL, "-3")
    with pytest.raises(UsageError, match="no snapshot on or before 2024-04-01"):
        store.snapshot(URL, "2024-04-01")
    with pytest.raises(UsageError, match="unknown snapshot reference"):
        store.snapshot(URL, "yesterday")


def test_304_records_a_fetch_and_keeps_the_validators(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    out = store.save_fetch(URL, fetched_at=T2, result=result(status=304, not_modified=True))
    assert out.snapshot_id is None
    newest = store.fetches(URL)[0]
    assert (newest.not_modified, newest.status_code, newest.raw_sha256) == (True, 304, None)
    assert newest.headers_sha256 is not None
    assert store.raw(newest.headers_sha256).startswith(b"HTTP/1.1 304")
    assert store.validators(URL) == ('"v1"', None)


def test_a_failure_is_counted_on_the_page_and_cleared_by_a_success(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    error = FetchTimeoutError(URL, "read timeout after 10s", elapsed_ms=10_000)
    store.save_fetch(URL, fetched_at=T2, error=error)
    store.save_fetch(URL, fetched_at=T2, error="dns: unknown host")
    failed = store.fetches(URL)[:2]
    assert [f.error for f in failed] == ["dns: unknown host", "timeout: read timeout after 10s"]
    assert all(f.snapshot_id is None for f in failed)
    page = store.page(URL)
    assert page is not None
    assert (page.failures, page.last_error, page.etag) == (2, "dns: unknown host", '"v1"')
    store.save_fetch(URL, fetched_at=T3, result=result(), article=article())
    page = store.page(URL)
    assert page is not None
    assert (page.failures, page.last_error) == (0, None)


def test_the_gate_refuses_an_alias_as_a_failure_without_a_version(store: Storage) -> None:
    store.save_fetch(OTHER, fetched_at=T1, result=result(url=OTHER), article=article(url=OTHER))
    alias = Decision(Verdict.ALIAS, reason=f"the same content as {OTHER}", target=OTHER)
    out = store.save_fetch(URL, fetched_at=T2, result=result(), article=article(), decision=alias)
    assert out.snapshot_id is None
    assert store.snapshots(URL) == []
    (fetch,) = store.fetches(URL)
    assert fetch.error == f"alias: the same content as {OTHER}"
    assert store.known(URL).content_hash is None


def test_known_tells_the_gate_the_latest_version(store: Storage) -> None:
    assert store.known(URL).title is None
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    known = store.known(URL)
    assert (known.title, known.text) == ("Foxes", article().text)
    assert known.content_hash == article().content_hash()


def test_raw_bodies_are_stored_once_by_sha256(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article())
    store.save_fetch(OTHER, fetched_at=T1, result=result(url=OTHER), article=article(url=OTHER))
    shas = {f.raw_sha256 for f in store.fetches(URL) + store.fetches(OTHER)}
    assert shas == {hashlib.sha256(BODY_V1).hexdigest()}
    assert store.raw(hashlib.sha256(BODY_V1).hexdigest()) == BODY_V1
    with pytest.raises(KeyError):
        store.raw("0" * 64)


def test_reextraction_reads_the_capture_and_writes_a_version_only_when_it_differs(
    store: Storage,
) -> None:
    first = store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    (capture,) = store.latest_captures("news")
    assert (capture.url, capture.snapshot_id, capture.body) == (URL, first.snapshot_id, BODY_V1)
    assert capture.text() == BODY_V1.decode()
    assert list(store.latest_captures("other-site")) == []
    same = store.save_reextracted(URL, article(), at=T2, raw_sha256=capture.raw_sha256)
    assert same is None
    new = store.save_reextracted(URL, article(EDITED), at=T2, raw_sha256=capture.raw_sha256)
    assert new is not None
    assert store.snapshot(URL, "-1").cause == "reextract"
    assert store.snapshot_changes(URL)[new].cause == "reextract"
    with pytest.raises(ValueError, match="not in the archive"):
        store.save_reextracted(OTHER, article(), at=T2, raw_sha256=None)


def test_boilerplate_is_replaced_per_site(store: Storage) -> None:
    assert store.boilerplate("news") == frozenset()
    assert store.boilerplate_learned_from("news") is None
    store.set_boilerplate("news", {"Subscribe now": 12, "© News": 30}, learned_at=T1)
    store.set_boilerplate("news", {"Share this": 9}, learned_at=T2, learned_from=40)
    assert store.boilerplate("news") == frozenset({"Share this"})
    assert store.boilerplate("other") == frozenset()
    assert store.boilerplate_learned_from("news") == 40


def test_site_texts_and_page_count(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    store.save_fetch(
        OTHER, fetched_at=T2, result=result(url=OTHER), article=article(EDITED), site="news"
    )
    store.save_fetch(URL, fetched_at=T3, error="dns: unknown host", site="news")
    assert store.site_page_count("news") == 2
    assert store.site_page_count("other") == 0
    assert store.site_texts("news") == [EDITED, article().text]  # newest first
    assert store.site_texts("news", limit=1) == [EDITED]
