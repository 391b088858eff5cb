"""Configuration: ``config/sites.toml`` (stdlib tomllib) -> frozen dataclasses.

Precedence: built-in defaults < ``[defaults]`` < ``[[site]]`` < ``SCRAPER_*`` environment <
CLI flags.
Every setting is declared once, in :class:`Settings`, with its default and a help line; what
it accepts (type, range, choices) and its ``SCRAPER_*`` variable follow from that declaration
(scraper/configspec.py), as do the keys of a ``[[site]]`` from :class:`Site`.
This module reads the config file it is given and the environment; it does no other I/O.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from scraper.configspec import (
    MAX_DURATION_SECONDS,
    MAX_WHOLE_NUMBER,
    coerce,
    field_specs,
    from_env_text,
    is_duration,
    parse_duration,
    setting,
    unknown_key,
)
from scraper.errors import BlockedAddressError, ConfigError, UsageError
from scraper.noise import NoiseRules
from scraper.urls import check_url_target, normalise_url

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_USER_AGENT",
    "MAX_DURATION_SECONDS",
    "MAX_WHOLE_NUMBER",
    "SETTING_NAMES",
    "SETTING_SPECS",
    "SITE_SPECS",
    "SITE_WIDE_ONLY",
    "Config",
    "Settings",
    "Site",
    "Transport",
    "apply_settings",
    "check_setting",
    "is_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "settings_from_env",
]

DEFAULT_USER_AGENT = "scraper/0.1 (+https://example.org/scraper)"
DEFAULT_CONFIG_PATH = Path("config/sites.toml")
_DAY = 86400.0
#: the fetch transports (scraper.fetch.routing): "fast", h11 on asyncio sockets, or
#: "httpx", httpx's stock transport; proxies of the environment are honoured with both
Transport = Literal["fast", "httpx"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Fetch and crawl settings; the same keys go in ``[defaults]`` and in each ``[[site]]``."""

    user_agent: str = setting(
        DEFAULT_USER_AGENT, "User-Agent header; its first word is our robots.txt token"
    )
    delay_seconds: float = setting(
        1.0, "minimum seconds between two requests to the same host", maximum=_DAY
    )
    concurrency_per_host: int = setting(
        2, "requests in flight to one host at most", minimum=1, maximum=1000
    )
    concurrency: int = setting(16, "requests in flight in all at most", minimum=1, maximum=10_000)
    revisit: float = setting(6 * 3600.0, "how often a known page is due again", duration=True)
    revisit_min: float = setting(3600.0, "floor of the adaptive revisit interval", duration=True)
    revisit_max: float = setting(7 * 86400.0, "cap of the adaptive revisit interval", duration=True)
    max_pages: int = setting(1000, "pages fetched per site per run at most")
    max_links_per_page: int = setting(
        1000, "links one page may add to the frontier at most (the first ones, in page order)"
    )
    max_new_pages_per_run: int = setting(
        100_000,
        "new URLs one run may add to a site's frontier at most (links, sitemaps and feeds)",
    )
    max_bytes: int = setting(
        10 * 1024 * 1024, "body size cap, counted after decompression", minimum=1
    )
    connect_timeout_seconds: float = setting(
        10.0, "seconds to open a connection", positive=True, maximum=_DAY
    )
    read_timeout_seconds: float = setting(
        20.0, "seconds to wait for the next bytes of a response", positive=True, maximum=_DAY
    )
    deadline_seconds: float = setting(
        60.0, "seconds one URL may take in all, retries included", positive=True, maximum=_DAY
    )
    max_redirects: int = setting(10, "redirect hops followed at most", maximum=100)
    retries: int = setting(
        3, "extra attempts on connect errors, timeouts, 429 and 5xx", maximum=100
    )
    retry_max_wait_seconds: float = setting(
        60.0, "longest wait before a retry (Retry-After is capped to it)", maximum=_DAY
    )
    respect_robots: bool = setting(True, "obey robots.txt and its Crawl-delay")
    robots_ttl: float = setting(86400.0, "how long a fetched robots.txt is trusted", duration=True)
    allow_private: bool = setting(
        False, "allow loopback, private and link-local addresses (local sites)"
    )
    extract_timeout_seconds: float = setting(
        20.0, "time budget of one page's extraction", positive=True, maximum=_DAY
    )
    log_file: str = setting(
        "",
        "file each crawl appends its failed URLs and summary to ([defaults] only)",
        run_wide=True,
    )
    # crawl workers sharing a PostgreSQL archive (scraper.crawl.shared); see the README's
    # "More than one machine"
    lease_seconds: float = setting(
        300.0,
        "how long a worker keeps a host without a request or renewal (PostgreSQL)",
        positive=True,
        maximum=_DAY,
        run_wide=True,
    )
    lease_margin_seconds: float = setting(
        90.0,
        "lease left for a request to start; above deadline_seconds, below lease_seconds",
        positive=True,
        maximum=_DAY,
        run_wide=True,
    )
    # change monitoring (scraper.noise, scraper.notify); see the README's "Monitoring"
    ignore_text: tuple[str, ...] = setting(
        (),
        "regexes: matching lines of the text do not count as a change (they are stored)",
        items="regex",
    )
    min_change_words: int = setting(
        0, "changes of fewer words are stored but raise no notification (0: every change)"
    )
    notify: tuple[str, ...] = setting(
        (), "Apprise URLs told about changes after each run", items="url"
    )
    notify_digest: bool = setting(False, "one message per run and target instead of one per page")
    feed_path: str = setting("", "write an Atom feed of the site's changes here after each crawl")
    transport: Transport = setting(
        "fast", "network layer of direct connections: 'fast' (asyncio sockets) or 'httpx' (stock)"
    )

    def noise_rules(self, boilerplate: Collection[str] = ()) -> NoiseRules:
        """The noise rules of these settings (scraper.noise), with the site's learned
        ``boilerplate`` lines."""
        # validated when the config was loaded (configspec.coerce, items="regex")
        patterns = tuple(re.compile(p) for p in self.ignore_text)
        return NoiseRules(
            ignore_text=patterns,
            min_change_words=self.min_change_words,
            boilerplate=frozenset(boilerplate),
        )


