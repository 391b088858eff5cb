"""Holes of issue 11 closed through the real CLI: the lock on the real file, an export that
would overwrite the archive, the address registries, a database that is not ours."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from scraper.cli import cli
from scraper.crawl import CrawlLock
from tests.conftest import FIXTURES
from tests.server import LocalServer
from tests.sites import run, write_sites

PAGE = "/blog/lighthouse.html"


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def one_line(result: Result) -> str:
    """The single line a failed command printed; never a traceback."""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def write_config(tmp_path: Path, server: LocalServer, site_extra: str = "") -> Path:
    return write_sites(tmp_path, f"{server.base}/index.html", site=site_extra)


@pytest.fixture
def archive(server: LocalServer, tmp_path: Path) -> Path:
    """An archive holding one fetched page."""
    db = tmp_path / "archive.db"
    result = run("fetch", server.url(PAGE), "--db", str(db), "--allow-private")
    assert result.exit_code == 0, result.stderr
    return db


# --- the crawl lock is on the real file -----------------------------------------------------


def test_a_symlink_to_the_archive_takes_the_same_lock(
    site_server: LocalServer, tmp_path: Path
) -> None:
    real = tmp_path / "data" / "archive.db"
    real.parent.mkdir()
    alias = tmp_path / "alias.db"
    alias.symlink_to(real)
    config = write_config(tmp_path, site_server)
    with CrawlLock(real):
        result = run("crawl", "--config", str(config), "--db", str(alias))
    assert result.exit_code == 3
    assert "another crawl" in one_line(result)
    assert site_server.requests == []
    # and the other way round, with a relative spelling of the same file
    with CrawlLock(alias):
        cwd = os.getcwd()
        os.chdir(tmp_path)
        try:
            result = run("crawl", "--config", str(config), "--db", "./data/../data/archive.db")
        finally:
            os.chdir(cwd)
    assert result.exit_code == 3


# --- export never writes onto the archive ---------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm", ".lock"])
@pytest.mark.parametrize("spelling", ["same", "symlink", "hardlink"])
def test_export_onto_the_archive_or_its_files_is_refused(
    archive: Path, tmp_path: Path, suffix: str, spelling: str
) -> None:
    target = Path(f"{archive}{suffix}")
    if not target.exists():
        target.write_bytes(b"")  # -wal/-shm exist while a writer has the archive open
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    if spelling == "symlink":
        out = tmp_path / "out.jsonl"
        out.symlink_to(target)
    elif spelling == "hardlink":
        out = tmp_path / "out.jsonl"
        os.link(target, out)
    else:
        out = target
    for fmt in ("jsonl", "warc"):
        result = run("export", "--db", str(archive), "--format", fmt, "-o", str(out))
        assert result.exit_code == 2
        line = one_line(result)
        assert str(out) in line
        assert "archive" in line
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    assert {k: v for k, v in after.items() if k != "out.jsonl"} == before
    assert rows(archive, "select count(*) from snapshots") == [(1,)]


def test_export_wal_name_is_refused_before_it_exists(archive: Path) -> None:
    wal = Path(f"{archive}-wal")
    wal.unlink(missing_ok=True)
    result = run("export", "--db", str(archive), "-o", str(wal))
    assert result.exit_code == 2
    assert str(wal) in one_line(result)
    assert not wal.exists()
    assert rows(archive, "pragma integrity_check") == [("ok",)]


def test_export_to_another_file_still_works(archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "snapshots.jsonl"
    result = run("export", "--db", str(archive), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8").count("\n") == 1


def test_export_to_stdout_redirected_onto_the_archive_is_refused(archive: Path) -> None:
    import subprocess
    import sys

    before = archive.read_bytes()
    with open(archive, "ab") as out:  # `scraper export >> archive.db`
        proc = subprocess.run(
            [sys.executable, "-m", "scraper", "export", "--db", str(archive)],
            stdout=out,
            stderr=subprocess.PIPE,
            timeout=300,
            check=False,
        )
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert "stdout" in err
    assert archive.read_bytes() == before


# --- addresses from the special-purpose registries ------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://[::ffff:0:127.0.0.1]/",
        "http://[3fff::1]/",
        "http://[5f00::1]/",
        "http://[2001:0:808:808::80ff:fffe]/",
    ],
)
def test_fetch_refuses_special_purpose_addresses(url: str, tmp_path: Path) -> None:
    db = tmp_path / "archive.db"
    result = run("fetch", url, "--db", str(db))
    assert result.exit_code == 1
    line = one_line(result)
    assert "private or reserved address" in line
    assert rows(db, "select error like 'blocked_address%' from fetches") == [(1,)]


# --- config: SCRAPER_* over [[site]]; start URLs checked -------------------------------------


def test_scraper_env_overrides_site_settings(site_server: LocalServer, tmp_path: Path) -> None:
    config = write_config(tmp_path, site_server, 'user_agent = "site-agent/1"')
    db = tmp_path / "archive.db"
    result = CliRunner(env={"SCRAPER_USER_AGENT": "env-agent/2"}).invoke(
        cli,
        ["crawl", "--config", str(config), "--db", str(db), "--max-pages", "1"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.stderr
    agents = {r.headers.get("User-Agent") for r in site_server.requests}
    assert agents == {"env-agent/2"}


@pytest.mark.parametrize(
    ("key", "value", "needle"),
    [
        ("start_urls", "not a url", "not a valid URL"),
        ("start_urls", "/index.html", "not a valid URL"),
        ("start_urls", "ftp://example.org/", "not a valid URL"),
        ("start_urls", "www.example.org/blog", "not a valid URL"),
        ("sitemaps", "/sitemap.xml", "not a valid URL"),
        ("feeds", "http://", "not a valid URL"),
        ("start_urls", "http://127.0.0.1:9/", "private or reserved address"),
        ("start_urls", "http://localhost/", "private host name"),
        ("sitemaps", "http://[::1]/sitemap.xml", "private or reserved address"),
        ("feeds", "http://10.0.0.1/feed.xml", "private or reserved address"),
    ],
)
def test_a_start_url_that_cannot_be_crawled_is_a_config_error(
    tmp_path: Path, key: str, value: str, needle: str
) -> None:
    config = tmp_path / "sites.toml"
    other = f'{key} = ["{value}"]' if key != "start_urls" else ""
    start = (
        f'start_urls = ["{value}"]'
        if key == "start_urls"
        else 'start_urls = ["https://a.example/"]'
    )
    config.write_text(f'[[site]]\nname = "s"\n{start}\n{other}\n', encoding="utf-8")
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code == 2
    line = one_line(result)
    assert str(config) in line
    assert f"site 's'.{key}[0]" in line
    assert needle in line
    assert not db.exists()


def test_allow_private_in_the_site_or_defaults_lets_a_local_start_url_in(tmp_path: Path) -> None:
    from scraper.config import load_config

    config = tmp_path / "sites.toml"
    config.write_text(
        '[[site]]\nname = "s"\nstart_urls = ["http://127.0.0.1:9/"]\nallow_private = true\n'
        '[[site]]\nname = "t"\nstart_urls = ["http://127.0.0.1:9/"]\n',
        encoding="utf-8",
    )
    result = run("crawl", "--config", str(config), "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2
    assert "site 't'.start_urls[0]" in one_line(result)
    config.write_text(
        '[defaults]\nallow_private = true\n[[site]]\nname = "t"\nstart_urls = ["http://127.0.0.1:9/"]\n',
        encoding="utf-8",
    )
    assert load_config(config, environ={}).sites[0].start_urls == ("http://127.0.0.1:9/",)


# --- sitemap scope, relative Sitemap: lines --------------------------------------------------

PAGE_HTML = (
    "<html><head><title>{0}</title></head>"
    "<body><article><h1>{0}</h1><p>{1}</p></article></body></html>"
)
BODY_TEXT = "A paragraph long enough to be the article of this page, with several words in it. " * 4


SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"


def _urlset(*locs: str) -> str:
    urls = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    return f'<urlset xmlns="{SITEMAP_NS}">{urls}</urlset>'


def _index(*locs: str) -> str:
    maps = "".join(f"<sitemap><loc>{loc}</loc></sitemap>" for loc in locs)
    return f'<sitemapindex xmlns="{SITEMAP_NS}">{maps}</sitemapindex>'


@pytest.fixture
def other_server() -> Iterator[LocalServer]:
    """Another host (another origin on 127.0.0.1) that no crawl of the site may reach."""
    srv = LocalServer().start()
    yield srv
    srv.stop()


def test_sitemap_lines_and_index_children_keep_to_the_site(
    server: LocalServer, other_server: LocalServer, tmp_path: Path
) -> None:
    xml = {"Content-Type": "application/xml"}
    other = other_server.base
    server.route(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n"
        f"Sitemap: /r-sitemap.xml\nSitemap: {other}/o-sitemap.xml\nSitemap: /denied/s.xml\n",
        headers={"Content-Type": "text/plain"},
    )
    server.route(
        "/r-sitemap.xml", _index("/child.xml", f"{other}/o-child.xml", "/denied/c.xml"), headers=xml
    )
    server.route("/child.xml", _urlset("/p1.html"), headers=xml)
    for path, title in (("/index.html", "Home"), ("/p1.html", "Page one")):
        server.route(path, PAGE_HTML.format(title, BODY_TEXT))
    config = write_sites(
        tmp_path, f"{server.base}/index.html", name="s", site='deny = ["/denied/"]'
    )
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    asked = {r.path for r in server.requests}
    assert {"/robots.txt", "/r-sitemap.xml", "/child.xml", "/p1.html"} <= asked
    assert not any(p.startswith("/denied/") for p in asked)
    assert other_server.requests == []
    sources = {u for (u,) in rows(db, "select url from crawl_sources")}
    assert sources == {f"{server.base}/r-sitemap.xml", f"{server.base}/child.xml"}
    archived = {u for (u,) in rows(db, "select url from latest_snapshots")}
    assert archived == {f"{server.base}/index.html", f"{server.base}/p1.html"}


def test_the_bundled_demo_robots_sitemap_line_is_read(tmp_path: Path) -> None:
    """The demo's robots.txt says ``Sitemap: /sitemap.xml``: it resolves against robots.txt."""
    from scraper.fetch import Robots

    body = (Path(__file__).parents[1] / "scraper" / "demo" / "site" / "robots.txt").read_text()
    robots = Robots("http://127.0.0.1:8000", 200, body)
    assert robots.sitemaps() == ("http://127.0.0.1:8000/sitemap.xml",)


