"""Storage contract, the shared core's dialect spots: what the core writes once must mean the
same on every backend (a literal ``%`` in SQL, empty lists, a refused suspect remembered)."""

from __future__ import annotations

from scraper.admission import Decision, Verdict
from scraper.archive import Storage
from tests.contract.values import EDITED, T1, T2, URL, article, result

#: a content fingerprint as the gate writes it (scraper.admission.content_tag)
TAG = "0123456789abcdef 01234567 42"


def test_a_suspect_refusal_is_remembered_by_the_gate(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    assert store.known(URL).suspect_content is None
    suspect = Decision(Verdict.SUSPECT, reason="the text shrank to a tenth", tag=TAG)
    saved = store.save_fetch(
        URL,
        fetched_at=T2,
        result=result(fetched_at=T2),
        article=article(EDITED),
        site="news",
        decision=suspect,
    )
    assert saved.snapshot_id is None
    (latest, _) = store.fetches(URL)
    assert latest.error is not None
    assert latest.error.startswith("suspect:")
    # the LIKE 'suspect:%' of the shared SQL: a literal percent sign on every backend
    assert store.known(URL).suspect_content == TAG


def test_empty_lists_match_nothing(store: Storage) -> None:
    store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
    assert len(store.feed_entries(None, since=None, limit=10)) == 1
    assert store.feed_entries([], since=None, limit=10) == []
    assert store.feed_entries(["news"], since=None, limit=10)[0].url == URL
    assert store.gone_pages("news", urls=[]) == []
    assert store.unsent([]) == []
