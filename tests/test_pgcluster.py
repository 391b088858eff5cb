"""The throwaway PostgreSQL cluster of tests/pgcluster.py: it runs, isolates tests, goes away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.pgcluster import PgCluster, find_bindir, remove_orphans, running_cluster


def test_cluster_serves_tcp_and_socket_with_fsync_off(pg_cluster: PgCluster) -> None:
    with psycopg.connect(pg_cluster.url()) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)
        assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)
    with psycopg.connect(
        host=str(pg_cluster.socket_dir), port=pg_cluster.port, user="scraper", dbname="postgres"
    ) as conn:
        assert conn.execute("SELECT inet_server_addr()").fetchone() == (None,)  # a Unix socket


def test_each_test_gets_its_own_empty_database(pg_cluster: PgCluster, pg_url: str) -> None:
    other = pg_cluster.create_database("other_for_isolation_test")
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE mine (x int)")
    with psycopg.connect(other) as conn:
        tables = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
        ).fetchone()
    assert tables == (0,)


def test_a_cluster_is_stopped_and_removed_afterwards(pg_cluster: PgCluster) -> None:
    with running_cluster() as cluster:
        url = cluster.url()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        base = cluster.base
    assert not base.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=10)


def test_a_killed_sessions_cluster_is_removed_by_the_next(pg_cluster: PgCluster) -> None:
    code = (
        "import sys\n"
        "from tests.pgcluster import running_cluster\n"
        "with running_cluster() as c:\n"
        "    print(c.base.parent, c.url(), flush=True)\n"
        "    sys.stdin.readline()\n"
    )
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=root)  # fmt: skip
    assert proc.stdout is not None
    base, url = proc.stdout.readline().split()
    proc.kill()  # SIGKILL: its cluster is left running
    proc.communicate(timeout=300)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert remove_orphans(find_bindir()) >= 1
    assert not Path(base).exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=10)
    with psycopg.connect(pg_cluster.url()) as conn:  # a live session's cluster is left alone
        assert conn.execute("SELECT 1").fetchone() == (1,)