# --- --db: no directories made up, no foreign database taken over, scraper init --------------


def _foreign(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
        conn.commit()
    return path


def _tables(path: Path) -> set[str]:
    return {str(n) for (n,) in rows(path, "select name from sqlite_master where type = 'table'")}


@pytest.mark.parametrize(
    "args",
    [
        ("fetch", "--allow-private", "URL"),
        ("crawl", "--config", "CONFIG"),
        ("init",),
        ("sql", "select 1"),
        ("history", "URL"),
        ("export",),
    ],
)
@pytest.mark.parametrize("how", ["option", "env"])
def test_db_in_a_missing_directory_is_refused_and_not_created(
    server: LocalServer, tmp_path: Path, args: tuple[str, ...], how: str
) -> None:
    config = tmp_path / "sites.toml"
    config.write_text(
        f'[[site]]\nname = "s"\nstart_urls = ["{server.url(PAGE)}"]\nallow_private = true\n'
    )
    argv = [a.replace("URL", server.url(PAGE)).replace("CONFIG", str(config)) for a in args]
    db = tmp_path / "no" / "such" / "dir" / "a.db"
    if how == "option":
        result = CliRunner().invoke(cli, [*argv, "--db", str(db)], catch_exceptions=False)
    else:
        result = CliRunner(env={"SCRAPER_DB": str(db)}).invoke(cli, argv, catch_exceptions=False)
    assert result.exit_code == 2
    line = one_line(result)
    assert str(db) in line
    assert "does not exist" in line
    assert not (tmp_path / "no").exists()
    assert server.requests == []


@pytest.mark.parametrize(
    "args",
    [
        ("fetch", "--allow-private", "URL"),
        ("crawl", "--config", "CONFIG"),
        ("reextract",),
        ("boilerplate", "--site", "s", "--learn"),
    ],
)
def test_another_programs_database_is_refused(
    server: LocalServer, tmp_path: Path, args: tuple[str, ...]
) -> None:
    config = tmp_path / "sites.toml"
    config.write_text(
        f'[[site]]\nname = "s"\nstart_urls = ["{server.url(PAGE)}"]\nallow_private = true\n'
    )
    db = _foreign(tmp_path / "other.db")
    before = db.read_bytes()
    argv = [a.replace("URL", server.url(PAGE)).replace("CONFIG", str(config)) for a in args]
    result = run(*argv, "--db", str(db))
    assert result.exit_code == 2
    line = one_line(result)
    assert str(db) in line
    assert "another program" in line
    assert "scraper init" in line
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.db", "sites.toml"]
    assert _tables(db) == {"notes"}
    assert server.requests_to(PAGE) == []


def test_scraper_init_adopts_a_foreign_database_then_fetch_uses_it(
    server: LocalServer, tmp_path: Path
) -> None:
    db = _foreign(tmp_path / "other.db")
    result = run("init", "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert {"notes", "pages", "snapshots", "fetches", "raw", "runs"} <= _tables(db)
    result = run("fetch", server.url(PAGE), "--db", str(db), "--allow-private")
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select body from notes") == [("keep me",)]
    assert rows(db, "select count(*) from snapshots") == [(1,)]
    again = run("init", "--db", str(db))  # an archive already: nothing to adopt, no harm
    assert again.exit_code == 0, again.stderr
    assert rows(db, "select count(*) from snapshots") == [(1,)]


@pytest.mark.parametrize("kind", ["empty-file", "empty-database", "new"])
def test_an_empty_file_or_database_is_a_new_archive(
    server: LocalServer, tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "a.db"
    if kind == "empty-file":
        db.write_bytes(b"")
    elif kind == "empty-database":
        with closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA user_version = 0")
            conn.commit()
    result = run("fetch", server.url(PAGE), "--db", str(db), "--allow-private")
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from snapshots") == [(1,)]


@pytest.mark.parametrize(
    "args",
    [
        ("sql", "select 1"),
        ("history", "http://a.example/"),
        ("changes",),
        ("search", "x"),
        ("export",),
        ("diff", "http://a.example/"),
        ("reextract",),
        ("boilerplate", "--site", "s"),
        ("boilerplate", "--site", "s", "--learn"),
    ],
)
def test_commands_that_read_never_create_a_missing_archive(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    db = tmp_path / "missing.db"
    result = run(*args, "--db", str(db))
    assert result.exit_code in (1, 2)
    assert str(db) in one_line(result)
    assert list(tmp_path.iterdir()) == []


# --- no tracebacks: every number, duration and option out of range is one line -------------


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("changes", "--since", "9999999d"), "--since: '9999999d' is too long"),
        (("changes", "--since", "99999999999999999999d"), "is too long"),
        (("search", "x", "--since", "9999999d"), "is too long"),
        (("export", "--since", "9999999d"), "is too long"),
        (("sql", "select :a", "-p", "a", "\udcff"), "-p: '\\udcff' is not valid UTF-8"),
        (("sql", "select '\udcff'"), "is not valid UTF-8"),
        (("history", "http://a.example/\udcff"), "URL: 'http://a.example/\\udcff' is not valid"),
        (("diff", "http://a.example/\udcff"), "is not valid UTF-8"),
        (("sql", "select 1", "--timeout", "nan"), "--timeout: nan is not a finite number"),
        (("sql", "select 1", "--timeout", "inf"), "is not a finite number"),
        (("sql", "select 1", "--limit", "9" * 30), "--limit: 999"),
        (("search", "x", "--limit", "9" * 30), "is too large"),
        (("changes", "--limit", "9" * 30), "is too large"),
        (("fetch", "http://a.example/\udcff"), "is not valid UTF-8"),
        (("fetch", "--user-agent", "a\nb", "http://a.example/"), "control character"),
    ],
)
def test_odd_option_values_are_one_line_exit_2(
    archive: Path, args: tuple[str, ...], needle: str
) -> None:
    result = run(*args, "--db", str(archive))
    assert result.exit_code == 2
    assert needle in one_line(result)


def _crawl_config(tmp_path: Path, defaults: str) -> Path:
    config = tmp_path / "sites.toml"
    config.write_text(
        f'[defaults]\n{defaults}\n[[site]]\nname = "s"\nstart_urls = ["https://a.example/"]\n',
        encoding="utf-8",
    )
    return config


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("deadline_seconds = nan", "defaults.deadline_seconds: expected a finite number, got nan"),
        ("deadline_seconds = inf", "expected a finite number"),
        ("deadline_seconds = -1", "must be more than 0"),
        ("deadline_seconds = 0", "must be more than 0"),
        ("robots_ttl = '99999999999d'", "defaults.robots_ttl: '99999999999d' is too long"),
        ("revisit_max = '99999999999d'", "is too long"),
        ("revisit_max = 1e400", "is too long"),
        ("revisit = nan", "cannot be negative or NaN"),
        ("max_pages = 99999999999999999999999999", "must be at most 2147483647"),
        ("delay_seconds = 1e999", "expected a finite number"),
        ("concurrency = 0", "must be at least 1"),
        ("max_redirects = -1", "must be at least 0"),
        ('user_agent = "a\\nb"', "control character"),
    ],
)
def test_odd_config_numbers_are_one_line_exit_2(tmp_path: Path, line: str, needle: str) -> None:
    config = _crawl_config(tmp_path, line)
    result = run("crawl", "--config", str(config), "--db", str(tmp_path / "a.db"))
    assert result.exit_code == 2
    out = one_line(result)
    assert str(config) in out
    assert needle in out


