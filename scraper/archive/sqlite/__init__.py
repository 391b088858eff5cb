"""The SQLite archive: one file, WAL, migrated in place; the embedded default backend.

The only package that imports sqlite3 or sqlite_utils. Its classes implement the protocols of
:mod:`scraper.archive.protocols`.
"""
