"""PostgreSQL archive, questions: full-text search; changes, export rows, the feed and the
notification queue are the archive core's (``scraper.archive.sql.questions``, ``notifyqueue``).

Search is PostgreSQL's text search over ``snapshots_fts`` (``simple`` configuration): what the
user typed becomes a ``tsquery`` by the same rules as SQLite's FTS5 query (every word literal,
``"a phrase"``, ``word*`` a prefix, ``OR``, a Korean word a prefix), ranked by ``ts_rank``
(title above text; reported negated, so that lower is better as with bm25) and highlighted by
``ts_headline``. Only the queue methods write, each in one transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from scraper.archive.postgres.pages import PgPages
from scraper.archive.records import SearchHit
from scraper.archive.sql.notifyqueue import ArchiveNotifyQueue
from scraper.archive.sql.questions import ArchiveQuestions
from scraper.archive.sql.rows import search_hit
from scraper.archive.sql.searchterms import HANGUL, QUERY_TOKEN, WORD
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
    for match in QUERY_TOKEN.finditer(text.replace("\x00", " ")):  # no NUL in a text value
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
            if HANGUL.match(phrase):
                prefix = True
        if not WORD.search(phrase):
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


class PgQuestions(PgPages, ArchiveQuestions):
    """Search on PostgreSQL (tsquery); changes, export rows and the feed are the archive
    core's. Never writes."""

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
        return [search_hit(r) for r in self._iterate(sql, params)]


class PgReads(PgQuestions, ArchiveNotifyQueue):
    """The notification queue on PostgreSQL (the archive core's), and the questions."""
