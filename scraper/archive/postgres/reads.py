"""PostgreSQL archive, questions: changes, full-text search, export rows, the feed, and the
notification queue, with the SQLite archive's meanings (``scraper.archive.sqlite.query`` and
``notifyqueue``).

Search is PostgreSQL's text search over ``snapshots_fts`` (``simple`` configuration): what the
user typed becomes a ``tsquery`` by the same rules as SQLite's FTS5 query (every word literal,
``"a phrase"``, ``word*`` a prefix, ``OR``, a Korean word a prefix), ranked by ``ts_rank``
(title above text; reported negated, so that lower is better as with bm25) and highlighted by
``ts_headline``. Only the queue methods write, each in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from scraper.archive.postgres.pages import PgPages
from scraper.archive.records import Edit, Exchange, FeedEntry, Gone, PageChange, Queued, SearchHit
from scraper.archive.sqlite.notifyqueue import GONE_STATUSES, _queued
from scraper.archive.sqlite.query import _HANGUL, _QUERY_TOKEN, _WORD, _json_object
from scraper.errors import UsageError
from scraper.models import iso_utc

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tsquery(text: str) -> tuple[str, list[str]]:
    """A SQL expression of type ``tsquery`` with ``%s`` placeholders, and their values, for
    what a user typed; never a syntax error. Each word or phrase goes through
    ``phraseto_tsquery('simple', ...)``, so it is split and normalised as the stored text was;
    a prefix (``word*``) ends in its last word's lexeme with ``:*``; terms are ANDed, and
    ``OR`` between two groups ORs them."""
    groups: list[list[tuple[str, list[str]]]] = [[]]
    for match in _QUERY_TOKEN.finditer(text.replace("\x00", " ")):  # no NUL in a text value
        phrase, word = match.group(1), match.group(2)
        prefix = False
        if phrase is None:
            assert word is not None
            if word == "OR":
                if groups[-1]:
                    groups.append([])
                continue
            prefix = word.endswith("*")
            phrase = word.rstrip("*")
            if _HANGUL.match(phrase):
                prefix = True
        if not _WORD.search(phrase):
            continue
        tokens = _TOKEN.findall(phrase)
        if not (prefix and tokens):
            groups[-1].append(("phraseto_tsquery('simple', %s)", [phrase]))
            continue
        last = "to_tsquery('simple', %s)"  # only word characters: a lexeme, then :*
        if len(tokens) == 1:
            groups[-1].append((last, [f"'{tokens[0]}':*"]))
        else:
            head = " ".join(tokens[:-1])
            groups[-1].append((f"(phraseto_tsquery('simple', %s) <-> {last})",
                               [head, f"'{tokens[-1]}':*"]))  # fmt: skip
    groups = [group for group in groups if group]
    if not groups:
        raise UsageError(f"search: {text!r} has no words to look for")
    sql = " || ".join("(" + " && ".join(term for term, _ in group) + ")" for group in groups)
    return sql, [value for group in groups for _, values in group for value in values]


def _headline_options(highlight: tuple[str, str]) -> str:
    start, stop = (marker.replace('"', "") for marker in highlight)
    return (
        f'StartSel="{start}", StopSel="{stop}", MaxWords=24, MinWords=8, ShortWord=0, '
        'MaxFragments=1, FragmentDelimiter="…"'
    )


class PgQuestions(PgPages):
    """Changes, search, export rows and the feed on PostgreSQL. Never writes."""

    def changes(
        self,
        *,
        since: dt.datetime | None = None,
        site: str | None = None,
        limit: int | None = None,
    ) -> list[PageChange]:
        """The pages whose content changed, newest first (a first version is no change)."""
        where = ["previous_id IS NOT NULL"]
        params: list[Any] = []
        if since is not None:
            where.append("fetched_at >= %s")
            params.append(iso_utc(since))
        if site is not None:
            where.append("site = %s")
            params.append(site)
        sql = (
            "SELECT snapshot_id, previous_id, page_id, url, site, fetched_at, "
            "previous_fetched_at, title, previous_title, words_added, words_removed, "
            "title_changed, author_changed, published_changed, updated_changed, "
            f"description_changed, cause FROM snapshot_changes WHERE {' AND '.join(where)} "
            "ORDER BY fetched_at DESC, snapshot_id DESC"
        )
        if limit is not None:
            sql += " LIMIT %s"
            params.append(limit)
        return [
            PageChange(
                snapshot_id=r[0],
                previous_id=r[1],
                page_id=r[2],
                url=r[3],
                site=r[4],
                fetched_at=r[5],
                previous_fetched_at=r[6],
                title=r[7],
                previous_title=r[8],
                words_added=int(r[9]),
                words_removed=int(r[10]),
                title_changed=bool(r[11]),
                author_changed=bool(r[12]),
                published_changed=bool(r[13]),
                updated_changed=bool(r[14]),
                description_changed=bool(r[15]),
                cause=r[16],
            )
            for r in self._iterate(sql, params)
        ]

    def search(
        self,
        query: str,
        *,
        site: str | None = None,
        since: dt.datetime | None = None,
        limit: int | None = 20,
        all_versions: bool = False,
        highlight: tuple[str, str] = ("**", "**"),
    ) -> list[SearchHit]:
        """Full-text search over snapshot titles and text, best match first (each page once,
        as its newest matching version, unless ``all_versions``). Never writes."""
        expression, words = tsquery(query)
        params: dict[str, Any] = {
            **{f"w{n}": word for n, word in enumerate(words)},
            "since": None if since is None else iso_utc(since),
            "site": site,
            "options": _headline_options(highlight),
            "limit": limit,
        }
        once = "" if all_versions else "AND h.n = 1"
        counter = iter(range(len(words)))
        numbered = re.sub(r"%s", lambda _: f"%(w{next(counter)})s", expression)
        sql = f"""
            WITH q AS (SELECT {numbered} AS query),
            hits AS (
                SELECT s.id, s.page_id, s.fetched_at, s.title, s.text,
                    ts_rank(f.document, q.query) AS score,
                    ROW_NUMBER() OVER (PARTITION BY s.page_id ORDER BY s.id DESC) AS n
                FROM snapshots_fts f JOIN snapshots s ON s.id = f.snapshot_id, q
                WHERE f.document @@ q.query
                    AND (%(since)s::text IS NULL OR s.fetched_at >= %(since)s)
            )
            SELECT h.id, h.page_id, p.url, p.site, h.fetched_at, h.title,
                ts_headline('simple', h.text, q.query, %(options)s), -h.score,
                h.id = (SELECT MAX(id) FROM snapshots WHERE page_id = h.page_id)
            FROM hits h JOIN pages p ON p.id = h.page_id, q
            WHERE (%(site)s::text IS NULL OR p.site = %(site)s) {once}
            ORDER BY -h.score, h.id DESC
            LIMIT %(limit)s
        """
        return [
            SearchHit(
                snapshot_id=r[0],
                page_id=r[1],
                url=r[2],
                site=r[3],
                fetched_at=r[4],
                title=r[5],
                snippet=r[6] or "",
                rank=float(r[7]),
                latest=bool(r[8]),
            )
            for r in self._iterate(sql, params)
        ]

    def snapshot_records(
        self, *, site: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every snapshot as a JSON-ready dict (the export's record), oldest first."""
        sql = """
            SELECT s.id, s.page_id, p.url, p.site, s.fetched_at, s.cause, s.content_hash,
                   s.title, s.author, s.published, s.updated, s.language, s.description,
                   s.site_name, s.canonical_url, s.word_count, s.text, s.markdown, s.metadata,
                   s.raw_sha256, s.confidence
            FROM snapshots s JOIN pages p ON p.id = s.page_id
            WHERE (%(site)s::text IS NULL OR p.site = %(site)s)
                AND (%(since)s::text IS NULL OR s.fetched_at >= %(since)s)
            ORDER BY s.id
        """
        params = {"site": site, "since": None if since is None else iso_utc(since)}
        for r in self._iterate(sql, params):
            record: dict[str, Any] = {
                "url": r[2],
                "snapshot_id": r[0],
                "page_id": r[1],
                "site": r[3],
                "fetched_at": r[4],
                "cause": r[5],
                "content_hash": r[6],
            }
            meta = _json_object(r[18])
            meta.pop("url", None)
            record.update(meta)
            record.update(
                title=r[7],
                author=r[8],
                published=r[9],
                updated=r[10],
                language=r[11],
                description=r[12],
                site_name=r[13] if r[13] is not None else meta.get("site_name"),
                canonical_url=r[14] if r[14] is not None else meta.get("canonical_url"),
                word_count=r[15] if r[15] is not None else meta.get("word_count"),
                text=r[16],
                markdown=r[17] if r[17] is not None else meta.get("markdown", ""),
                raw_sha256=r[19],
                confidence=r[20],
            )
            record.pop("extractor", None)
            yield record

    def exchanges(
        self, *, site: str | None = None, since: dt.datetime | None = None
    ) -> Iterator[Exchange]:
        """The fetches whose response headers were stored (for WARC), oldest first."""
        sql = """
            SELECT f.id, f.page_id, COALESCE(f.url, p.url), f.fetched_at, f.status_code,
                   f.not_modified, f.raw_sha256, f.headers_sha256, f.request_sha256,
                   f.ip_address
            FROM fetches f JOIN pages p ON p.id = f.page_id
            WHERE f.headers_sha256 IS NOT NULL
                AND (%(site)s::text IS NULL OR p.site = %(site)s)
                AND (%(since)s::text IS NULL OR f.fetched_at >= %(since)s)
            ORDER BY f.fetched_at, f.id
        """
        params = {"site": site, "since": None if since is None else iso_utc(since)}
        for r in self._iterate(sql, params):
            yield Exchange(
                fetch_id=r[0],
                page_id=r[1],
                url=r[2],
                fetched_at=r[3],
                status_code=r[4],
                not_modified=bool(r[5]),
                body_sha256=r[6],
                headers_sha256=r[7],
                request_sha256=r[8],
                ip_address=r[9],
            )

    def feed_entries(
        self, sites: Sequence[str] | None, *, since: str | None, limit: int
    ) -> list[FeedEntry]:
        """The newest ``limit`` versions found by fetching (not re-extraction), newest first."""
        rows = self._rows(
            """
            SELECT s.id, c.previous_id, p.url, p.site, s.fetched_at, s.title, c.kind
            FROM snapshots s JOIN pages p ON p.id = s.page_id
            LEFT JOIN changes c ON c.snapshot_id = s.id
            WHERE s.cause = 'fetch' AND (%s::text[] IS NULL OR p.site = ANY(%s::text[]))
                AND (%s::text IS NULL OR s.fetched_at >= %s)
            ORDER BY s.fetched_at DESC, s.id DESC LIMIT %s
            """,
            (
                None if sites is None else list(sites),
                None if sites is None else list(sites),
                since,
                since,
                limit,
            ),
        )
        return [
            FeedEntry(
                snapshot_id=int(r["id"]),
                previous_id=r["previous_id"],
                url=r["url"],
                site=r["site"],
                fetched_at=r["fetched_at"],
                title=r["title"],
                kind=r["kind"],
            )
            for r in rows
        ]


