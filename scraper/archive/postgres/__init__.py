"""The PostgreSQL archive: the storage protocols on a database that several crawl workers share.

``connect`` (URLs, connections, errors), ``schema`` (tables and migrations), ``frontier``
(claims of due pages under per-host leases), ``query`` (read-only ``scraper sql``). Only this
package imports psycopg, and only when a ``postgresql://`` archive is opened.
"""

from __future__ import annotations

from scraper.archive.postgres.connect import display_url, is_postgres_url, normalise_url

__all__ = ["display_url", "is_postgres_url", "normalise_url"]
