"""Fetch: one URL over HTTP(S) with every safety limit. No parsing beyond charset, no storage.

What a fetch guarantees, whatever the server does:

- every hop of a redirect chain is checked before anything is sent to it: http(s) only, no
  private, loopback, link-local or reserved address (also when a public-looking name resolves
  to one), no loops, at most ``max_redirects`` hops; a plain-http request goes to the very
  address that was checked, so a DNS answer that changes afterwards cannot redirect it;
- the body is decompressed here, in bounded steps, and the fetch stops as soon as the
  decompressed size passes ``max_bytes`` (httpx's own decoders inflate a whole network read at
  once, so a few hundred bytes of brotli or a gzip-in-gzip body would become gigabytes in
  memory before any check could run);
- the whole fetch, retries and waits included, ends within ``deadline_seconds``;
- TLS certificates are always verified; there is no fallback without verification;
- no httpx exception leaves this module: each becomes the FetchError subclass that says what
  happened, in one line.

Politeness between requests (per-host delay, concurrency) is the crawl's job; robots.txt is
fetched and interpreted here (:func:`fetch_robots`, :class:`Robots`) and cached by the caller.

Modules: ``fetcher`` (the ``Fetcher`` seam a rendering fetcher plugs into, ``make_fetcher``),
``client`` (make_client, fetch, redirects, the private-address guard), ``routing`` (the
``transport`` setting and the environment's proxies), ``transport`` (HTTP/1.1 keep-alive
connections, h11 on plain asyncio sockets), ``decompress`` (bounded Content-Encoding), ``content``
(binary sniffing, charsets), ``blockpage``, ``retry`` (httpx errors -> FetchErrors, retry
policy), ``robots`` and ``worker`` (the same fetch in a helper process, for the crawl).
"""

from __future__ import annotations

from scraper.fetch.blockpage import block_page_reason
from scraper.fetch.client import (
    ACCEPT_ENCODING,
    HTML_TYPES,
    XML_TYPES,
    Resolver,
    fetch,
    make_client,
    resolve_host,
)
from scraper.fetch.content import decode_body, header_charset, sniff_binary
from scraper.fetch.fetcher import Fetcher, HttpFetcher, make_fetcher
from scraper.fetch.retry import RETRY_STATUSES, parse_retry_after, retry_delay
from scraper.fetch.robots import ROBOTS_MAX_BYTES, Robots, fetch_robots, robots_token

__all__ = [
    "ACCEPT_ENCODING",
    "HTML_TYPES",
    "RETRY_STATUSES",
    "ROBOTS_MAX_BYTES",
    "XML_TYPES",
    "Fetcher",
    "HttpFetcher",
    "Resolver",
    "Robots",
    "block_page_reason",
    "decode_body",
    "fetch",
    "fetch_robots",
    "header_charset",
    "make_client",
    "make_fetcher",
    "parse_retry_after",
    "resolve_host",
    "retry_delay",
    "robots_token",
    "sniff_binary",
]
