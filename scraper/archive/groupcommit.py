"""Group commit of the crawl's writes, over the archive's group transaction.

The crawl calls ``group.write(durable, fn)`` for each page's outcome, ``commit()`` at the end of
a run and ``rollback()`` when the connection failed; the policy (at most GROUP_COMMIT_PAGES
outcomes or GROUP_COMMIT_SECONDS waiting for a commit) is here, the transaction is the archive's
(``begin_group``, ``transaction``, ``commit_group``, ``rollback_group``). It decides nothing
about pages: the caller says which writes must be durable at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from scraper import stagecpu
from scraper.errors import ArchiveError

if TYPE_CHECKING:
    from scraper.archive import Transactions

#: outcomes that may wait (a 304, the same bytes again, a new snapshot) share one commit, at
#: most this many of them and never held longer than GROUP_COMMIT_SECONDS
GROUP_COMMIT_PAGES = 64
GROUP_COMMIT_SECONDS = 0.25

T = TypeVar("T")


class CommitGroup:
    """Group commit of the crawl's outcomes.

    A page's outcome is written in one savepoint. One the caller calls durable (in a crawl: a
    failure, an alias, a robots.txt block) is committed at once, together with whatever waits.
    The others ("not modified", "the same bytes again", a new or changed snapshot) may wait, for
    at most GROUP_COMMIT_PAGES outcomes or GROUP_COMMIT_SECONDS, so that neither a recrawl of
    unchanged pages nor a first crawl pays a commit per page. A crash loses at most those
    waiting outcomes, each whole: their pages are still due in the archive, and the next run
    asks for them again.
    """

    def __init__(self, archive: Transactions) -> None:
        self.archive = archive
        self.waiting = 0
        self.opened = 0.0
        self.failed: ArchiveError | None = None  # a commit from the timer that failed
        self._timer: asyncio.TimerHandle | None = None

    def write(self, durable: bool, write: Callable[[], T]) -> T:
        """Run ``write`` in its own savepoint; commit now unless it may wait."""
        if self.failed is not None:
            raise self.failed
        if not self.archive.in_group:
            self.archive.begin_group()
            self.opened = time.monotonic()
            self.waiting = 0
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to schedule
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(GROUP_COMMIT_SECONDS, self._commit_later)
        with self.archive.transaction():
            kind = write()
        self.waiting += 1
        if (
            durable
            or self.waiting >= GROUP_COMMIT_PAGES
            or time.monotonic() - self.opened >= GROUP_COMMIT_SECONDS
        ):
            self.commit()
        return kind

    def commit(self) -> None:
        self._cancel_timer()
        self.waiting = 0
        if self.failed is not None:
            raise self.failed
        with stagecpu.stage("archive"):
            self.archive.commit_group()

    def _commit_later(self) -> None:
        """The timer's commit: a failure is kept and raised by the next write or commit."""
        self._timer = None
        try:
            self.commit()
        except ArchiveError as exc:
            self.failed = exc

    def rollback(self) -> None:
        self._cancel_timer()
        self.waiting = 0
        self.archive.rollback_group()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
