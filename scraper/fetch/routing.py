"""Fetch, the routes: which transport carries a request, and whether through a proxy.

The ``transport`` setting picks the network layer of direct connections under the same httpx
client:

- ``"fast"`` (the default): :class:`scraper.fetch.transport.AsyncioTransport`, its own pool of
  HTTP/1.1 connections (h11 on plain asyncio sockets), about half the CPU per request of the
  stock one;
- ``"httpx"``: httpx's stock ``AsyncHTTPTransport`` (httpcore on anyio), all of it stock: the
  fallback should the hand-written one misbehave somewhere.

Either way the proxies of the environment (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``, lower case first), read once when the client is made, are honoured: a request
whose host a proxy serves goes through httpx's stock transport with that proxy (the fast one
speaks no proxy protocol), so a proxy set for the machine is never bypassed by the setting.

:class:`RoutingTransport` holds them all, each made on its first request, and takes the choice
per request from the ``scraper.transport`` request extension that :func:`fetch` sets from the
fetch's own settings (so each ``[[site]]`` may choose), falling back to the client's.

The private-address guard runs before any of this (client.py): a plain-http request comes
here already pinned to the checked address, with the host name in its Host header and its URL
as written in the ``scraper.target`` extension. Sent directly, it goes to the checked address.
Sent through a proxy, it names the host again (a proxy given an address would connect to it
but forward the address as the Host, which no virtual host answers); the proxy then resolves
the name itself. That is the user's trusted choice, and the guard has already refused a
target whose name resolves to a private address here.

This module decides routes only: no retries, no redirects, no body handling.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from scraper.errors import ConfigError
from scraper.fetch.retry import error_chain
from scraper.fetch.transport import AsyncioTransport

#: the values of the ``transport`` setting
TRANSPORTS = ("fast", "httpx")
#: request extension: the transport a request asks for (``"fast"`` or ``"httpx"``)
TRANSPORT_EXTENSION = "scraper.transport"
#: request extension: the URL as written, when the request's URL is the pinned address
TARGET_EXTENSION = "scraper.target"
#: response extension: true when the response came through a proxy (its peer is the proxy)
PROXIED_EXTENSION = "scraper.proxied"

_SCHEMES = ("http", "https", "all")


@dataclass(frozen=True, slots=True)
class _Bypass:
    """One ``NO_PROXY`` entry: a domain (and its subdomains), an address or a network."""

    domain: str = ""
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.network is not None:
            try:
                return ipaddress.ip_address(host) in self.network
            except ValueError:
                return False
        return host == self.domain or host.endswith("." + self.domain)


def _bypass(entry: str) -> _Bypass | None:
    text = entry.strip().lower()
    if "://" in text:
        text = text.split("://", 1)[1]
    text = text.strip("/")
    if not text:
        return None
    port: int | None = None
    if text.startswith("["):  # [::1]:8080
        host, _, rest = text[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
        text = host
    elif text.count(":") == 1:
        host, _, number = text.partition(":")
        if number.isdigit():
            text, port = host, int(number)
    try:
        return _Bypass(network=ipaddress.ip_network(text, strict=False), port=port)
    except ValueError:
        return _Bypass(domain=text.lstrip(".").lstrip("*").lstrip("."), port=port)


def _env(environ: Mapping[str, str], name: str) -> tuple[str, str] | None:
    """A proxy variable, lower case first (as curl and urllib read them)."""
    for variable in (name.lower(), name.upper()):
        value = environ.get(variable, "").strip()
        if value:
            return variable, value
    return None


def _shown(value: str) -> str:
    """A proxy variable's value fit for a message: a password in it is masked."""
    scheme, sep, rest = value.rpartition("://")
    userinfo, at, host = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return repr(value)
    return repr(f"{scheme}{sep}{userinfo.split(':', 1)[0]}:***@{host}")


def _proxy_url(variable: str, value: str) -> httpx.URL:
    """The proxy a variable names: an http(s) URL with a host and a valid port."""
    text = value if "://" in value else f"http://{value}"
    where = f"environment {variable}"
    try:
        proxy = httpx.URL(text)
        port = proxy.port
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{where}: not a proxy URL: {_shown(value)}") from exc
    if proxy.scheme not in ("http", "https"):
        raise ConfigError(
            f"{where}: {_shown(value)}: only http:// and https:// proxies are supported"
        )
    if not proxy.host or (port is not None and not 0 < port < 65536):
        raise ConfigError(f"{where}: not a proxy URL: {_shown(value)}")
    return proxy


