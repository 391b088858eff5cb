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

from scraper.signalmask import masked

if TYPE_CHECKING:
    from multiprocessing.context import ForkServerContext
    from multiprocessing.process import BaseProcess

__all__ = ["PRELOAD", "STOP_SIGNALS", "context", "helper_signals", "start_early", "start_process"]

#: the signals that stop a crawl, which the forkserver never takes. Ctrl-C reaches the whole
#: process group, and so does SIGTERM from ``timeout`` in a crontab (it signals the command's
#: process group) or a systemd stop (its whole cgroup), while the crawl itself stops cleanly,
#: commits what is done and prints its summary. A forkserver that died of one would fail the
#: start of the helper it was forking, and every start after it (a dying extraction worker's
#: page is retried once, on a new worker).
STOP_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})

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
        with _stop_signals_blocked():
            forkserver.ensure_running()


def helper_signals() -> None:
    """A helper's signals, first thing in it: Ctrl-C is the crawl's to handle, so it is
    ignored; SIGTERM, which the helper inherits blocked from its forkserver, ends it as usual
    (multiprocessing ends a leftover helper with one when the crawl's interpreter exits, and
    waits for it: a helper that ignored it would hold that exit forever)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def start_process(process: BaseProcess) -> None:
    """``process.start()`` with :data:`STOP_SIGNALS` blocked: a forkserver that multiprocessing
    (re)starts for it (the early one failed, or was killed) is started as :func:`start_early`
    starts one."""
    with _stop_signals_blocked():
        process.start()


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """:data:`STOP_SIGNALS` held back in this thread meanwhile (one sent now is taken after,
    by another thread or this one), and blocked for good in a process started meanwhile.

    The forkserver ignores SIGINT once it runs, but not while it imports PRELOAD: the crawl's
    first fraction of a second, where a Ctrl-C would kill it with a traceback on the terminal;
    and it never ignores SIGTERM. Started with both blocked (what multiprocessing does for its
    resource tracker), it never sees one. The helpers it forks inherit the mask and set their
    own (:func:`helper_signals`).
    """
    with masked(signal.SIG_BLOCK, STOP_SIGNALS):
        yield
