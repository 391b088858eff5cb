"""Comparing two archives table by table (``scraper migrate --check``); reads only.

Over the same :class:`~scraper.archive.transfer.Tables` interface as the copy: every content
table of both archives, each archive in one read transaction, walked in key order on both
sides at once: rows on each side, a content hash of each table (every column of every row:
snapshot texts, raw bodies, ...) and the first keys whose rows differ or are on one side only.
Text is compared as migrate stores it (a NUL as U+FFFD, as on PostgreSQL).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from scraper.archive.transfer import REPLACEMENT, Tables, open_tables


@dataclass
class TableDiff:
    """How one table of two archives compares: rows on each side, a content hash of each
    (every column of every row, in key order) and the first keys that differ."""

    table: str
    rows_a: int = 0
    rows_b: int = 0
    hash_a: str = ""
    hash_b: str = ""
    only_a: int = 0
    only_b: int = 0
    changed: int = 0
    examples: list[str] = field(default_factory=list)  #: a few, e.g. "id 7: text differs"
    missing: str | None = None  #: "a" or "b": the table is not on that side

    @property
    def same(self) -> bool:
        return self.missing is None and not (self.only_a or self.only_b or self.changed)


#: differences named one by one per table, at most
EXAMPLES = 5


def _comparable(value: Any) -> Any:
    """A value as both backends can hold it (text with NUL as migrate stores it on PostgreSQL;
    blobs as bytes; 1.0 and 1 alike)."""
    if isinstance(value, str):
        return value.replace("\x00", REPLACEMENT)
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _hash_row(digest: Any, row: Sequence[Any]) -> None:
    digest.update(repr(tuple(row)).encode("utf-8", "surrogatepass"))
    digest.update(b"\n")


def compare_archives(a_db: str, b_db: str) -> list[TableDiff]:
    """Compare every content table of the archives ``a_db`` and ``b_db`` row by row, in key
    order, each read in one read transaction; one :class:`TableDiff` per table."""
    import hashlib

    diffs: list[TableDiff] = []
    with ExitStack() as stack:
        a = open_tables(a_db, write=False)
        stack.callback(a.close)
        b = open_tables(b_db, write=False)
        stack.callback(b.close)
        a.begin_reading()
        b.begin_reading()
        tables_a, tables_b = set(a.content_tables()), set(b.content_tables())
        for table in sorted(tables_a | tables_b):
            diff = TableDiff(table)
            diffs.append(diff)
            if table not in tables_b or table not in tables_a:
                diff.missing = "b" if table not in tables_b else "a"
                side = a if diff.missing == "b" else b
                diff.rows_a, diff.rows_b = (side.count(table), 0) if diff.missing == "b" else (
                    0, side.count(table))  # fmt: skip
                continue
            names_b = set(b.columns(table))
            columns = [c for c in a.columns(table) if c in names_b]
            key = a.key(table)
            selected = columns + [k for k in key if k not in columns]
            positions = [selected.index(k) for k in key]
            hash_a, hash_b = hashlib.sha256(), hashlib.sha256()
            shape = (table, selected, key, positions, len(columns))
            _merge(diff, _keyed(a, *shape, hash_a), _keyed(b, *shape, hash_b), columns)
            diff.hash_a, diff.hash_b = hash_a.hexdigest()[:16], hash_b.hexdigest()[:16]
    return diffs


def _keyed(
    side: Tables,
    table: str,
    selected: list[str],
    key: list[str],
    positions: list[int],
    width: int,
    digest: Any,
) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
    """(key, row) of each row of ``table`` in key order, each added to ``digest`` as read."""
    for raw in side.rows(table, selected, key):
        row = [_comparable(v) for v in raw]
        _hash_row(digest, row[:width])
        yield tuple(row[i] for i in positions), row[:width]


def _merge(
    diff: TableDiff,
    left: Iterator[tuple[tuple[Any, ...], list[Any]]],
    right: Iterator[tuple[tuple[Any, ...], list[Any]]],
    columns: list[str],
) -> None:
    """Walk both sides in key order at once, counting the rows only on one side and those
    that differ."""
    end = object()

    def shown(key: tuple[Any, ...]) -> str:
        return ", ".join(str(k)[:40] for k in key)

    def example(text: str) -> None:
        if len(diff.examples) < EXAMPLES:
            diff.examples.append(text)

    x: Any = next(left, end)
    y: Any = next(right, end)
    while x is not end or y is not end:
        if y is end or (x is not end and x[0] < y[0]):
            diff.rows_a += 1
            diff.only_a += 1
            example(f"{shown(x[0])}: only in the first")
            x = next(left, end)
        elif x is end or y[0] < x[0]:
            diff.rows_b += 1
            diff.only_b += 1
            example(f"{shown(y[0])}: only in the second")
            y = next(right, end)
        else:
            diff.rows_a += 1
            diff.rows_b += 1
            if x[1] != y[1]:
                diff.changed += 1
                names = [c for c, u, v in zip(columns, x[1], y[1], strict=False) if u != v]
                example(f"{shown(x[0])}: {', '.join(names)} differ{'s' if len(names) == 1 else ''}")
            x = next(left, end)
            y = next(right, end)


__all__ = ["EXAMPLES", "TableDiff", "compare_archives"]
