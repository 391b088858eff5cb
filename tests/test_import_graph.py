"""The package's imports form no circle: every import counts, also one under ``TYPE_CHECKING`` or
inside a function, and importing ``scraper.a.b`` from outside ``scraper.a`` runs
``scraper/a/__init__.py`` too (so ``learn`` taking a name from ``crawl.events`` is a circle when
the crawl's package imports ``learn``). Read from the source with :mod:`ast`; nothing is run, so
a module loaded by name (``importlib.import_module``) is not an arrow here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import scraper

PACKAGE = Path(scraper.__file__).parent

#: circles known and left for later, each with why (remove one once it is broken)
KNOWN = {
    frozenset(
        {
            "scraper.archive.sqlite.crawlstate",
            "scraper.archive.sqlite.query",
            "scraper.archive.sqlite.schedule",
            "scraper.archive.sqlite.store",
        }
    ): "the SQLite store's parts type against Archive, which is built of them",
}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its own name)."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The dotted names ``name`` imports: module and, for ``from m import x``, ``m.x``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            yield target
            yield from (f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in modules)


def import_graph() -> dict[str, set[str]]:
    """module -> the modules importing it runs: the target and each package above it that the
    importer is not inside (its own packages are already being imported)."""
    modules = _modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target in _imported(name, path, modules):
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                runs = ".".join(parts[:end])
                inside = name == runs or name.startswith(runs + ".")
                if runs in modules and runs != name and (end == len(parts) or not inside):
                    graph[name].add(runs)
    return graph


def circles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: set[frozenset[str]] = set()

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                found.add(frozenset(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_the_source() -> None:
    """The graph has the arrows the code shows (a check of the reader, not of the design)."""
    graph = import_graph()
    assert "scraper.crawl.summary" in graph["scraper.crawl.events"]  # RunFinished's summary
    assert "scraper.learn" in graph["scraper.crawl.engine"]
    assert "scraper.crawl" not in graph["scraper.crawl.engine"]  # its own package
    assert "scraper.crawl" in graph["scraper.cli.crawlout"]  # a TYPE_CHECKING import, too


def test_a_circle_is_found_through_a_package_and_a_type_only_import() -> None:
    graph = {
        "p": {"p.engine"},
        "p.engine": {"low"},
        "low": {"p"},  # low imports p.events: running p/__init__ first
        "p.events": {"p.summary"},
        "p.summary": set(),
    }
    assert circles(graph) == {frozenset({"p", "p.engine", "low"})}
    graph["p.summary"].add("p.events")
    assert circles(graph) == {
        frozenset({"p", "p.engine", "low"}),
        frozenset({"p.events", "p.summary"}),
    }


def test_no_new_import_circle() -> None:
    found = circles(import_graph())
    new = [sorted(group) for group in found - KNOWN.keys()]
    assert new == [], f"import circles: {new}"
