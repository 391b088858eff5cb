"""The crawl's group commit: bookkeeping-only outcomes (a 304) may wait a little for one shared
commit; anything that changes the archive is committed at once. Seen from a second SQLite
connection, as any other reader (sqlite3, Datasette) would see the archive."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from scraper.archive import Archive
from scraper.archive.groupcommit import GROUP_COMMIT_PAGES, GROUP_COMMIT_SECONDS, CommitGroup
from scraper.errors import ArchiveError
from scraper.models import FetchResult


def _save(archive: Archive, n: int, *, not_modified: bool = True) -> str:
    url = f"http://127.0.0.1:9/p/{n}"
    result = FetchResult(
        url=url,
        final_url=url,
        status_code=304 if not_modified else 200,
        fetched_at="2026-11-27T12:00:00Z",
        elapsed_ms=1,
        headers=(("ETag", f'"{n}"'),),
        not_modified=not_modified,
    )
    archive.save_fetch(url, fetched_at=result.fetched_at, result=result, site="s")
    return "not_modified"


def _committed(db_path: Path) -> int:
    """Fetch rows a separate reader sees."""
    with closing(sqlite3.connect(db_path)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM fetches").fetchone()[0])


def test_bookkeeping_waits_and_a_durable_outcome_commits_everything(db_path: Path) -> None:
    with Archive(db_path) as archive:
        group = CommitGroup(archive)
        for n in range(3):
            group.write(False, lambda n=n: _save(archive, n))
        assert _committed(db_path) == 0  # three 304s wait for one commit
        group.write(True, lambda: _save(archive, 99, not_modified=False))
        assert _committed(db_path) == 4  # the durable outcome took the waiting ones along


def test_at_most_group_commit_pages_wait(db_path: Path) -> None:
    with Archive(db_path) as archive:
        group = CommitGroup(archive)
        for n in range(GROUP_COMMIT_PAGES - 1):
            group.write(False, lambda n=n: _save(archive, n))
        assert _committed(db_path) == 0
        group.write(False, lambda: _save(archive, GROUP_COMMIT_PAGES))
        assert _committed(db_path) == GROUP_COMMIT_PAGES


def test_a_waiting_outcome_is_committed_by_the_timer(db_path: Path) -> None:
    async def run() -> tuple[int, int]:
        with Archive(db_path) as archive:
            group = CommitGroup(archive)
            group.write(False, lambda: _save(archive, 1))
            before = _committed(db_path)
            await asyncio.sleep(GROUP_COMMIT_SECONDS + 0.25)  # nothing else happens meanwhile
            return before, _committed(db_path)

    assert asyncio.run(run()) == (0, 1)


def test_a_failing_write_drops_only_itself(db_path: Path) -> None:
    def half_then_fail() -> str:
        _save(archive, 2)
        raise RuntimeError("the write broke half-way")

    with Archive(db_path) as archive:
        group = CommitGroup(archive)
        group.write(False, lambda: _save(archive, 1))
        with pytest.raises(RuntimeError):
            group.write(False, half_then_fail)
        group.commit()
    with closing(sqlite3.connect(db_path)) as conn:
        urls = [r[0] for r in conn.execute("SELECT url FROM fetches ORDER BY id")]
    assert urls == ["http://127.0.0.1:9/p/1"]


def test_rollback_drops_the_waiting_outcomes(db_path: Path) -> None:
    with Archive(db_path) as archive:
        group = CommitGroup(archive)
        for n in range(5):
            group.write(False, lambda n=n: _save(archive, n))
        group.rollback()
        group.write(True, lambda: _save(archive, 7))
    assert _committed(db_path) == 1


def test_a_failed_timer_commit_stops_the_next_write(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timer's commit runs outside any caller: its failure (a full disk, say) is kept and
    raised by the next write, so the crawl stops instead of writing on as if nothing happened."""

    def full_disk() -> None:
        raise ArchiveError(f"{db_path}: database or disk is full")

    async def run() -> None:
        with Archive(db_path) as archive:
            group = CommitGroup(archive)
            group.write(False, lambda: _save(archive, 1))
            monkeypatch.setattr(archive, "commit_group", full_disk)
            await asyncio.sleep(GROUP_COMMIT_SECONDS + 0.25)
            with pytest.raises(ArchiveError, match="disk is full"):
                group.write(False, lambda: _save(archive, 2))
            with pytest.raises(ArchiveError, match="disk is full"):
                group.commit()
            group.rollback()

    asyncio.run(run())
    assert _committed(db_path) == 0
