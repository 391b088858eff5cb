"""Moving an archive whole between backends (``scraper migrate``); the check is compare.py.

Backend-neutral: each backend package has a ``tables`` module whose class gives the small
:class:`Tables` interface (the archive's tables, columns, keys and foreign keys as its schema
says; rows in key order; inserts that keep the rows' ids; sequences set past them). Nothing
here names a table of the archive: what is copied is every content table of the source's
schema, in the order its foreign keys need.

A copy goes into an empty (or new) target only, created and migrated first by
:func:`scraper.archive.open_archive`. It runs in batches, each batch and the copy's progress in
one transaction of the target, so a copy that is killed leaves committed batches and a
``_scraper_transfer`` table saying how far it got; the copy is complete only when that table
is gone (the last transaction sets the sequences and drops it). A re-run then refuses the
half-copied target unless told to ``resume`` (go on from the last committed batch) or
``restart`` (empty it first). The source is read in one read transaction, every table as of
one moment. The full-text index is built on the target by its own triggers as snapshots
arrive.

What PostgreSQL cannot hold is put in its place and counted, never dropped silently: a NUL
character in text becomes U+FFFD; text that was not UTF-8 in a SQLite file is read with U+FFFD
for each bad byte (on every target, since no valid text can hold it).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from typing import Any, Protocol

from scraper.archive.backends import backend_module, open_archive
from scraper.errors import ArchiveError, UsageError

#: the target's record of a copy under way: one row per table; gone once the copy is complete
STATE_TABLE = "_scraper_transfer"
_STATE_DDL = (
    f"CREATE TABLE {STATE_TABLE} (name TEXT PRIMARY KEY, done INTEGER NOT NULL DEFAULT 0, "
    "copied INTEGER NOT NULL DEFAULT 0, last_key TEXT)"
)
_SOURCE_ROW = "*source*"  #: the state row that names the source (its identity in last_key)
#: rows and bytes per batch (one target transaction each) unless told otherwise
BATCH_ROWS = 1000
BATCH_BYTES = 16 * 1024 * 1024
REPLACEMENT = "\ufffd"


class Tables(Protocol):
    """What a backend gives ``scraper migrate``: whole tables of one archive."""

    location: str
    keeps_nul: bool
    invalid_text: int

    @property
    def identity(self) -> str: ...

    def close(self) -> None: ...

    def table_names(self) -> list[str]: ...

    def content_tables(self) -> list[str]: ...

    def columns(self, table: str) -> list[str]: ...

    def key(self, table: str) -> list[str]: ...

    def references(self, table: str) -> set[str]: ...

    def pending_migrations(self) -> list[str]: ...

    def count(self, table: str) -> int: ...

    def begin_reading(self) -> None: ...

    def rows(
        self,
        table: str,
        columns: Sequence[str],
        key: Sequence[str],
        after: Sequence[Any] | None = None,
    ) -> Iterator[tuple[Any, ...]]: ...

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None: ...

    def transaction(self) -> AbstractContextManager[None]: ...

    def reset_ids(self, table: str) -> None: ...

    def create_state_table(self, ddl: str) -> None: ...

    def drop_table(self, table: str) -> None: ...

    def delete_all(self, table: str) -> None: ...

    def db(self) -> Any: ...


def open_tables(db: str, *, write: bool) -> Tables:
    """The :class:`Tables` of the archive ``db`` names (a path or a URL), from the ``tables``
    module beside the backend's module."""
    package = backend_module(db).__name__.rsplit(".", 1)[0]
    module = importlib.import_module(f"{package}.tables")
    for name in dir(module):
        cls = getattr(module, name)
        if isinstance(cls, type) and name.endswith("Tables") and cls.__module__ == module.__name__:
            tables: Tables = cls(db, write=write)
            return tables
    raise ArchiveError(f"{db}: this backend cannot copy whole tables")


@dataclass
class CopyReport:
    """What a copy did."""

    tables: int = 0
    rows: int = 0  #: rows copied by this run (a resumed copy: since it resumed)
    total: int = 0  #: rows of the source
    nul_replaced: int = 0  #: text values whose NUL characters became U+FFFD
    invalid_text: int = 0  #: text values of the source that were not UTF-8
    resumed_from: int = 0  #: rows an earlier, cut-short run had copied
    notes: list[str] = field(default_factory=list)


