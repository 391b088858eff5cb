"""Configuration: ``config/sites.toml`` (stdlib tomllib) -> frozen dataclasses.

Precedence: built-in defaults < ``[defaults]`` < ``[[site]]`` < ``SCRAPER_*`` environment <
CLI flags.
Every setting is declared once, in :class:`Settings`, with its default and a help line.
This module reads the config file it is given and the environment; it does no other I/O.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scraper.errors import BlockedAddressError, ConfigError, UsageError
from scraper.noise import NoiseRules
from scraper.urls import check_url_target, normalise_url

DEFAULT_USER_AGENT = "scraper/0.1 (+https://example.org/scraper)"
DEFAULT_CONFIG_PATH = Path("config/sites.toml")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


#: the longest duration anything takes (a revisit interval, --since, a robots.txt TTL): 100
#: years; more is a typo, and would not fit the calendar arithmetic done with it
MAX_DURATION_SECONDS = 36500 * 86400.0
_DAY = 86400.0
#: the largest whole number a setting or option takes (what SQLite and C code take as an int)
MAX_WHOLE_NUMBER = 2**31 - 1


def _as_float(value: int | float) -> float:
    """A number as a float; a whole number too large for one is infinite."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def is_duration(text: str) -> bool:
    """True when ``text`` is written like a duration (``"7d"``, ``"90"``), in range or not."""
    return _DURATION_RE.match(text) is not None


def parse_duration(value: str | int | float, *, where: str = "duration") -> float:
    """Seconds in ``"90s"``, ``"15m"``, ``"6h"``, ``"7d"``, ``"2w"`` or a bare number of seconds.

    At most :data:`MAX_DURATION_SECONDS` (``36500d``); negative, NaN or infinite is refused.
    """
    if isinstance(value, bool):
        raise ConfigError(f"{where}: expected a duration like '6h', got {value!r}")
    if isinstance(value, int | float):
        seconds = _as_float(value)
        if math.isnan(seconds) or seconds < 0:
            raise ConfigError(f"{where}: a duration cannot be negative or NaN, got {value!r}")
    else:
        match = _DURATION_RE.match(str(value))
        if not match:
            raise ConfigError(
                f"{where}: expected a duration like '90s', '15m', '6h' or '7d', got {value!r}"
            )
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_SECONDS:
        raise ConfigError(f"{where}: {value!r} is too long (at most 36500d, 100 years)")
    return seconds


def _setting(
    default: Any,
    help: str,
    *,
    duration: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
    positive: bool = False,
) -> Any:
    """A setting's declaration: default, help line, and the range its value must be in
    (``positive``: more than ``minimum``, not equal to it)."""
    return field(
        default=default,
        metadata={
            "help": help,
            "duration": duration,
            "minimum": minimum,
            "maximum": maximum,
            "positive": positive,
        },
    )


