"""Notifications through Apprise to a local webhook (json://) and SMTP server (mailto://), the
Atom feed, and ``scraper notify --test``, all through the real CLI."""

from __future__ import annotations

import socket
import sqlite3
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from scraper.archive import Archive
from scraper.config import load_config
from scraper.notify import after_run
from tests import sites
from tests.noisy_site import NoisySite
from tests.server import LocalServer
from tests.sites import run
from tests.sites import write_town as write_config
from tests.webhook import Webhook

ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def noisy() -> Iterator[tuple[NoisySite, LocalServer]]:
    site = NoisySite.build(3)
    server = LocalServer().start()
    site.serve(server)
    yield site, server
    server.stop()


@pytest.fixture
def hook() -> Iterator[Webhook]:
    receiver = Webhook().start()
    yield receiver
    receiver.stop()


def crawl(config: Path, db_path: Path) -> Any:
    result = sites.crawl(config, db_path, "--quiet", "--revisit", "0")
    assert result.exit_code == 0, result.output
    return result


def queue_rows(db_path: Path) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(db_path)) as conn:
        return conn.execute(
            "SELECT kind, attempts, last_error IS NOT NULL, sent_at IS NOT NULL FROM notify_queue "
            "ORDER BY id"
        ).fetchall()


def test_one_message_per_edited_page_and_none_for_noise(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    for _ in range(3):
        crawl(config, db_path)
    assert hook.messages() == []
    site.edit(2, "number")
    site.edit(3, "headline")
    result = crawl(config, db_path)
    assert "notify: 2 sent, 0 failed" in result.stderr
    messages = {m["message"].splitlines()[0]: m for m in hook.messages()}
    assert set(messages) == {server.url("/news/2.html"), server.url("/news/3.html")}
    number = messages[server.url("/news/2.html")]
    assert number["title"] == "Changed: Council approves riverside park (2)"
    assert "1 words added, 1 removed" in number["message"]
    assert "[-2.5-] {+3.1+}" in number["message"]
    assert "Snapshots: " in number["message"]
    headline = messages[server.url("/news/3.html")]
    assert headline["title"] == (
        "Changed: Council approves riverside park (3) -> "
        "Park plan approved after two-year fight (3)"
    )
    # the next run sends nothing again
    crawl(config, db_path)
    assert len(hook.messages()) == 2


def by_the_next_crawl(config: Path, db_path: Path) -> Any:
    """The next run: nothing changed since, so only the kept messages go out."""
    return crawl(config, db_path)


def by_scraper_notify(config: Path, db_path: Path) -> Any:
    result = run("notify", "--config", str(config), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    return result


#: the notice of a run whose one message failed
KEPT = "notify: 0 sent, 1 failed (kept, sent again by the next run)"
#: queue rows (kind, attempts, has a last error, sent): a message tried three times in vain;
#: not tried (its target had just failed); sent at the next try, after three or none before
FAILED = ("change", 3, 1, 0)
NOT_TRIED = ("change", 0, 0, 0)
SENT_AFTER_FAILING = ("change", 4, 0, 1)
SENT_AT_ONCE = ("change", 1, 0, 1)


@pytest.mark.parametrize(
    ("edits", "sent_by", "failed", "queued", "sent"),
    [
        pytest.param(
            {2: "sentence"},
            by_the_next_crawl,
            KEPT,
            [FAILED],
            [SENT_AFTER_FAILING],
            id="one-edit-sent-by-the-next-crawl",
        ),
        pytest.param(
            {3: "paragraph"},
            by_scraper_notify,
            KEPT,
            [FAILED],
            [SENT_AFTER_FAILING],
            id="one-edit-sent-by-scraper-notify",
        ),
        pytest.param(
            {1: "paragraph", 2: "paragraph", 3: "paragraph"},
            by_the_next_crawl,
            # a target that is down costs one message's attempts per run, not three
            "notify: 0 sent, 1 failed, 2 not tried (their target failed)",
            [FAILED, NOT_TRIED, NOT_TRIED],
            [SENT_AFTER_FAILING, SENT_AT_ONCE, SENT_AT_ONCE],
            id="three-edits-to-a-target-that-is-down",
        ),
    ],
)
def test_a_failed_notification_is_kept_and_sent_later(
    noisy: tuple[NoisySite, LocalServer],
    hook: Webhook,
    tmp_path: Path,
    db_path: Path,
    edits: dict[int, str],
    sent_by: Callable[[Path, Path], Any],
    failed: str,
    queued: list[tuple[Any, ...]],
    sent: list[tuple[Any, ...]],
) -> None:
    """The queue row of a message whose target failed stays unsent (attempts, last error) and
    goes out later, by the next crawl or by ``scraper notify``; the run exits 0 all the same."""
    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    crawl(config, db_path)
    hook.fail = True
    for n, kind in edits.items():
        site.edit(n, kind)
    result = crawl(config, db_path)  # exits 0 all the same
    assert failed in result.stderr
    assert hook.refused == 3  # one message's attempts (retried), however many are queued
    assert queue_rows(db_path) == queued
    with closing(sqlite3.connect(db_path)) as conn:
        # four first versions (the index too) and the changes: kept
        assert conn.execute("SELECT COUNT(*) FROM snapshots").fetchone()[0] == 4 + len(edits)
    hook.fail = False
    result = sent_by(config, db_path)
    assert f"notify: {len(edits)} sent, 0 failed" in result.stderr
    assert sorted(m["message"].splitlines()[0] for m in hook.messages()) == sorted(
        server.url(f"/news/{n}.html") for n in edits
    )
    assert queue_rows(db_path) == sent
    again = run("notify", "--config", str(config), "--db", str(db_path))
    assert "notify: nothing to send" in again.stderr


def test_digest_is_one_message_per_run(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]\nnotify_digest = true')
    crawl(config, db_path)
    for n in (1, 2, 3):
        site.edit(n, "correction")
    crawl(config, db_path)
    (message,) = hook.messages()
    assert message["title"] == "scraper: 3 changes"
    for n in (1, 2, 3):
        assert server.url(f"/news/{n}.html") in message["message"]


def test_page_gone_after_two_runs_of_404(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    crawl(config, db_path)
    server.route("/news/2.html", "<html><body>gone</body></html>", status=404)
    crawl(config, db_path)
    assert hook.messages() == []  # one 404 is not gone yet
    crawl(config, db_path)
    (message,) = hook.messages()
    assert message["title"] == "Page gone: Council approves riverside park (2)"
    assert message["message"].startswith(server.url("/news/2.html") + "\nanswered 404")
    crawl(config, db_path)
    assert len(hook.messages()) == 1  # once per streak


def test_site_extraction_dropped_is_told(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    _, server = noisy
    config = load_config(write_config(tmp_path, server, f'notify = ["{hook.target}"]'))
    warning = "warning: site town: 9 of 10 pages had no article this run (earlier runs: 0 of 40)"
    with Archive(db_path) as archive:
        notices = after_run(
            archive,
            config.sites,
            now="2026-03-01T12:00:00Z",
            started_at="2026-03-01T11:00:00Z",
            targets=config.notify_targets(),
            warnings=[warning, "warning: site other: 5 of 5 pages had no article"],
        )
    assert notices == ["notify: 1 sent, 0 failed"]
    (message,) = hook.messages()
    assert message["title"] == "Site extraction dropped: town"
    assert message["message"] == warning.removeprefix("warning: ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mailto_reaches_a_local_smtp_server(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    port = free_port()
    smtp = Controller(Handler(), hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        site, server = noisy
        target = f"mailto://127.0.0.1:{port}?from=scraper@example.org&to=me@example.org"
        config = write_config(tmp_path, server, f'notify = ["{target}"]')
        crawl(config, db_path)
        site.edit(1, "number")
        result = crawl(config, db_path)
        assert "notify: 1 sent, 0 failed" in result.stderr
    finally:
        smtp.stop()
    (mail,) = received
    assert mail.rcpt_tos == ["me@example.org"]
    content = mail.content.decode("utf-8", "replace")
    assert "Subject: Changed: Council approves riverside park (1)" in content


def test_notify_test_says_which_targets_worked(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path
) -> None:
    _, server = noisy
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    config = write_config(tmp_path, server, f'notify = ["{hook.target}", "{dead}"]')
    result = run("notify", "--test", "--config", str(config))
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"ok      json://127.0.0.1:{hook.port}/hook")
    assert lines[1].startswith("FAILED  json://127.0.0.1:")
    assert "/nobody" in lines[1]
    assert "1 of 2 targets worked" in result.stderr
    (message,) = hook.messages()
    assert message["title"] == "scraper: test message"
    ok = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    assert run("notify", "--test", "--site", "town", "--config", str(ok)).exit_code == 0
    none = write_config(tmp_path, server, "")
    result = run("notify", "--test", "--config", str(none))
    assert result.exit_code == 2
    assert "has no notify targets" in result.stderr


def test_scraper_fetch_notifies_the_sites_subscribers(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    url = server.url("/news/2.html")
    args = ["fetch", url, "--config", str(config), "--db", str(db_path), "--format", "json"]
    assert run(*args).exit_code == 0
    assert run(*args).exit_code == 0  # noise only
    assert hook.messages() == []
    site.edit(2, "headline")
    result = run(*args)
    assert result.exit_code == 0
    (message,) = hook.messages()
    assert message["message"].startswith(url)


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        pytest.param('notify = "json://x"', "expected a list of strings", id="notify-not-a-list"),
        pytest.param('notify = ["not a url"]', "expected Apprise URLs", id="notify-not-a-url"),
        pytest.param('ignore_text = ["("]', "bad regular expression", id="ignore-text-bad-regex"),
        pytest.param(
            "min_change_words = -1", "must be at least 0, got -1", id="min-change-words-negative"
        ),
        pytest.param(
            'notify_digest = "yes"', "expected true or false", id="notify-digest-not-a-bool"
        ),
    ],
)
def test_bad_monitoring_settings_are_config_errors(
    tmp_path: Path, db_path: Path, extra: str, problem: str
) -> None:
    server = LocalServer().start()
    config = write_config(tmp_path, server, extra)
    result = run("crawl", "--config", str(config), "--db", str(db_path))
    server.stop()
    assert result.exit_code == 2
    assert problem in result.stderr
    assert "Traceback" not in result.output


def test_feed_is_atom_newest_first_with_word_diffs(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    feed_path = tmp_path / "out" / "town.atom"
    config = write_config(tmp_path, server, f'feed_path = "{feed_path}"')
    crawl(config, db_path)
    crawl(config, db_path)  # noise: no entries
    site.edit(2, "number")
    crawl(config, db_path)
    root = ET.parse(feed_path).getroot()
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated"):
        assert root.find(f"{ATOM}{name}") is not None
    entries = root.findall(f"{ATOM}entry")
    assert len(entries) == 5  # four first versions (the index too) and one edit
    ids = [e.findtext(f"{ATOM}id") for e in entries]
    assert len(set(ids)) == 5
    updated = [e.findtext(f"{ATOM}updated") or "" for e in entries]
    assert updated == sorted(updated, reverse=True)
    newest = entries[0]
    assert newest.findtext(f"{ATOM}summary", "").startswith("Version ")
    content = newest.find(f"{ATOM}content")
    assert content is not None
    assert content.get("type") == "html"
    assert "<del>2.5</del> <ins>3.1</ins>" in (content.text or "")
    link = newest.find(f"{ATOM}link")
    assert link is not None
    assert link.get("href") == server.url("/news/2.html")
    # the command: stdout or -o, --site, --since
    out = run("feed", "--db", str(db_path), "--site", "town", "--limit", "2")
    assert out.exit_code == 0
    assert len(ET.fromstring(out.stdout).findall(f"{ATOM}entry")) == 2
    later = run("feed", "--db", str(db_path), "--since", "2999-01-01")
    assert ET.fromstring(later.stdout).findall(f"{ATOM}entry") == []
    assert run("feed", "--db", str(db_path), "--site", "nope").stdout.count("<entry>") == 0
    target = tmp_path / "feed.xml"
    written = run("feed", "--db", str(db_path), "-o", str(target))
    assert written.exit_code == 0
    assert ET.parse(target).getroot().tag == f"{ATOM}feed"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".feed.xml")] == []


def test_feed_to_an_unwritable_place_is_one_line(tmp_path: Path, db_path: Path) -> None:
    Archive(db_path).close()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("feed", "--db", str(db_path), "-o", str(blocker / "feed.atom"))
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {blocker / 'feed.atom'}: cannot write the feed")
    assert len(result.stderr.splitlines()) == 1


def test_scraper_notify_waits_for_no_crawl(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    from scraper.crawl import CrawlLock

    _, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    Archive(db_path).close()
    with CrawlLock(db_path):
        result = run("notify", "--config", str(config), "--db", str(db_path))
    assert result.exit_code == 3
    assert len(result.stderr.splitlines()) == 1


def test_feed_stays_valid_xml_with_control_characters(tmp_path: Path, db_path: Path) -> None:
    from scraper.models import Article, FetchResult

    with Archive(db_path) as archive:
        for i, text in enumerate(
            ["Line one\x0b with a tab\x01.\nSecond & <line>.", "Changed \x0c."]
        ):
            url = "https://example.org/a"
            result = FetchResult(url, url, 200, "2026-03-01T12:00:00Z", 1, body=b"x")
            article = Article(url=url, title=f"T\x07 {i}", text=text, found=True)
            archive.save_fetch(
                url, fetched_at=f"2026-03-0{i + 1}T12:00:00Z", result=result, article=article
            )
    out = run("feed", "--db", str(db_path))
    entries = ET.fromstring(out.stdout).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}title") for e in entries] == ["T 1", "T 0"]


def test_changes_made_while_a_site_had_no_notify_are_not_sent_later(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    site, server = noisy
    with_notify = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    crawl(with_notify, db_path)
    site.edit(1, "number")
    crawl(write_config(tmp_path, server, ""), db_path)
    site.edit(2, "number")
    crawl(write_config(tmp_path, server, f'notify = ["{hook.target}"]'), db_path)
    (message,) = hook.messages()
    assert message["message"].startswith(server.url("/news/2.html"))


def test_an_unwritable_feed_path_is_a_notice_not_a_failure(
    noisy: tuple[NoisySite, LocalServer], tmp_path: Path, db_path: Path
) -> None:
    _, server = noisy
    blocker = tmp_path / "file"
    blocker.write_text("x")
    config = write_config(tmp_path, server, f'feed_path = "{blocker / "feed.atom"}"')
    result = crawl(config, db_path)
    assert f"feed: {blocker / 'feed.atom'}: cannot write:" in result.stderr


def test_an_edit_stored_by_a_run_that_died_before_sending_is_sent_by_the_next(
    noisy: tuple[NoisySite, LocalServer], hook: Webhook, tmp_path: Path, db_path: Path
) -> None:
    """A run killed between its writes and its notifications: the queue cursor has not moved
    past the edit it stored, so the next run queues and sends it."""
    from scraper.extract import extract
    from scraper.models import FetchResult

    site, server = noisy
    config = write_config(tmp_path, server, f'notify = ["{hook.target}"]')
    crawl(config, db_path)
    site.edit(3, "correction")
    url = server.url("/news/3.html")
    html = site.render(3)
    with Archive(db_path) as archive:  # what the dead run wrote, and nothing more
        saved = archive.save_fetch(
            url,
            fetched_at="2026-03-01T12:00:00Z",
            result=FetchResult(url, url, 200, "2026-03-01T12:00:00Z", 1, body=html.encode()),
            article=extract(html, url),
            site="town",
        )
    assert saved.change_kind == "edit"
    crawl(config, db_path)
    (message,) = hook.messages()
    assert message["message"].startswith(url)
    assert f"-> {saved.snapshot_id} " in message["message"]