@pytest.mark.parametrize(
    ("variable", "value", "needle"),
    [
        ("SCRAPER_ROBOTS_TTL", "99999999999d", "environment SCRAPER_ROBOTS_TTL: '99999999999d'"),
        ("SCRAPER_REVISIT_MAX", "1e400", "too long"),
        ("SCRAPER_DEADLINE_SECONDS", "nan", "expected a finite number"),
        ("SCRAPER_ALLOW_PRIVATE", "maybe", "expected true or false"),
        ("SCRAPER_MAX_PAGES", "1e3", "expected a whole number"),
        ("SCRAPER_MAX_PAGES", "9" * 5000, "expected a whole number"),
    ],
)
def test_odd_environment_values_are_one_line_exit_2(
    tmp_path: Path, variable: str, value: str, needle: str
) -> None:
    config = _crawl_config(tmp_path, "")
    for args in (
        ("crawl", "--config", str(config)),
        ("fetch", "https://a.example/", "--config", str(config)),
    ):
        result = CliRunner(env={variable: value}).invoke(
            cli, [*args, "--db", str(tmp_path / "a.db")], catch_exceptions=False
        )
        assert result.exit_code == 2
        assert needle in one_line(result)


def test_every_number_setting_takes_any_toml_number_without_a_traceback() -> None:
    """Hypothesis: whatever number a setting is given, the config either loads or is refused
    with a ConfigError naming the key; what loads can be used for the calendar arithmetic."""
    import dataclasses
    import datetime as dt

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from scraper.config import Settings, parse_config
    from scraper.errors import ConfigError

    names = [f.name for f in dataclasses.fields(Settings) if not isinstance(f.default, str | bool)]
    toml_numbers = st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(
            lambda x: "nan" if x != x else ("inf" if x == float("inf") else repr(x))
        ),
        st.sampled_from(["-inf", "1e400", "0", "-0.0", '"9999999999d"', '"1e3"', '"7d"']),
    )

    @settings(max_examples=400, deadline=None)
    @given(st.sampled_from(names), toml_numbers)
    def check(name: str, value: str) -> None:
        text = f"[defaults]\n{name} = {value}\n"
        try:
            config = parse_config(text, Path("sites.toml"), environ={})
        except ConfigError as exc:
            message = str(exc)
            config = None
        if config is None:
            assert f"defaults.{name}" in message
            assert "\n" not in message
            return
        number = getattr(config.defaults, name)
        assert number == number  # never NaN
        dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=float(number))

    check()


