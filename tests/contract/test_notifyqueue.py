"""Storage contract, the notification queue: a change is queued once and kept until sent."""

from __future__ import annotations

from scraper.archive import Queued, Storage
from tests.contract.values import BODY_V2, EDITED, T1, T2, T3, URL, article, result


def message(key: str, target: str = "json://localhost/a", **fields: object) -> Queued:
    values: dict[str, object] = {"kind": "change", "title": f"t {key}", "body": f"b {key}"}
    values.update(fields)
    return Queued(event_key=key, target=target, **values)  # type: ignore[arg-type]


def test_messages_are_queued_once_and_stay_until_sent(store: Storage) -> None:
    assert store.unsent() == []
    added = store.queue_notifications(
        [message("e1"), message("e2", site="news", url=URL, digest=True)], queued_at=T1
    )
    assert added == 2
    assert store.queue_notifications([message("e1")], queued_at=T2) == 0  # already queued
    unsent = store.unsent()
    assert [(m.event_key, m.digest, m.site, m.attempts) for m in unsent] == [
        ("e1", False, None, 0),
        ("e2", True, "news", 0),
    ]
    first, second = unsent
    assert first.id is not None
    assert second.id is not None
    store.mark_failed([first.id], error="connection refused", attempts=2)
    store.mark_sent([second.id], sent_at=T3, attempts=1)
    (left,) = store.unsent()
    assert (left.event_key, left.attempts, left.last_error) == ("e1", 2, "connection refused")
    assert store.unsent(["json://localhost/other"]) == []
    assert [m.event_key for m in store.unsent(["json://localhost/a"])] == ["e1"]


def test_one_event_may_go_to_several_targets(store: Storage) -> None:
    store.queue_notifications([message("e1", "a://x"), message("e1", "b://y")], queued_at=T1)
    assert sorted(m.target for m in store.unsent()) == ["a://x", "b://y"]


def test_cursors_only_move_forward(store: Storage) -> None:
    assert store.site_cursor("news") is None
    store.queue_notifications([], queued_at=T1, cursors={"news": 5})
    store.queue_notifications([], queued_at=T1, cursors={"news": 3})
    assert store.site_cursor("news") == 5


def test_edits_since_the_cursor(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    assert store.edits_since("news", after_id=None, fetched_since=T1) == []  # a first version
    out = store.save_fetch(
        URL, fetched_at=T2, result=result(BODY_V2), article=article(EDITED), site="news"
    )
    assert out.snapshot_id is not None
    (edit,) = store.edits_since("news", after_id=None, fetched_since=T1)
    assert (edit.snapshot_id, edit.url) == (out.snapshot_id, URL)
    assert store.edits_since("news", after_id=out.snapshot_id, fetched_since=T1) == []
    assert store.edits_since("news", after_id=None, fetched_since=T3) == []
    assert store.edits_since("wire", after_id=None, fetched_since=T1) == []
    assert store.latest_snapshot_id("news") == out.snapshot_id
    assert store.latest_snapshot_id("wire") == 0


def test_a_page_is_gone_after_two_404s(store: Storage) -> None:
    first = store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    store.save_fetch(URL, fetched_at=T2, error="http_404: Not Found", site="news")
    assert store.gone_pages("news") == []  # a 404 page with no status recorded is not gone
    gone_error = result(status=404)
    store.save_fetch(
        URL, fetched_at=T2, result=gone_error, error="http_404: Not Found", site="news"
    )
    store.save_fetch(
        URL, fetched_at=T3, result=gone_error, error="http_404: Not Found", site="news"
    )
    (gone,) = store.gone_pages("news")
    assert (gone.url, gone.status, gone.last_snapshot_id) == (URL, 404, first.snapshot_id)
    assert store.gone_pages("news", ["https://elsewhere.example/"]) == []
    assert [g.url for g in store.gone_pages("news", [URL])] == [URL]
