"""The archive's schema: every table, index, view and FTS index, as ordered migrations.

Migrations are append-only: a released migration is never edited; a change is a new function
at the end of this file. ``migrate(db)`` applies the pending ones, each in its own transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlite_utils.migrations import Migrations

if TYPE_CHECKING:
    from sqlite_utils import Database

migrations = Migrations("scraper")


@migrations()
def m001_initial(db: Database) -> None:
    """Pages, fetches, snapshots, raw bodies, runs, hosts, learned boilerplate, changes."""
    db.execute(
        """
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            url TEXT NOT NULL UNIQUE,           -- normalised URL
            site TEXT,                          -- [[site]] name, or NULL for one-off fetches
            canonical_url TEXT,
            first_seen TEXT NOT NULL,
            last_fetched TEXT,
            last_changed TEXT,
            next_fetch_at TEXT,                 -- when the crawl frontier considers it due
            etag TEXT,
            last_modified TEXT,
            depth INTEGER NOT NULL DEFAULT 0,   -- link distance from a start URL
            source TEXT,                        -- how it was found: start, sitemap, feed, link, cli
            found_on TEXT,                      -- the URL it was found on
            lastmod TEXT,                       -- sitemap/feed date, for priority
            revisit_seconds REAL,               -- the adaptive revisit interval
            unchanged_count INTEGER NOT NULL DEFAULT 0,
            failures INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_pages_due ON pages (next_fetch_at)")
    db.execute("CREATE INDEX idx_pages_site ON pages (site)")
    db.execute(
        """
        CREATE TABLE raw (
            sha256 TEXT PRIMARY KEY,            -- of the uncompressed data
            size INTEGER NOT NULL,              -- uncompressed bytes
            compression TEXT NOT NULL,          -- 'zstd' or 'none'
            data BLOB NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id),
            fetched_at TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            title TEXT,
            author TEXT,
            published TEXT,
            updated TEXT,
            language TEXT,
            description TEXT,
            site_name TEXT,
            canonical_url TEXT,
            word_count INTEGER,
            text TEXT NOT NULL,
            markdown TEXT,
            metadata TEXT,                      -- JSON: every Article field
            raw_sha256 TEXT REFERENCES raw(sha256),
            extractor_version TEXT,             -- JSON: scraper and trafilatura versions
            cause TEXT NOT NULL DEFAULT 'fetch' -- 'fetch': the site changed; 'reextract': we did
        )
        """
    )
    db.execute("CREATE INDEX idx_snapshots_page ON snapshots (page_id, id)")
    db.execute("CREATE INDEX idx_snapshots_fetched ON snapshots (fetched_at)")
    db.execute(
        """
        CREATE TABLE fetches (
            id INTEGER PRIMARY KEY,
            page_id INTEGER NOT NULL REFERENCES pages(id),
            run_id INTEGER,                     -- the crawl run, NULL for one-off fetches
            fetched_at TEXT NOT NULL,
            url TEXT,                           -- the final URL after redirects
            status_code INTEGER,
            not_modified INTEGER NOT NULL DEFAULT 0,
            elapsed_ms INTEGER,
            bytes INTEGER,
            content_type TEXT,
            error TEXT,                         -- 'kind: message', NULL on success
            snapshot_id INTEGER REFERENCES snapshots(id),  -- the snapshot this fetch wrote
            raw_sha256 TEXT REFERENCES raw(sha256),         -- response body
            headers_sha256 TEXT REFERENCES raw(sha256),     -- response status line + headers
            request_sha256 TEXT REFERENCES raw(sha256),     -- request line + headers
            http_version TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_fetches_page ON fetches (page_id, id)")
    db.execute("CREATE INDEX idx_fetches_fetched ON fetches (fetched_at)")
    db.execute(
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            ended_at TEXT,
            pid INTEGER,
            sites TEXT,                         -- JSON list of site names
            pages_fetched INTEGER NOT NULL DEFAULT 0,
            new INTEGER NOT NULL DEFAULT 0,
            changed INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            not_modified INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            robots_blocked INTEGER NOT NULL DEFAULT 0,
            discovered INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            seconds REAL,
            exit_code INTEGER
        )
        """
    )
    db.execute(
        """
        CREATE TABLE hosts (
            host TEXT PRIMARY KEY,              -- scheme://host[:port]
            robots_txt TEXT,
            robots_status INTEGER,
            robots_fetched_at TEXT,
            robots_expires_at TEXT,
            crawl_delay_seconds REAL,
            next_allowed_at TEXT,               -- Retry-After / backoff, kept across runs
            failures INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE boilerplate (
            site TEXT NOT NULL,                 -- site name, or host for one-off fetches
            line TEXT NOT NULL,                 -- a text block that recurs across the site's pages
            pages INTEGER NOT NULL,             -- on how many distinct pages it was seen
            learned_at TEXT NOT NULL,
            PRIMARY KEY (site, line)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE changes (
            snapshot_id INTEGER PRIMARY KEY REFERENCES snapshots(id),
            previous_id INTEGER REFERENCES snapshots(id),
            words_added INTEGER NOT NULL DEFAULT 0,
            words_removed INTEGER NOT NULL DEFAULT 0,
            title_changed INTEGER NOT NULL DEFAULT 0,
            author_changed INTEGER NOT NULL DEFAULT 0,
            published_changed INTEGER NOT NULL DEFAULT 0,
            updated_changed INTEGER NOT NULL DEFAULT 0,
            description_changed INTEGER NOT NULL DEFAULT 0,
            cause TEXT NOT NULL DEFAULT 'fetch'
        )
        """
    )
    db.execute(
        """
        CREATE VIEW latest_snapshots AS
        SELECT s.*, p.url AS url, p.site AS site
        FROM snapshots s JOIN pages p ON p.id = s.page_id
        WHERE s.id = (SELECT MAX(id) FROM snapshots WHERE page_id = s.page_id)
        """
    )
    db.execute(
        """
        CREATE VIEW snapshot_changes AS
        SELECT
            s.id AS snapshot_id,
            s.page_id,
            p.url,
            p.site,
            s.fetched_at,
            c.previous_id,
            prev.fetched_at AS previous_fetched_at,
            prev.title AS previous_title,
            s.title,
            COALESCE(c.words_added, 0) AS words_added,
            COALESCE(c.words_removed, 0) AS words_removed,
            COALESCE(c.title_changed, 0) AS title_changed,
            COALESCE(c.author_changed, 0) AS author_changed,
            COALESCE(c.published_changed, 0) AS published_changed,
            COALESCE(c.updated_changed, 0) AS updated_changed,
            COALESCE(c.description_changed, 0) AS description_changed,
            COALESCE(c.cause, s.cause) AS cause
        FROM snapshots s
        JOIN pages p ON p.id = s.page_id
        LEFT JOIN changes c ON c.snapshot_id = s.id
        LEFT JOIN snapshots prev ON prev.id = c.previous_id
        """
    )
    db.table("snapshots").enable_fts(
        ["title", "text"], create_triggers=True, tokenize="unicode61 remove_diacritics 2"
    )


