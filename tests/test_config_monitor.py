"""The monitoring settings: notify, notify_digest, ignore_text, min_change_words, feed_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from scraper.config import parse_config
from scraper.errors import ConfigError

TEXT = """
[defaults]
notify = ["json://127.0.0.1:9/all"]
ignore_text = ["^Weather:"]

[[site]]
name = "a"
start_urls = ["https://a.example/"]

[[site]]
name = "b"
start_urls = ["https://b.example/"]
notify = ["ntfy://ntfy.sh/b", "json://127.0.0.1:9/all"]
notify_digest = true
min_change_words = 4
feed_path = "out/b.atom"
"""


def test_defaults_and_sites() -> None:
    config = parse_config(TEXT, Path("sites.toml"), environ={})
    a, b = config.sites
    assert a.settings.notify == ("json://127.0.0.1:9/all",)
    assert (a.settings.notify_digest, a.settings.min_change_words, a.settings.feed_path) == (
        False,
        0,
        "",
    )
    assert b.settings.notify == ("ntfy://ntfy.sh/b", "json://127.0.0.1:9/all")
    assert (b.settings.notify_digest, b.settings.min_change_words) == (True, 4)
    assert b.settings.feed_path == "out/b.atom"
    rules = b.settings.noise_rules({"Share this"})
    assert [p.pattern for p in rules.ignore_text] == ["^Weather:"]  # from [defaults]
    assert rules.boilerplate == frozenset({"Share this"})
    assert config.notify_targets() == ("json://127.0.0.1:9/all", "ntfy://ntfy.sh/b")


def test_scraper_notify_from_the_environment() -> None:
    env = {"SCRAPER_NOTIFY": "json://127.0.0.1:9/x  mailto://127.0.0.1:25?to=me@example.org"}
    config = parse_config(TEXT, Path("sites.toml"), environ=env)
    assert config.defaults.notify == (
        "json://127.0.0.1:9/x",
        "mailto://127.0.0.1:25?to=me@example.org",
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("notify = [1]", "sites.toml: defaults.notify: expected a list of strings"),
        ('notify = ["hooks.example.org"]', "defaults.notify: expected Apprise URLs"),
        ('ignore_text = ["[a-"]', "defaults.ignore_text[0]: bad regular expression"),
        ("min_change_words = 1.5", "defaults.min_change_words: expected a whole number"),
        ('feed_path = ""', "defaults.feed_path: expected a non-empty string"),
    ],
)
def test_bad_values_name_file_and_key(line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"[defaults]\n{line}\n", Path("sites.toml"), environ={})
    assert message in str(err.value)
