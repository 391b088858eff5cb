"""The storage contract's fixtures: one ``store`` per backend under test.

Every test in ``tests/contract/`` takes ``store`` (an open, new, empty archive of the backend
``backend`` names) and talks to it through the protocols of :mod:`scraper.archive.protocols`
only: no SQL, no file, no driver. Adding a backend is two lines: its name in ``BACKENDS`` and a
fixture ``<name>_db`` giving the ``--db`` value of a new, empty database of it (or skipping
when the backend's server is not available).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from scraper.archive import Storage, open_archive

#: the backends every contract test runs against
BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The name of the backend under test."""
    return str(request.param)


@pytest.fixture
def sqlite_db(_archive_template: Path, tmp_path: Path) -> str:
    """A new, empty SQLite archive (a copy of one migrated file: fast)."""
    path = tmp_path / "contract.db"
    shutil.copyfile(_archive_template, path)
    return str(path)


@pytest.fixture
def db(backend: str, request: pytest.FixtureRequest) -> str:
    """The ``--db`` value of a new, empty archive of the backend under test."""
    return str(request.getfixturevalue(f"{backend}_db"))


@pytest.fixture
def store(db: str) -> Iterator[Storage]:
    """The archive ``db`` names, open through :func:`scraper.archive.open_archive`."""
    with open_archive(db) as opened:
        yield opened
