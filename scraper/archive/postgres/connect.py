"""Connections to a PostgreSQL archive: ``--db postgresql://...`` to a psycopg connection.

It opens, names and closes connections and turns psycopg's errors into :class:`ArchiveError`
(one line, naming the database without its password). It holds no schema and no query of the
archive: those live in ``schema.py`` and the modules beside it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

from scraper.errors import ArchiveError

if TYPE_CHECKING:
    import psycopg

#: what ``--db`` values this backend takes; a ``Path`` collapses ``//``, so one slash is enough
_URL = re.compile(r"^postgres(?:ql)?:/", re.IGNORECASE)
CONNECT_TIMEOUT_SECONDS = 30


def is_postgres_url(value: object) -> bool:
    """True for a ``postgresql://`` (or ``postgres://``) ``--db`` value."""
    return bool(_URL.match(str(value)))


def normalise_url(value: object) -> str:
    """The URL as libpq takes it: ``postgresql://`` again where a ``Path`` made it ``:/``."""
    text = str(value)
    if not is_postgres_url(text):
        raise ValueError(f"not a postgresql:// URL: {text!r}")
    scheme, rest = text.split(":", 1)
    return f"{scheme.lower()}://{rest.lstrip('/')}"


def display_url(url: str) -> str:
    """The URL for messages and ``location``: the password, if any, left out."""
    parts = urlsplit(normalise_url(url))
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    query = re.sub(r"(?i)(^|&)password=[^&]*", r"\1password=***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _driver() -> object:
    try:
        import psycopg
    except ImportError as exc:
        raise ArchiveError(
            "a postgresql:// archive needs psycopg: pip install 'scraper[postgres]'"
        ) from exc
    return psycopg


def connect(
    url: str, *, autocommit: bool = False, application: str = "scraper"
) -> psycopg.Connection:
    """A new connection to the archive at ``url``.

    :raises ArchiveError: ``<url without password>: cannot connect: <cause>``, or psycopg missing.
    """
    _driver()
    import psycopg

    try:
        return psycopg.connect(
            normalise_url(url),
            autocommit=autocommit,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            application_name=application,
        )
    except psycopg.Error as exc:
        raise ArchiveError(f"{display_url(url)}: cannot connect: {one_line(exc)}") from exc


def one_line(exc: BaseException) -> str:
    """psycopg's message on one line (libpq's carry newlines and a DETAIL)."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@contextmanager
def translated(url: str) -> Iterator[None]:
    """Turn a psycopg error raised inside into ``ArchiveError`` naming the database."""
    import psycopg

    try:
        yield
    except psycopg.Error as exc:
        raise ArchiveError(f"{display_url(url)}: {one_line(exc)}") from exc
