"""Config loading: defaults, precedence, and one clear message for every kind of mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import Settings, load_config, parse_config, parse_duration
from scraper.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("6h", 21600.0),
        ("7d", 604800.0),
        ("2w", 1209600.0),
        ("0", 0.0),
        ("1.5h", 5400.0),
        (30, 30.0),
        ("250ms", 0.25),
    ],
)
def test_parse_duration(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["6 hours", "h", "-1h", "", "1y"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_duration(text, where="revisit")


def test_bundled_example_config_loads() -> None:
    config = load_config(REPO / "config" / "sites.toml", environ={})
    site = config.site("example-news")
    assert site.start_urls == ("https://www.example-news.com/blog",)
    assert site.settings.revisit == 6 * 3600
    assert site.strip == (".share-buttons", "#SCROLL_TO_TOP")
    assert site.allow[0].search("https://www.example-news.com/post/x")
    assert site.settings.allow_private is False


def test_precedence_builtin_defaults_site_env() -> None:
    text = """
[defaults]
delay_seconds = 2.0
revisit = "2h"
[[site]]
name = "a"
delay_seconds = 5.0
[[site]]
name = "b"
"""
    config = parse_config(
        text, environ={"SCRAPER_USER_AGENT": "envbot/1.0", "SCRAPER_REVISIT": "3h"}
    )
    a, b = config.sites
    assert a.settings.delay_seconds == 5.0  # site beats defaults
    assert b.settings.delay_seconds == 2.0  # defaults beat built-in
    assert b.settings.max_pages == Settings().max_pages  # built-in
    assert a.settings.user_agent == "envbot/1.0"  # environment applies to every site
    assert b.settings.revisit == 3 * 3600


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\ndelay = 1\n", "unknown key 'delay'"),
        ("[defaults]\ndelay_seconds = 'slow'\n", "defaults.delay_seconds: expected a number"),
        ("[defaults]\nrevisit = '6 hours'\n", "defaults.revisit: expected a duration"),
        (
            "[[site]]\nname = 'x'\nallow = ['(unclosed']\n",
            "site 'x'.allow[0]: bad regular expression",
        ),
        ("[[site]]\nname = 'x'\nmax_depth = -1\n", "site 'x'.max_depth"),
        ("[[site]]\nstart_urls = []\n", "every site needs a name"),
        ("[[site]]\nname = 'x'\nsitemap = []\n", "site 'x': unknown key 'sitemap'"),
        ("[[site]]\nname = 'x'\n[[site]]\nname = 'x'\n", "defined twice"),
        ("[site]\nname = 'x'\n", "expected [[site]] tables"),
        ("[defaults\n", "not valid TOML"),
        ("[[site]]\nname = 'x'\nallow_private = 'yes'\n", "expected true or false"),
    ],
)
def test_config_errors_name_file_key_and_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sites.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


def test_select_sites_by_name() -> None:
    config = parse_config("[[site]]\nname='a'\n[[site]]\nname='b'\n", environ={})
    assert [s.name for s in config.select(["b"])] == ["b"]
    assert [s.name for s in config.select([])] == ["a", "b"]
    with pytest.raises(ConfigError, match="no site named 'c'"):
        config.select(["c"])
