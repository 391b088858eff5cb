"""A command imports only what it uses: ``import scraper`` is light, its public names load on
first use, httpx's own CLI module waits until something uses it, and a crawl of unchanged
pages never imports the extraction stack in its own process. Each check runs in a fresh
interpreter: this one has imported everything long ago."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

from tests.server import LocalServer, with_etag

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter from the checkout (its stdout is JSON)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _loaded(code: str) -> list[str]:
    """The modules loaded after ``code``, in a fresh interpreter."""
    done = _python(code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n")
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def _under(modules: list[str], *packages: str) -> list[str]:
    return [m for m in modules if m.split(".")[0] in packages or m.startswith(packages)]


def test_import_scraper_loads_none_of_its_stages() -> None:
    modules = _loaded("import scraper")
    assert [m for m in modules if m.startswith("scraper")] == ["scraper", "scraper.lazyimports"]
    assert _under(modules, "httpx", "sqlite_utils", "selectolax", "lxml", "click") == []


def test_every_public_name_imports_and_is_the_library_object() -> None:
    done = _python(
        """
        import json
        import scraper
        names = {}
        for name in scraper.__all__:
            exec(f"from scraper import {name} as value", names)
            names[name] = names.pop("value")
        from scraper.archive import Archive
        from scraper.errors import ScraperError
        from scraper.extract import extract
        from scraper.models import Article, FetchResult, Snapshot
        expected = dict(Archive=Archive, Article=Article, FetchResult=FetchResult,
                        ScraperError=ScraperError, Snapshot=Snapshot, extract=extract,
                        __version__=scraper.__version__)
        print(json.dumps({
            "same": sorted(n for n in scraper.__all__ if names[n] is expected[n]),
            "attributes": sorted(n for n in scraper.__all__ if getattr(scraper, n) is expected[n]),
            "in_dir": sorted(set(scraper.__all__) - set(dir(scraper))),
        }))
        """
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    everything = sorted(
        ["Archive", "Article", "FetchResult", "ScraperError", "Snapshot", "__version__", "extract"]
    )
    assert found == {"same": everything, "attributes": everything, "in_dir": []}


def test_scraper_extract_stays_the_function_whatever_loads_the_subpackage_first() -> None:
    """``scraper.extract`` is both a subpackage and the public function: loading the
    subpackage (an extraction worker does) must not turn the attribute into the module."""
    for first in ("import scraper.extract.content", "from scraper.extract import clean"):
        done = _python(
            f"""
            {first}
            import types, scraper
            from scraper import extract
            assert callable(scraper.extract) and not isinstance(scraper.extract, types.ModuleType)
            assert extract is scraper.extract
            import scraper.extract.blocks
            assert extract is scraper.extract
            print(scraper.extract(b"<p>one two three four five six</p>").text)
            """
        )
        assert done.returncode == 0, (first, done.stderr)
        assert done.stdout.strip() == "one two three four five six"


def test_submodules_import_by_name_from_the_package() -> None:
    done = _python("from scraper import stagecpu, diff\nprint(stagecpu.__name__, diff.__name__)")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["scraper.stagecpu", "scraper.diff"]
    done = _python("from scraper import no_such_name")
    assert done.returncode == 1
    assert "cannot import name 'no_such_name'" in done.stderr


def test_httpx_cli_module_waits_until_something_uses_it() -> None:
    modules = _loaded("import scraper.fetch.client")
    assert "httpx" in modules
    assert _under(modules, "rich", "pygments") == []
    # httpx's own names work, and its CLI is imported when asked for
    done = _python(
        """
        import scraper, httpx, sys
        assert httpx.Client and httpx.AsyncClient and callable(httpx.main)
        import httpx._main
        print(callable(httpx._main.print_help), "rich.console" in sys.modules)
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "True"]