@dataclass(frozen=True, slots=True)
class Settings:
    """Fetch and crawl settings; the same keys go in ``[defaults]`` and in each ``[[site]]``."""

    user_agent: str = _setting(
        DEFAULT_USER_AGENT, "User-Agent header; its first word is our robots.txt token"
    )
    delay_seconds: float = _setting(
        1.0, "minimum seconds between two requests to the same host", maximum=_DAY
    )
    concurrency_per_host: int = _setting(
        2, "requests in flight to one host at most", minimum=1, maximum=1000
    )
    concurrency: int = _setting(16, "requests in flight in all at most", minimum=1, maximum=10_000)
    revisit: float = _setting(6 * 3600.0, "how often a known page is due again", duration=True)
    revisit_min: float = _setting(3600.0, "floor of the adaptive revisit interval", duration=True)
    revisit_max: float = _setting(
        7 * 86400.0, "cap of the adaptive revisit interval", duration=True
    )
    max_pages: int = _setting(1000, "pages fetched per site per run at most")
    max_links_per_page: int = _setting(
        1000, "links one page may add to the frontier at most (the first ones, in page order)"
    )
    max_new_pages_per_run: int = _setting(
        100_000,
        "new URLs one run may add to a site's frontier at most (links, sitemaps and feeds)",
    )
    max_bytes: int = _setting(
        10 * 1024 * 1024, "body size cap, counted after decompression", minimum=1
    )
    connect_timeout_seconds: float = _setting(
        10.0, "seconds to open a connection", positive=True, maximum=_DAY
    )
    read_timeout_seconds: float = _setting(
        20.0, "seconds to wait for the next bytes of a response", positive=True, maximum=_DAY
    )
    deadline_seconds: float = _setting(
        60.0, "seconds one URL may take in all, retries included", positive=True, maximum=_DAY
    )
    max_redirects: int = _setting(10, "redirect hops followed at most", maximum=100)
    retries: int = _setting(
        3, "extra attempts on connect errors, timeouts, 429 and 5xx", maximum=100
    )
    retry_max_wait_seconds: float = _setting(
        60.0, "longest wait before a retry (Retry-After is capped to it)", maximum=_DAY
    )
    respect_robots: bool = _setting(True, "obey robots.txt and its Crawl-delay")
    robots_ttl: float = _setting(86400.0, "how long a fetched robots.txt is trusted", duration=True)
    allow_private: bool = _setting(
        False, "allow loopback, private and link-local addresses (local sites)"
    )
    extract_timeout_seconds: float = _setting(
        20.0, "time budget of one page's extraction", positive=True, maximum=_DAY
    )
    log_file: str = _setting(
        "", "file each crawl appends its failed URLs and summary to ([defaults] only)"
    )
    # change monitoring (scraper.noise, scraper.notify); see the README's "Monitoring"
    ignore_text: tuple[str, ...] = _setting(
        (), "regexes: matching lines of the text do not count as a change (they are stored)"
    )
    min_change_words: int = _setting(
        0, "changes of fewer words are stored but raise no notification (0: every change)"
    )
    notify: tuple[str, ...] = _setting((), "Apprise URLs told about changes after each run")
    notify_digest: bool = _setting(False, "one message per run and target instead of one per page")
    feed_path: str = _setting("", "write an Atom feed of the site's changes here after each crawl")

    def noise_rules(self, boilerplate: Collection[str] = ()) -> NoiseRules:
        """The noise rules of these settings (scraper.noise), with the site's learned
        ``boilerplate`` lines."""
        # validated when the config was loaded (_coerce_setting)
        patterns = tuple(re.compile(p) for p in self.ignore_text)
        return NoiseRules(
            ignore_text=patterns,
            min_change_words=self.min_change_words,
            boilerplate=frozenset(boilerplate),
        )


SETTING_NAMES = frozenset(f.name for f in dataclasses.fields(Settings))
#: settings of a whole run, not of one site: a [[site]] cannot set them
SITE_WIDE_ONLY = frozenset({"log_file"})
_SITE_KEYS = {
    "name": str,
    "start_urls": list,
    "sitemaps": list,
    "feeds": list,
    "allow": list,
    "deny": list,
    "max_depth": int,
    "strip": list,
    "trailing_slash": str,
}


