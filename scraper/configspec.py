"""Config, the validation: one rule per setting, derived from the dataclass that declares it.

A field's annotation says what kind of value it takes (``bool``, ``int``, ``float``, ``str``,
``Literal[...]`` choices, ``tuple[str, ...]`` lists, ``tuple[re.Pattern[str], ...]`` regexes)
and its field metadata (:func:`setting`) the rest: the help line, a duration, the range, what
each list item must be. :func:`field_specs` reads both once per class, so a field added to
``Settings`` or ``Site`` is validated, read from ``SCRAPER_*`` and listed with no other edit;
an annotation no rule knows fails at import, never at a user's config.

Derived with the standard library (``typing.get_type_hints``) rather than msgspec or cattrs:
those convert TOML to objects well, but the messages a user reads (file, key, problem, in
one line) and the ranges would have to be rebuilt around their errors anyway, and a new
dependency would not earn its place for some twenty fields.

This module reads nothing (no file, no environment); it knows no setting by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from scraper.errors import ConfigError

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}

#: the longest duration anything takes (a revisit interval, --since, a robots.txt TTL): 100
#: years; more is a typo, and would not fit the calendar arithmetic done with it
MAX_DURATION_SECONDS = 36500 * 86400.0
#: the largest whole number a setting or option takes (what SQLite and C code take as an int)
MAX_WHOLE_NUMBER = 2**31 - 1
#: the largest other number a setting takes unless it declares its own maximum
_MAX_NUMBER = 1e9

Kind = Literal["bool", "int", "float", "duration", "str", "choice", "strings", "patterns"]
#: what each item of a list of strings must be: anything, a regex, an Apprise URL
Items = Literal["text", "regex", "url"]


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


def setting(
    default: Any,
    help: str,
    *,
    duration: bool = False,
    minimum: float = 0,
    maximum: float | None = None,
    positive: bool = False,
    items: Items = "text",
    run_wide: bool = False,
) -> Any:
    """A setting's declaration: default, help line, and what its value must be.

    :param positive: more than ``minimum``, not equal to it.
    :param items: what each string of a list must be.
    :param run_wide: a setting of the whole run, set in ``[defaults]`` only.
    """
    metadata = {
        "help": help,
        "duration": duration,
        "minimum": minimum,
        "maximum": maximum,
        "positive": positive,
        "items": items,
        "run_wide": run_wide,
    }
    return field(default=default, metadata=metadata)


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """What one config key takes, as derived from its dataclass field."""

    name: str
    kind: Kind
    default: Any
    help: str = ""
    choices: tuple[str, ...] = ()
    minimum: float = 0
    maximum: float | None = None
    positive: bool = False
    items: Items = "text"
    run_wide: bool = False
    required: bool = False

    @property
    def upper(self) -> float:
        if self.maximum is not None:
            return self.maximum
        return MAX_WHOLE_NUMBER if self.kind == "int" else _MAX_NUMBER


def _kind(annotation: Any, duration: bool, where: str) -> tuple[Kind, tuple[str, ...]]:
    """The rule for an annotation, and its choices for a ``Literal``."""
    origin = typing.get_origin(annotation)
    if origin is Literal:
        choices = typing.get_args(annotation)
        if not all(isinstance(c, str) for c in choices):
            raise TypeError(f"{where}: only string choices are supported, got {annotation!r}")
        return "choice", tuple(choices)
    if origin is tuple:
        args = typing.get_args(annotation)
        if len(args) == 2 and args[1] is Ellipsis:
            if args[0] is str:
                return "strings", ()
            if args[0] == re.Pattern[str]:
                return "patterns", ()
    simple: dict[Any, Kind] = {bool: "bool", int: "int", str: "str"}
    if annotation is float:
        return ("duration" if duration else "float"), ()
    if annotation in simple:
        return simple[annotation], ()
    raise TypeError(f"{where}: no config rule for the annotation {annotation!r}")


_SPECS: dict[type, Mapping[str, FieldSpec]] = {}


def field_specs(cls: type) -> Mapping[str, FieldSpec]:
    """Every config key of dataclass ``cls`` (a nested dataclass field is not one), in order."""
    known = _SPECS.get(cls)
    if known is None:
        known = _SPECS[cls] = _derive(cls)
    return known


def _derive(cls: type) -> Mapping[str, FieldSpec]:
    hints = typing.get_type_hints(cls)
    specs: dict[str, FieldSpec] = {}
    for spec in dataclasses.fields(cls):
        annotation = hints[spec.name]
        if dataclasses.is_dataclass(annotation):
            continue  # Site.settings: its keys are the Settings ones
        meta = spec.metadata
        kind, choices = _kind(annotation, bool(meta.get("duration")), f"{cls.__name__}.{spec.name}")
        required = (
            spec.default is dataclasses.MISSING and spec.default_factory is dataclasses.MISSING
        )
        specs[spec.name] = FieldSpec(
            name=spec.name,
            kind=kind,
            default=None if required else spec.default,
            help=meta.get("help", ""),
            choices=choices,
            minimum=meta.get("minimum", 0),
            maximum=meta.get("maximum"),
            positive=meta.get("positive", False),
            items=meta.get("items", "text"),
            run_wide=meta.get("run_wide", False),
            required=required,
        )
    return types.MappingProxyType(specs)


def unknown_key(key: str, known: Mapping[str, Any] | frozenset[str]) -> str:
    """``unknown key 'x'``, with the nearest known key when one is close."""
    near = difflib.get_close_matches(key, list(known), n=1, cutoff=0.75)
    return f"unknown key {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "")


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _check_range(value: int | float, spec: FieldSpec, where: str) -> None:
    """The declared range of a number (finite, and within minimum..maximum)."""
    low, high = spec.minimum, spec.upper
    number = _as_float(value)
    shown = value if isinstance(value, int) and abs(value) < 10**30 else f"{number:g}"
    if not math.isfinite(number):
        raise ConfigError(f"{where}: expected a finite number, got {shown}")
    if spec.positive and number <= low:
        raise ConfigError(f"{where}: must be more than {_number_text(low)}, got {shown}")
    if number < low:
        raise ConfigError(f"{where}: must be at least {_number_text(low)}, got {shown}")
    if number > high:
        raise ConfigError(f"{where}: must be at most {_number_text(high)}, got {shown}")


def str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def patterns(value: Any, where: str) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for i, pattern in enumerate(str_list(value, where)):
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise ConfigError(f"{where}[{i}]: bad regular expression {pattern!r}: {exc}") from exc
    return tuple(compiled)


def _choice_text(choices: tuple[str, ...]) -> str:
    quoted = [repr(c) for c in choices]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: expected a non-empty string, got {value!r}")
    if any("\ud800" <= c <= "\udfff" for c in value):
        raise ConfigError(f"{where}: not valid UTF-8 text: {value!r}")
    if any(c < " " or c == "\x7f" for c in value):
        # a setting's text goes into HTTP headers (user_agent): no line breaks, no controls
        raise ConfigError(f"{where}: a control character is not allowed: {value!r}")
    return value


def coerce(spec: FieldSpec, value: Any, where: str) -> Any:
    """``value`` as the field takes it, or ConfigError naming ``where`` and the problem."""
    kind = spec.kind
    if kind == "duration":
        return parse_duration(value, where=where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind in ("int", "float"):
        whole = kind == "int"
        if isinstance(value, bool) or not isinstance(value, int if whole else int | float):
            expected = "a whole number" if whole else "a number"
            raise ConfigError(f"{where}: expected {expected}, got {value!r}")
        _check_range(value, spec, where)
        return value if whole else float(value)
    if kind == "choice":
        if value not in spec.choices:
            raise ConfigError(f"{where}: expected {_choice_text(spec.choices)}, got {value!r}")
        return value
    if kind == "patterns":
        return patterns(value, where)
    if kind == "strings":
        items = str_list(value, where)
        if spec.items == "regex":
            patterns(list(items), where)
        elif spec.items == "url" and not all("://" in item for item in items):
            raise ConfigError(f"{where}: expected Apprise URLs such as 'json://host/path'")
        return items
    return _text(value, where)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def from_env_text(spec: FieldSpec, raw: str, where: str) -> Any:
    """An environment variable's text as the field takes it (then :func:`coerce`)."""
    text = raw.strip().lower()
    value: Any = raw
    if spec.kind == "bool":
        if text not in _TRUE | _FALSE:
            raise ConfigError(f"{where}: expected true or false, got {raw!r}")
        value = text in _TRUE
    elif spec.kind in ("strings", "patterns"):
        value = raw.split()  # SCRAPER_NOTIFY="json://a mailto://b": separated by spaces
    elif spec.kind == "int":
        try:
            value = int(text)
        except ValueError:
            raise ConfigError(f"{where}: expected a whole number, got {raw!r}") from None
    elif spec.kind in ("float", "duration"):
        try:
            value = float(text)
        except ValueError:
            value = raw  # a duration such as "6h"; for a plain number, coerce says what is wrong
    elif spec.kind == "choice":
        value = raw.strip()
    return coerce(spec, value, where)