ODD_NUMBERS = ["nan", "inf", "-inf", "1e309", "9" * 30, "-" + "9" * 30, "-1", "0"]


def _number_options() -> list[tuple[str, str]]:
    found = []
    for name, command in sorted(cli.commands.items()):
        for param in command.params:
            kind = getattr(param.type, "name", "")
            if isinstance(param, click.Option) and kind in {
                "integer",
                "float",
                "integer range",
                "float range",
            }:
                found.append((name, param.opts[0]))
    return found


@pytest.mark.parametrize(("command", "option"), _number_options())
def test_every_number_option_of_every_command_takes_odd_values_without_a_traceback(
    archive: Path, tmp_path: Path, command: str, option: str
) -> None:
    config = tmp_path / "sites.toml"
    config.write_text(
        '[defaults]\nretries = 0\n[[site]]\nname = "s"\n'
        'start_urls = ["http://127.0.0.1:9/"]\nallow_private = true\n',
        encoding="utf-8",
    )
    needs = {
        "fetch": ["http://127.0.0.1:9/", "--no-store"],
        "history": ["http://a.example/"],
        "diff": ["http://a.example/"],
        "show": ["http://a.example/"],
        "search": ["lighthouse"],
        "sql": ["select 1"],
        "crawl": ["--config", str(config)],
        "boilerplate": ["--site", "s"],
    }
    for value in ODD_NUMBERS:
        args = [command, *needs.get(command, []), option, value, "--db", str(archive)]
        result = CliRunner().invoke(cli, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            result.exception,
        )
        assert result.exit_code in (0, 1, 2), (args, result.output)
        assert "Traceback" not in result.output


