"""``scraper sql`` on a PostgreSQL archive: one statement in a read-only transaction; writes of
every kind refused by PostgreSQL itself, the archive unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from scraper.archive.postgres import backend
from scraper.archive.postgres.query import to_psycopg
from scraper.archive.records import SqlResult
from scraper.cli import cli
from scraper.errors import ArchiveError, UsageError

NOW = "2026-01-02T03:04:05Z"


@pytest.fixture
def archive_url(pg_url: str) -> str:
    backend.migrate_archive(pg_url, now=NOW)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for n in range(3):
            conn.execute(
                "INSERT INTO pages (url, site, first_seen) VALUES (%s, %s, %s)",
                (f"http://a.test/{n}", "news" if n else "blog", NOW),
            )
    return pg_url


def _sql(url: str, text: str, params: object = (), **limits: float) -> SqlResult:
    options = {"max_rows": 100, "timeout_seconds": 60.0, **limits}
    return backend.run_sql(url, text, params, **options)  # type: ignore[arg-type]


def _pages(url: str) -> list[tuple[str, str]]:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT url, site FROM pages ORDER BY id").fetchall()


def test_a_select_reads_tables_and_views(archive_url: str) -> None:
    result = _sql(archive_url, "SELECT site, COUNT(*) AS n FROM pages GROUP BY site ORDER BY site")
    assert result.columns == ("site", "n")
    assert result.rows == [("blog", 1), ("news", 2)]
    assert not result.truncated
    assert _sql(archive_url, "SELECT * FROM latest_snapshots").rows == []


def test_the_row_cap_says_when_it_cut(archive_url: str) -> None:
    result = _sql(archive_url, "SELECT url FROM pages ORDER BY id", max_rows=2)
    assert result.rows == [("http://a.test/0",), ("http://a.test/1",)]
    assert result.truncated
    assert len(_sql(archive_url, "SELECT url FROM pages", max_rows=0).rows) == 3


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO pages (url, first_seen) VALUES ('http://x.test/', 'now')",
        "UPDATE pages SET site = 'gone'",
        "DELETE FROM pages",
        "DROP TABLE pages",
        "CREATE TABLE mine (x int)",
        "TRUNCATE pages",
        "SELECT nextval(pg_get_serial_sequence('pages', 'id'))",
        "WITH d AS (DELETE FROM pages RETURNING *) SELECT count(*) FROM d",
        "SET TRANSACTION READ WRITE",
    ],
)
def test_writes_are_refused_by_postgres(archive_url: str, statement: str) -> None:
    before = _pages(archive_url)
    with pytest.raises(ArchiveError, match=r"^sql: .*read-only"):
        _sql(archive_url, statement)
    assert _pages(archive_url) == before


@pytest.mark.parametrize(
    "statement",
    [
        "COMMIT; DELETE FROM pages",
        "SELECT 1; UPDATE pages SET site = 'gone'",
        "SET default_transaction_read_only = off; DELETE FROM pages",
    ],
)
def test_a_second_statement_cannot_step_out_of_the_transaction(
    archive_url: str, statement: str
) -> None:
    before = _pages(archive_url)
    with pytest.raises(ArchiveError, match="^sql: cannot insert multiple commands"):
        _sql(archive_url, statement)
    assert _pages(archive_url) == before


def test_named_and_positional_parameters_as_for_sqlite(archive_url: str) -> None:
    named = _sql(
        archive_url,
        "SELECT url, '100%' AS pct, ':site' AS literal, id::text AS id FROM pages "
        "WHERE site = :site ORDER BY id",
        {"site": "news"},
    )
    assert named.rows == [
        ("http://a.test/1", "100%", ":site", "2"),
        ("http://a.test/2", "100%", ":site", "3"),
    ]
    positional = _sql(archive_url, "SELECT count(*) FROM pages WHERE site = ?", ["blog"])
    assert positional.rows == [(1,)]
    with pytest.raises(ArchiveError, match=r"^sql: no value for :who"):
        _sql(archive_url, "SELECT 1 WHERE :who = 'x'", {"site": "news"})
    with pytest.raises(ArchiveError, match=r"^sql: no value for :who"):
        _sql(archive_url, "SELECT 1 WHERE :who = 'x'")


def test_to_psycopg_leaves_quotes_casts_and_percent_signs_alone() -> None:
    assert to_psycopg("SELECT ':a', \"b:c\", x::int, y % 2 FROM t WHERE z = :a", {"a": 1}) == (
        "SELECT ':a', \"b:c\", x::int, y %% 2 FROM t WHERE z = %(a)s",
        {"a": 1},
    )
    assert to_psycopg("SELECT '?', ? , 5 % 2", [1]) == ("SELECT '?', %s , 5 %% 2", [1])
    assert to_psycopg("SELECT '10%', \"a%\" WHERE x = ?", [1]) == (
        "SELECT '10%%', \"a%%\" WHERE x = %s",
        [1],
    )
    assert to_psycopg("SELECT '50%'", {}) == ("SELECT '50%'", None)


def test_a_long_query_is_stopped_at_the_timeout(archive_url: str) -> None:
    with pytest.raises(ArchiveError, match=r"^sql: the query ran longer than 0.2 s"):
        _sql(archive_url, "SELECT pg_sleep(600)", timeout_seconds=0.2)


def test_bad_sql_and_an_unreachable_database_are_one_line(archive_url: str, pg_url: str) -> None:
    with pytest.raises(ArchiveError, match=r'^sql: relation "nope" does not exist'):
        _sql(archive_url, "SELECT * FROM nope")
    with pytest.raises(ArchiveError, match=r"^sql: syntax error"):
        _sql(archive_url, "SELEC 1")
    gone = pg_url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(ArchiveError, match=r"no_such_database: cannot connect: .*does not exist"):
        _sql(gone, "SELECT 1")
    closed = "postgresql://scraper:secret@127.0.0.1:1/x"
    with pytest.raises(ArchiveError) as caught:
        _sql(closed, "SELECT 1")
    assert "secret" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_foreign_database_is_told_apart(pg_url: str, archive_url: str, tmp_path: Path) -> None:
    backend.check_not_foreign(archive_url)  # ours
    other = pg_url.rsplit("/", 1)[0] + "/postgres"
    backend.check_not_foreign(other)  # empty: fine
    with psycopg.connect(other, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS ledger (x int)")
    try:
        with pytest.raises(UsageError, match=r"has tables \(ledger\) but is not a scraper"):
            backend.check_not_foreign(other)
    finally:
        with psycopg.connect(other, autocommit=True) as conn:
            conn.execute("DROP TABLE ledger")


def test_scraper_sql_takes_a_postgresql_url_in_db_and_scraper_db(archive_url: str) -> None:
    runner = CliRunner()
    query = "SELECT site, COUNT(*) AS n FROM pages GROUP BY site ORDER BY site"
    result = runner.invoke(cli, ["sql", query, "--format", "json", "--db", archive_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"site": "blog", "n": 1}, {"site": "news", "n": 2}]
    by_env = runner.invoke(
        cli, ["sql", "SELECT url FROM pages WHERE site = :s", "-p", "s", "blog", "--format",
              "csv"], env={"SCRAPER_DB": archive_url},
    )  # fmt: skip
    assert by_env.exit_code == 0, by_env.output
    assert by_env.stdout.splitlines() == ["url", "http://a.test/0"]


def test_scraper_sql_refuses_a_write_in_one_line_exit_1(archive_url: str) -> None:
    result = CliRunner().invoke(cli, ["sql", "DELETE FROM pages", "--db", archive_url])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: sql: cannot execute DELETE in a read-only transaction")
    assert len(result.stderr.strip().splitlines()) == 1
    assert len(_pages(archive_url)) == 3


def test_an_unknown_url_scheme_is_a_usage_error_without_the_password() -> None:
    result = CliRunner().invoke(cli, ["sql", "SELECT 1", "--db", "mysql://me:hunter2@db.test/a"])
    assert result.exit_code == 2
    assert "unsupported database URL" in result.stderr
    assert "hunter2" not in result.stderr


def test_a_database_without_the_archive_says_how_to_make_one(pg_url: str) -> None:
    with pytest.raises(ArchiveError, match=r"no scraper archive in this database \(scraper init"):
        _sql(pg_url, "SELECT * FROM pages")


def test_init_creates_the_archive_and_other_commands_refuse_a_foreign_database(
    pg_url: str,
) -> None:
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--db", pg_url])
    assert first.exit_code == 0, first.stderr
    assert "(schema: 8 migrations applied)" in first.stderr
    assert _sql(pg_url, "SELECT count(*) FROM pages").rows == [(0,)]
    assert runner.invoke(cli, ["init", "--db", pg_url]).exit_code == 0  # again: up to date
    with psycopg.connect(pg_url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute("CREATE DATABASE foreign_for_init")
    foreign = pg_url.rsplit("/", 1)[0] + "/foreign_for_init"
    with psycopg.connect(foreign, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id int)")
    refused = runner.invoke(cli, ["export", "--format", "jsonl", "--db", foreign])
    assert refused.exit_code == 1
    assert "foreign_for_init: no scraper archive in this database (scraper init" in (refused.stderr)
    assert len(refused.stderr.strip().splitlines()) == 1
    with psycopg.connect(foreign) as conn:  # nothing was added to it
        assert conn.execute("SELECT to_regclass('pages')").fetchone() == (None,)
    adopted = runner.invoke(cli, ["init", "--db", foreign])  # init is how you say: adopt it
    assert adopted.exit_code == 0, adopted.stderr
    assert _sql(foreign, "SELECT count(*) FROM orders, pages").rows == [(0,)]