@dataclass(frozen=True, slots=True)
class Site:
    """One ``[[site]]`` table with its settings resolved against ``[defaults]``."""

    name: str
    start_urls: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    feeds: tuple[str, ...] = ()
    allow: tuple[re.Pattern[str], ...] = ()
    deny: tuple[re.Pattern[str], ...] = ()
    max_depth: int = 2
    strip: tuple[str, ...] = ()  #: extra CSS selectors that are chrome on this site
    trailing_slash: str = "keep"  #: "keep", "strip" or "add" when normalising URLs
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded config file."""

    path: Path | None
    defaults: Settings
    sites: tuple[Site, ...]

    def site(self, name: str) -> Site:
        for site in self.sites:
            if site.name == name:
                return site
        known = ", ".join(s.name for s in self.sites) or "none"
        raise ConfigError(f"{self.path}: no site named {name!r} (known: {known})")

    def notify_targets(self) -> tuple[str, ...]:
        """Every Apprise URL the config names (``[defaults]`` and each site), once each."""
        targets = [*self.defaults.notify, *(t for s in self.sites for t in s.settings.notify)]
        return tuple(dict.fromkeys(targets))

    def select(self, names: tuple[str, ...] | list[str]) -> tuple[Site, ...]:
        """The sites named, in config order, or every site when no name is given."""
        if not names:
            return self.sites
        wanted = [self.site(n) for n in names]
        return tuple(s for s in self.sites if s in wanted)


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_range(value: int | float, spec: dataclasses.Field[Any], where: str) -> None:
    """The declared range of a number setting (finite, and within minimum..maximum)."""
    low = spec.metadata.get("minimum", 0)
    high = spec.metadata.get("maximum")
    if high is None:
        high = MAX_WHOLE_NUMBER if isinstance(spec.default, int) else 1e9
    number = _as_float(value)
    shown = value if isinstance(value, int) and abs(value) < 10**30 else f"{number:g}"
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected a finite number, got {shown}")
    if spec.metadata.get("positive") and number <= low:
        raise ConfigError(f"{where}: must be more than {_number_text(low)}, got {shown}")
    if number < low:
        raise ConfigError(f"{where}: must be at least {_number_text(low)}, got {shown}")
    if number > high:
        raise ConfigError(f"{where}: must be at most {_number_text(high)}, got {shown}")


def _coerce_setting(name: str, value: Any, where: str) -> Any:
    spec = next(f for f in dataclasses.fields(Settings) if f.name == name)
    if spec.metadata.get("duration"):
        return parse_duration(value, where=where)
    kind: type = type(spec.default)
    if kind is tuple:
        items = _str_list(value, where)
        if name == "ignore_text":
            _patterns(list(items), where)
        elif name == "notify" and not all("://" in item for item in items):
            raise ConfigError(f"{where}: expected Apprise URLs such as 'json://host/path'")
        return items
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        _check_range(value, spec, where)
        return float(value)
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
        _check_range(value, spec, where)
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ConfigError(f"{where}: not valid UTF-8 text: {value!r}")
    if any(c < " " or c == "\x7f" for c in value):
        # a setting's text goes into HTTP headers (user_agent): no line breaks, no controls
        raise ConfigError(f"{where}: a control character is not allowed: {value!r}")
    return value


def check_setting(name: str, value: Any, where: str) -> Any:
    """One setting's value, validated as the config file's would be (for CLI flags)."""
    return _coerce_setting(name, value, where)


def apply_settings(base: Settings, values: Mapping[str, Any], where: str) -> Settings:
    """``base`` with ``values`` (setting name -> raw value) validated and applied."""
    changes = {}
    for key, value in values.items():
        if key not in SETTING_NAMES:
            raise ConfigError(f"{where}: unknown key {key!r}")
        changes[key] = _coerce_setting(key, value, f"{where}.{key}")
    return dataclasses.replace(base, **changes)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def settings_from_env(base: Settings, environ: Mapping[str, str]) -> Settings:
    """Apply ``SCRAPER_<SETTING>`` variables (e.g. ``SCRAPER_USER_AGENT``) over ``base``.

    A value that is not one the setting takes is a ConfigError naming the variable.
    """
    changes: dict[str, Any] = {}
    for name in sorted(SETTING_NAMES):
        variable = f"SCRAPER_{name.upper()}"
        raw = environ.get(variable)
        if raw is None:
            continue
        where = f"environment {variable}"
        kind = type(getattr(base, name))
        value: Any = raw
        text = raw.strip().lower()
        if kind is bool:
            if text not in _TRUE | _FALSE:
                raise ConfigError(f"{where}: expected true or false, got {raw!r}")
            value = text in _TRUE
        elif kind is tuple:
            value = raw.split()  # SCRAPER_NOTIFY="json://a mailto://b": separated by spaces
        elif kind is int:
            try:
                value = int(text)
            except ValueError:
                raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
        elif kind is float:
            try:
                value = float(text)
            except ValueError:
                value = raw  # a duration string such as "6h"
        changes[name] = _coerce_setting(name, value, where)
    return dataclasses.replace(base, **changes) if changes else base


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for i, pattern in enumerate(_str_list(value, where)):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"{where}[{i}]: bad regular expression {pattern!r}: {exc}") from exc
    return tuple(compiled)


def _check_urls(site: Site, where: str) -> None:
    """Every start URL, sitemap and feed is an absolute http(s) URL the site may fetch: a URL
    that is not one, or a private/loopback address without ``allow_private``, would make a
    crawl that silently does nothing."""
    for key in ("start_urls", "sitemaps", "feeds"):
        for i, url in enumerate(getattr(site, key)):
            place = f"{where}.{key}[{i}]"
            try:
                normalise_url(url)
            except UsageError as exc:
                raise ConfigError(f"{place}: {exc} (expected an absolute http(s) URL)") from exc
            try:
                check_url_target(url, site.settings.allow_private)
            except BlockedAddressError as exc:
                raise ConfigError(
                    f"{place}: {url}: {exc.message.replace(', or --allow-private,', '')}"
                ) from exc
            except UsageError as exc:
                raise ConfigError(f"{place}: {exc}") from exc


def _load_site(
    raw: Any, index: int, defaults: Settings, where: str, environ: Mapping[str, str]
) -> Site:
    where = f"{where}: site[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}.name: every site needs a name")
    where = f"{where.rsplit(':', 1)[0]}: site {name!r}"
    site_values: dict[str, Any] = {}
    setting_values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _SITE_KEYS:
            site_values[key] = value
        elif key in SITE_WIDE_ONLY:
            raise ConfigError(f"{where}: {key!r} is set in [defaults] only (one per run)")
        elif key in SETTING_NAMES:
            setting_values[key] = value
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    for key in ("start_urls", "sitemaps", "feeds", "strip"):
        if key in site_values:
            site_values[key] = _str_list(site_values[key], f"{where}.{key}")
    for key in ("allow", "deny"):
        if key in site_values:
            site_values[key] = _patterns(site_values[key], f"{where}.{key}")
    depth = site_values.get("max_depth", 2)
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise ConfigError(f"{where}.max_depth: expected a whole number >= 0, got {depth!r}")
    slash = site_values.get("trailing_slash", "keep")
    if slash not in {"keep", "strip", "add"}:
        raise ConfigError(
            f"{where}.trailing_slash: expected 'keep', 'strip' or 'add', got {slash!r}"
        )
    # precedence: [defaults] < [[site]] < SCRAPER_* (the environment wins over the file)
    settings = apply_settings(defaults, setting_values, where)
    site_values["settings"] = settings_from_env(settings, environ)
    site = Site(**site_values)
    _check_urls(site, where)
    return site


def parse_config(
    text: str, path: Path | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Parse config text; ``path`` only names the file in messages."""
    where = str(path) if path else "<config>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    for key in data:
        if key not in {"defaults", "site"}:
            raise ConfigError(
                f"{where}: unknown key {key!r} (expected [defaults] and [[site]] tables)"
            )
    raw_defaults = data.get("defaults", {})
    if not isinstance(raw_defaults, dict):
        raise ConfigError(f"{where}: defaults: expected a table")
    defaults = apply_settings(Settings(), raw_defaults, f"{where}: defaults")
    env = os.environ if environ is None else environ
    defaults_from_file = defaults
    defaults = settings_from_env(defaults, env)
    raw_sites = data.get("site", [])
    if not isinstance(raw_sites, list):
        raise ConfigError(f"{where}: site: expected [[site]] tables")
    sites = tuple(
        _load_site(raw, i, defaults_from_file, where, env) for i, raw in enumerate(raw_sites)
    )
    names = [s.name for s in sites]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"{where}: site {name!r} is defined twice")
    return Config(path=path, defaults=defaults, sites=sites)


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate a config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: config file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file: {exc}") from exc
    return parse_config(text, path, environ)
