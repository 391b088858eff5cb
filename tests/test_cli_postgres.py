"""The reading commands on a PostgreSQL archive: history, diff, show, search, changes, sql and
export read what the store wrote, as they read a SQLite file. The commands that write through
the crawl's state (crawl, fetch, reextract, boilerplate, notify) refuse a URL in one line until
the crawl takes its turns per host from the PostgreSQL leases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive import open_archive
from scraper.cli import cli
from tests.contract.values import BODY_V2, EDITED, T1, T2, URL, article, result
from tests.server import LocalServer
from tests.test_cli_oneoff import PAGE


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_reading_commands_read_a_postgresql_archive(postgres_db: str) -> None:
    with open_archive(postgres_db) as store:
        store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
        store.save_fetch(URL, fetched_at=T2, result=result(BODY_V2, etag='"v2"', fetched_at=T2),
                         article=article(EDITED), site="news")  # fmt: skip
    db = ["--db", postgres_db]
    history = run("history", URL, *db, "--format", "json")
    assert history.exit_code == 0, history.stderr
    assert [v["fetched_at"] for v in json.loads(history.stdout)["snapshots"]] == [T2, T1]
    diff = run("diff", URL, *db)
    assert diff.exit_code == 0, diff.stderr
    assert "-The quick brown fox" in diff.stdout
    assert "+The quick red fox" in diff.stdout
    search = run("search", "farmer", *db)
    assert search.exit_code == 0, search.stderr
    assert URL in search.stdout
    assert "**farmer**" in search.stdout
    changes = run("changes", *db, "--since", "2000-01-01")
    assert changes.exit_code == 0, changes.stderr
    assert URL in changes.stdout
    export = run("export", "--format", "jsonl", *db)
    assert export.exit_code == 0, export.stderr
    assert [json.loads(line)["text"] for line in export.stdout.splitlines()] == [
        article().text,
        EDITED,
    ]
    counts = run("sql", "SELECT count(*) AS fetches, (SELECT count(*) FROM snapshots) AS "
                 "versions FROM fetches", *db, "--format", "json")  # fmt: skip
    assert counts.exit_code == 0, counts.stderr
    assert json.loads(counts.stdout) == [{"fetches": 2, "versions": 2}]


def test_fetch_on_a_url_refuses_in_one_line_and_leaves_no_file(
    server: LocalServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fetch`` still opens SQLite files only: a URL must not become a directory tree."""
    monkeypatch.chdir(tmp_path)
    out = CliRunner().invoke(
        cli, ["fetch", server.url(PAGE), "--allow-private", "--db",
              "postgresql://me:pw@127.0.0.1:9/db"],
    )  # fmt: skip
    assert out.exit_code == 1
    assert "needs a SQLite archive file for now, not a database URL" in out.stderr
    assert "pw@" not in out.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_lost_connection_is_one_line_naming_the_database(postgres_db: str) -> None:
    import psycopg

    from scraper.errors import ArchiveError

    with open_archive(postgres_db) as store:
        store.save_fetch(URL, fetched_at=T1, result=result(), article=article(), site="news")
        assert store.snapshots(URL)  # the connection works
        with psycopg.connect(postgres_db, autocommit=True) as admin:  # the server drops us
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(ArchiveError) as lost:
            store.snapshots(URL)
    message = str(lost.value)
    assert message.startswith(f"{postgres_db}: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "command",
    [
        ["reextract"],
        ["boilerplate", "--site", "news"],
        ["notify"],
    ],
    ids=lambda c: c[0],
)
def test_the_crawl_state_commands_refuse_a_url_in_one_line(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No traceback, no file or lock made of the URL, the password not shown."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sites.toml"
    config.write_text(
        '[[site]]\nname = "news"\nstart_urls = ["https://example.org/"]\n'
        'notify = ["json://127.0.0.1:9/hook"]\n'
    )
    out = CliRunner().invoke(
        cli, [*command, "--config", str(config), "--db", "postgresql://me:pw@127.0.0.1:9/db"]
    )
    assert out.exit_code == 1, out.output
    assert "needs a SQLite archive file for now, not a database URL" in out.stderr
    assert "pw@" not in out.stderr
    assert "Traceback" not in out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.toml"]
