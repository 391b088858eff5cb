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

SITE = Path(__file__).parent / "fixtures" / "pages" / "boilerplate-site"
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
