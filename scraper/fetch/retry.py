"""Fetch, failures: httpx errors translated to FetchErrors, which of them are retried, and when.

Retries happen on connect errors, resets, truncated bodies, connect/read timeouts, 429 and 5xx;
the wait is the server's Retry-After (seconds or an HTTP date) or exponential backoff with jitter,
capped by ``retry_max_wait_seconds``; no retry starts that would end past the deadline.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from email.utils import parsedate_to_datetime

import httpx
from tenacity import RetryCallState
from tenacity.stop import stop_base

from scraper.config import Settings
from scraper.errors import BadStatusError, BlockedAddressError, FetchError, FetchTimeoutError

#: statuses worth another attempt
RETRY_STATUSES = frozenset({429, *range(500, 600)})
_BACKOFF_BASE_SECONDS = 0.5

Clock = Callable[[], dt.datetime]


def format_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def error_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def one_line(text: str, limit: int = 200) -> str:
    """Server-provided text made fit for a one-line message: whitespace collapsed, cut."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _host(url: str) -> str:
    try:
        return httpx.URL(url).host or url
    except httpx.InvalidURL:
        return url


def translate_error(exc: Exception, url: str, settings: Settings) -> FetchError:
    """The FetchError for an httpx error, with a one-line message."""
    text = one_line(str(exc))
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchTimeoutError(
            url, f"timed out after {format_seconds(settings.connect_timeout_seconds)} connecting"
        )
    if isinstance(exc, httpx.ReadTimeout):
        return FetchTimeoutError(
            url, f"timed out after {format_seconds(settings.read_timeout_seconds)} waiting for data"
        )
    if isinstance(exc, httpx.WriteTimeout):
        return FetchTimeoutError(url, "timed out sending the request")
    if isinstance(exc, httpx.PoolTimeout):
        return FetchTimeoutError(url, "timed out waiting for a free connection")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return BlockedAddressError(url, "only http and https URLs are fetched")
    if isinstance(exc, httpx.InvalidURL):
        return FetchError(url, f"invalid URL ({text})")
    if isinstance(exc, httpx.ConnectError):
        for cause in error_chain(exc):
            if isinstance(cause, ssl.SSLCertVerificationError):
                why = cause.verify_message or "invalid certificate"
                return FetchError(url, f"TLS certificate verification failed: {why}")
            if isinstance(cause, ssl.SSLError):
                return FetchError(url, f"TLS handshake failed: {cause.reason or cause}")
            if isinstance(cause, socket.gaierror):
                return FetchError(url, f"unknown host {_host(url)}")
            if isinstance(cause, ConnectionRefusedError):
                return FetchError(url, "connection refused")
        lowered = text.lower()
        if "certificate_verify_failed" in lowered:
            return FetchError(url, "TLS certificate verification failed")
        if "name or service not known" in lowered or "name resolution" in lowered:
            return FetchError(url, f"unknown host {_host(url)}")
        if "refused" in lowered or "all connection attempts failed" in lowered:
            return FetchError(url, "connection refused")
        return FetchError(url, f"could not connect ({text or type(exc).__name__})")
    if isinstance(exc, httpx.RemoteProtocolError):
        if "location header" in text.lower():
            return FetchError(url, f"redirect to an invalid URL ({text})")
        if "complete message body" in text or "incomplete chunked" in text.lower():
            return FetchError(url, "connection closed before the body was complete (truncated)")
        if "without sending" in text:
            return FetchError(url, "the server closed the connection without answering")
        return FetchError(url, f"invalid HTTP response ({text or 'protocol error'})")
    if isinstance(exc, httpx.ReadError | httpx.WriteError | httpx.NetworkError):
        for cause in error_chain(exc):
            if isinstance(cause, ConnectionResetError):
                return FetchError(url, "connection reset by the server")
        return FetchError(url, f"connection error ({text or type(exc).__name__})")
    if isinstance(exc, httpx.ProxyError):
        return FetchError(url, f"proxy error ({text})")
    return FetchError(url, f"HTTP error ({text or type(exc).__name__})")


def is_retryable(exc: BaseException) -> bool:
    """Connect errors, resets, truncated bodies, connect/read timeouts, 429 and 5xx."""
    if isinstance(exc, BadStatusError):
        return exc.status_code in RETRY_STATUSES
    if isinstance(exc, FetchTimeoutError):
        return True
    if type(exc) is not FetchError:
        return False
    cause = exc.__cause__
    if not isinstance(cause, httpx.ConnectError | httpx.ReadError | httpx.RemoteProtocolError):
        return False
    if "location header" in str(cause).lower():
        return False  # a Location httpx cannot parse will not parse next time either
    # a host that does not exist or a bad certificate will not get better in a second
    return not any(isinstance(c, socket.gaierror | ssl.SSLError) for c in error_chain(cause))


def parse_retry_after(value: str | None, now: dt.datetime) -> float | None:
    """Seconds to wait from a Retry-After value: a number of seconds or an HTTP date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())


def server_now(headers: httpx.Headers, clock: Clock) -> dt.datetime:
    """The server's Date when it sent one (so Retry-After dates ignore clock skew), else ours."""
    date = headers.get("date")
    if date:
        try:
            when = parsedate_to_datetime(date)
            return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError):
            pass
    return clock()


class StopAtDeadline(stop_base):
    """Stop retrying when the next wait would end past the deadline."""

    def __init__(self, deadline_at: float) -> None:
        self.deadline_at = deadline_at

    def __call__(self, retry_state: RetryCallState) -> bool:
        return time.monotonic() + retry_state.upcoming_sleep >= self.deadline_at


def retry_delay(error: BaseException | None, attempt: int, settings: Settings) -> float:
    """Seconds to wait before attempt ``attempt + 1``: the server's Retry-After when it sent
    one, else exponential backoff (0.5 s, 1 s, 2 s...) with jitter; at most
    ``retry_max_wait_seconds`` either way."""
    cap = settings.retry_max_wait_seconds
    if isinstance(error, FetchError) and error.retry_after_seconds is not None:
        return min(max(float(error.retry_after_seconds), 0.0), cap)
    ceiling = min(cap, _BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def wait_for_retry(
    settings: Settings, *, first_attempt: int = 1
) -> Callable[[RetryCallState], float]:
    """tenacity's wait: :func:`retry_delay` of the attempt that failed, numbered from
    ``first_attempt`` (2 when the first attempt was made before tenacity took over)."""

    def wait(retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None else None
        return retry_delay(error, retry_state.attempt_number + first_attempt - 1, settings)

    return wait
