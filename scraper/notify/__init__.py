"""Notify: subscribers to the archive's changes: Apprise targets and the Atom feed.

After a run's writes are committed, :func:`after_run` queues what the sites' subscribers are
to hear (each edit, each page gone, each site whose extraction dropped) in the archive's
``notify_queue`` and then sends every unsent message, so that a message that could not be
sent is sent by the next run. It never raises for a failed target or an archive that cannot
be written: it returns notice lines for the caller to print.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from scraper.archive.records import Queued
from scraper.errors import ScraperError
from scraper.notify import messages
from scraper.notify.send import send, shown

if TYPE_CHECKING:
    from scraper.archive import Storage
    from scraper.config import Site

__all__ = ["SendReport", "after_run", "queue_events", "send_pending"]


@dataclass
class SendReport:
    """What one round of sending did."""

    sent: int = 0  #: messages delivered (a digest counts once)
    failed: int = 0
    #: messages not tried because their target had just failed (a target that is down costs
    #: one message's retries per run, not every message's)
    skipped: int = 0
    errors: list[str] = field(default_factory=list)  #: one line per failed message

    def lines(self) -> list[str]:
        if not self.sent and not self.failed:
            return []
        head = f"notify: {self.sent} sent, {self.failed} failed"
        if self.skipped:
            head += f", {self.skipped} not tried (their target failed)"
        if self.failed:
            head += " (kept, sent again by the next run)"
        return [head, *self.errors]


def queue_events(
    archive: Storage,
    sites: Sequence[Site],
    *,
    now: str,
    started_at: str,
    warnings: Sequence[str] = (),
    urls: Sequence[str] | None = None,
) -> int:
    """Queue, for each of ``sites`` with ``notify`` targets, its edits not yet queued, its pages
    gone (only ``urls`` when given) and its collapse ``warnings``; returns the rows added."""
    rows: list[Queued] = []
    cursors: dict[str, int] = {}
    for site in sites:
        settings = site.settings
        if not settings.notify:
            # what changed while a site had no subscribers is not sent when it gets some
            cursors[site.name] = archive.latest_snapshot_id(site.name)
            continue
        rules = settings.noise_rules(archive.boilerplate(site.name))
        digest = settings.notify_digest
        events: list[tuple[str, str, str, str | None, int | None, int | None, tuple[str, str]]] = []
        after = archive.site_cursor(site.name)
        for edit in archive.edits_since(site.name, after_id=after, fetched_since=started_at):
            old, new = (
                archive.snapshot_by_id(edit.previous_id),
                archive.snapshot_by_id(edit.snapshot_id),
            )
            if old is None or new is None:
                continue
            text = messages.change_message(old, new, rules)
            events.append((f"change:{new.id}", "change", edit.url, edit.url, new.id, old.id, text))
        for gone in archive.gone_pages(site.name, urls):
            last = archive.snapshot_by_id(gone.last_snapshot_id)
            text = messages.gone_message(
                gone.url, gone.status, last.title if last else None, gone.last_snapshot_id
            )
            key = f"gone:{gone.page_id}:{gone.since_fetch_id}"
            events.append((key, "gone", gone.url, gone.url, gone.last_snapshot_id, None, text))
        for line in warnings:
            if line.startswith(f"warning: site {site.name}: "):
                text = messages.dropped_message(site.name, line)
                events.append(
                    (f"dropped:{site.name}:{started_at}", "dropped", "", None, None, None, text)
                )
        for key, kind, _, url, snap, prev, (title, body) in events:
            for target in settings.notify:
                rows.append(
                    Queued(
                        key,
                        target,
                        kind,
                        title,
                        body,
                        site=site.name,
                        url=url,
                        snapshot_id=snap,
                        previous_id=prev,
                        digest=digest,
                    )
                )
        cursors[site.name] = max(after or 0, archive.latest_snapshot_id(site.name))
    if not rows and not cursors:
        return 0
    return archive.queue_notifications(rows, queued_at=now, cursors=cursors)


def send_pending(archive: Storage, *, now: str, targets: Sequence[str] | None = None) -> SendReport:
    """Send every unsent message (to ``targets`` only, when given: the configured ones)."""
    report = SendReport()
    by_target: dict[str, list[Queued]] = defaultdict(list)
    for row in archive.unsent(targets):
        by_target[row.target].append(row)
    for target, rows in by_target.items():
        batches = [[r] for r in rows if not r.digest]
        digest = [r for r in rows if r.digest]
        if digest:
            batches.append(digest)
        for index, batch in enumerate(batches):
            if len(batch) == 1 and not batch[0].digest:
                title, body = batch[0].title, batch[0].body
            else:
                title, body = messages.digest_message([(r.title, r.body) for r in batch])
            reason, attempts = send(target, title, body)
            ids = [r.id for r in batch if r.id is not None]
            if reason is None:
                archive.mark_sent(ids, sent_at=now, attempts=attempts)
                report.sent += 1
            else:
                archive.mark_failed(ids, error=reason, attempts=attempts)
                report.failed += 1
                report.errors.append(f"notify: {shown(target)}: {title}: {reason}")
                report.skipped += len(batches) - index - 1
                break
    return report


def after_run(
    archive: Storage,
    sites: Sequence[Site],
    *,
    now: str,
    started_at: str,
    targets: Sequence[str],
    warnings: Sequence[str] = (),
    urls: Sequence[str] | None = None,
    write_feeds: bool = True,
) -> list[str]:
    """Queue the run's events, send what is unsent and write the sites' feeds; the notice
    lines to print. Never raises for a failed target, feed or archive write."""
    notices: list[str] = []
    try:
        queue_events(archive, sites, now=now, started_at=started_at, warnings=warnings, urls=urls)
        if targets:
            notices.extend(send_pending(archive, now=now, targets=targets).lines())
    except ScraperError as exc:
        notices.append(f"notify: not done, kept for the next run: {exc}")
    if write_feeds:
        from scraper.notify.feed import write_site_feeds

        notices.extend(write_site_feeds(archive, sites, now=now))
    return notices