@dataclass(frozen=True, slots=True)
class Site:
    """One ``[[site]]`` table with its settings resolved against ``[defaults]``."""

    name: str = field(metadata={"help": "the site's name, used by --site"})
    start_urls: tuple[str, ...] = setting((), "where the crawl starts")
    sitemaps: tuple[str, ...] = setting((), "sitemaps or sitemap indexes")
    feeds: tuple[str, ...] = setting((), "RSS or Atom feeds")
    allow: tuple[re.Pattern[str], ...] = setting((), "regexes; a URL must match one")
    deny: tuple[re.Pattern[str], ...] = setting((), "regexes; a URL matching one is never fetched")
    max_depth: int = setting(2, "link hops from a start URL")
    strip: tuple[str, ...] = setting((), "extra CSS selectors that are chrome on this site")
    trailing_slash: Literal["keep", "strip", "add"] = setting(
        "keep", "a trailing / when normalising URLs: keep, strip or add it"
    )
    settings: Settings = field(default_factory=Settings)


#: the keys of [defaults] and [[site]] tables, and of [[site]] tables only (derived)
SETTING_SPECS = field_specs(Settings)
SITE_SPECS = field_specs(Site)
SETTING_NAMES = frozenset(SETTING_SPECS)
#: settings of a whole run, not of one site: a [[site]] cannot set them
SITE_WIDE_ONLY = frozenset(name for name, spec in SETTING_SPECS.items() if spec.run_wide)
#: the keys only a [[site]] takes (the README documents each; tests/test_docs.py)
_SITE_KEYS = SITE_SPECS


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


def check_setting(name: str, value: Any, where: str) -> Any:
    """One setting's value, validated as the config file's would be (for CLI flags)."""
    return coerce(SETTING_SPECS[name], value, where)


def apply_settings(base: Settings, values: Mapping[str, Any], where: str) -> Settings:
    """``base`` with ``values`` (setting name -> raw value) validated and applied.

    The keys and rules are those of ``type(base)``: a subclass's own fields are validated too.
    """
    specs = field_specs(type(base))
    changes = {}
    for key, value in values.items():
        if key not in specs:
            raise ConfigError(f"{where}: {unknown_key(key, specs)}")
        changes[key] = coerce(specs[key], value, f"{where}.{key}")
    return dataclasses.replace(base, **changes)


def settings_from_env(base: Settings, environ: Mapping[str, str]) -> Settings:
    """Apply ``SCRAPER_<SETTING>`` variables (e.g. ``SCRAPER_USER_AGENT``) over ``base``.

    A value that is not one the setting takes is a ConfigError naming the variable.
    """
    changes: dict[str, Any] = {}
    for name, spec in sorted(field_specs(type(base)).items()):
        variable = f"SCRAPER_{name.upper()}"
        raw = environ.get(variable)
        if raw is not None:
            changes[name] = from_env_text(spec, raw, f"environment {variable}")
    return dataclasses.replace(base, **changes) if changes else base


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
        if key in SITE_SPECS:
            if key != "name":
                site_values[key] = coerce(SITE_SPECS[key], value, f"{where}.{key}")
        elif key in SITE_WIDE_ONLY:
            raise ConfigError(f"{where}: {key!r} is set in [defaults] only (one per run)")
        elif key in SETTING_NAMES:
            setting_values[key] = value
        else:
            raise ConfigError(f"{where}: {unknown_key(key, {**SITE_SPECS, **SETTING_SPECS})}")
    # precedence: [defaults] < [[site]] < SCRAPER_* (the environment wins over the file)
    settings = apply_settings(defaults, setting_values, where)
    site_values["settings"] = settings_from_env(settings, environ)
    site = Site(name=name, **site_values)
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
