"""Choosing the backend from a ``--db`` value (not parametrised: it is about the choice)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.archive import Archive, Storage, open_archive
from scraper.cli import cli
from scraper.errors import UsageError


def test_a_path_opens_the_sqlite_archive(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "archive.db"
    with open_archive(path) as store:
        assert isinstance(store, Archive)
        assert isinstance(store, Storage)
        assert store.location == str(path)
    with open_archive(str(path), readonly=True) as store:
        assert store.page("https://x.example/") is None


@pytest.mark.parametrize(
    "url",
    ["mysql://user@db.example/archive", "sqlite:///tmp/a.db", "file:///tmp/a.db", "s3://b/k"],
)
def test_an_unknown_url_is_one_line_and_creates_nothing(url: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unsupported database URL"):
        open_archive(url)
    runner = CliRunner()
    out = runner.invoke(cli, ["history", "https://x.example/", "--db", url])
    assert out.exit_code == 2
    assert "unsupported database URL" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.output


def test_a_password_in_a_url_is_not_shown(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as info:
        open_archive("mysql://ann:s3cret@db.example/archive")
    assert "s3cret" not in str(info.value)
    assert "ann:***@" in str(info.value)
