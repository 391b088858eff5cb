"""What ``scraper crawl`` tells its user: progress, failures, the summary, the log file.

stderr gets, by verbosity: ``--quiet`` only the summary and the problems (a host that is down,
a site of which every page failed); the default also a progress line on a terminal and notes;
``--verbose`` also one line per failed URL as it fails. The config's ``log_file``, when set,
always gets every failed URL, the summary and the problems, each line stamped with the time.
This module formats and writes; it decides nothing about the crawl.
"""

from __future__ import annotations

import contextlib
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from scraper.errors import ConfigError

if TYPE_CHECKING:
    from scraper.crawl import CrawlLock, CrawlSummary

#: seconds between two redraws of the progress line
PROGRESS_EVERY_SECONDS = 0.2


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CrawlOutput:
    """The crawl command's reporting, as callbacks for :func:`scraper.crawl.crawl`."""

    def __init__(self, *, quiet: bool, verbose: bool, log_path: Path | None) -> None:
        self.quiet = quiet
        self.verbose = verbose
        self.interactive = not quiet and sys.stderr.isatty()
        self._log: TextIO | None = None
        self._last_shown = 0.0
        self._progress_shown = False
        if log_path is not None:
            try:
                self._log = log_path.open("a", encoding="utf-8")
            except OSError as exc:
                raise ConfigError(
                    f"log_file: cannot open {log_path}: {exc.strerror or exc}"
                ) from exc

    def close(self) -> None:
        log, self._log = self._log, None
        if log is not None:
            with contextlib.suppress(OSError):
                log.close()

    def log(self, line: str) -> None:
        """One line into the log file (when there is one), stamped with the time.

        A log file that cannot be written any more (a full disk) is said so once on stderr
        and then left alone: the crawl itself goes on."""
        if self._log is None:
            return
        try:
            self._log.write(f"{_stamp()} {line}\n")
            self._log.flush()  # a killed crawl keeps what it logged
        except OSError as exc:
            name = getattr(self._log, "name", "log_file")
            self.close()
            self._echo(f"warning: {name}: cannot write the log any more: {exc.strerror or exc}")

    def _echo(self, line: str) -> None:
        if self._progress_shown:
            click.echo("\r".ljust(80) + "\r", err=True, nl=False)
            self._progress_shown = False
        click.echo(line, err=True)

    def on_start(self, lock: CrawlLock) -> None:
        if lock.stale_pid:
            note = f"note: the previous crawl (pid {lock.stale_pid}) did not finish; resuming"
            self.log(note)
            if not self.quiet:
                self._echo(note)

    def on_failure(self, url: str, cause: str) -> None:
        line = f"failed: {url}: {cause}"
        self.log(line)
        if self.verbose:
            self._echo(line)

    def on_progress(self, summary: CrawlSummary) -> None:
        now = time.monotonic()
        if now - self._last_shown < PROGRESS_EVERY_SECONDS:
            return
        self._last_shown = now
        line = (
            f"\r{summary.pages_fetched} fetched, {summary.new} new, {summary.changed} changed, "
            f"{summary.failed} failed, {summary.discovered} discovered, "
            f"{summary.seconds:.0f} s"
        )
        click.echo(line.ljust(79), err=True, nl=False)
        self._progress_shown = True

    def finish(self, summary: CrawlSummary) -> None:
        """The summary line, then one line per problem: always shown, always logged."""
        for line in (summary.text(), *(f"problem: {p}" for p in summary.problems)):
            self.log(line)
            self._echo(line)
