"""A thread's signal mask changed for a block: ``with masked(signal.SIG_BLOCK, {...}):``.

A signal blocked meanwhile stays pending and is taken once the mask is restored (by this
thread, or by another that does not block it); a process started meanwhile inherits the mask.
The crawl holds SIGTERM back around its run (:func:`scraper.crawl.engine.sigterm_held`) and
starts its forkserver with the stop signals blocked (:mod:`scraper.forkserver`). Where the
platform has no signal masks, the block runs as it is.

Imports nothing of the package: the forkserver module, which the command line imports first,
uses it.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterable, Iterator

__all__ = ["masked"]


@contextlib.contextmanager
def masked(how: int, signals: Iterable[int]) -> Iterator[None]:
    """``signal.pthread_sigmask(how, signals)`` for the block, the mask before restored after."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(how, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
