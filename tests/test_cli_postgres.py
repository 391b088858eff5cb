"""The commands on a PostgreSQL archive: history, diff, show, search, changes, sql and export read
what the store wrote, as they read a SQLite file; fetch, boilerplate, reextract and notify write
through the storage protocols and give the same output and the same rows as on SQLite. A
database that cannot be reached is one line, exit 1, the password never shown."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive import open_archive
from scraper.cli import cli
from tests.contract.values import BODY_V2, EDITED, T1, T2, URL, article, result
from tests.noisy_site import NoisySite
from tests.pgcluster import PgCluster
from tests.server import LocalServer
from tests.sites import run as run_cli
from tests.sites import write_town
from tests.tools import free_port
from tests.webhook import Webhook


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


def _ports(text: str) -> str:
    """Output with the ports of this run's servers left out (each backend gets its own)."""
    return re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text)


def _scenario(db: str, tmp_path: Path) -> list[object]:
    """fetch (json), boilerplate --learn, reextract, a change whose notification fails, then
    ``notify``: what each command printed and its exit code, then the rows, through the
    readers, and the messages the webhook got."""
    site = NoisySite.build(3)
    server = LocalServer().start()
    hook = Webhook().start()
    try:
        site.serve(server)
        config = str(write_town(tmp_path, server, f'notify = ["{hook.target}"]'))
        urls = [server.url(site.path(n)) for n in (1, 2, 3)]
        seen: list[object] = []

        def step(*args: str) -> None:
            out = run_cli(*args, "--config", config, "--db", db)
            seen.append((args[0], out.exit_code, _ports(out.stdout), _ports(out.stderr)))

        step("fetch", *urls, "--format", "json", "--allow-private")
        step("boilerplate", "--learn", "--site", "town", "--min-pages", "2")
        step("boilerplate", "--site", "town")
        step("reextract")
        hook.fail = True
        site.edit(2, "headline")
        step("fetch", urls[1], "--allow-private")
        hook.fail = False
        step("notify")
        step("notify")
        with open_archive(db, readonly=True) as archive:
            for url in urls:
                seen.append([(s.id, s.cause, s.title, s.text) for s in archive.snapshots(url)])
                seen.append(sorted((f.status_code, f.not_modified) for f in archive.fetches(url)))
            seen.append(sorted(archive.boilerplate("town")))
        seen.append([m["title"] for m in hook.messages()])
        return seen
    finally:
        hook.stop()
        server.stop()


def test_fetch_boilerplate_reextract_and_notify_on_postgresql_as_on_sqlite(
    postgres_db: str, tmp_path: Path
) -> None:
    """The same commands against the same site print the same and store the same rows."""
    (tmp_path / "sqlite").mkdir()
    (tmp_path / "pg").mkdir()
    on_sqlite = _scenario(str(tmp_path / "sqlite" / "archive.db"), tmp_path / "sqlite")
    on_postgres = _scenario(postgres_db, tmp_path / "pg")
    codes = [entry[:2] for entry in on_postgres[:7]]  # type: ignore[index]
    assert codes == [("fetch", 0), ("boilerplate", 0), ("boilerplate", 0), ("reextract", 0),
                     ("fetch", 0), ("notify", 0), ("notify", 0)]  # fmt: skip
    fetched, learned, _, _, refetch, sent, again = on_postgres[:7]
    assert len(json.loads(fetched[2])) == 3  # type: ignore[index]
    assert "town: learned from 3 pages" in learned[3]  # type: ignore[index]
    assert "notify: 0 sent, 1 failed" in refetch[3]  # type: ignore[index]
    assert "notify: 1 sent, 0 failed" in sent[3]  # type: ignore[index]
    assert "notify: nothing to send" in again[3]  # type: ignore[index]
    assert on_postgres[-1] == ["Changed: Council approves riverside park (2) -> "
                               "Park plan approved after two-year fight (2)"]  # fmt: skip
    assert on_postgres == on_sqlite


@pytest.fixture
def password_role(pg_cluster: PgCluster) -> str:
    """A role that must give its password (scram) over 127.0.0.1: ``pw_user``/``right``."""
    import psycopg

    hba = pg_cluster.datadir / "pg_hba.conf"
    line = "host all pw_user 127.0.0.1/32 scram-sha-256\n"
    text = hba.read_text()
    if line not in text:  # the first line that matches decides: before the trust lines
        hba.write_text(line + text)
    with psycopg.connect(pg_cluster.url(), autocommit=True) as admin:
        admin.execute("SET password_encryption = 'scram-sha-256'")
        if not admin.execute("SELECT 1 FROM pg_roles WHERE rolname = 'pw_user'").fetchone():
            admin.execute("CREATE ROLE pw_user LOGIN PASSWORD 'right'")
        admin.execute("SELECT pg_reload_conf()")
    return "pw_user"


