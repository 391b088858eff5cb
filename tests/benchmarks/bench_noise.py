"""Benchmark: change monitoring on a generated site whose every request differs in noise.

Run with ``make bench-noise`` (``python -m tests.benchmarks.bench_noise``). It

1. serves a generated news site on 127.0.0.1 (tests/noisy_site.py): on every request each page
   shows another relative time ("Updated 12 minutes ago"), view, comment and share counters, a
   dateline clock and date, a reshuffled "Most read" list, cache-busting query strings in its
   links, other whitespace and Unicode forms of the same text; some pages flip at random
   between two headlines (an A/B test);
2. starts a webhook receiver on 127.0.0.1 and configures it as the site's ``notify`` target
   through Apprise's ``json://``;
3. runs ``python -m scraper crawl --revisit 0`` (every page due) ten times, then edits some
   pages for real (a changed sentence, an added paragraph, a correction note, a changed number,
   a new headline) and crawls once more;
4. prints the versions noise added (goal 0), the real edits caught (goal all), and the
   notifications received for noise (goal 0) and for edits (goal one each).

An A/B page's second headline, the first time it is seen, is a new headline as far as anyone
can tell: it makes one version and one message, printed apart; every flip back after that is
recorded as ``reverted`` (no version, no message). Options: ``--pages N``, ``--ab-pages N``,
``--edits N``, ``--crawls N``, ``--seed N``, ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from contextlib import closing
from pathlib import Path

from tests.noisy_site import NoisySite
from tests.server import LocalServer
from tests.webhook import Webhook

EDIT_KINDS = ("sentence", "paragraph", "correction", "number", "headline")


def crawl(config: Path, db: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    args = [sys.executable, "-m", "scraper", "crawl", "--config", str(config), "--db", str(db)]
    result = subprocess.run(
        [*args, "--quiet", "--revisit", "0"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        sys.exit(f"crawl failed ({result.returncode}): {result.stderr.strip()}")
    for line in result.stderr.splitlines():
        if not line.startswith("crawl #"):
            print(f"    {line}")


def snapshots_by_page(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT p.url, COUNT(s.id) FROM pages p LEFT JOIN snapshots s ON s.page_id = p.id "
            "GROUP BY p.url"
        ).fetchall()
    return {str(url): int(n) for url, n in rows}


def fetch_kinds(db: Path) -> dict[str, int]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT COALESCE(change_kind, 'no article'), COUNT(*) FROM fetches GROUP BY 1"
        ).fetchall()
    return {str(kind): int(n) for kind, n in rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--ab-pages", type=int, default=4)
    parser.add_argument("--edits", type=int, default=10)
    parser.add_argument("--crawls", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1, help="of the generated noise")
    parser.add_argument("--keep", action="store_true", help="keep the archive and config")
    opts = parser.parse_args()
    if opts.ab_pages + opts.edits > opts.pages:
        sys.exit("--ab-pages + --edits must not exceed --pages")

    work = Path(tempfile.mkdtemp(prefix="bench-noise-"))
    site = NoisySite.build(opts.pages, ab_tests=opts.ab_pages, seed=opts.seed)
    server = LocalServer().start()
    site.serve(server)
    hook = Webhook().start()
    db = work / "archive.db"
    config = work / "sites.toml"
    config.write_text(
        f"""
[defaults]
delay_seconds = 0
allow_private = true
respect_robots = false

[[site]]
name = "town"
start_urls = ["{server.url("/news/")}"]
max_depth = 1
notify = ["{hook.target}"]
""",
        encoding="utf-8",
    )
    ab_urls = {server.url(site.path(n)) for n in range(1, opts.ab_pages + 1)}
    try:
        print(
            f"site: {opts.pages} pages on {server.base}, {opts.ab_pages} of them A/B testing "
            f"their headline; noise differs on every request"
        )
        crawl(config, db)
        first = snapshots_by_page(db)
        first_messages = len(hook.messages())
        for _ in range(opts.crawls - 1):
            crawl(config, db)
        after_noise = snapshots_by_page(db)
        noise_messages = hook.messages()[first_messages:]
        kinds = fetch_kinds(db)

        edited = list(range(opts.ab_pages + 1, opts.ab_pages + 1 + opts.edits))
        for index, n in enumerate(edited):
            site.edit(n, EDIT_KINDS[index % len(EDIT_KINDS)])
        before_edit_messages = len(hook.messages())
        crawl(config, db)
        after_edit = snapshots_by_page(db)
        edit_messages = hook.messages()[before_edit_messages:]
    finally:
        hook.stop()
        server.stop()

    def added(before: dict[str, int], after: dict[str, int], urls: set[str]) -> int:
        return sum(after.get(u, 0) - before.get(u, 0) for u in urls)

    plain = set(first) - ab_urls
    edited_urls = {server.url(site.path(n)) for n in edited}
    caught = sum(1 for u in edited_urls if after_edit.get(u, 0) - after_noise.get(u, 0) == 1)
    per_url: dict[str, int] = {}
    for message in edit_messages:
        url = message["message"].splitlines()[0]
        per_url[url] = per_url.get(url, 0) + 1
    noise_in_edit_run = {u: c for u, c in per_url.items() if u not in edited_urls}
    noise_to_plain = [m for m in noise_messages if m["message"].splitlines()[0] not in ab_urls]
    noise_to_ab = len(noise_messages) - len(noise_to_plain)

    print(f"\n{opts.crawls} crawls with every page due, nothing edited:")
    print(f"  fetches judged: {', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))}")
    print(
        f"  versions added by noise: {added(first, after_noise, plain)} "
        f"(goal 0; {len(plain)} pages without an A/B test)"
    )
    print(
        f"  A/B pages: {added(first, after_noise, ab_urls)} versions for a headline seen the "
        f"first time (one each at most), flips back recorded as reverted: "
        f"{kinds.get('reverted', 0)}"
    )
    print(f"  notifications for noise: {len(noise_to_plain)} (goal 0)")
    print(f"  notifications for an A/B headline seen the first time: {noise_to_ab}")
    print(f"\nthen {len(edited)} pages edited for real ({', '.join(EDIT_KINDS)}), one crawl:")
    print(f"  real edits caught: {caught} of {len(edited)} (goal all)")
    print(
        f"  notifications for edits: {sum(per_url.get(u, 0) for u in edited_urls)} for "
        f"{len(edited)} edits, {sum(1 for u in edited_urls if per_url.get(u) == 1)} pages "
        f"with exactly one (goal one each)"
    )
    print(f"  notifications for unedited pages in that run: {sum(noise_in_edit_run.values())}")
    if edit_messages:
        print("\none message as received by the webhook (title, then message):")
        print("  " + edit_messages[0]["title"])
        for line in edit_messages[0]["message"].splitlines():
            print("  " + line)
    if opts.keep:
        print(f"\nkept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
