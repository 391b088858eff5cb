"""scraper: fetch pages politely, extract the clean article, keep every version in SQLite.

The public names are loaded on first use (PEP 562): ``import scraper`` alone, which every
``scraper`` command and helper process does first, imports none of the archive, fetch or
extraction code, so a command pays only for the parts it uses. ``from scraper import X`` and
``scraper.X`` work as for any module; ``__all__`` lists them.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

from scraper.lazyimports import defer_httpx_cli, lazy_names

defer_httpx_cli()  # before anything imports httpx: its own CLI module costs every process

if TYPE_CHECKING:
    from scraper.archive import Archive
    from scraper.errors import ScraperError
    from scraper.extract import extract
    from scraper.models import Article, FetchResult, Snapshot

__version__ = "0.1.0"

__all__ = [
    "Archive",
    "Article",
    "FetchResult",
    "ScraperError",
    "Snapshot",
    "__version__",
    "extract",
]

#: public name -> the module it comes from (imported on first use)
_LAZY = {
    "Archive": "scraper.archive",
    "Article": "scraper.models",
    "FetchResult": "scraper.models",
    "ScraperError": "scraper.errors",
    "Snapshot": "scraper.models",
}


class _Package(types.ModuleType):
    """The package's module type: its ``extract`` is always the function.

    The name is also a subpackage's, and the import system sets ``scraper.extract`` to the
    subpackage when it first loads it (say in an extraction worker): an eager
    ``from scraper.extract import extract`` here used to undo that, a lazy one must refuse it.
    """

    @property
    def extract(self) -> Any:
        value = self.__dict__.get("_extract")
        if value is None:
            value = self.__dict__["_extract"] = importlib.import_module("scraper.extract").extract
        return value

    @extract.setter
    def extract(self, value: Any) -> None:
        if value is not sys.modules.get("scraper.extract"):
            self.__dict__["_extract"] = value  # a test's stand-in, say


sys.modules[__name__].__class__ = _Package

__getattr__, __dir__ = lazy_names(globals(), _LAZY)
