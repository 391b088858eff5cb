"""The bundled demo: a small local news site served on 127.0.0.1, archived, changed, archived again.

``python -m scraper.demo`` (``make demo``) runs it end to end and ends by itself. Everything it
writes goes under ``data/demo/``. It reaches no address but 127.0.0.1.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SITE = HERE / "site"
SITE_V2 = HERE / "site-v2"
CHANGED_PAGE = "/news/fish-market-vote.html"


class _Handler(SimpleHTTPRequestHandler):
    """Static files, with ``http://HOST`` in XML files replaced by the server's own address."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def end_headers(self) -> None:
        # Validators let the second crawl ask "changed since?" and get 304s.
        self.send_header("Cache-Control", "max-age=0")
        super().end_headers()

    def send_head(self) -> Any:
        path = Path(self.translate_path(self.path))
        if path.suffix == ".xml" and path.is_file():
            host = f"http://{self.headers.get('Host', '127.0.0.1')}"
            body = path.read_bytes().replace(b"http://HOST", host.encode())
            self.send_response(200)
            self.send_header("Content-Type", "application/xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            import io

            return io.BytesIO(body)
        return super().send_head()


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 at a free port until the block ends; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def write_config(path: Path, base: str) -> None:
    """A sites file for the demo site: no politeness delay, loopback allowed."""
    articles = json.dumps("^" + re.escape(base) + r"/news/[a-z-]+\.html$")
    home = json.dumps("^" + re.escape(base) + "/$")
    path.write_text(
        f"""# Written by `make demo` for the local demo site; see config/sites.toml for a real one.
[defaults]
user_agent = "scraper-demo/0.1"
delay_seconds = 0
revisit = "1h"

[[site]]
name = "demo-gazette"
start_urls = ["{base}/"]
sitemaps = ["{base}/sitemap.xml"]
allow = [{articles}, {home}]
max_depth = 2
strip = [".post-footer"]
allow_private = true
""",
        encoding="utf-8",
    )


def _scraper(*args: str) -> None:
    cmd = [sys.executable, "-m", "scraper", *args]
    print(f"\n$ scraper {' '.join(args)}", flush=True)
    completed = subprocess.run(cmd, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"demo: `scraper {' '.join(args)}` exited {completed.returncode}")


def main() -> None:
    out = Path("data/demo")
    out.mkdir(parents=True, exist_ok=True)
    db = out / "archive.db"
    for leftover in out.glob("archive.db*"):
        leftover.unlink()
    config = out / "sites.toml"
    with tempfile.TemporaryDirectory(prefix="scraper-demo-") as tmp:
        root = Path(tmp) / "site"
        shutil.copytree(SITE, root)
        with serve(root) as base:
            print(f"Serving the demo site (a small local newspaper) at {base}/")
            write_config(config, base)
            _scraper("crawl", "--config", str(config), "--db", str(db))
            print("\nThe paper updates one story: a new headline, changed and added paragraphs.")
            # shutil.copy gives the files a new mtime, so Last-Modified moves and the
            # conditional GET of the changed page gets a 200 rather than a 304.
            shutil.copytree(SITE_V2, root, dirs_exist_ok=True, copy_function=shutil.copy)
            _scraper("crawl", "--config", str(config), "--db", str(db), "--revisit", "0")
            _scraper("changes", "--db", str(db), "--since", "1d")
            url = base + CHANGED_PAGE
            _scraper("history", url, "--db", str(db))
            _scraper("diff", url, "--db", str(db))
    print(
        f"""
Done. The archive is {db}. Try next:
  .venv/bin/scraper sql --db {db} "select url, title, fetched_at from latest_snapshots"
  .venv/bin/scraper search --db {db} "fish market"
  .venv/bin/scraper diff --db {db} --format word {url}
  sqlite3 {db} "select url, title from latest_snapshots"
  .venv/bin/scraper --help"""
    )
