"""Boilerplate learning and re-extraction over a real archive, and their CLI commands."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive import Archive
from scraper.cli import cli
from scraper.extract import extract
from scraper.learn import learn, reextract
from scraper.models import FetchResult
from tests.server import LocalServer
from tests.sites import VALLEY, serve_valley

SITE = VALLEY
PROMO = "Valley Post is free to read because readers like you chip in. Give what you can."
CREDIT = "Photos by the Valley Camera Club unless stated otherwise."
FETCHED_AT = "2024-05-01T10:00:00Z"
LATER = "2024-05-02T09:30:00Z"


def _url(path: Path) -> str:
    return f"http://valley.example/{path.stem}"


@pytest.fixture
def archive_path(db_path: Path) -> Path:
    """An archive holding the five pages of the fixture site, as a crawl would store them."""
    with Archive(db_path) as archive:
        for path in sorted(SITE.glob("*.html")):
            body = path.read_bytes()
            result = FetchResult(
                url=_url(path),
                final_url=_url(path),
                status_code=200,
                fetched_at=FETCHED_AT,
                elapsed_ms=3,
                headers=(("content-type", "text/html; charset=utf-8"),),
                body=body,
                text=body.decode("utf-8"),
                content_type="text/html",
            )
            article = extract(body, _url(path))
            archive.save_fetch(
                _url(path), fetched_at=FETCHED_AT, result=result, article=article, site="valley"
            )
    return db_path


def test_learn_stores_the_recurring_lines(archive_path: Path) -> None:
    with Archive(archive_path) as archive:
        result = learn(archive, "valley", LATER, min_pages=3, min_share=0.5)
        assert result.pages == 5
        assert dict(result.lines) == {PROMO: 5, CREDIT: 5}
        assert archive.boilerplate("valley") == frozenset({PROMO, CREDIT})


def test_reextract_stores_changed_pages_as_reextractions(archive_path: Path) -> None:
    with Archive(archive_path) as archive:
        learn(archive, "valley", LATER)
        result = reextract(archive, "valley", LATER)
        assert result.pages == 5
        assert len(result.changed) == 5
        assert result.unchanged == 0
        url = _url(SITE / "post-2.html")
        newest, first = archive.snapshots(url)
        assert newest.cause == "reextract"
        assert first.cause == "fetch"
        assert PROMO in first.text
        assert PROMO not in newest.text
        assert CREDIT not in newest.text
        assert newest.text.startswith("The 42 bus will run every half hour")
        assert newest.raw_sha256 == first.raw_sha256

        again = reextract(archive, "valley", LATER)
        assert (len(again.changed), again.unchanged) == (0, 5)


def test_relearning_after_reextraction_keeps_the_learned_lines(archive_path: Path) -> None:
    """Learning reads the raw bodies without the learned set, so it does not unlearn it."""
    with Archive(archive_path) as archive:
        learn(archive, "valley", LATER)
        reextract(archive, "valley", LATER)
        assert dict(learn(archive, "valley", LATER).lines) == {PROMO: 5, CREDIT: 5}


def test_reextract_of_another_site_touches_nothing(archive_path: Path) -> None:
    with Archive(archive_path) as archive:
        assert reextract(archive, "elsewhere", LATER).pages == 0
        assert len(archive.snapshots(_url(SITE / "post-1.html"))) == 1


def test_cli_boilerplate_learn_show_and_reextract(archive_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[[site]]\nname = "valley"\nstart_urls = ["http://valley.example/"]\n')
    runner = CliRunner()
    base = ["--db", str(archive_path), "--config", str(config)]

    shown = runner.invoke(cli, ["boilerplate", *base], catch_exceptions=False)
    assert shown.exit_code == 0
    assert shown.stdout == "valley: 0 boilerplate lines\n"

    learned = runner.invoke(cli, ["boilerplate", "--learn", *base], catch_exceptions=False)
    assert learned.exit_code == 0
    assert learned.stdout == f"valley: 2 boilerplate lines\n  {CREDIT}\n  {PROMO}\n"
    assert "learned from 5 pages" in learned.stderr

    shown = runner.invoke(cli, ["boilerplate", "--site", "valley", *base], catch_exceptions=False)
    assert shown.stdout == f"valley: 2 boilerplate lines\n  {CREDIT}\n  {PROMO}\n"

    done = runner.invoke(cli, ["reextract", "--site", "valley", *base], catch_exceptions=False)
    assert done.exit_code == 0
    lines = done.stdout.splitlines()
    assert len(lines) == 5
    assert all(line.split("\t")[1].startswith("http://valley.example/post-") for line in lines)
    assert "re-extracted 5 pages: 5 changed, 0 unchanged, 0 without an article" in done.stderr


def test_cli_reextract_applies_the_site_strip_rules(archive_path: Path, tmp_path: Path) -> None:
    config = tmp_path / "sites.toml"
    config.write_text('[[site]]\nname = "valley"\nstrip = [".note"]\n')
    result = CliRunner().invoke(
        cli,
        ["reextract", "--db", str(archive_path), "--config", str(config)],
        catch_exceptions=False,
    )
    assert result.exit_code == 0
    with Archive(archive_path) as archive:
        newest = archive.snapshots(_url(SITE / "post-4.html"))[0]
    assert newest.cause == "reextract"
    assert PROMO not in newest.text
    assert CREDIT in newest.text  # not learned, not stripped


def test_cli_boilerplate_needs_a_site(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        ["boilerplate", "--db", str(tmp_path / "a.db"), "--config", str(tmp_path / "none.toml")],
    )
    assert result.exit_code != 0
    assert "Traceback" not in result.stderr


def _store(archive: Archive, url: str, body: bytes, at: str) -> None:
    result = FetchResult(
        url=url,
        final_url=url,
        status_code=200,
        fetched_at=at,
        elapsed_ms=3,
        body=body,
        text=body.decode("utf-8"),
        content_type="text/html",
    )
    boilerplate = archive.boilerplate("valley")
    article = extract(body, url, boilerplate=boilerplate)
    archive.save_fetch(url, fetched_at=at, result=result, article=article, site="valley")


def test_learn_if_grown_learns_once_then_as_the_site_grows(archive_path: Path) -> None:
    from scraper.learn import learn_if_grown

    with Archive(archive_path) as archive:
        first = learn_if_grown(archive, "valley", LATER)
        assert first is not None
        assert dict(first.lines) == {PROMO: 5, CREDIT: 5}
        assert archive.boilerplate_learned_from("valley") == 5
        assert learn_if_grown(archive, "valley", LATER) is None  # no growth: no work
        body = (SITE / "post-1.html").read_bytes()
        _store(archive, "http://valley.example/copy-a", body.replace(b"<p>", b"<p>A ", 1), LATER)
        assert learn_if_grown(archive, "valley", LATER) is None  # 6 < 5 x 1.25
        _store(archive, "http://valley.example/copy-b", body.replace(b"<p>", b"<p>B ", 1), LATER)
        again = learn_if_grown(archive, "valley", LATER)
        assert again is not None
        assert again.pages == 7
        assert archive.boilerplate_learned_from("valley") == 7


def test_learn_if_grown_needs_enough_pages(db_path: Path) -> None:
    from scraper.learn import learn_if_grown

    with Archive(db_path) as archive:
        for path in sorted(SITE.glob("*.html"))[:2]:
            _store(archive, _url(path), path.read_bytes(), FETCHED_AT)
        assert learn_if_grown(archive, "valley", LATER) is None
        assert archive.boilerplate_learned_from("valley") is None
        assert archive.boilerplate("valley") == frozenset()


def test_a_crawl_learns_the_boilerplate_and_the_next_run_drops_it(
    server: LocalServer, tmp_path: Path
) -> None:
    pages = sorted(SITE.glob("*.html"))
    config = serve_valley(tmp_path, server)
    db = tmp_path / "archive.db"
    args = ["crawl", "--config", str(config), "--db", str(db), "--quiet"]
    first = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert first.exit_code == 0, first.stderr
    with Archive(db, readonly=True) as archive:
        assert archive.boilerplate("valley") == frozenset({PROMO, CREDIT})
        assert all(PROMO in s.text for s in archive.snapshots(server.url("/post-1.html")))
    # the site edits one post; its new snapshot comes without the learned lines
    edited = pages[0].read_bytes().replace(b"twenty years.", b"twenty years (Updated.)")
    server.route(f"/{pages[0].stem}.html", edited)
    again = CliRunner().invoke(cli, [*args, "--revisit", "0"], catch_exceptions=False)
    assert again.exit_code == 0, again.stderr
    with Archive(db, readonly=True) as archive:
        latest = archive.snapshots(server.url("/post-1.html"))[0]
    assert "(Updated.)" in latest.text
    assert PROMO not in latest.text
    assert CREDIT not in latest.text
