"""Archive: the one writer of the SQLite archive (WAL, one transaction per page, content-hash versioning).

INTERFACE STUB written by the lead: the archive helper implements the bodies; signatures are the contract
that fetch/crawl/cli code is written against. Add methods freely; change these only with care.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from scraper.errors import FetchError
from scraper.models import Article, FetchResult, SaveOutcome, Snapshot


class Archive:
    """A versioned archive of pages in one SQLite file.

    ``Archive(path)`` opens (creating directories and the file when missing) and migrates;
    ``Archive(path, readonly=True)`` opens with ``mode=ro`` and never writes or migrates.
    sqlite3 errors are raised as :class:`scraper.errors.ArchiveError` naming the file.
    """

    def __init__(self, path: str | Path, *, readonly: bool = False) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Archive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -------------------------------------------------------------------------
    def validators(self, url: str) -> tuple[str | None, str | None]:
        """(etag, last_modified) from the page's last successful fetch, for a conditional GET."""
        raise NotImplementedError

    def save_fetch(
        self,
        url: str,
        *,
        fetched_at: str,
        result: FetchResult | None = None,
        article: Article | None = None,
        error: FetchError | str | None = None,
        site: str | None = None,
        run_id: int | None = None,
    ) -> SaveOutcome:
        """Record one fetch attempt of ``url`` (normalised already), in one transaction.

        - always one ``fetches`` row (error, status, bytes, elapsed_ms, raw/header/request blobs);
        - a ``snapshots`` row (and ``changes`` row) only when ``article`` is found and its
          ``content_hash()`` differs from the page's latest snapshot;
        - a 304 (``result.not_modified``) adds the fetch row with ``not_modified`` = 1 only;
        - raw body and headers go to ``raw`` once per sha256, zstd-compressed;
        - ``pages`` is created or updated (last_fetched, last_changed, etag, last_modified...).
        """
        raise NotImplementedError

    # --- reading -------------------------------------------------------------------------
    def page(self, url: str) -> dict[str, Any] | None:
        """The ``pages`` row of ``url``, or None."""
        raise NotImplementedError

    def snapshots(self, url: str) -> list[Snapshot]:
        """Every snapshot of the page, newest first."""
        raise NotImplementedError

    def fetches(self, url: str) -> list[dict[str, Any]]:
        """Every fetch of the page, newest first, as dicts of the ``fetches`` row."""
        raise NotImplementedError

    def raw(self, sha256: str) -> bytes:
        """The uncompressed raw blob with this sha256 (KeyError if absent)."""
        raise NotImplementedError

    # --- boilerplate learning -------------------------------------------------------------
    def site_texts(self, site: str, *, limit: int = 200) -> list[str]:
        """The text of the latest snapshot of up to ``limit`` pages of ``site``, newest first."""
        raise NotImplementedError

    def boilerplate(self, site: str) -> frozenset[str]:
        """The learned boilerplate lines of a site."""
        raise NotImplementedError

    def set_boilerplate(self, site: str, lines: Mapping[str, int], *, learned_at: str) -> None:
        """Replace the learned boilerplate of a site (line -> number of pages it was seen on)."""
        raise NotImplementedError