@migrations()
def m002_backfill_changes(db: Database) -> None:
    """A ``changes`` row for every snapshot that lacks one (archives written before changes
    were recorded): each snapshot against the one before it of the same page. Idempotent."""
    from scraper.diff import word_counts  # the same counts that Archive.save_fetch records

    flagged = ("title", "author", "published", "updated", "description")
    missing = db.execute(
        """
        SELECT s.id, s.page_id, s.text, s.cause, s.title, s.author, s.published, s.updated,
            s.description,
            (SELECT MAX(id) FROM snapshots p WHERE p.page_id = s.page_id AND p.id < s.id)
        FROM snapshots s
        WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.snapshot_id = s.id)
        ORDER BY s.id
        """
    ).fetchall()
    for snapshot_id, _page_id, text, cause, *values, previous_id in missing:
        flags = [0] * len(flagged)
        old_text = ""
        if previous_id is not None:
            old = db.execute(
                "SELECT text, title, author, published, updated, description "
                "FROM snapshots WHERE id = ?",
                [previous_id],
            ).fetchone()
            old_text = old[0]
            flags = [int(a != b) for a, b in zip(old[1:], values, strict=True)]
        added, removed = word_counts(old_text, text)
        db.execute(
            """
            INSERT OR IGNORE INTO changes (snapshot_id, previous_id, words_added, words_removed,
                title_changed, author_changed, published_changed, updated_changed,
                description_changed, cause)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [snapshot_id, previous_id, added, removed, *flags, cause or "fetch"],
        )


@migrations()
def m003_crawl_frontier(db: Database) -> None:
    """Crawl scheduling: each page's host, when the crawl last handled it and in which run;
    the sitemaps and feeds the crawl reads for discovery."""
    db.execute("ALTER TABLE pages ADD COLUMN host TEXT")  # scheme://host[:port]
    db.execute("ALTER TABLE pages ADD COLUMN crawled_at TEXT")  # last handled by a crawl
    db.execute("ALTER TABLE pages ADD COLUMN run_id INTEGER")  # the run that last claimed it
    db.execute("CREATE INDEX idx_pages_site_due ON pages (site, next_fetch_at)")
    db.execute(
        """
        CREATE TABLE crawl_sources (
            url TEXT PRIMARY KEY,               -- a sitemap or feed
            site TEXT NOT NULL,
            kind TEXT NOT NULL,                 -- sitemap or feed
            found_on TEXT,                      -- robots.txt, a page, a sitemap index; NULL: config
            fetched_at TEXT,
            next_fetch_at TEXT,
            status INTEGER,
            error TEXT,
            etag TEXT,
            last_modified TEXT,
            entries INTEGER                     -- URLs it listed at the last read
        )
        """
    )


@migrations()
def m004_boilerplate_sites(db: Database) -> None:
    """When each site's boilerplate was last learned, and from how many pages, so that a crawl
    relearns it as the site grows (and not on every run)."""
    db.execute(
        """
        CREATE TABLE boilerplate_sites (
            site TEXT PRIMARY KEY,
            learned_at TEXT NOT NULL,
            pages INTEGER NOT NULL              -- pages learned from
        )
        """
    )


@migrations()
def m005_confidence_and_charset(db: Database) -> None:
    """Each snapshot's extraction confidence, each capture's charset, and per run and site how
    many extracted pages had no article or a low confidence (for the crawl's collapse warning).
    Rows written before are NULL: not known."""
    db.execute("ALTER TABLE snapshots ADD COLUMN confidence REAL")  # in [0, 1]
    db.execute("ALTER TABLE fetches ADD COLUMN charset TEXT")  # the codec the body was read with
    db.execute(
        """
        CREATE TABLE run_extraction (
            run_id INTEGER NOT NULL REFERENCES runs(id),
            site TEXT NOT NULL,
            extracted INTEGER NOT NULL,         -- pages extracted in this run
            no_article INTEGER NOT NULL,        -- ... where no article was found
            low_confidence INTEGER NOT NULL,    -- ... where one was, with confidence < 0.5
            PRIMARY KEY (run_id, site)
        )
        """
    )
    db.execute("CREATE INDEX idx_run_extraction_site ON run_extraction (site, run_id)")


@migrations()
def m006_change_monitoring(db: Database) -> None:
    """Change monitoring (scraper.noise, scraper.notify): what each fetch's extraction was judged
    to be, the kind of each change, and the notifications waiting to be sent."""
    # first, edit, minor, unchanged, noise or reverted (scraper.noise); NULL: no extraction
    db.execute("ALTER TABLE fetches ADD COLUMN change_kind TEXT")
    # noise or reverted: the snapshot whose content the fetch found again
    db.execute("ALTER TABLE fetches ADD COLUMN same_as_snapshot_id INTEGER")
    db.execute("ALTER TABLE changes ADD COLUMN kind TEXT")  # first, edit or minor; NULL: older
    db.execute(
        """
        CREATE TABLE notify_queue (
            id INTEGER PRIMARY KEY,
            event_key TEXT NOT NULL,            -- change:<snapshot>, gone:<page>:<fetch>, ...
            target TEXT NOT NULL,               -- an Apprise URL from the config
            kind TEXT NOT NULL,                 -- change, gone, dropped
            site TEXT,
            url TEXT,
            snapshot_id INTEGER,
            previous_id INTEGER,
            title TEXT NOT NULL,                -- the message, composed when queued
            body TEXT NOT NULL,
            digest INTEGER NOT NULL DEFAULT 0,  -- sent in one digest per run and target
            queued_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_at TEXT,
            UNIQUE (event_key, target)
        )
        """
    )
    db.execute("CREATE INDEX idx_notify_queue_unsent ON notify_queue (sent_at, target)")
    db.execute(
        """
        CREATE TABLE notify_cursor (
            site TEXT PRIMARY KEY,
            snapshot_id INTEGER NOT NULL        -- the site's snapshots up to it are queued
        )
        """
    )


@migrations()
def m007_ip_address(db: Database) -> None:
    """The IP address of the server each fetch's answer came from (WARC-IP-Address in the
    export). Rows written before are NULL: not known, and the export then says nothing."""
    db.execute("ALTER TABLE fetches ADD COLUMN ip_address TEXT")  # as connected, e.g. 192.0.2.7


def migrate(db: Database) -> None:
    """Apply every pending migration, each in its own transaction."""
    migrations.apply(db)
