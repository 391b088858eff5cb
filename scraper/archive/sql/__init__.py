"""The archive's backend-neutral core: the SQL and the logic SQLite and PostgreSQL share.

Written once over a tiny adapter (:class:`~scraper.archive.sql.dialect.Db`: ``one``, ``all``,
``run``, ``insert``) and a :class:`~scraper.archive.sql.dialect.Dialect` for what really
differs (placeholder, insert-or-ignore, upsert, how a new row's id comes back). Each backend
keeps only what is its own: the connection, transactions and savepoints, the group commit,
schema DDL and migrations, its full-text search, PostgreSQL's leases. Nothing here opens a
connection, commits, imports a driver or reads the clock.
"""
