"""PostgreSQL archive, the notification sender's lock: one sender of the queue at a time.

On SQLite the crawl's file lock beside the archive keeps ``scraper notify`` and a crawl's
sending apart; a database URL has no file beside it, and several machines share its queue. A
session advisory lock on a connection of its own takes that file lock's place: a second sender
waits until the first is done (and then finds what it sent marked sent). The server drops the
lock when its holder's connection ends, so a killed sender holds nothing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from scraper.archive.postgres.connect import connect, translated

#: pg_advisory_lock key of the notification sender (the migrations' is 0x5C4A9E50)
SENDER_LOCK = 0x5C4A9E51


@contextmanager
def sender_lock(db: str | os.PathLike[str]) -> Iterator[None]:
    """Hold the archive's sender lock for the block, waiting for another holder first."""
    conn = connect(os.fspath(db), autocommit=True, application="scraper notify")
    try:
        with translated(os.fspath(db)):
            conn.execute("SELECT pg_advisory_lock(%s)", (SENDER_LOCK,))
        yield
    finally:
        conn.close()  # the lock goes with the session
