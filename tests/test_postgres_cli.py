"""The reading commands on a PostgreSQL archive: history, diff, show, search, changes, sql and
export read what the store wrote, as they read a SQLite file. (``fetch`` and ``crawl`` open
the archive themselves and join when they open it through ``open_archive``.)"""

from __future__ import annotations

import json

from click.testing import CliRunner

from scraper.archive import open_archive
from scraper.cli import cli
from tests.contract.values import BODY_V2, EDITED, T1, T2, URL, article, result


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
