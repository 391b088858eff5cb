"""``scraper migrate``: an archive copied whole SQLite -> PostgreSQL -> SQLite through the real
CLI, on a throwaway cluster, from a real crawl of a local site; ``--check`` comparing them; a
target that holds data, a copy killed half way, NUL bytes and bad UTF-8, an old schema."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from scraper.archive import open_archive
from tests.noisy_site import NoisySite
from tests.pgcluster import PgCluster
from tests.server import LocalServer
from tests.sites import crawl, run, write_sites
from tests.webhook import Webhook

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
#: budget for a subprocess to reach a point it announces (far above what it needs)
WAIT_SECONDS = 120


@dataclass
class Crawled:
    """A SQLite archive made by real crawls, and the site they crawled."""

    db: Path
    config: Path
    site: NoisySite
    server: LocalServer


@pytest.fixture
def crawled(tmp_path: Path) -> Iterator[Crawled]:
    """Two crawls of a local site, a page edited between them, a notification that failed
    (so the queue holds it) and learned boilerplate: rows in every table a crawl fills."""
    site = NoisySite.build(4)
    server = LocalServer().start()
    hook = Webhook().start()
    try:
        site.serve(server)
        server.route("/robots.txt", "User-agent: *\nAllow: /\n")
        pages = "".join(f"<url><loc>{server.url(site.path(n))}</loc></url>" for n in site.pages)
        server.route("/sitemap.xml", f'<urlset xmlns="{SITEMAP_NS}">{pages}</urlset>')
        config = write_sites(
            tmp_path, server.url("/news/"), name="town", max_depth=1,
            site=f'notify = ["{hook.target}"]\nsitemaps = ["{server.url("/sitemap.xml")}"]',
        )  # fmt: skip
        db = tmp_path / "archive.db"
        assert crawl(config, db, "--quiet").exit_code == 0
        hook.fail = True
        site.edit(2, "headline")
        assert crawl(config, db, "--quiet", "--revisit", "0").exit_code == 0
        learned = run("boilerplate", "--learn", "--site", "town", "--min-pages", "2",
                      "--config", str(config), "--db", str(db))  # fmt: skip
        assert learned.exit_code == 0, learned.output
        yield Crawled(db, config, site, server)
    finally:
        hook.stop()
        server.stop()


def migrate(*args: str) -> object:
    return run("migrate", *args)


def counts(db: str | Path) -> dict[str, int]:
    """Rows per content table, through ``scraper migrate --check`` of the archive with itself."""
    out = run("migrate", "--check", "--from", str(db), "--to", str(db))
    assert out.exit_code == 0, out.output
    lines = out.stdout.splitlines()[1:]
    return {line.split()[0]: int(line.split()[1]) for line in lines if not line.startswith(" ")}


def answers(db: str | Path, url: str) -> list[str]:
    """What the reading commands say of the archive."""
    said = []
    for args in (
        ["history", url, "--format", "json"],
        ["diff", url],
        ["changes", "--since", "2000-01-01"],
        ["search", "council"],
        ["search", "two-year fight"],
        ["export", "--format", "jsonl"],
        ["sql", "SELECT kind, target, title, attempts FROM notify_queue ORDER BY id"],
        ["sql", "SELECT host, failures FROM hosts ORDER BY host"],
        ["sql", "SELECT id, url, title, confidence FROM latest_snapshots ORDER BY id"],
        [
            "sql",
            "SELECT snapshot_id, previous_id, url, words_added, words_removed, title_changed,"
            " cause FROM snapshot_changes ORDER BY snapshot_id",
        ],  # fmt: skip
        ["sql", "SELECT id, started_at, pages_fetched, new, changed FROM runs ORDER BY id"],
        ["boilerplate", "--site", "town"],
    ):
        out = run(*args, "--db", str(db))
        assert out.exit_code == 0, (args, out.output)
        if args[0] == "search":  # the hits; their order is each backend's own ranking
            said.append(" ".join(sorted(re.findall(r"http://\S+", out.stdout))))
        else:
            said.append(out.stdout)
    return said


def test_sqlite_to_postgresql_and_back_gives_the_same_archive(
    crawled: Crawled, postgres_db: str, tmp_path: Path
) -> None:
    source = counts(crawled.db)
    empty = sorted(table for table, n in source.items() if n == 0)
    assert empty == [], f"the crawl left these tables empty, so their copy is not tested: {empty}"

    to_pg = migrate("--from", str(crawled.db), "--to", postgres_db)
    assert to_pg.exit_code == 0, to_pg.output
    assert f"copied {sum(source.values())} rows of {len(source)} tables; complete" in to_pg.stderr
    check = migrate("--check", "--from", str(crawled.db), "--to", postgres_db)
    assert check.exit_code == 0, check.output
    assert "the archives hold the same" in check.stderr
    assert "DIFFERENT" not in check.stdout

    back = tmp_path / "back" / "archive.db"
    back.parent.mkdir()
    to_file = migrate("--from", postgres_db, "--to", str(back))
    assert to_file.exit_code == 0, to_file.output
    assert migrate("--check", "--from", str(crawled.db), "--to", str(back)).exit_code == 0

    url = crawled.server.url(crawled.site.path(2))
    said = answers(crawled.db, url)
    assert said[3].count("http://") == 4  # the searches find something
    assert said[4].endswith("/news/2.html")
    assert answers(postgres_db, url) == said
    assert answers(back, url) == said
    assert counts(postgres_db) == source
    assert counts(back) == source


@pytest.mark.parametrize("copy", ["postgres", "file"])
def test_new_rows_after_a_migration_take_new_ids(
    copy: str, crawled: Crawled, postgres_db: str, tmp_path: Path
) -> None:
    """Sequences are set past the copied ids: a crawl and a fetch into the copy add rows."""
    target = postgres_db if copy == "postgres" else str(tmp_path / "copy.db")
    assert migrate("--from", str(crawled.db), "--to", target).exit_code == 0
    before = counts(target)
    crawled.site.edit(3, "paragraph")
    url = crawled.server.url(crawled.site.path(3))
    fetched = run("fetch", url, "--allow-private", "--db", target, "--format", "json")
    assert fetched.exit_code == 0, fetched.output
    if copy == "file":  # the crawl on PostgreSQL is another branch's work
        assert crawl(crawled.config, Path(target), "--quiet", "--revisit", "0").exit_code == 0
    after = counts(target)
    assert after["snapshots"] == before["snapshots"] + 1
    assert after["fetches"] > before["fetches"]
    with open_archive(target, readonly=True) as archive:
        newest = archive.snapshots(url)[0]
    assert newest.id is not None
    assert newest.id > before["snapshots"]


def test_a_target_that_holds_data_is_refused_in_one_line(
    crawled: Crawled, postgres_db: str
) -> None:
    assert migrate("--from", str(crawled.db), "--to", postgres_db).exit_code == 0
    again = migrate("--from", str(crawled.db), "--to", postgres_db)
    assert again.exit_code == 1
    assert "already holds data" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    itself = migrate("--from", str(crawled.db), "--to", f"{crawled.db.parent}/./archive.db")
    assert itself.exit_code == 2
    assert "name the same archive" in itself.stderr


def test_check_names_a_deleted_row_and_a_changed_body(crawled: Crawled, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    assert migrate("--from", str(crawled.db), "--to", str(copy)).exit_code == 0
    with closing(sqlite3.connect(copy)) as conn, conn:
        (fetch_id,) = conn.execute("SELECT max(id) FROM fetches").fetchone()
        conn.execute("DELETE FROM fetches WHERE id = ?", (fetch_id,))
        (sha,) = conn.execute("SELECT sha256 FROM raw ORDER BY sha256 LIMIT 1").fetchone()
        conn.execute("UPDATE raw SET data = x'00' WHERE sha256 = ?", (sha,))
    out = migrate("--check", "--from", str(crawled.db), "--to", str(copy))
    assert out.exit_code == 1
    tables = len(counts(crawled.db))
    assert out.stderr.strip() == f"Error: the archives differ in 2 of {tables} tables: fetches, raw"
    assert f"{fetch_id}: only in the first" in out.stdout
    assert f"{sha[:40]}: data differs" in out.stdout
    lines = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "1 only in --from" in lines["fetches"]
    assert "1 differ" in lines["raw"]


_KILLABLE = """
import sys
from scraper.archive.transfer import copy_archive