@dataclass(frozen=True, slots=True)
class Proxies:
    """The proxies of the environment: one per scheme (or for all), and the bypass list."""

    by_scheme: tuple[tuple[str, httpx.URL], ...] = ()
    bypass: tuple[_Bypass, ...] = ()
    everything_bypassed: bool = False

    def proxy_for(self, url: httpx.URL) -> httpx.URL | None:
        """The proxy a request to ``url`` goes through, or None (directly)."""
        if self.everything_bypassed or not self.by_scheme:
            return None
        host = url.host.lower()
        port = url.port or (443 if url.scheme == "https" else 80)
        if any(rule.matches(host, port) for rule in self.bypass):
            return None
        schemes = dict(self.by_scheme)
        return schemes.get(url.scheme) or schemes.get("all")


def environment_proxies(environ: Mapping[str, str] | None = None) -> Proxies:
    """The proxies ``environ`` (``os.environ`` by default) names, checked.

    A proxy that is not an http(s) URL is a ConfigError naming the variable (httpx without
    ``socksio`` cannot speak SOCKS, and a typo must not become a direct connection).
    """
    env = os.environ if environ is None else environ
    by_scheme: list[tuple[str, httpx.URL]] = []
    for scheme in _SCHEMES:
        found = _env(env, f"{scheme}_proxy")
        if found is None:
            continue
        variable, value = found
        if variable == "HTTP_PROXY" and env.get("REQUEST_METHOD"):
            continue  # under CGI, HTTP_PROXY is a request header ("httpoxy"), not ours
        by_scheme.append((scheme, _proxy_url(variable, value)))
    no_proxy = _env(env, "no_proxy")
    entries = [] if no_proxy is None else no_proxy[1].split(",")
    if any(entry.strip() == "*" for entry in entries):
        return Proxies(everything_bypassed=True)
    rules = tuple(rule for rule in map(_bypass, entries) if rule is not None)
    return Proxies(by_scheme=tuple(by_scheme), bypass=rules)


class RoutingTransport(httpx.AsyncBaseTransport):
    """The transport of :func:`make_client`: each request through the environment's proxy for
    its host if there is one, else directly by the transport it asks for."""

    def __init__(
        self,
        default: str,
        limits: httpx.Limits,
        *,
        proxies: Proxies | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if default not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {default!r}")
        self.default = default
        self.proxies = environment_proxies() if proxies is None else proxies
        self._limits = limits
        self._ssl_context = ssl_context
        self._fast: AsyncioTransport | None = None
        self._direct: httpx.AsyncHTTPTransport | None = None
        self._via: dict[str, httpx.AsyncHTTPTransport] = {}

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # verified, from certifi or SSL_CERT_FILE / SSL_CERT_DIR (httpx's trust_env)
            self._ssl_context = httpx.create_ssl_context(verify=True)
        return self._ssl_context

    def _stock(self, proxy: httpx.URL | None) -> httpx.AsyncHTTPTransport:
        return httpx.AsyncHTTPTransport(
            verify=self._context(),
            limits=self._limits,
            http1=True,
            http2=False,
            proxy=None if proxy is None else httpx.Proxy(proxy),
        )

    def leg(self, name: str, target: httpx.URL) -> tuple[httpx.AsyncBaseTransport, bool]:
        """The transport for a request to ``target`` with transport ``name``, and whether it
        goes through a proxy."""
        proxy = self.proxies.proxy_for(target)
        if proxy is None and name == "fast":
            if self._fast is None:
                self._fast = AsyncioTransport(limits=self._limits, ssl_context=self._ssl_context)
            return self._fast, False
        if proxy is None:
            if self._direct is None:
                self._direct = self._stock(None)
            return self._direct, False
        key = str(proxy)
        via = self._via.get(key)
        if via is None:
            via = self._via[key] = self._stock(proxy)
        return via, True

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        name = request.extensions.get(TRANSPORT_EXTENSION) or self.default
        if name not in TRANSPORTS:
            raise ValueError(f"transport must be one of {TRANSPORTS}, not {name!r}")
        written = request.extensions.get(TARGET_EXTENSION)
        target = request.url if written is None else httpx.URL(written)
        transport, proxied = self.leg(name, target)
        if not proxied:
            return await transport.handle_async_request(request)
        request.url = target  # the proxy resolves the name (see the module docstring)
        try:
            response = await transport.handle_async_request(request)
        except httpx.ConnectError as exc:
            if any(isinstance(c, ssl.SSLError) for c in error_chain(exc)):
                raise  # the server's certificate, through the tunnel: not the proxy's fault
            proxy = self.proxies.proxy_for(target)
            port = None if proxy is None else proxy.port or (443 if proxy.scheme == "https" else 80)
            where = "" if proxy is None else f" {proxy.host}:{port}"
            raise httpx.ProxyError(f"cannot connect to the proxy{where}", request=request) from exc
        response.extensions[PROXIED_EXTENSION] = True
        return response

    async def aclose(self) -> None:
        legs: list[httpx.AsyncBaseTransport] = [*self._via.values()]
        legs += [leg for leg in (self._fast, self._direct) if leg is not None]
        self._fast, self._direct, self._via = None, None, {}
        for leg in legs:
            await leg.aclose()
