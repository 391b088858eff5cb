"""What the tests that crawl a local server share: a ``sites.toml`` writer and the real CLI.

The servers themselves are fixtures in ``conftest.py`` (``server``, ``site_server``); this module
only writes config files and runs commands, so a test reads as "this site, crawled".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from click.testing import CliRunner, Result

from scraper.cli import cli
from tests.server import LocalServer


def write_sites(
    where: Path,
    start_urls: str | Sequence[str],
    *,
    name: str = "gazette",
    max_depth: int | None = 0,
    retries: int | None = 0,
    respect_robots: bool = True,
    defaults: str = "",
    site: str = "",
) -> Path:
    """Write a ``sites.toml`` with one site that may crawl 127.0.0.1 at full speed.

    :param where: a folder (the file is ``sites.toml`` in it) or the file's path
    :param max_depth: the site's ``max_depth``; None leaves the built-in value
    :param retries: ``retries`` in ``[defaults]``; None leaves the built-in value
    :param defaults: more lines for ``[defaults]``
    :param site: more lines for the ``[[site]]`` table
    """
    path = where / "sites.toml" if where.is_dir() else where
    urls = [start_urls] if isinstance(start_urls, str) else list(start_urls)
    lines = ["[defaults]", "delay_seconds = 0", "allow_private = true"]
    if retries is not None:
        lines.append(f"retries = {retries}")
    if not respect_robots:
        lines.append("respect_robots = false")
    quoted = ", ".join(f'"{url}"' for url in urls)
    lines += [defaults, "", "[[site]]", f'name = "{name}"', f"start_urls = [{quoted}]"]
    if max_depth is not None:
        lines.append(f"max_depth = {max_depth}")
    lines += [site, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


#: a small site whose pages share a promo line and a photo credit (the boilerplate to learn)
VALLEY = Path(__file__).parent / "fixtures" / "pages" / "boilerplate-site"


def serve_valley(where: Path, server: LocalServer) -> Path:
    """Serve the :data:`VALLEY` pages from ``server`` (an index linking to each, no robots.txt)
    and write the ``sites.toml`` of the site "valley" that crawls them."""
    pages = sorted(VALLEY.glob("*.html"))
    links = "".join(f'<a href="/{p.stem}.html">{p.stem}</a> ' for p in pages)
    server.route("/", f"<html><body><ul>{links}</ul></body></html>")
    server.route("/robots.txt", "", status=404)
    for path in pages:
        server.route(f"/{path.stem}.html", path.read_bytes())
    return write_sites(
        where, server.url("/"), name="valley", max_depth=None, retries=None,
        site='allow = ["\\\\.html$"]',
    )  # fmt: skip


def write_town(where: Path, server: LocalServer, site: str = "") -> Path:
    """The ``sites.toml`` of a :class:`tests.noisy_site.NoisySite` served by ``server``: the
    site "town" from its ``/news/`` index, one level deep, robots.txt not asked."""
    return write_sites(
        where, server.url("/news/"), name="town", max_depth=1, respect_robots=False, site=site
    )


def run(*args: str) -> Result:
    """``scraper ARGS`` through click's CliRunner; exceptions are not caught (a traceback fails)."""
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def crawl(config: Path, db: Path, *extra: str) -> Result:
    """``scraper crawl --config CONFIG --db DB EXTRA...``."""
    return run("crawl", "--config", str(config), "--db", str(db), *extra)
