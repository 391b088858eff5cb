"""The README's PostgreSQL examples ("More than one machine") run as written: the full-text
query finds what it should, and the read-only role can read and not write."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from scraper.archive.postgres.backend import migrate_archive, run_sql
from scraper.errors import ArchiveError

README = (Path(__file__).resolve().parents[1] / "README.md").read_text("utf-8")
NOW = "2026-01-02T03:04:05Z"


def _blocks() -> list[str]:
    section = README.split("## More than one machine", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, re.DOTALL)


@pytest.fixture
def archive_url(pg_url: str) -> str:
    migrate_archive(pg_url, now=NOW)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pages (url, first_seen) VALUES ('https://a.test/', %s)", (NOW,))
        conn.execute(
            "INSERT INTO snapshots (page_id, fetched_at, content_hash, title, text) VALUES "
            "(1, %s, 'a', 'Harbour ferries resume', 'Boats sailed at dawn.'), "
            "(1, %s, 'b', 'Weather', 'Ferries wait in the harbour for the gale to pass.'), "
            "(1, %s, 'c', 'Markets', 'Prices rose.')",
            (NOW, NOW, NOW),
        )
    return pg_url


def test_the_full_text_example_finds_the_title_match_first(archive_url: str) -> None:
    [search] = [b for b in _blocks() if "snapshots_fts" in b]
    result = run_sql(archive_url, search)
    assert result.rows == [("Harbour ferries resume",), ("Weather",)]


def test_the_read_only_role_reads_and_cannot_write(archive_url: str) -> None:
    [grants] = [b for b in _blocks() if "CREATE ROLE" in b]
    dbname = archive_url.rsplit("/", 1)[1]
    role = f"reader_{dbname}"  # roles are per cluster; the test's own name
    script = (
        grants.replace("reader", role).replace("'...'", "'pw'").replace(" scraper ", f" {dbname} ")
    )
    with psycopg.connect(archive_url, autocommit=True) as conn:
        for statement in filter(str.strip, script.split(";")):
            conn.execute(statement)
    as_reader = re.sub(r"//scraper@", f"//{role}:pw@", archive_url)
    with psycopg.connect(as_reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM snapshots").fetchone() == (3,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM pages")
    assert run_sql(as_reader, "SELECT count(*) FROM pages").rows == [(1,)]
    with pytest.raises(ArchiveError, match="^sql: "):
        run_sql(as_reader, "DELETE FROM pages")


def test_search_folds_case_beyond_ascii_and_reads_tokens_as_the_text(archive_url: str) -> None:
    from scraper.archive import open_archive
    from tests.contract.values import URL, result
    from tests.contract.values import article as make_article

    with open_archive(archive_url) as store:
        text = "Москва e-mail 3.14 naïve café 서울에서"
        store.save_fetch(URL, fetched_at=NOW, result=result(), article=make_article(text))
        for query in ("москва", "МОСКВА", "e-mail", "3.14", "NAÏVE café", "서울", "caf*"):
            assert [h.url for h in store.search(query)] == [URL], query
        assert store.search("fox\x00москва") == []  # a NUL is a space: both words needed
