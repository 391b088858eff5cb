"""Shared fixtures: a local HTTP server, a real archive file, no proxies, the seed page."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server import LocalServer

FIXTURES = Path(__file__).parent / "fixtures"
SHARED = Path(__file__).resolve().parents[2] / "shared"
SEED = SHARED / "seed"


@pytest.fixture(autouse=True)
def _no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing may reach beyond 127.0.0.1 through a proxy set in the environment."""
    for name in (
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.delenv("SCRAPER_DB", raising=False)


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A server on 127.0.0.1 serving tests/fixtures/site/ plus routes the test sets."""
    srv = LocalServer(FIXTURES / "site").start()
    yield srv
    srv.stop()


@pytest.fixture
def site_server() -> Iterator[LocalServer]:
    """A server on 127.0.0.1 serving tests/fixtures/crawl_site/: a small site to crawl."""
    srv = LocalServer(FIXTURES / "crawl_site").start()
    yield srv
    srv.stop()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """Where a test's archive lives: a real SQLite file under tmp_path."""
    return tmp_path / "archive.db"


@pytest.fixture
def seed_dir() -> Path:
    """../shared/seed, which CI has beside the clone."""
    if not SEED.is_dir():
        pytest.skip("../shared/seed is not beside this checkout")
    return SEED


@pytest.fixture(scope="session")
def _archive_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One new, migrated SQLite archive per test session, copied by ``fresh_archive``."""
    from scraper.archive import Archive

    path = tmp_path_factory.mktemp("template") / "archive.db"
    Archive(path).close()  # the last connection's close checkpoints the WAL into the file
    return path


@pytest.fixture
def fresh_archive(_archive_template: Path, db_path: Path) -> Iterator[Any]:
    """A new, empty archive at ``db_path``, open (a copy of a migrated file: no migrations run)."""
    import shutil

    from scraper.archive import Archive

    shutil.copyfile(_archive_template, db_path)
    with Archive(db_path) as archive:
        yield archive


@pytest.fixture(params=["fast", "httpx"])
def transport_name(request: pytest.FixtureRequest) -> str:
    """Each value of the ``transport`` setting: a test that uses this runs once with each."""
    return str(request.param)


# the throwaway PostgreSQL cluster (tests/pgcluster.py): pg_cluster (session), pg_url (per test)
from tests.pgcluster import _pg_archive_template, pg_cluster, pg_url, postgres_db  # noqa: E402, F401