# --- bounds on what one page and one run add --------------------------------------------------


def test_a_page_with_300000_links_adds_max_links_per_page(
    server: LocalServer, tmp_path: Path
) -> None:
    links = "".join(f'<a href="/p/{i}.html">{i}</a> ' for i in range(300_000))
    server.route("/many.html", f"<html><body><p>{BODY_TEXT}</p>{links}</body></html>")
    config = write_sites(
        tmp_path,
        f"{server.base}/many.html",
        name="s",
        max_depth=3,
        # the work, not the budget, is what this test is about
        defaults="extract_timeout_seconds = 3600\nmax_bytes = 33554432",
    )
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db), "--max-pages", "1")
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from pages") == [(1 + 1000,)]
    # the first links in page order are the ones kept
    assert rows(db, f"select 1 from pages where url = '{server.base}/p/999.html'") == [(1,)]
    assert rows(db, f"select 1 from pages where url = '{server.base}/p/1000.html'") == []


def test_one_run_adds_at_most_max_new_pages_per_run(server: LocalServer, tmp_path: Path) -> None:
    xml = {"Content-Type": "application/xml"}
    server.route("/big.xml", _urlset(*(f"/s/{i}.html" for i in range(5000))), headers=xml)
    server.route("/index.html", PAGE_HTML.format("Home", BODY_TEXT))
    config = write_sites(
        tmp_path,
        f"{server.base}/index.html",
        name="s",
        max_depth=None,
        defaults="max_new_pages_per_run = 120",
        site=f'sitemaps = ["{server.base}/big.xml"]',
    )
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db), "--max-pages", "0")
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from pages where source = 'sitemap'") == [(120,)]
    assert rows(db, "select count(*) from pages where source = 'start'") == [(1,)]
    # the next run goes on where this one stopped
    result = run(
        "crawl", "--config", str(config), "--db", str(db), "--max-pages", "0", "--revisit", "0"
    )
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from pages where source = 'sitemap'") == [(240,)]


