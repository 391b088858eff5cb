"""The documentation stays true: every command has help and is described in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from scraper.cli import cli

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
COMMANDS = sorted(cli.commands)


def test_there_are_commands() -> None:
    assert {"extract", "fetch", "history", "diff"} <= set(COMMANDS)


@pytest.mark.parametrize("name", COMMANDS)
def test_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"], catch_exceptions=False)
    assert result.exit_code == 0
    assert f"Usage: cli {name}" in result.stdout or f"Usage: scraper {name}" in result.stdout
    help_line = (cli.commands[name].help or "").strip().splitlines()[0]
    assert len(help_line) > 10, f"{name} needs a help text"


@pytest.mark.parametrize("name", COMMANDS)
def test_command_is_in_readme(name: str) -> None:
    assert re.search(rf"`scraper {re.escape(name)}\b", README), f"README does not describe {name}"


def test_readme_quick_start_is_two_make_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^make \S+$", quick, flags=re.M)
    assert commands == ["make demo", "make test"]


def test_readme_exit_codes_match_errors() -> None:
    from scraper.errors import ConfigError, CrawlLockedError, ScraperError

    for code in (ScraperError.exit_code, ConfigError.exit_code, CrawlLockedError.exit_code):
        assert re.search(rf"^\| `?{code}`? \|", README, flags=re.M), code


def test_every_setting_and_site_key_is_documented() -> None:
    import dataclasses

    from scraper.config import _SITE_KEYS, Settings

    names = [f.name for f in dataclasses.fields(Settings)] + list(_SITE_KEYS)
    for name in names:
        assert re.search(rf"^\| `{name}` \|", README, flags=re.M), f"README lacks setting {name}"
