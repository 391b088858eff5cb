"""The crawl's lock: one crawl at a time per archive, a ``flock`` beside the database file.

On a database URL (PostgreSQL) there is no file and no lock: many crawls at once is the point
there, and the host leases of the shared frontier are the rule (scraper/crawl/shared.py).
It must not know anything of the archive but its path.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from pathlib import Path

from scraper.archive.backends import is_database_url
from scraper.errors import ArchiveError, CrawlLockedError


class CrawlLock:
    """An exclusive ``flock`` on ``<db>.lock`` holding the pid of the crawl that owns it.

    The lock file sits beside the real archive file (symlinks resolved), so every name of one
    archive (a symlink, a relative path, ``./x.db``) takes the same lock.
    The kernel drops a flock when its process dies, so the lock of a killed crawl is free for
    the next one; the pid left in the file only says who held it last.
    A database URL takes no lock (``shared``): acquiring and releasing it do nothing.
    """

    def __init__(self, db_path: str | Path) -> None:
        #: a database URL: crawls share the archive under host leases instead of a lock
        self.shared = is_database_url(db_path)
        self.path = Path(f"{os.path.realpath(db_path)}.lock")
        self._fd: int | None = None
        #: pid of a previous crawl that ended without releasing the lock (killed), if any
        self.stale_pid: int | None = None

    def acquire(self) -> CrawlLock:
        if self.shared:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise ArchiveError(f"{self.path}: cannot open the crawl lock: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_pid(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise ArchiveError(f"{self.path}: cannot lock: {exc.strerror}") from exc
            who = f"pid {holder}" if holder else "another process"
            raise CrawlLockedError(
                f"{self.path}: another crawl ({who}) is running on this archive; exiting"
            ) from exc
        self.stale_pid = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> CrawlLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
