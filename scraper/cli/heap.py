"""The command process's garbage collector: out of the way of a crawl, and of the exit.

Once a command has imported its code, the interpreter holds a few hundred thousand objects
that live as long as the process (modules, classes, functions). Python's cyclic collector
walks all of them on each full collection, and again several times while the interpreter
shuts down: about 80 ms at the end of every ``scraper crawl``, more than its archive's close.
So:

- :func:`frozen_heap` moves what exists when a crawl starts out of the collector's sight
  (``gc.freeze()``) for the run, and gives it back after (``gc.unfreeze()``), so that a
  process that runs many commands (a test's ``CliRunner``) keeps collecting as before;
- :func:`freeze_at_exit` freezes the heap once more when the interpreter exits (an
  ``atexit`` handler): what is left is freed with the process instead of collected first.

Neither changes what a command writes or when: the archive is closed, and the lock released,
by the command itself before it returns, and the interpreter still flushes stdout and stderr
after the atexit handlers. Only garbage in reference cycles is left to the end of the process.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
from collections.abc import Iterator

__all__ = ["freeze_at_exit", "frozen_heap"]


@contextlib.contextmanager
def frozen_heap() -> Iterator[None]:
    """The objects alive now are not walked by the cyclic collector until the block ends."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def freeze_at_exit() -> None:
    """At interpreter exit, skip collecting what is left (once per process)."""
    atexit.unregister(gc.freeze)  # registered once, however often this is called
    atexit.register(gc.freeze)
