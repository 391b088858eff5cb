"""The fetch path made cheaper for the common case, with the same behaviour: the first attempt
of a request runs outside tenacity (retries keep their number, waits and deadline), and the
client's cookie jar reads only the responses that set a cookie (cookies are kept as before)."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import httpx
import pytest

from scraper import errors
from scraper.config import Settings
from scraper.fetch import fetch, make_client

PUBLIC = "http://93.184.216.34"  # an address literal: no DNS in these tests
SETTINGS = Settings(retries=3, retry_max_wait_seconds=60.0, deadline_seconds=30.0)


def _answers(*statuses: int | tuple[int, dict[str, str]]) -> tuple[Any, list[httpx.Request]]:
    """A MockTransport handler giving ``statuses`` in turn (then 200), and its requests."""
    sent: list[httpx.Request] = []
    queue = list(statuses)

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        status, headers = (queue.pop(0) if queue else 200), {}
        if isinstance(status, tuple):
            status, headers = status
        body = b"<html><body><p>Hello there.</p></body></html>"
        return httpx.Response(
            status, headers={"content-type": "text/html", **headers}, content=body
        )

    return handler, sent


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The seconds of every wait between attempts (each taken at once, not slept)."""
    asked: list[float] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float, result: Any = None) -> Any:
        asked.append(seconds)
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return asked


def _fetch(handler: Any, settings: Settings = SETTINGS) -> Any:
    async def go() -> Any:
        async with make_client(settings, transport=httpx.MockTransport(handler)) as client:
            return await fetch(client, PUBLIC + "/", settings)

    return asyncio.run(go())


def test_each_retry_waits_the_backoff_of_its_own_attempt(waits: list[float]) -> None:
    """Attempts 1, 2 and 3 fail: the waits after them are 0.25-0.5, 0.5-1 and 1-2 s (the
    backoff of attempts 1, 2, 3 with jitter), and attempt 4 succeeds."""
    handler, sent = _answers(503, 503, 503)
    result = _fetch(handler)
    assert result.status_code == 200
    assert len(sent) == 4
    assert len(waits) == 3
    for attempt, seconds in enumerate(waits, 1):
        ceiling = 0.5 * 2.0 ** (attempt - 1)
        assert ceiling / 2 <= seconds <= ceiling, (attempt, seconds)


def test_the_last_retry_fails_with_the_last_status(waits: list[float]) -> None:
    handler, sent = _answers(503, 502, 500, 504)
    with pytest.raises(errors.BadStatusError) as info:
        _fetch(handler)
    assert info.value.status_code == 504
    assert len(sent) == 4  # 1 + retries
    assert len(waits) == 3


def test_a_retry_after_past_the_deadline_on_a_later_attempt_gives_up(waits: list[float]) -> None:
    """The deadline holds for the attempts tenacity makes too: a Retry-After of 60 s on the
    second answer, with 30 s of deadline, ends the fetch with that answer."""
    handler, sent = _answers((503, {"retry-after": "1"}), (429, {"retry-after": "60"}))
    with pytest.raises(errors.BadStatusError) as info:
        _fetch(handler)
    assert info.value.status_code == 429
    assert info.value.retry_after_seconds == 60.0
    assert len(sent) == 2
    assert waits == [1.0]


def test_a_first_attempt_that_is_not_retryable_is_not_retried(waits: list[float]) -> None:
    handler, sent = _answers(404)
    with pytest.raises(errors.BadStatusError):
        _fetch(handler)
    assert len(sent) == 1
    assert waits == []


def test_no_retry_at_all_with_retries_zero(waits: list[float]) -> None:
    handler, sent = _answers(503)
    with pytest.raises(errors.BadStatusError):
        _fetch(handler, dataclasses.replace(SETTINGS, retries=0))
    assert len(sent) == 1
    assert waits == []


def test_cookies_set_by_a_response_go_with_the_next_requests() -> None:
    """A cookie set once is sent on every later request to the host, also after responses
    that set none; a later Set-Cookie replaces its value."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        headers = {"content-type": "text/html"}
        if request.url.path == "/login":
            headers["set-cookie"] = "session=one; Path=/"
        if request.url.path == "/again":
            headers["set-cookie"] = "session=two; Path=/"
        return httpx.Response(200, headers=headers, content=b"<html><p>Hello.</p></html>")

    async def go() -> None:
        async with make_client(SETTINGS, transport=httpx.MockTransport(handler)) as client:
            for path in ("/first", "/login", "/a", "/b", "/again", "/c"):
                await fetch(client, PUBLIC + path, SETTINGS)

    asyncio.run(go())
    cookies = [r.headers.get("cookie") for r in sent]
    assert cookies == [None, None, "session=one", "session=one", "session=one", "session=two"]


class _Chunks(httpx.AsyncByteStream):
    """A body streamed in pieces, as a real transport gives it."""

    def __init__(self, *chunks: bytes) -> None:
        self.chunks = chunks

    async def __aiter__(self) -> Any:
        for chunk in self.chunks:
            yield chunk


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param((PNG[:40],), id="short, one piece"),
        pytest.param((PNG[:8], PNG[8:40]), id="short, two pieces"),
        pytest.param((PNG * 3, PNG * 30), id="long, sniffed as it streams"),
        pytest.param((PNG * 30,), id="long, one piece"),
    ],
)
def test_a_binary_body_is_refused_however_it_arrives(chunks: tuple[bytes, ...]) -> None:
    """The binary sniff is made once per body: while it streams once SNIFF_BYTES are in, else
    on the whole body at the end (a short one)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/html"}, stream=_Chunks(*chunks))

    with pytest.raises(errors.ContentTypeError, match="a PNG image"):
        _fetch(handler)


def test_a_long_text_body_streamed_in_pieces_is_read_whole() -> None:
    page = b"<html><body>" + b"<p>Plain words of a page.</p>" * 200 + b"</body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        pieces = (page[:100], page[100:3000], page[3000:])
        return httpx.Response(200, headers={"content-type": "text/html"}, stream=_Chunks(*pieces))

    assert _fetch(handler).body == page