def on_rows(table, count):
    print(table, count, flush=True)
    sys.stdin.readline()  # wait here until killed

copy_archive(sys.argv[1], sys.argv[2], batch_rows=3, on_rows=on_rows)
"""


def _killed_after_a_batch(source: str, target: str) -> str:
    """Run a copy in a process of its own and SIGKILL it once its first batch is committed;
    the line it printed then ("TABLE ROWS")."""
    with subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, source, target],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])},
    ) as worker:  # fmt: skip
        try:
            assert worker.stdout is not None
            return worker.stdout.readline()
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(WAIT_SECONDS)


def test_a_copy_killed_half_way_is_refused_then_resumed(crawled: Crawled, postgres_db: str) -> None:
    """SIGKILL after the first batch committed: the target says it is cut short, --resume
    finishes it, and the check finds the two the same."""
    first = _killed_after_a_batch(str(crawled.db), postgres_db)
    check = migrate("--check", "--from", str(crawled.db), "--to", postgres_db)
    assert check.exit_code == 1  # not a copy: nothing looks complete
    again = migrate("--from", str(crawled.db), "--to", postgres_db)
    assert again.exit_code == 1
    assert first.split()[1] in ("1", "2", "3"), first
    assert f"holds a copy that was cut short ({first.split()[1]} rows copied)" in again.stderr
    assert "--resume" in again.stderr
    resumed = migrate(
        "--resume", "--batch-rows", "2", "--from", str(crawled.db), "--to", postgres_db
    )
    assert resumed.exit_code == 0, resumed.output
    assert f"resuming: {first.split()[1]} of" in resumed.stderr
    assert migrate("--check", "--from", str(crawled.db), "--to", postgres_db).exit_code == 0


def test_restart_empties_a_cut_short_copy_and_copies_again(
    crawled: Crawled, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    assert _killed_after_a_batch(str(crawled.db), str(target))
    assert migrate("--from", str(crawled.db), "--to", str(target)).exit_code == 1
    restarted = migrate("--restart", "--from", str(crawled.db), "--to", str(target))
    assert restarted.exit_code == 0, restarted.output
    assert migrate("--check", "--from", str(crawled.db), "--to", str(target)).exit_code == 0


def test_nul_characters_and_bad_utf8_are_replaced_and_counted(
    crawled: Crawled, postgres_db: str, tmp_path: Path
) -> None:
    """PostgreSQL refuses NUL in text; a SQLite file can hold it, and bytes that are not
    UTF-8: each becomes U+FFFD, the copy says how many, and the check agrees."""
    with closing(sqlite3.connect(crawled.db)) as conn, conn:
        conn.execute("UPDATE snapshots SET text = text || char(0) || 'after' WHERE id = 1")
        conn.execute("UPDATE snapshots SET author = CAST(x'41ff42' AS TEXT) WHERE id = 2")
    out = migrate("--from", str(crawled.db), "--to", postgres_db)
    assert out.exit_code == 0, out.output
    assert "note: 1 text values held NUL characters" in out.stderr
    assert "text values were not UTF-8" in out.stderr
    with open_archive(postgres_db, readonly=True) as archive:
        first = archive.snapshot_by_id(1)
        second = archive.snapshot_by_id(2)
    assert first is not None
    assert first.text.endswith("\ufffdafter")
    assert second is not None
    assert second.author == "A\ufffdB"
    assert migrate("--check", "--from", str(crawled.db), "--to", postgres_db).exit_code == 0


def test_an_archive_of_an_older_schema_is_refused_until_brought_up_to_date(
    crawled: Crawled, tmp_path: Path
) -> None:
    with closing(sqlite3.connect(crawled.db)) as conn, conn:
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm007_ip_address'")
    out = migrate("--from", str(crawled.db), "--to", str(tmp_path / "copy.db"))
    assert out.exit_code == 1
    assert "older than this scraper's (1 migrations not applied, from m007_ip_address)" in (
        out.stderr
    )
    assert f"scraper init --db {crawled.db}" in out.stderr
    assert not (tmp_path / "copy.db").exists()


def test_a_target_the_user_may_only_read_is_one_line(
    crawled: Crawled, pg_cluster: PgCluster, pg_url: str
) -> None:
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("DROP ROLE IF EXISTS reader_only")
        admin.execute("CREATE ROLE reader_only LOGIN")
        admin.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    url = pg_url.replace("postgresql://scraper@", "postgresql://reader_only:pw@")
    out = migrate("--from", str(crawled.db), "--to", url)
    assert out.exit_code == 1
    assert out.stderr.startswith("Error: postgresql://reader_only@127.0.0.1:")
    assert "permission denied" in out.stderr
    assert "pw@" not in out.output
    assert len(out.stderr.strip().splitlines()) == 1


def test_help_shows_examples() -> None:
    out = run("migrate", "--help")
    assert out.exit_code == 0
    assert "scraper migrate --from data/archive.db --to postgresql://" in out.stdout
    assert "--check" in out.stdout


def test_another_programs_table_is_left_with_a_note(crawled: Crawled, tmp_path: Path) -> None:
    """An adopted file (scraper init) holds another program's tables: they are not copied,
    the copy says so, and the check names the table as only on one side."""
    with closing(sqlite3.connect(crawled.db)) as conn, conn:
        conn.execute("CREATE TABLE my_notes (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("INSERT INTO my_notes (note) VALUES ('mine')")
    copy = tmp_path / "copy.db"
    out = migrate("--from", str(crawled.db), "--to", str(copy))
    assert out.exit_code == 0, out.output
    assert "note: table my_notes is not part of scraper's archive schema: not copied" in out.stderr
    check = migrate("--check", "--from", str(crawled.db), "--to", str(copy))
    assert check.exit_code == 1
    assert "differ in 1 of" in check.stderr
    assert "table only in --from" in check.stdout


def test_large_raw_bodies_go_a_few_at_a_time_and_arrive_whole(
    crawled: Crawled, postgres_db: str
) -> None:
    """A batch holds at most ``batch_bytes`` (one row when a row is larger), so bodies of
    megabytes do not pile up; each arrives byte for byte."""
    import hashlib

    from scraper.archive.transfer import copy_archive

    big = os.urandom(3 * 1024 * 1024)
    sha = hashlib.sha256(big).hexdigest()
    with closing(sqlite3.connect(crawled.db)) as conn, conn:
        conn.execute("INSERT INTO raw (sha256, size, compression, data) VALUES (?, ?, 'none', ?)",
                     (sha, len(big), big))  # fmt: skip
    batches: list[tuple[str, int]] = []
    copy_archive(str(crawled.db), postgres_db, batch_bytes=1024 * 1024,
                 on_rows=lambda table, n: batches.append((table, n)))  # fmt: skip
    raw_batches = [n for table, n in batches if table == "raw"]
    assert max(raw_batches) < counts(crawled.db)["raw"]  # not all at once
    with open_archive(postgres_db, readonly=True) as archive:
        assert archive.raw(sha) == big