def test_httpx_cli_without_rich_still_says_what_to_install() -> None:
    """With the CLI's dependencies missing, ``httpx.main`` behaves as httpx's own fallback."""
    done = _python(
        """
        import sys
        class NoRich:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("rich", "pygments"):
                    raise ImportError(f"no module named {name!r}")
                return None
        sys.meta_path.insert(0, NoRich())
        import scraper, httpx
        assert httpx.Client
        httpx.main()
        """
    )
    assert done.returncode == 1
    assert "pip install 'httpx[cli]'" in done.stdout


def test_httpx_imported_before_scraper_is_left_alone() -> None:
    modules = _loaded("import httpx, scraper")
    assert "httpx._main" in modules
    assert "rich.console" in modules


def test_a_crawl_of_unchanged_pages_imports_no_extraction_in_its_process(
    server: LocalServer, tmp_path: Path
) -> None:
    pages = [f"/p{i}.html" for i in range(3)]
    links = "".join(f'<a href="{p}">{p}</a>' for p in pages)
    server.route("/", handler=with_etag(f"<html><body>{links}</body></html>".encode(), '"i"'))
    for number, page in enumerate(pages):
        words = " ".join(f"word{number}x{i}" for i in range(60))
        body = f"<html><body><article><h1>Page {number}</h1><p>{words}.</p></article></body></html>"
        server.route(page, handler=with_etag(body.encode(), f'"p{number}"'))
    config = tmp_path / "sites.toml"
    config.write_text(
        "[defaults]\ndelay_seconds = 0\nallow_private = true\n\n"
        f'[[site]]\nname = "s"\nstart_urls = ["{server.url("/")}"]\n'
    )
    db = tmp_path / "archive.db"
    crawl = f"""
        import atexit, json, sys
        from scraper.cli import cli
        atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stdout))
        cli(["crawl", "--config", {str(config)!r}, "--db", {str(db)!r}, "--quiet", *sys.argv[1:]])
        """
    first = _python(crawl)
    assert first.returncode == 0, first.stderr
    assert "4 new" in first.stderr
    again = _python(crawl, "--revisit", "0")
    assert again.returncode == 0, again.stderr
    assert "4 not modified" in again.stderr
    modules = json.loads(again.stdout.splitlines()[-1])
    assert "scraper.crawl.engine" in modules  # the hook did see the crawl
    unused = ("scraper.extract", "trafilatura", "rich", "charset_normalizer", "lxml", "selectolax")
    assert _under(modules, *unused) == []
    # the process ended without collecting its heap: the archive was closed whole before
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        runs = conn.execute("SELECT ended_at IS NOT NULL, exit_code FROM runs").fetchall()
    assert runs == [(1, 0), (1, 0)]


def test_a_crawl_gives_the_collector_back_its_heap(server: LocalServer, tmp_path: Path) -> None:
    """The crawl command freezes the heap for the run only: a process that runs commands one
    after another (this one) collects as before afterwards."""
    import gc

    from click.testing import CliRunner

    from scraper.cli import cli

    server.route("/", handler=with_etag(b"<html><body><p>one page</p></body></html>", '"x"'))
    config = tmp_path / "sites.toml"
    config.write_text(
        "[defaults]\ndelay_seconds = 0\nallow_private = true\n\n"
        f'[[site]]\nname = "s"\nstart_urls = ["{server.url("/")}"]\n'
    )
    assert gc.get_freeze_count() == 0
    args = ["crawl", "--config", str(config), "--db", str(tmp_path / "a.db"), "--quiet"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert gc.get_freeze_count() == 0
    assert gc.isenabled()


def test_output_is_flushed_at_exit_without_the_last_collection() -> None:
    """The command process skips collecting its heap at exit: what it wrote still arrives."""
    done = _python(
        """
        import sys
        import scraper.cli
        sys.stdout.write("x" * 1_000_000)
        sys.stderr.write("the end")
        """
    )
    assert done.returncode == 0
    assert done.stdout == "x" * 1_000_000
    assert done.stderr == "the end"
