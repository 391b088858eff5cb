"""The forkserver every helper process of a crawl comes from, and its early start.

A crawl's helpers (the extraction workers of :mod:`scraper.crawl.pool`, the fetch helper of
:mod:`scraper.fetch.worker`) are forked by multiprocessing's forkserver, so that they inherit
no open file of the crawl (its lock, its database). The forkserver imports :data:`PRELOAD`
once, before it forks anything, so a helper starts with that code already loaded: about a
fifth of a second of CPU. ``scraper crawl`` calls :func:`start_early` before it imports the
crawl's own code and opens the archive, so that import runs on another core while the crawl
process does its own start-up, and the first helper it asks for is forked at once.

One forkserver serves a process, and the preload it started with is the one it keeps: the pool
and the fetch helper therefore both take their context from :func:`context`, so whichever
starts (or restarts, after it was killed) the forkserver gives it the modules both need.
Starting early changes nothing else: a forkserver that could not start, or died, is started
again by the next helper that asks for one, as it would have been without the early start.

Imports nothing of the package and nothing heavy: the command line imports it first.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext

__all__ = ["PRELOAD", "context", "start_early"]

#: what the forkserver imports before it forks a helper: the command's main script (when it
#: is a file, as the ``scraper`` console script is: each helper would otherwise run it again,
#: importing the command line, as multiprocessing prepares a child), the fetch helper's code
#: (a recrawl of unchanged pages starts it first), then the extraction pool's; last the heap
#: is frozen, as the gc documentation advises before fork() (:mod:`scraper.frozen`)
PRELOAD = (
    "__main__",
    "scraper.fetch.worker",
    "scraper.crawl.pool",
    "scraper.extract",
    "scraper.frozen",
)


def context() -> ForkServerContext:
    """The forkserver context the crawl's helpers are started from, with :data:`PRELOAD`."""
    forkserver = multiprocessing.get_context("forkserver")
    forkserver.set_forkserver_preload(list(PRELOAD))
    return forkserver


def start_early() -> None:
    """Start the forkserver now; it imports :data:`PRELOAD` in the background.

    Returns at once (the forkserver is a new process; nothing waits for its imports). A
    failure is left for later: the first helper started tries again and handles it as
    before (the crawl fetches, or fails the pages it cannot extract, with the cause).
    """
    context()
    from multiprocessing import forkserver, resource_tracker

    # say no free file descriptor or process: the first helper's start says why
    with contextlib.suppress(OSError):
        # first, alone: it unblocks SIGINT itself when it has started its process
        resource_tracker.ensure_running()
        with _sigint_blocked():
            forkserver.ensure_running()


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held back in this thread meanwhile (a Ctrl-C now comes after), and blocked for
    good in a process started meanwhile.

    Ctrl-C reaches the whole process group. The forkserver ignores SIGINT once it runs (and so
    do the helpers), but not while it imports PRELOAD: the crawl's first fraction of a second,
    where a Ctrl-C would kill it with a traceback on the terminal. Started with SIGINT blocked
    (what multiprocessing does for its resource tracker), it never sees one; neither do the
    helpers it forks, which inherit the mask and ignore SIGINT anyway.
    """
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