@pytest.mark.parametrize(
    "command",
    [
        ["crawl"],
        ["fetch", "http://127.0.0.1:9/page", "--allow-private"],
        ["reextract"],
        ["boilerplate", "--site", "news"],
        ["notify"],
    ],
    ids=lambda c: c[0],
)
@pytest.mark.parametrize("where", ["bad_port", "unknown_user", "wrong_password"])
def test_a_database_that_cannot_be_reached_is_one_line(
    command: list[str], where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    pg_cluster: PgCluster, password_role: str,
) -> None:  # fmt: skip
    """No traceback, no file or lock made of the URL, exit 1, the password not shown."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "sites.toml"
    config.write_text(
        '[[site]]\nname = "news"\nstart_urls = ["https://example.org/"]\n'
        'notify = ["json://127.0.0.1:9/hook"]\n'
    )
    if where == "bad_port":
        url = f"postgresql://me:s3cret@127.0.0.1:{free_port()}/db"
    elif where == "unknown_user":
        url = f"postgresql://nobody_here:s3cret@127.0.0.1:{pg_cluster.port}/postgres"
    else:
        url = f"postgresql://{password_role}:s3cret@127.0.0.1:{pg_cluster.port}/postgres"
    out = CliRunner().invoke(cli, [*command, "--config", str(config), "--db", url])
    assert out.exit_code == 1, out.output
    lines = out.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: postgresql://"), out.stderr
    assert "cannot connect" in out.stderr
    if where == "wrong_password":
        assert "password authentication failed" in out.stderr
    assert "s3cret" not in out.output
    assert "Traceback" not in out.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sites.toml"]


def _wait_for_a_waiting_sender(db: str, key: int, sender: subprocess.Popen[str]) -> None:
    """Until a session waits for the advisory lock ``key`` (polling pg_locks: an event)."""
    import psycopg

    deadline = time.monotonic() + 120
    with psycopg.connect(db, autocommit=True) as watch:
        while not watch.execute(
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND objid = %s",
            (key & 0xFFFFFFFF,),
        ).fetchone():
            assert sender.poll() is None, sender.communicate()
            assert time.monotonic() < deadline, "the second sender never waited"
            time.sleep(0.05)  # poll again: the sender has not reached the lock yet


@pytest.mark.parametrize("sender", ["notify", "fetch", "crawl"])
def test_a_second_notify_sender_waits_for_the_first(
    sender: str, postgres_db: str, tmp_path: Path
) -> None:
    """Every command that sends the queue takes the database's sender lock: ``scraper notify``,
    ``scraper fetch`` after storing, and ``scraper crawl`` at its end (workers ending together
    would otherwise send one message twice)."""
    from scraper.archive.postgres.senderlock import SENDER_LOCK, sender_lock

    site = NoisySite.build(2)
    server = LocalServer().start()
    hook = Webhook().start()
    try:
        site.serve(server)
        config = str(write_town(tmp_path, server, f'notify = ["{hook.target}"]'))
        url = server.url(site.path(1))
        fetch = ["fetch", url, "--allow-private", "--config", config, "--db", postgres_db]
        assert run_cli(*fetch).exit_code == 0
        hook.fail = True
        site.edit(1, "headline")
        assert "notify: 0 sent, 1 failed" in run_cli(*fetch).stderr
        hook.fail = False
        args = {"notify": ["notify"], "fetch": fetch[:-2], "crawl": ["crawl", "--config", config]}
        command = [sys.executable, "-m", "scraper", *args[sender]]
        if sender == "notify":
            command += ["--config", config]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
        held = sender_lock(postgres_db)  # a sender at work
        held.__enter__()
        try:
            second = subprocess.Popen([*command, "--db", postgres_db], env=env, text=True,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
            _wait_for_a_waiting_sender(postgres_db, SENDER_LOCK, second)
            assert hook.messages() == []  # it waits, and sends nothing meanwhile
        finally:
            held.__exit__(None, None, None)
        out, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert "notify: 1 sent, 0 failed" in err  # the message kept from the failed send
        assert len(hook.messages()) == 1
    finally:
        hook.stop()
        server.stop()
