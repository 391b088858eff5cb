"""The PostgreSQL archive's schema: the SQLite archive's tables, views and columns, migrated
in place once, however many workers start at once; full-text search by PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest

from scraper.archive import Archive
from scraper.archive.postgres import schema
from scraper.archive.postgres.connect import connect
from scraper.errors import ArchiveError

NOW = "2026-01-02T03:04:05Z"
#: tables only the PostgreSQL archive has: its FTS and the shared frontier
PG_ONLY = {"snapshots_fts", "host_leases", "page_claims", "_scraper_migrations"}


def _sqlite_columns(path: Path) -> dict[str, list[str]]:
    Archive(path).close()
    conn = sqlite3.connect(path)
    names = [
        row[0]
        for row in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        if not row[0].startswith(("snapshots_fts", "_sqlite", "sqlite_"))
    ]
    columns = {n: [r[1] for r in conn.execute(f"PRAGMA table_info('{n}')")] for n in names}
    conn.close()
    return columns


def _pg_columns(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
        ).fetchall()
    columns: dict[str, list[str]] = {}
    for table, column in rows:
        columns.setdefault(table, []).append(column)
    return columns


def _migrated(url: str) -> list[str]:
    with connect(url, autocommit=True) as conn:
        return schema.migrate(conn, now=NOW)


def test_same_tables_views_and_columns_as_the_sqlite_archive(pg_url: str, db_path: Path) -> None:
    _migrated(pg_url)
    pg = _pg_columns(pg_url)
    sqlite = _sqlite_columns(db_path)
    assert set(pg) - PG_ONLY == set(sqlite)
    for table, columns in sqlite.items():
        assert pg[table] == columns, table  # the same names in the same order


def test_migrate_applies_each_migration_once_and_records_it(pg_url: str) -> None:
    assert _migrated(pg_url) == [name for name, _ in schema.MIGRATIONS]
    assert _migrated(pg_url) == []
    with connect(pg_url, autocommit=True) as conn:
        assert schema.pending(conn) == []
        assert schema.schema_version(conn) == len(schema.MIGRATIONS)
        rows = conn.execute("SELECT migration_set, name, applied_at FROM _scraper_migrations")
        assert sorted(rows.fetchall()) == [("scraper", n, NOW) for n, _ in schema.MIGRATIONS]


def test_workers_that_start_at_once_migrate_once(pg_url: str) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(4)

    def worker() -> None:
        try:
            with connect(pg_url, autocommit=True) as conn:
                gate.wait(timeout=120)
                results.append(schema.migrate(conn, now=NOW))
        except BaseException as exc:  # noqa: BLE001  (a thread's every failure is reported below)
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert errors == []
    applied = sorted(name for names in results for name in names)
    assert applied == sorted(name for name, _ in schema.MIGRATIONS)


def test_a_foreign_database_is_refused_and_left_alone(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE invoices (id int)")
    with pytest.raises(ArchiveError, match=r"has tables \(invoices\) but is not a scraper"):
        _migrated(pg_url)
    assert set(_pg_columns(pg_url)) == {"invoices"}


def test_snapshot_text_is_searchable_with_postgres_text_search(pg_url: str) -> None:
    _migrated(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pages (url, first_seen) VALUES ('http://a.test/', %s)", (NOW,))
        conn.execute(
            "INSERT INTO snapshots (page_id, fetched_at, content_hash, title, text) "
            "VALUES (1, %s, 'h1', 'Harbour report', 'Ferries resumed at dawn'), "
            "(1, %s, 'h2', 'Weather', 'Gales over the harbour')",
            (NOW, NOW),
        )
        hits = conn.execute(
            "SELECT s.title FROM snapshots_fts f JOIN snapshots s ON s.id = f.snapshot_id "
            "WHERE f.document @@ plainto_tsquery('simple', %s) "
            "ORDER BY ts_rank(f.document, plainto_tsquery('simple', %s)) DESC",
            ("harbour", "harbour"),
        ).fetchall()
        assert hits == [("Harbour report",), ("Weather",)]  # a title match ranks first
        conn.execute("UPDATE snapshots SET text = 'Calm seas' WHERE content_hash = 'h2'")
        conn.execute("UPDATE snapshots SET title = 'Weather' WHERE content_hash = 'h2'")
        found = conn.execute(
            "SELECT count(*) FROM snapshots_fts "
            "WHERE document @@ plainto_tsquery('simple', 'gales')"
        ).fetchone()
        assert found == (0,)


def test_blobs_are_bytea_and_come_back_whole(pg_url: str) -> None:
    _migrated(pg_url)
    data = bytes(range(256)) * 1000
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO raw (sha256, size, compression, data) VALUES ('x', %s, 'none', %s)",
            (len(data), data),
        )
        assert conn.execute("SELECT data FROM raw").fetchone() == (data,)
