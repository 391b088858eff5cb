"""The admission gate (scraper/admission.py) on hand-written pages: pure, no network."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from scraper.admission import Known, Verdict, content_tag, decide, suspect_content
from scraper.archive import Archive
from scraper.extract import extract
from scraper.fetch.blockpage import block_page_reason
from scraper.models import Article, FetchResult
from tests import gate_pages

URL = "http://news.test/2026/keeper"


def answer(
    html: str, *, final_url: str = URL, headers: tuple[tuple[str, str], ...] | None = None
) -> FetchResult:
    body = html.encode("utf-8")
    if headers is None:
        headers = (("Content-Type", "text/html"), ("Content-Length", str(len(body))))
    return FetchResult(
        url=URL,
        final_url=final_url,
        status_code=200,
        fetched_at="2026-03-01T12:00:00Z",
        elapsed_ms=5,
        headers=headers,
        body=body,
        text=html,
        content_type="text/html",
    )


NOTHING = Known()


def judge(html: str, known: Known = NOTHING, **kw: object) -> tuple[Verdict, str]:
    result = answer(html, **kw)  # type: ignore[arg-type]
    decision = decide(URL, result, extract(html, result.final_url), known)
    return decision.verdict, decision.reason


def known_of(html: str) -> Known:
    article = extract(html, URL)
    return Known(title=article.title, text=article.text, confidence=article.confidence)


@pytest.mark.parametrize("name", sorted(gate_pages.BLOCK_PAGES))
def test_block_pages_of_any_size_are_refused(name: str) -> None:
    html = gate_pages.BLOCK_PAGES[name]()
    # the fetch-level check gives up on these (a big script, a full template), the gate does not
    assert block_page_reason(html) is None
    verdict, reason = judge(html)
    assert verdict is Verdict.BLOCKED, reason
    assert reason.startswith("not the page but a block page")


@pytest.mark.parametrize(
    "html",
    [gate_pages.article(), gate_pages.mentions_access_denied()],
    ids=["article", "article-about-access-denied-and-404"],
)
def test_real_articles_are_admitted(html: str) -> None:
    assert judge(html) == (Verdict.ADMIT, "")


def test_a_news_brief_quoting_block_wording_is_admitted() -> None:
    brief = gate_pages.article(
        "Parking payments fail for a morning",
        (
            "Drivers paying parking fines online on Monday saw an access denied message, and "
            "some were shown a 404 page not found error instead of the payment form. The "
            "council said a supplier's server had failed and that no payments were lost. "
            "Fines due on Monday can be paid until Friday without a penalty, a spokesman said, "
            "and the telephone line stayed open throughout the morning.",
        ),
    )
    assert judge(brief) == (Verdict.ADMIT, "")


@pytest.mark.parametrize(
    "title",
    [
        "Zugriff verweigert",
        "Accès refusé - Le Journal",
        "Página no encontrada | El Diario",
        "Pagina non trovata",
        "Le Journal — En maintenance",
    ],
)
def test_block_titles_in_other_languages(title: str) -> None:
    html = gate_pages.page(title, "<p>Bitte versuchen Sie es später erneut.</p><p>Merci.</p>")
    assert judge(html)[0] is Verdict.BLOCKED


@pytest.mark.parametrize(
    ("title", "body"),
    [
        ("example-news.test is for sale", "<p>Buy this domain. Make an offer today.</p>"),
        ("Account Suspended", "<p>Contact your hosting provider for more information.</p>"),
        ("Welcome to nginx!", "<p>If you see this page, the web server is installed.</p>"),
    ],
)
def test_parked_and_suspended_sites_are_block_pages(title: str, body: str) -> None:
    """A parked domain answered 200 at the page's own URL is not a rewrite to confirm."""
    known = known_of(gate_pages.article())
    assert judge(gate_pages.page(title, body), known)[0] is Verdict.BLOCKED


