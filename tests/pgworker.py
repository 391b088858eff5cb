"""A crawl worker for the shared-frontier tests: claims due pages of a PostgreSQL archive under
host leases and fetches them from the local test servers, as ``scraper crawl`` will.

``python -m tests.pgworker DB_URL WORKER_ID DELAY_SECONDS LEASE_SECONDS [hang|archive]``:
prints ``ready`` and waits for a line on stdin (so the test starts all workers at once), then
works until no page is due, printing ``claimed N`` per claim. With ``hang`` it stops after its
first claim that got pages, holding them, until killed (a worker that died without a word).
With ``archive`` it is a crawl worker through the storage protocols only (``open_archive``,
``crawl_state().claim_due``, the host slot, ``save_fetch`` and ``reschedule`` in one
transaction), extracting each page with scraper's extractor: what ``scraper crawl`` on
PostgreSQL will do, less discovery.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import httpx

from scraper.archive.postgres.frontier import LeaseLostError, SharedFrontier

NOW = "2026-01-01T00:00:00Z"  #: the due time the tests enqueue pages at
LATER = "2099-01-01T00:00:00Z"  #: when a handled page is due again (not in this test)
POLL_SECONDS = 0.05  #: between claims while other workers hold every host with due pages


def archive_worker(
    url: str, worker_id: str, delay: float, lease: float, *, die_in_save: bool = False
) -> int:
    """Claim, wait for the host's slot, fetch, extract, save and reschedule, until nothing is
    due; one transaction per page. ``die_in_save``: SIGKILL itself inside the first page's
    transaction, between its save and its reschedule (a worker that dies mid-write)."""
    from scraper import extract
    from scraper.archive import open_archive
    from scraper.archive.postgres.crawlstore import PgCrawlState
    from scraper.models import FetchResult

    with open_archive(url) as store:
        state = store.crawl_state()
        assert isinstance(state, PgCrawlState)
        state.shared.lease_seconds, state.shared.margin_seconds = lease, lease / 3
        run = state.start_run(started_at=NOW, pid=0, sites=["site"])
        print("ready", flush=True)
        sys.stdin.readline()
        with httpx.Client(headers={"User-Agent": worker_id}, timeout=30) as client:
            while True:
                pages = state.claim_due("site", now=NOW, limit=4, run_id=run)
                print(f"claimed {len(pages)}", flush=True)
                if not pages:
                    due = store.run_sql(
                        "SELECT count(*) FROM pages WHERE next_fetch_at <= :now", {"now": NOW}
                    )
                    if due.rows == [(0,)]:
                        break
                    time.sleep(POLL_SECONDS)
                    continue
                for page in pages:
                    time.sleep(state.shared.slot(page.host).wait_seconds)
                    try:
                        response = client.get(page.url)
                    finally:
                        state.shared.request_done(page.host, delay_seconds=delay)
                    result = FetchResult(
                        url=page.url, final_url=str(response.url), fetched_at=NOW,
                        status_code=response.status_code, elapsed_ms=1,
                        headers=tuple(response.headers.items()), body=response.content,
                        text=response.text, content_type="text/html",
                    )  # fmt: skip
                    with store.transaction():
                        store.save_fetch(page.url, fetched_at=NOW, result=result, site="site",
                                         article=extract(response.content, url=page.url),
                                         run_id=run)  # fmt: skip
                        if die_in_save:
                            print("dying", flush=True)
                            os.kill(os.getpid(), signal.SIGKILL)
                        state.reschedule(page.id, crawled_at=NOW, next_fetch_at=LATER,
                                         revisit_seconds=None, unchanged_count=0)  # fmt: skip
        state.update_run(run, {}, ended_at=NOW, exit_code=0)
    return 0


def main(argv: list[str]) -> int:
    url, worker_id, delay, lease = argv[0], argv[1], float(argv[2]), float(argv[3])
    if argv[4:5] == ["archive"]:
        return archive_worker(url, worker_id, delay, lease, die_in_save=argv[5:] == ["die"])
    hang = argv[4:] == ["hang"]
    frontier = SharedFrontier.open(
        url, worker_id=worker_id, lease_seconds=lease, margin_seconds=lease / 3
    )
    conn = frontier.conn
    print("ready", flush=True)
    sys.stdin.readline()
    with httpx.Client(headers={"User-Agent": worker_id}, timeout=lease / 4) as client:
        while True:
            pages = frontier.claim(now=NOW, limit=4, max_hosts=2)
            print(f"claimed {len(pages)}", flush=True)
            if hang and pages:
                sys.stdin.readline()  # holds its leases and claims until SIGKILL
            if not pages:
                due = conn.execute(
                    "SELECT count(*) FROM pages WHERE next_fetch_at <= %s", (NOW,)
                ).fetchone()
                if due is not None and due[0] == 0:
                    return 0
                time.sleep(POLL_SECONDS)
                continue
            for page in pages:
                try:
                    slot = frontier.slot(page.host)
                except LeaseLostError:
                    frontier.release([p.id for p in pages if p.host == page.host])
                    continue
                time.sleep(slot.wait_seconds)
                try:
                    client.get(page.url)
                finally:
                    frontier.request_done(page.host, delay_seconds=delay)
                frontier.done(
                    page.id,
                    crawled_at=NOW,
                    next_fetch_at=LATER,
                    revisit_seconds=None,
                    unchanged_count=0,
                )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