# --- robots.txt: redirect targets, 429 and 5xx ----------------------------------------------


def _site_config(tmp_path: Path, server: LocalServer, path: str = "/a.html") -> Path:
    return write_sites(tmp_path, f"{server.base}{path}", name="s")


def _redirect(server: LocalServer, path: str, location: str) -> None:
    server.route(path, b"", 302, {"Location": location, "Content-Length": "0"})


@pytest.mark.parametrize("how", ["crawl", "fetch"])
def test_a_redirect_to_a_disallowed_path_is_not_followed(
    server: LocalServer, tmp_path: Path, how: str
) -> None:
    server.route(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n",
        headers={"Content-Type": "text/plain"},
    )
    _redirect(server, "/a.html", "/private/secret.html")
    server.route("/private/secret.html", PAGE_HTML.format("Secret", BODY_TEXT))
    db = tmp_path / "archive.db"
    if how == "crawl":
        config = _site_config(tmp_path, server)
        result = run("crawl", "--config", str(config), "--db", str(db))
        assert result.exit_code == 0, result.stderr
        assert "1 blocked by robots.txt" in result.stderr
    else:
        result = run("fetch", server.url("/a.html"), "--db", str(db), "--allow-private")
        assert result.exit_code == 1
        line = one_line(result)
        assert "redirect to" in line
        assert "disallowed by robots.txt" in line
    assert server.requests_to("/private/secret.html") == []
    assert rows(db, "select count(*) from snapshots") == [(0,)]
    errors = rows(db, "select error from fetches")
    assert len(errors) == 1
    assert "robots" in str(errors[0][0])


@pytest.mark.parametrize("how", ["crawl", "fetch"])
def test_a_redirect_to_another_host_asks_that_hosts_robots_first(
    server: LocalServer, other_server: LocalServer, tmp_path: Path, how: str
) -> None:
    other_server.route(
        "/robots.txt", "User-agent: *\nDisallow: /\n", headers={"Content-Type": "text/plain"}
    )
    other_server.route("/landing.html", PAGE_HTML.format("Elsewhere", BODY_TEXT))
    _redirect(server, "/a.html", other_server.url("/landing.html"))
    db = tmp_path / "archive.db"
    if how == "crawl":
        result = run("crawl", "--config", str(_site_config(tmp_path, server)), "--db", str(db))
        assert result.exit_code == 0, result.stderr
    else:
        result = run("fetch", server.url("/a.html"), "--db", str(db), "--allow-private")
        assert result.exit_code == 1
        assert "disallowed by robots.txt" in one_line(result)
    assert [r.path for r in other_server.requests] == ["/robots.txt"]
    assert rows(db, "select count(*) from snapshots") == [(0,)]


