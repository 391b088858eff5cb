"""Storage: the only package that imports sqlite3 or sqlite_utils."""

from __future__ import annotations

from scraper.archive.store import Archive

__all__ = ["Archive"]
