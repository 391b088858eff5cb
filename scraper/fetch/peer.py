"""Fetch, the peer: the IP address of the server whose connection answered a response.

What a WARC's ``WARC-IP-Address`` says: the address the fetch really connected to (after DNS,
after the private-address pin), read from the connection itself, never resolved again. It must
not guess: a response without a real network connection (a mock transport) has no address,
and neither has one that came through a proxy (the connection is the proxy's, not the
server's).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import httpx

from scraper.fetch.routing import PROXIED_EXTENSION


def peer_address(response: httpx.Response) -> str | None:
    """The IP address of the server ``response`` came from, or None when it is not known.

    The connection comes as the ``network_stream`` response extension, from httpx's own transport
    (httpcore's) as from :class:`scraper.fetch.transport.AsyncioTransport`; its ``server_addr``
    is the socket's peer name (``(host, port)``, or a 4-tuple for IPv6).
    """
    if response.extensions.get(PROXIED_EXTENSION):
        return None
    stream: Any = response.extensions.get("network_stream")
    if stream is None or not hasattr(stream, "get_extra_info"):
        return None
    try:
        peer = stream.get_extra_info("server_addr")
    except (OSError, AttributeError, TypeError, ValueError):
        return None  # a closed or odd stream: not known, rather than wrong
    if not isinstance(peer, tuple | list) or not peer or not isinstance(peer[0], str):
        return None
    return _address(peer[0])


@functools.lru_cache(maxsize=1024)
def _address(text: str) -> str | None:
    """The canonical form of a peer's address (cached: a crawl sees few, again and again)."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)  # a dual-stack socket's view of an IPv4 server
    return str(address)