def test_a_redirect_robots_allows_is_followed(
    server: LocalServer, other_server: LocalServer, tmp_path: Path
) -> None:
    other_server.route(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n",
        headers={"Content-Type": "text/plain"},
    )
    other_server.route("/landing.html", PAGE_HTML.format("Elsewhere", BODY_TEXT))
    _redirect(server, "/a.html", other_server.url("/landing.html"))
    db = tmp_path / "archive.db"
    result = run("fetch", server.url("/a.html"), "--db", str(db), "--allow-private")
    assert result.exit_code == 0, result.stderr
    assert [r.path for r in other_server.requests] == ["/robots.txt", "/landing.html"]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_robots_429_or_5xx_is_not_now_with_backoff(
    server: LocalServer, tmp_path: Path, status: int
) -> None:
    server.route("/robots.txt", "busy", status, {"Content-Type": "text/plain"})
    server.route("/a.html", PAGE_HTML.format("A", BODY_TEXT))
    config = _site_config(tmp_path, server)
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code in (0, 1), result.stderr
    assert server.requests_to("/a.html") == []
    assert len(server.requests_to("/robots.txt")) == 1
    later = rows(db, "select next_allowed_at > strftime('%Y-%m-%dT%H:%M:%SZ', 'now') from hosts")
    assert later == [(1,)]
    # the next run, straight after: the host is still backed off, nothing is asked
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code in (0, 1), result.stderr
    assert len(server.requests_to("/robots.txt")) == 1
    assert server.requests_to("/a.html") == []
    # scraper fetch says "not now", one line
    result = run("fetch", server.url("/a.html"), "--db", str(db), "--allow-private")
    assert result.exit_code == 1
    assert "not now" in one_line(result)
    assert server.requests_to("/a.html") == []


def test_robots_429_retry_after_is_honoured(server: LocalServer, tmp_path: Path) -> None:
    server.route("/robots.txt", "slow down", 429, {"Retry-After": "7200"})
    server.route("/a.html", PAGE_HTML.format("A", BODY_TEXT))
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(_site_config(tmp_path, server)), "--db", str(db))
    assert result.exit_code in (0, 1), result.stderr
    waits = rows(
        db,
        "select (julianday(next_allowed_at) - julianday('now')) * 86400 from hosts",
    )
    assert 3600 < float(waits[0][0]) <= 7200  # type: ignore[arg-type]


def test_robots_404_still_allows_everything(server: LocalServer, tmp_path: Path) -> None:
    server.route("/robots.txt", "no", 404)
    server.route("/a.html", PAGE_HTML.format("A", BODY_TEXT))
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(_site_config(tmp_path, server)), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert len(server.requests_to("/a.html")) == 1


def test_the_fetch_helper_checks_redirects_against_robots(
    server: LocalServer, other_server: LocalServer
) -> None:
    """The helper process knows one host's robots.txt: a hop there is checked against it, a hop
    to any other host is handed back unfollowed."""
    import asyncio

    from scraper.config import Settings
    from scraper.errors import RobotsDisallowedError, RobotsUncheckedError
    from scraper.fetch import Robots
    from scraper.fetch.robots import HopRules
    from scraper.fetch.worker import FetchWorker

    server.route("/secret/x.html", PAGE_HTML.format("Secret", BODY_TEXT))
    _redirect(server, "/to-secret.html", "/secret/x.html")
    _redirect(server, "/to-other.html", other_server.url("/x.html"))
    _redirect(server, "/to-open.html", "/open.html")
    server.route("/open.html", PAGE_HTML.format("Open", BODY_TEXT))
    settings = Settings(allow_private=True, retries=0)
    rules = HopRules((Robots(server.base, 200, "User-agent: *\nDisallow: /secret/\n"),), "scraper")

    async def go() -> list[object]:
        worker = await FetchWorker().start()
        out: list[object] = []
        try:
            for path in ("/to-secret.html", "/to-other.html", "/to-open.html"):
                try:
                    out.append(await worker.fetch(server.url(path), settings, hop_rules=rules))
                except RobotsDisallowedError as exc:
                    out.append(exc)
        finally:
            await worker.aclose()
        return out

    secret, other, opened = asyncio.run(go())
    assert type(secret) is RobotsDisallowedError
    assert "disallowed by robots.txt" in str(secret)
    assert isinstance(other, RobotsUncheckedError)
    assert getattr(opened, "final_url", None) == server.url("/open.html")
    assert server.requests_to("/secret/x.html") == []
    assert other_server.requests == []


def test_an_archive_cut_short_before_its_first_migration_is_not_foreign(
    server: LocalServer, tmp_path: Path
) -> None:
    """A crawl killed while it created the schema leaves the migrations table alone."""
    db = tmp_path / "a.db"
    with closing(sqlite3.connect(db)) as conn:
        conn.execute(
            "CREATE TABLE _sqlite_migrations (id INTEGER PRIMARY KEY, migration_set TEXT, "
            "name TEXT, applied_at TEXT)"
        )
        conn.commit()
    result = run("fetch", server.url(PAGE), "--db", str(db), "--allow-private")
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from snapshots") == [(1,)]