def order_tables(names: Sequence[str], references: Callable[[str], set[str]]) -> list[str]:
    """``names`` so that each table comes after those its foreign keys point at."""
    done: list[str] = []
    placing: set[str] = set()

    def place(name: str) -> None:
        if name in done or name not in names:
            return
        if name in placing:
            raise ArchiveError(f"the foreign keys of table {name} go round in a circle")
        placing.add(name)
        for other in sorted(references(name)):
            place(other)
        placing.discard(name)
        done.append(name)

    for name in sorted(names):
        place(name)
    return done


def _clean(value: Any, keeps_nul: bool, report: CopyReport) -> Any:
    if isinstance(value, str):
        if not keeps_nul and "\x00" in value:
            report.nul_replaced += 1
            return value.replace("\x00", REPLACEMENT)
        return value
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _size(row: Sequence[Any]) -> int:
    return sum(len(v) if isinstance(v, str | bytes) else 8 for v in row)


def _check_source(source: Tables) -> None:
    if not source.content_tables():
        raise ArchiveError(f"{source.location}: no scraper archive there (no tables)")
    pending = source.pending_migrations()
    if pending:
        raise ArchiveError(
            f"{source.location}: the archive's schema is older than this scraper's "
            f"({len(pending)} migrations not applied, from {pending[0]}); bring it up to date "
            f"first: scraper init --db {source.location}"
        )


def _plan(
    source: Tables, target: Tables, report: CopyReport
) -> list[tuple[str, list[str], list[str]]]:
    """(table, columns, key) for each content table of the source that the target's schema
    has, in foreign-key order (another table, such as another program's in an adopted file,
    is left with a note); ArchiveError when the target lacks a column of the source."""
    target_tables = set(target.content_tables())
    plan = []
    for table in order_tables(source.content_tables(), target.references):
        if table not in target_tables:
            report.notes.append(
                f"table {table} is not part of scraper's archive schema: not copied"
            )
            continue
        columns = source.columns(table)
        missing = sorted(set(columns) - set(target.columns(table)))
        if missing:
            raise ArchiveError(
                f"{source.location}: table {table} has columns the target lacks "
                f"({', '.join(missing)}): is the source from a newer scraper?"
            )
        plan.append((table, columns, source.key(table)))
    return plan


def _state(target: Tables) -> dict[str, tuple[int, int, str | None]] | None:
    """The target's record of a copy under way (name -> done, copied, last_key), or None."""
    if STATE_TABLE not in target.table_names():
        return None
    rows = target.db().all(f"SELECT name, done, copied, last_key FROM {STATE_TABLE}")
    return {str(r[0]): (int(r[1]), int(r[2]), r[3]) for r in rows}


def copy_archive(
    source_db: str,
    target_db: str,
    *,
    resume: bool = False,
    restart: bool = False,
    batch_rows: int = BATCH_ROWS,
    batch_bytes: int = BATCH_BYTES,
    on_start: Callable[[int, int], None] | None = None,
    on_rows: Callable[[str, int], None] | None = None,
) -> CopyReport:
    """Copy the archive ``source_db`` whole into the empty (or new) archive ``target_db``.

    ``on_start(total, already)`` is told the source's rows and those a cut-short run had
    copied; ``on_rows(table, n)`` each batch once it is committed.

    :raises UsageError: the two name one archive; ``resume`` and ``restart`` together.
    :raises ArchiveError: the target holds data (or a cut-short copy, without ``resume`` or
        ``restart``), the source is not an up-to-date archive, or a database error.
    """
    if resume and restart:
        raise UsageError("--resume and --restart cannot be used together")
    report = CopyReport()
    with ExitStack() as stack:
        source = open_tables(source_db, write=False)
        stack.callback(source.close)
        _check_source(source)
        open_archive(target_db).close()  # created and migrated to the current schema
        target = open_tables(target_db, write=True)
        stack.callback(target.close)
        if target.identity == source.identity:
            raise UsageError(f"{target.location}: --from and --to name the same archive")
        plan = _plan(source, target, report)
        state = _prepare_target(source, target, plan, resume=resume, restart=restart)
        source.begin_reading()
        counts = {table: source.count(table) for table, _, _ in plan}
        report.total = sum(counts.values())
        report.resumed_from = sum(copied for _, copied, _ in state.values())
        if on_start is not None:
            on_start(report.total, report.resumed_from)
        for table, columns, key in plan:
            done, copied, last_key = state.get(table, (0, 0, None))
            report.tables += 1
            if done:
                continue
            after = json.loads(last_key) if last_key else None
            sizes = (batch_rows, batch_bytes)
            _copy_table(source, target, table, columns, key, after, copied, report, sizes, on_rows)
        with target.transaction():
            for table, _, _ in plan:
                target.reset_ids(table)
            target.drop_table(STATE_TABLE)
        report.invalid_text = source.invalid_text
    return report


