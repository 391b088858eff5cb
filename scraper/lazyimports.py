"""What ``import scraper`` does so that every command and helper process starts sooner.

:func:`lazy_names` gives a package the module ``__getattr__`` and ``__dir__`` of PEP 562, so
that its public names are imported on first use (``scraper``, ``scraper.archive`` and
``scraper.crawl`` re-export names from modules a command may never need).

httpx's package ``__init__`` imports ``httpx._main``, its own command-line client, whenever
that client's dependencies (rich, pygments, click) are installed; rich is installed here
because a development tool needs it. That import is about 40-60 ms of CPU in every process
that imports httpx (the crawl, its forkserver, ``scraper fetch``), for a function scraper never
calls. So, before httpx is first imported, :func:`defer_httpx_cli` puts a finder first on
``sys.meta_path`` that loads ``httpx._main`` as a stand-in: a module whose ``main`` runs the
real module's code (into that same module object) on its first call, as does the first look-up
of any other name of it. ``httpx.main()`` still runs httpx's client, ``import httpx._main``
still gives the module with all its names, and the ``httpx`` command, a process that does not
import scraper, is not touched at all.

It does nothing when httpx is already imported (then ``httpx._main`` is whatever httpx chose),
and when rich is absent the real code fails to import as it would have; the stand-in's ``main``
then says how to install the client and exits with 1, as httpx's own fallback does. Must not
import httpx or anything heavy itself: it runs first in every process of the package.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
import threading
import types
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from importlib.abc import Loader

__all__ = ["defer_httpx_cli", "lazy_names"]

_NAME = "httpx._main"


class _DeferredCli(types.ModuleType):
    """``httpx._main`` until something uses it; then the real module, run in place."""

    _real_spec: importlib.machinery.ModuleSpec
    _loaded = False
    _lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # the import system's own probes (__path__...) do not load it; ``*`` (__all__) does
        if (name.startswith("__") and name != "__all__") or self._loaded:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        self._load()
        return getattr(self, name)

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            self._loaded = True
            loader = self._real_spec.loader
            assert loader is not None
            try:
                loader.exec_module(self)  # httpx's code, into this module: main and the rest
            except ImportError:
                self.__dict__["main"] = _fallback  # as httpx itself has, without rich


def _fallback() -> None:
    """httpx's client without its dependencies: say what to install, exit 1 (as httpx does)."""
    print("httpx's command-line client needs its extra: pip install 'httpx[cli]'")
    sys.exit(1)


def _main_of(module: _DeferredCli) -> Any:
    def main(*args: Any, **kwargs: Any) -> Any:
        """httpx's command-line client (its module is imported at this first call)."""
        module._load()
        return module.__dict__["main"](*args, **kwargs)

    return main


class _Finder:
    """Finds ``httpx._main`` (once) and loads it as a :class:`_DeferredCli`: a meta path
    finder and its loader (duck-typed: ``importlib.abc`` alone costs a few ms to import)."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: types.ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != _NAME:
            return None
        _remove_finder()
        real = importlib.machinery.PathFinder.find_spec(fullname, path)
        if real is None or real.loader is None:
            return None  # not found where httpx is: the import system says so itself
        spec = importlib.machinery.ModuleSpec(fullname, cast("Loader", self), origin=real.origin)
        spec.has_location = real.has_location
        spec.loader_state = real
        return spec

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _DeferredCli(spec.name)
        module._real_spec = spec.loader_state
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        assert isinstance(module, _DeferredCli)
        module.__dict__["main"] = _main_of(module)


def _remove_finder() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _Finder)]


def defer_httpx_cli() -> None:
    """Put the finder in place, unless httpx is already imported."""
    if "httpx" in sys.modules or _NAME in sys.modules:
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def lazy_names(
    package: dict[str, Any], origins: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's ``__getattr__`` and ``__dir__`` (PEP 562), given its ``globals()``: each
    name of ``origins`` is imported from the module it maps to on first use, and kept in the
    package (the next lookup does not come here); any other name is an AttributeError, so that
    ``from package import submodule`` imports the submodule."""
    name_of = package["__name__"]

    def __getattr__(name: str) -> Any:
        module = origins.get(name)
        if module is None:
            raise AttributeError(f"module {name_of!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        package[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(package) | set(package["__all__"]))

    return __getattr__, __dir__