def test_file_names_that_are_not_utf8_still_work(archive: Path, tmp_path: Path) -> None:
    """Any bytes make a file name: only text arguments must be valid UTF-8."""
    page = tmp_path / "\udcff.html"
    page.write_bytes((FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes())
    result = run("extract", str(page))
    assert result.exit_code == 0, result.stderr
    out = tmp_path / "\udcfe.jsonl"
    result = run("export", "--db", str(archive), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert out.read_text(encoding="utf-8").count("\n") == 1


def test_a_sitemap_that_redirects_to_a_disallowed_path_is_not_followed(
    server: LocalServer, tmp_path: Path
) -> None:
    server.route(
        "/robots.txt",
        "User-agent: *\nDisallow: /private/\n",
        headers={"Content-Type": "text/plain"},
    )
    _redirect(server, "/sitemap.xml", "/private/sitemap.xml")
    server.route(
        "/private/sitemap.xml", _urlset("/p1.html"), headers={"Content-Type": "application/xml"}
    )
    server.route("/a.html", PAGE_HTML.format("A", BODY_TEXT))
    config = _site_config(tmp_path, server)
    config.write_text(
        config.read_text() + f'sitemaps = ["{server.base}/sitemap.xml"]\n', encoding="utf-8"
    )
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert server.requests_to("/private/sitemap.xml") == []
    errors = rows(db, "select error from crawl_sources")
    assert "disallowed by robots.txt" in str(errors[0][0])


def test_a_recrawl_with_the_fetch_helper_never_follows_a_redirect_robots_forbids(
    server: LocalServer, other_server: LocalServer, tmp_path: Path
) -> None:
    """A recrawl of many known pages hands some fetches to the helper process; whichever process
    fetches them, pages that now redirect to a host whose robots.txt forbids it stay unfollowed."""
    count = 200  # well past the backlog that starts the helper
    paths = [f"/p/{i}.html" for i in range(count)]
    server.route(
        "/robots.txt", "User-agent: *\nDisallow:\n", headers={"Content-Type": "text/plain"}
    )
    links = "".join(f'<a href="{p}">{p}</a> ' for p in paths)
    server.route("/index.html", f"<html><body><p>{BODY_TEXT}</p>{links}</body></html>")
    for i, path in enumerate(paths):
        server.route(path, PAGE_HTML.format(f"Page {i}", BODY_TEXT), headers={"ETag": f'"{i}"'})
    config = _site_config(tmp_path, server, "/index.html")
    config.write_text(config.read_text().replace("max_depth = 0", "max_depth = 1"))
    db = tmp_path / "archive.db"
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert result.exit_code == 0, result.stderr
    assert rows(db, "select count(*) from snapshots") == [(count + 1,)]
    other_server.route(
        "/robots.txt", "User-agent: *\nDisallow: /\n", headers={"Content-Type": "text/plain"}
    )
    moved = paths[::2]
    for path in moved:  # half of the site now redirects elsewhere
        _redirect(server, path, other_server.url("/landing" + path))
    result = run("crawl", "--config", str(config), "--db", str(db), "--revisit", "0")
    assert result.exit_code == 0, result.stderr
    assert {r.path for r in other_server.requests} == {"/robots.txt"}
    blocked = rows(db, "select count(*) from fetches where error like 'robots:%'")
    assert blocked == [(len(moved),)]


def test_a_host_that_failed_thousands_of_times_is_no_traceback(tmp_path: Path) -> None:
    """The backoff doubles with each failure in a row; its exponent must not overflow."""
    config = tmp_path / "sites.toml"
    config.write_text(
        '[defaults]\nretries = 0\ndelay_seconds = 0\n[[site]]\nname = "s"\n'
        'start_urls = ["http://127.0.0.1:9/a.html"]\nallow_private = true\n'
        "respect_robots = false\n",
        encoding="utf-8",
    )
    db = tmp_path / "archive.db"
    assert run("init", "--db", str(db)).exit_code == 0
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("INSERT INTO hosts (host, failures) VALUES ('http://127.0.0.1:9', 5000)")
        conn.commit()
    result = run("crawl", "--config", str(config), "--db", str(db))
    assert "Traceback" not in result.stderr
    assert result.exit_code in (0, 1), result.stderr
    assert rows(db, "select failures > 5000, next_allowed_at is not null from hosts") == [(1, 1)]
    assert rows(db, "select count(*) from fetches where error like 'internal:%'") == [(0,)]
