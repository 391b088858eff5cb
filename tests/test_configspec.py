"""configspec: the validation of every key comes from its dataclass field, so a new field is
validated, read from SCRAPER_* and documented with no other edit."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

import pytest

from scraper.config import (
    SETTING_SPECS,
    SITE_SPECS,
    Settings,
    Site,
    apply_settings,
    parse_config,
    settings_from_env,
)
from scraper.configspec import field_specs, setting
from scraper.errors import ConfigError


@dataclass(frozen=True, slots=True)
class _Extended(Settings):
    """Settings with fields added the way a new setting would be, and nothing else edited."""

    max_widgets: int = setting(5, "widgets at most", minimum=1, maximum=10)
    widget_ttl: float = setting(60.0, "how long a widget lives", duration=True)
    widget_colour: Literal["red", "blue"] = setting("red", "the colour of widgets")
    widget_hosts: tuple[str, ...] = setting((), "hosts with widgets")
    widget_patterns: tuple[str, ...] = setting((), "regexes of widgets", items="regex")
    widgets_on: bool = setting(False, "widgets at all")


def test_every_field_has_a_rule_and_a_help_line() -> None:
    assert list(SETTING_SPECS) == [f.name for f in dataclasses.fields(Settings)]
    assert list(SITE_SPECS) == [f.name for f in dataclasses.fields(Site) if f.name != "settings"]
    for spec in [*SETTING_SPECS.values(), *SITE_SPECS.values()]:
        assert spec.help, f"{spec.name} needs a help line"


def test_the_rules_follow_the_annotations() -> None:
    kinds = {name: spec.kind for name, spec in SETTING_SPECS.items()}
    assert kinds["user_agent"] == "str"
    assert kinds["delay_seconds"] == "float"
    assert kinds["revisit"] == "duration"
    assert kinds["max_pages"] == "int"
    assert kinds["respect_robots"] == "bool"
    assert kinds["notify"] == "strings"
    assert SETTING_SPECS["transport"].choices == ("fast", "httpx")
    assert SITE_SPECS["allow"].kind == "patterns"
    assert SITE_SPECS["trailing_slash"].choices == ("keep", "strip", "add")
    assert SITE_SPECS["name"].required


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"max_widgets": 11}, "defaults.max_widgets: must be at most 10, got 11"),
        ({"max_widgets": 0}, "defaults.max_widgets: must be at least 1, got 0"),
        ({"max_widgets": "3"}, "defaults.max_widgets: expected a whole number, got '3'"),
        ({"widget_ttl": "soon"}, "defaults.widget_ttl: expected a duration"),
        ({"widget_colour": "green"}, "expected 'red' or 'blue', got 'green'"),
        ({"widget_hosts": "a"}, "defaults.widget_hosts: expected a list of strings"),
        ({"widget_patterns": ["("]}, "defaults.widget_patterns[0]: bad regular expression"),
        ({"widgets_on": 1}, "defaults.widgets_on: expected true or false, got 1"),
        ({"max_widget": 3}, "unknown key 'max_widget' (did you mean 'max_widgets'?)"),
    ],
)
def test_a_new_field_is_validated_with_no_other_edit(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_settings(_Extended(), values, "sites.toml: defaults")


def test_a_new_field_takes_good_values_and_its_environment_variable() -> None:
    good = apply_settings(
        _Extended(),
        {"max_widgets": 7, "widget_ttl": "2h", "widget_colour": "blue", "widget_hosts": ["a"]},
        "sites.toml: defaults",
    )
    assert (good.max_widgets, good.widget_ttl, good.widget_colour) == (7, 7200.0, "blue")
    assert good.widget_hosts == ("a",)
    env = {
        "SCRAPER_MAX_WIDGETS": "9",
        "SCRAPER_WIDGET_TTL": "1d",
        "SCRAPER_WIDGETS_ON": "yes",
        "SCRAPER_WIDGET_HOSTS": "a b",
    }
    over = settings_from_env(good, env)
    assert (over.max_widgets, over.widget_ttl, over.widgets_on) == (9, 86400.0, True)
    assert over.widget_hosts == ("a", "b")
    with pytest.raises(ConfigError, match="environment SCRAPER_MAX_WIDGETS: must be at most 10"):
        settings_from_env(good, {"SCRAPER_MAX_WIDGETS": "99"})


def test_an_annotation_without_a_rule_fails_at_once() -> None:
    @dataclass(frozen=True)
    class Odd:
        when: complex = 1j

    with pytest.raises(TypeError, match="Odd.when: no config rule"):
        field_specs(Odd)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\ndelay_second = 1\n", "unknown key 'delay_second' (did you mean"),
        ("[[site]]\nname = 'x'\nmax_depht = 2\n", "(did you mean 'max_depth'?)"),
        ("[[site]]\nname = 'x'\nstrat_urls = []\n", "(did you mean 'start_urls'?)"),
        ("[[site]]\nname = 'x'\nzzz = 1\n", "site 'x': unknown key 'zzz'"),
        ("[[site]]\nname = 'x'\ntrailing_slash = 'drop'\n", "expected 'keep', 'strip' or 'add'"),
        ("[[site]]\nname = 'x'\nmax_depth = 'deep'\n", "max_depth: expected a whole number"),
        ("[[site]]\nname = 'x'\nstrip = 'nav'\n", "site 'x'.strip: expected a list of strings"),
        ("[[site]]\nname = 'x'\nlog_file = 'a.log'\n", "'log_file' is set in [defaults] only"),
    ],
)
def test_config_file_mistakes_are_one_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, environ={})
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    assert "zzz' (did you mean" not in str(info.value)