class PgReads(PgQuestions):
    """The notification queue on PostgreSQL (and the questions, from :class:`PgQuestions`)."""

    def site_cursor(self, site: str) -> int | None:
        """The id up to which the site's snapshots are queued (None: never queued)."""
        rows = self._rows("SELECT snapshot_id FROM notify_cursor WHERE site = %s", (site,))
        return int(rows[0]["snapshot_id"]) if rows else None

    def edits_since(
        self, site: str | None, *, after_id: int | None, fetched_since: str
    ) -> list[Edit]:
        """The site's snapshots that are edits, after ``after_id`` (or since a time)."""
        where = "s.id > %s" if after_id is not None else "s.fetched_at >= %s"
        rows = self._rows(
            "SELECT s.id, c.previous_id, p.url FROM snapshots s "
            "JOIN pages p ON p.id = s.page_id JOIN changes c ON c.snapshot_id = s.id "
            f"WHERE p.site IS NOT DISTINCT FROM %s AND {where} AND c.kind = 'edit' "
            "AND c.previous_id IS NOT NULL AND s.cause = 'fetch' ORDER BY s.id",
            (site, after_id if after_id is not None else fetched_since),
        )
        return [Edit(int(r["id"]), int(r["previous_id"]), r["url"]) for r in rows]

    def latest_snapshot_id(self, site: str | None) -> int:
        """The site's newest snapshot id (0: none)."""
        rows = self._rows(
            "SELECT MAX(s.id) AS n FROM snapshots s JOIN pages p ON p.id = s.page_id "
            "WHERE p.site IS NOT DISTINCT FROM %s",
            (site,),
        )
        return int(rows[0]["n"] or 0)

    def gone_pages(self, site: str | None, urls: Sequence[str] | None = None) -> list[Gone]:
        """The site's pages (or only ``urls``) with versions whose last two fetches answered
        404/410."""
        gone = list(GONE_STATUSES)
        rows = self._rows(
            "SELECT p.id, p.url, p.last_status, "
            "(SELECT MAX(id) FROM snapshots WHERE page_id = p.id) AS snap FROM pages p "
            "WHERE p.site IS NOT DISTINCT FROM %s AND p.last_status = ANY(%s) "
            "AND EXISTS (SELECT 1 FROM snapshots s WHERE s.page_id = p.id) "
            "AND (%s::text[] IS NULL OR p.url = ANY(%s::text[]))",
            (
                site,
                gone,
                None if urls is None else list(urls),
                None if urls is None else list(urls),
            ),
        )
        found = []
        for row in rows:
            last = self._rows(
                "SELECT id, status_code FROM fetches WHERE page_id = %s ORDER BY id DESC LIMIT 2",
                (row["id"],),
            )
            if len(last) < 2 or any(f["status_code"] not in GONE_STATUSES for f in last):
                continue
            start = self._rows(
                "SELECT MIN(id) AS n FROM fetches WHERE page_id = %s AND id > COALESCE(("
                "SELECT MAX(id) FROM fetches WHERE page_id = %s AND (status_code IS NULL OR "
                "NOT status_code = ANY(%s))), 0)",
                (row["id"], row["id"], gone),
            )
            found.append(
                Gone(
                    int(row["id"]),
                    row["url"],
                    int(start[0]["n"]),
                    int(row["last_status"]),
                    int(row["snap"]),
                )
            )
        return found

    def queue_notifications(
        self,
        messages: Iterable[Queued],
        *,
        queued_at: str,
        cursors: dict[str, int] | None = None,
    ) -> int:
        """Queue messages (an event already queued for a target is skipped) and move the
        sites' cursors in one transaction; how many were new."""
        added = 0
        with self.transaction() as conn:
            for m in messages:
                cursor = conn.execute(
                    "INSERT INTO notify_queue (event_key, target, kind, site, url, snapshot_id, "
                    "previous_id, title, body, digest, queued_at) "
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (event_key, target) DO NOTHING",
                    (
                        m.event_key,
                        m.target,
                        m.kind,
                        m.site,
                        m.url,
                        m.snapshot_id,
                        m.previous_id,
                        m.title,
                        m.body,
                        int(m.digest),
                        queued_at,
                    ),
                )
                added += max(cursor.rowcount, 0)
            for site, snapshot_id in (cursors or {}).items():
                conn.execute(
                    "INSERT INTO notify_cursor (site, snapshot_id) VALUES (%s, %s) "
                    "ON CONFLICT (site) DO UPDATE SET "
                    "snapshot_id = GREATEST(notify_cursor.snapshot_id, EXCLUDED.snapshot_id)",
                    (site, snapshot_id),
                )
        return added

    def unsent(self, targets: Sequence[str] | None = None) -> list[Queued]:
        """The queued messages not sent yet (only to ``targets`` when given), oldest first."""
        rows = self._rows(
            "SELECT * FROM notify_queue WHERE sent_at IS NULL "
            "AND (%s::text[] IS NULL OR target = ANY(%s::text[])) ORDER BY id",
            (None if targets is None else list(targets),) * 2,
        )
        return [_queued(r) for r in rows]

    def mark_sent(self, ids: Sequence[int], *, sent_at: str, attempts: int) -> None:
        """Mark queued messages sent."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE notify_queue SET sent_at = %s, attempts = attempts + %s, "
                "last_error = NULL WHERE id = ANY(%s)",
                (sent_at, attempts, list(ids)),
            )

    def mark_failed(self, ids: Sequence[int], *, error: str, attempts: int) -> None:
        """Count a failed send of queued messages, keeping them unsent."""
        with self.transaction() as conn:
            conn.execute(
                "UPDATE notify_queue SET attempts = attempts + %s, last_error = %s "
                "WHERE id = ANY(%s)",
                (attempts, error, list(ids)),
            )
