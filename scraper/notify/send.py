"""Notify: send one message to one Apprise target, with retries (tenacity).

Apprise speaks to 100+ services (``json://`` webhooks, ``mailto://``, ntfy, Matrix, Slack...).
Targets come from the config only, never from fetched content, and are not subject to the
private-address policy of fetched pages. Sending never raises: it returns why it failed.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_exponential, wait_random

#: attempts per message and run (an unsent message is tried again by the next run)
SEND_ATTEMPTS = 3
#: the first wait between attempts, in seconds; it doubles (with jitter) up to SEND_MAX_WAIT
SEND_FIRST_WAIT_SECONDS = 0.5
SEND_MAX_WAIT_SECONDS = 4.0


@contextmanager
def _quiet() -> Iterator[None]:
    # Apprise's e-mail plugin imports the stdlib's deprecated imghdr on Python 3.11-3.12: a
    # warning about Apprise's own code, of no use to our user
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def shown(target: str) -> str:
    """The target with its secrets (passwords, tokens) masked, for messages and logs."""
    import apprise

    with _quiet():
        plugin = apprise.Apprise.instantiate(target)
    if plugin is None:
        return target.split("://", 1)[0] + "://..."
    return str(plugin.url(privacy=True))  # type: ignore[no-untyped-call]


def _once(target: str, title: str, body: str) -> str | None:
    import apprise

    notifier = apprise.Apprise()
    with _quiet():
        if not notifier.add(target):
            return "not a valid Apprise URL"
        with apprise.LogCapture(level=logging.WARNING) as log:  # type: ignore[no-untyped-call]
            ok = bool(notifier.notify(title=title, body=body))
    if ok:
        return None
    lines = [line.split(" - ", 2)[-1].strip() for line in log.getvalue().splitlines()]
    return next((line for line in reversed(lines) if line), "not delivered")


def send(target: str, title: str, body: str) -> tuple[str | None, int]:
    """Send one message: (None, attempts) when delivered, else (the last reason, attempts)."""
    attempts = 0

    def attempt() -> str | None:
        nonlocal attempts
        attempts += 1
        return _once(target, title, body)

    retrying = Retrying(
        stop=stop_after_attempt(SEND_ATTEMPTS),
        wait=wait_exponential(multiplier=SEND_FIRST_WAIT_SECONDS, max=SEND_MAX_WAIT_SECONDS)
        + wait_random(0, SEND_FIRST_WAIT_SECONDS / 2),
        retry=retry_if_result(
            lambda reason: reason is not None and reason != "not a valid Apprise URL"
        ),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else "not sent",
    )
    return retrying(attempt), attempts
