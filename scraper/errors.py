"""The exception tree of scraper; every error a user can meet is one of these.

::

    ScraperError                  exit 1
    ├── ConfigError               exit 2   a bad config file, key or value
    ├── UsageError                exit 2   a bad argument (an invalid URL, an unknown snapshot ref)
    ├── FetchError(url)           exit 1   a page could not be fetched
    │   ├── BadStatusError                 the server answered 4xx or 5xx
    │   ├── RobotsDisallowedError          robots.txt forbids the URL
    │   │   └── RobotsUncheckedError       a redirect to a host whose robots.txt is not at hand
    │   ├── BodyTooLargeError              the body passed max_bytes (after decompression)
    │   ├── ContentTypeError               not HTML (or XML where XML is wanted)
    │   ├── BlockedAddressError            a private/loopback address, or a scheme not http(s)
    │   ├── TooManyRedirectsError          the redirect chain passed max_redirects
    │   ├── FetchTimeoutError              a connect/read timeout or the total deadline
    │   ├── BlockPageError                 a 200 whose body is a captcha or "access denied" page
    │   └── SuspectFetchError              a drastic change or cut body no refetch confirmed
    ├── CorruptBody                        a compressed body that does not decompress (fetch
    │                                      turns it into a FetchError naming the URL)
    ├── DiscoverError                      a sitemap or feed body that cannot be read (also a
    │                                      ValueError; the crawl records it on the source)
    ├── WorkerGone                         the fetch helper process died, hung or was stopped
    │                                      (the crawl fetches the page itself; never shown)
    ├── ExtractError              exit 1   no article could be extracted
    ├── ArchiveError              exit 1   the archive cannot be opened, read or written
    │   └── LeaseLostError                 a crawl worker no longer holds a host's lease
    │                                      (PostgreSQL; the crawl drops the host's pages)
    └── CrawlLockedError          exit 3   another crawl holds the lock

Errors from httpx never leave ``scraper/fetch/`` and errors from sqlite3 never leave ``archive/``:
they are translated at that boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from typing import Any


class ScraperError(Exception):
    """Base class of every error scraper raises on purpose."""

    exit_code: int = 1


class ConfigError(ScraperError):
    """The configuration file or a setting in it is wrong."""

    exit_code = 2


class UsageError(ScraperError):
    """A command was given an argument it cannot use."""

    exit_code = 2


class FetchError(ScraperError):
    """A URL could not be fetched."""

    #: a short machine-readable kind, stored in ``fetches.error`` before the message
    kind: str = "fetch"

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status_code: int | None = None,
        elapsed_ms: int | None = None,
        retry_after_seconds: float | None = None,
    ) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url
        self.message = message
        self.status_code = status_code
        self.elapsed_ms = elapsed_ms
        self.retry_after_seconds = retry_after_seconds

    def __reduce__(self) -> tuple[Any, ...]:
        # pickled whole (the crawl's worker processes send them back): type, fields and all
        fields = {
            "status_code": self.status_code,
            "elapsed_ms": self.elapsed_ms,
            "retry_after_seconds": self.retry_after_seconds,
        }
        return (_rebuild_fetch_error, (type(self), self.url, self.message, fields))


def _rebuild_fetch_error(
    cls: type[FetchError], url: str, message: str, fields: dict[str, Any]
) -> FetchError:
    return cls(url, message, **fields)


class BadStatusError(FetchError):
    """The server answered with a 4xx or 5xx status."""

    kind = "status"


class RobotsDisallowedError(FetchError):
    """robots.txt does not allow our User-Agent to fetch the URL."""

    kind = "robots"


class RobotsUncheckedError(RobotsDisallowedError):
    """A redirect leads to a host whose robots.txt this process has not read (the fetch helper
    process): not followed; the crawl fetches the page itself, asking that host first."""

    kind = "robots"


class BodyTooLargeError(FetchError):
    """The body grew past the size cap (counted after decompression)."""

    kind = "too_large"


class ContentTypeError(FetchError):
    """The response is not of a content type we handle."""

    kind = "content_type"


class BlockedAddressError(FetchError):
    """The URL, a redirect hop or its resolved address is not allowed (private, not http)."""

    kind = "blocked_address"


class TooManyRedirectsError(FetchError):
    """The redirect chain was longer than the limit, or looped."""

    kind = "redirects"


class FetchTimeoutError(FetchError):
    """A connect or read timeout, or the total deadline of the fetch."""

    kind = "timeout"


class BlockPageError(FetchError):
    """The server answered 200 with a captcha or "access denied" page instead of the article."""

    kind = "block_page"


class SuspectFetchError(FetchError):
    """A drastic change or a body cut short that a refetch did not confirm: not stored."""

    kind = "suspect"


class CorruptBody(ScraperError):
    """A compressed body that does not decompress (bad data, a cut stream); fetch raises it
    on as a FetchError for the URL."""


class DiscoverError(ScraperError, ValueError):
    """A sitemap or feed body could not be read (not XML, too large once inflated)."""


class WorkerGone(ScraperError):
    """The fetch helper process died, hung or was stopped: the request was not answered."""


class ExtractError(ScraperError):
    """No article could be extracted from a page."""


class ArchiveError(ScraperError):
    """The archive cannot be opened, read or written."""


class LeaseLostError(ArchiveError):
    """This crawl worker no longer holds the lease of a host (it expired, or was never taken)."""


class CrawlLockedError(ScraperError):
    """Another crawl is running on the same archive."""

    exit_code = 3
