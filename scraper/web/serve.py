"""Web stage: run Datasette over an archive with scraper's metadata and plugin (``scraper serve``).

Builds the ``Datasette`` instance (read-only over the archive file, the shipped metadata keyed to
the file's name, the plugin registered even where entry points were not installed) and serves it
with uvicorn, as ``datasette serve`` does. Datasette 1.0 takes canned queries and table settings
as configuration (``-c``) and descriptions as metadata (``-m``): :func:`datasette_settings`
splits the one shipped file into both. It never writes to the archive.
"""

from __future__ import annotations

import asyncio
import copy
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scraper.errors import ScraperError
from scraper.export import datasette_metadata

if TYPE_CHECKING:
    from datasette.app import Datasette

#: table keys that Datasette 1.0 reads from its configuration rather than its metadata
CONFIG_TABLE_KEYS = frozenset(
    {"hidden", "fts_table", "fts_pk", "label_column", "sort", "sort_desc", "facets", "size"}
)


def datasette_settings(database: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, config) for Datasette 1.0: descriptions in the first; canned queries and
    table settings in the second. Datasette 0.65 takes the whole file as metadata."""
    metadata = datasette_metadata(database)
    config: dict[str, Any] = {"databases": {}}
    for name, db in metadata["databases"].items():
        db_config: dict[str, Any] = {"tables": {}}
        if "queries" in db:
            db_config["queries"] = db.pop("queries")
        for table, settings in db.get("tables", {}).items():
            moved = {k: settings.pop(k) for k in list(settings) if k in CONFIG_TABLE_KEYS}
            if moved:
                db_config["tables"][table] = moved
        config["databases"][name] = db_config
    return metadata, config


def is_datasette_1() -> bool:
    import datasette.version

    return int(datasette.version.__version__.split(".")[0]) >= 1


def make_datasette(db_path: Path) -> Datasette:
    """A Datasette over ``db_path`` with scraper's metadata and plugin."""
    try:
        from datasette.app import Datasette
        from datasette.plugins import pm
    except ImportError as exc:
        raise ScraperError("serve needs Datasette: pip install 'scraper[web]'") from exc
    if not db_path.is_file():
        raise ScraperError(f"{db_path}: no such archive (run scraper crawl or fetch first)")
    from scraper.archive import open_archive

    with open_archive(db_path, readonly=True):  # not a database, or not an archive: one line
        pass
    import scraper.web.plugin

    if pm.get_plugin("scraper") is None:  # entry points not installed (a source checkout)
        pm.register(scraper.web.plugin, name="scraper")
    name = db_path.stem
    if is_datasette_1():
        metadata, config = datasette_settings(name)
        return Datasette([str(db_path)], metadata=metadata, config=config)
    return Datasette([str(db_path)], metadata=copy.deepcopy(datasette_metadata(name)))


def check_address(host: str, port: int) -> None:
    """Fail in one line, before Datasette starts, when ``host:port`` cannot be listened on."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        why = exc.strerror or str(exc)
        raise ScraperError(f"serve: cannot listen on {host}:{port}: {why}") from exc


def serve(datasette: Datasette, *, host: str, port: int) -> None:
    """Serve ``datasette`` (see :func:`make_datasette`) until interrupted."""
    import uvicorn

    asyncio.run(datasette.invoke_startup())
    try:
        uvicorn.run(datasette.app(), host=host, port=port, log_level="warning", lifespan="on")
    except SystemExit as exc:  # uvicorn exits when it cannot start; our exit codes mean more
        if exc.code not in (0, None):
            raise ScraperError(f"serve: {host}:{port}: the server stopped ({exc.code})") from exc