def _prepare_target(
    source: Tables,
    target: Tables,
    plan: list[tuple[str, list[str], list[str]]],
    *,
    resume: bool,
    restart: bool,
) -> dict[str, tuple[int, int, str | None]]:
    """Check the target is empty (or a cut-short copy of this source, with ``resume``;
    emptied with ``restart``), and start the record of the copy; the state to go on from."""
    state = _state(target)
    if state is not None and restart:
        with target.transaction():
            for table, _, _ in reversed(plan):
                target.delete_all(table)
            target.drop_table(STATE_TABLE)
        state = None
    if state is not None:
        copied = sum(c for name, (_, c, _) in state.items() if name != _SOURCE_ROW)
        origin = state.get(_SOURCE_ROW, (0, 0, None))[2]
        if not resume:
            raise ArchiveError(
                f"{target.location}: holds a copy that was cut short ({copied} rows copied); "
                "run again with --resume to finish it, or --restart to empty it and start again"
            )
        if origin != source.identity:
            raise ArchiveError(
                f"{target.location}: holds a cut-short copy of another archive ({origin}); "
                "--restart empties it and copies this one"
            )
        return {name: v for name, v in state.items() if name != _SOURCE_ROW}
    busy = [(table, n) for table in target.content_tables() if (n := target.count(table))]
    if busy:
        shown = ", ".join(f"{table} {n}" for table, n in busy[:4])
        raise ArchiveError(
            f"{target.location}: already holds data ({shown} rows); migrate copies into an "
            "empty database or a new file only"
        )
    with target.transaction():
        target.create_state_table(_STATE_DDL)
        target.db().run(
            f"INSERT INTO {STATE_TABLE} (name, last_key) VALUES (?, ?)",
            (_SOURCE_ROW, source.identity),
        )
    return {}


def _copy_table(
    source: Tables,
    target: Tables,
    table: str,
    columns: list[str],
    key: list[str],
    after: list[Any] | None,
    copied: int,
    report: CopyReport,
    sizes: tuple[int, int],
    on_rows: Callable[[str, int], None] | None,
) -> None:
    """Copy one table from after the key ``after``, a batch per target transaction (at most
    ``sizes``: rows, bytes)."""
    batch_rows, batch_bytes = sizes
    selected = columns + [k for k in key if k not in columns]
    positions = [selected.index(k) for k in key]
    width = len(columns)
    db = target.db()
    db.run(
        f"INSERT INTO {STATE_TABLE} (name, copied) SELECT ?, 0 WHERE NOT EXISTS "
        f"(SELECT 1 FROM {STATE_TABLE} WHERE name = ?)",
        (table, table),
    )

    def flush(batch: list[tuple[Any, ...]]) -> None:
        nonlocal copied
        last = [batch[-1][i] for i in positions]
        rows = [[_clean(v, target.keeps_nul, report) for v in row[:width]] for row in batch]
        with target.transaction():
            target.insert(table, columns, rows)
            copied += len(rows)
            db.run(
                f"UPDATE {STATE_TABLE} SET copied = ?, last_key = ? WHERE name = ?",
                (copied, json.dumps(last), table),
            )
        report.rows += len(rows)
        if on_rows is not None:
            on_rows(table, len(rows))

    batch: list[tuple[Any, ...]] = []
    size = 0
    for row in source.rows(table, selected, key, after):
        row_size = _size(row)
        if batch and size + row_size > batch_bytes:  # a large row goes in a batch of its own
            flush(batch)
            batch, size = [], 0
        batch.append(row)
        size += row_size
        if len(batch) >= batch_rows:
            flush(batch)
            batch, size = [], 0
    if batch:
        flush(batch)
    with target.transaction():
        db.run(f"UPDATE {STATE_TABLE} SET done = 1 WHERE name = ?", (table,))


__all__ = [
    "BATCH_BYTES",
    "BATCH_ROWS",
    "STATE_TABLE",
    "CopyReport",
    "Tables",
    "copy_archive",
    "open_tables",
    "order_tables",
]