def test_a_redirect_to_another_url_is_an_alias_never_a_version() -> None:
    html = gate_pages.article()
    for target in ("http://consent.test/?continue=1", "http://news.test/"):
        verdict, reason = judge(html, final_url=target)
        assert verdict is Verdict.ALIAS
        assert reason == f"redirects to {target}"
    # the same page by another spelling (case, default port) is the page itself
    assert judge(html, final_url="HTTP://News.Test:80/2026/keeper")[0] is Verdict.ADMIT


def test_a_body_cut_by_a_connection_close_is_suspect() -> None:
    whole = gate_pages.article()
    cut = whole[: len(whole) // 2]
    no_length = (("Content-Type", "text/html"),)
    verdict, reason = judge(cut, headers=no_length)
    assert verdict is Verdict.SUSPECT
    assert reason.startswith("body cut short")
    # a whole page without a length, or a cut one whose length was declared, is not "cut"
    assert judge(whole, headers=no_length)[0] is Verdict.ADMIT
    assert judge(cut)[0] is Verdict.ADMIT
    chunked = (*no_length, ("Transfer-Encoding", "chunked"))
    assert judge(cut, headers=chunked)[0] is Verdict.ADMIT


def test_most_of_the_text_gone_is_suspect_until_confirmed() -> None:
    old = gate_pages.article()
    half = gate_pages.article(paragraphs=gate_pages.LIGHTHOUSE[:2])
    known = known_of(old)
    result = answer(half)
    article = extract(half, URL)
    decision = decide(URL, result, article, known)
    assert decision.verdict is Verdict.SUSPECT
    assert decision.reason.startswith("most of the text gone (")
    assert decision.error is not None
    assert decision.error.startswith("suspect: ")
    assert suspect_content(decision.error) == content_tag(article)
    assert decision.tag == content_tag(article)
    confirmed = decide(
        URL, result, article, dataclasses.replace(known, suspect_content=content_tag(article))
    )
    assert confirmed.verdict is Verdict.ADMIT
    assert confirmed.reason.startswith("confirmed by a second fetch")
    # another suspect (different content) confirms nothing, nor does a tag of another form
    for tag in ("0" * 16 + " 00000000 12", "0" * 16, "garbage", ""):
        other = dataclasses.replace(known, suspect_content=tag)
        assert decide(URL, result, article, other).verdict is Verdict.SUSPECT


def test_a_rewrite_with_a_clock_in_it_is_confirmed_by_a_near_copy() -> None:
    """A rewritten page whose text carries a changing time: the refetch is not byte-for-byte
    the suspect, but the same title and nearly the same words confirm it."""
    known = known_of(gate_pages.article())

    def fetched(title: str, paragraphs: tuple[str, ...]) -> tuple[FetchResult, Article]:
        html = gate_pages.article(title, paragraphs)
        return answer(html), extract(html, URL)

    first = fetched("Electric ferry", (*gate_pages.FERRY, "Updated at 10:01."))
    again = fetched("Electric ferry", (*gate_pages.FERRY, "Updated at 10:02."))
    assert first[1].content_hash() != again[1].content_hash()
    suspect = decide(URL, *first, known)
    assert suspect.verdict is Verdict.SUSPECT
    pending = dataclasses.replace(known, suspect_content=suspect_content(suspect.error))
    assert decide(URL, *again, pending).verdict is Verdict.ADMIT
    # ... while another title, or a text of another length, does not
    other = fetched("Ferry news", gate_pages.FERRY)
    assert decide(URL, *other, pending).verdict is Verdict.SUSPECT
    shorter = fetched("Electric ferry", gate_pages.FERRY[:4])
    assert decide(URL, *shorter, pending).verdict is Verdict.SUSPECT


def test_a_cut_body_is_confirmable_unless_it_loses_most_of_the_article() -> None:
    no_length = (("Content-Type", "text/html"),)
    whole = gate_pages.article()
    known = known_of(whole)
    for cut_at, confirmable in (("Tallis says the quiet", True), ("Restoration took", False)):
        cut = whole[: whole.index(cut_at)]
        article = extract(cut, URL)
        result = answer(cut, headers=no_length)
        first = decide(URL, result, article, known)
        assert first.verdict is Verdict.SUSPECT
        pending = dataclasses.replace(known, suspect_content=suspect_content(first.error))
        second = decide(URL, result, article, pending)
        assert (second.verdict is Verdict.ADMIT) is confirmable, second


def test_title_and_text_replaced_wholesale_is_suspect() -> None:
    known = known_of(gate_pages.article())
    ferry = gate_pages.article("Electric ferry from next spring", gate_pages.FERRY)
    verdict, reason = judge(ferry, known)
    assert verdict is Verdict.SUSPECT
    assert reason.startswith("title and text replaced wholesale")


def test_ordinary_edits_are_admitted() -> None:
    known = known_of(gate_pages.article())
    edited = gate_pages.article(
        "The last keeper of Gull Point",
        (
            *gate_pages.LIGHTHOUSE[:4],
            "A paragraph added by the editor today.",
            *gate_pages.LIGHTHOUSE[5:],
        ),
    )
    assert judge(edited, known) == (Verdict.ADMIT, "")
    # a page with no snapshot yet has nothing to change drastically from
    assert judge(gate_pages.article(paragraphs=gate_pages.LIGHTHOUSE[:1]))[0] is Verdict.ADMIT


def test_confidence_is_compared_only_when_both_are_set() -> None:
    html = gate_pages.article()
    article = extract(html, URL)
    known = known_of(html)
    for old, new, verdict in [
        (0.0, 0.0, Verdict.ADMIT),  # not computed: never makes a change suspect
        (0.9, 0.0, Verdict.ADMIT),
        (0.0, 0.1, Verdict.ADMIT),
        (0.9, 0.8, Verdict.ADMIT),
        (0.9, 0.2, Verdict.SUSPECT),
    ]:
        now = dataclasses.replace(article, confidence=new)
        decision = decide(URL, answer(html), now, dataclasses.replace(known, confidence=old))
        assert decision.verdict is verdict, (old, new, decision)


def test_a_reextraction_is_not_confirmed_by_refetch_but_blocks_still_count() -> None:
    known = known_of(gate_pages.article())
    half = extract(gate_pages.article(paragraphs=gate_pages.LIGHTHOUSE[:2]), URL)
    assert decide(URL, None, half, known, confirm=False).verdict is Verdict.ADMIT
    html = gate_pages.challenge()
    blocked = decide(URL, None, extract(html, URL), known, confirm=False, html=html)
    assert blocked.verdict is Verdict.BLOCKED


def test_no_article_is_a_failure_without_an_error_text() -> None:
    decision = decide(URL, answer("<html><body></body></html>"), Article(), Known())
    assert decision.verdict is Verdict.FAILED
    assert decision.error is None


def test_the_archive_asks_the_gate_when_no_decision_is_given(tmp_path: Path) -> None:
    """No path writes a snapshot past the gate: ``save_fetch`` and ``save_reextracted`` without
    a decision ask it themselves, with what the archive knows of the page."""
    html = gate_pages.article()
    with Archive(tmp_path / "a.db") as archive:
        first = archive.save_fetch(
            URL, fetched_at="2026-03-01T12:00:00Z", result=answer(html), article=extract(html, URL)
        )
        assert first.snapshot_id is not None
        moved = answer(gate_pages.article("Home", gate_pages.FERRY), final_url="http://news.test/")
        saved = archive.save_fetch(
            URL, fetched_at="2026-03-01T13:00:00Z", result=moved, article=extract(moved.text, URL)
        )
        assert saved.snapshot_id is None
        blocked = extract(gate_pages.soft_404(), URL)
        assert (
            archive.save_reextracted(URL, blocked, at="2026-03-01T14:00:00Z", raw_sha256=None)
            is None
        )
        assert [f.error for f in archive.fetches(URL)] == [
            "alias: redirects to http://news.test/",
            None,
        ]
        assert len(archive.snapshots(URL)) == 1
