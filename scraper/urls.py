"""URLs: normalisation, allow/deny rules and the private-address (SSRF) policy. Pure.

Nothing here touches the network: DNS resolution of a host name is fetch/client.py's job, which
then asks :func:`is_private_address` about every address the name resolves to.

Hosts are parsed the way browsers (the WHATWG URL standard) and ``inet_aton`` parse them, so
``http://2130706433/``, ``http://0177.0.0.1/``, ``http://0x7f.1/`` and ``http://127.1/`` all
mean 127.0.0.1 both to :func:`normalise_url` (which writes them as ``127.0.0.1``) and to
:func:`check_url_target` (which refuses them unless private addresses are allowed).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from urllib.parse import SplitResult, urlsplit

import idna

from scraper.errors import BlockedAddressError, UsageError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}

#: query parameters that only track the visitor; dropped by normalise_url (compared lower case)
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "igshid",
        "li_fat_id",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "__hstc",
        "__hssc",
        "__hsfp",
        "hsctatracking",
        "_ga",
        "_gl",
        "oly_anon_id",
        "oly_enc_id",
        "vero_conv",
        "vero_id",
        "wickedid",
        "s_kwcid",
        "ef_id",
    }
)
_TRACKING_PREFIXES = ("utm_",)

#: host names that always mean this machine or a private network, whatever DNS says
#: how a user lets a site reach private addresses; ends every refusal message
PRIVATE_OPT_IN = "(set allow_private = true for this site, or --allow-private, to fetch it)"
_PRIVATE_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_PRIVATE_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".localdomain")

# The special-purpose address registries, as data: every block IANA lists in the IPv4 and IPv6
# Special-Purpose Address Registries (iana-ipv4-special-registry, iana-ipv6-special-registry,
# 2025 edition). Python's ``ipaddress`` knows most of them through ``is_global``, but its copy
# depends on the Python version (3.11 predates 3fff::/20 and 5f00::/16), so the registries are
# kept here too and an address must pass both. None of these blocks holds a public web server:
# even the entries IANA marks globally reachable (anycast services, AS112) are refused.
# The embedding ranges (IPv4-mapped, IPv4-compatible, NAT64 64:ff9b::/96, 6to4, Teredo) are
# not in the list: an address in them is judged by the IPv4 address it embeds.
_SPECIAL_V4 = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",  # "this network" (RFC 791)
        "10.0.0.0/8",  # private use (RFC 1918)
        "100.64.0.0/10",  # shared address space, CGNAT (RFC 6598)
        "127.0.0.0/8",  # loopback (RFC 1122)
        "169.254.0.0/16",  # link-local, cloud metadata (RFC 3927)
        "172.16.0.0/12",  # private use (RFC 1918)
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890), its /29 /32 sub-blocks included
        "192.0.2.0/24",  # documentation TEST-NET-1 (RFC 5737)
        "192.31.196.0/24",  # AS112-v4 (RFC 7535)
        "192.52.193.0/24",  # AMT (RFC 7450)
        "192.88.99.0/24",  # deprecated 6to4 relay anycast (RFC 7526)
        "192.168.0.0/16",  # private use (RFC 1918)
        "192.175.48.0/24",  # direct delegation AS112 service (RFC 7534)
        "198.18.0.0/15",  # benchmarking (RFC 2544)
        "198.51.100.0/24",  # documentation TEST-NET-2 (RFC 5737)
        "203.0.113.0/24",  # documentation TEST-NET-3 (RFC 5737)
        "224.0.0.0/4",  # multicast (RFC 5771; the multicast registry, not the special one)
        "240.0.0.0/4",  # reserved (RFC 1112), 255.255.255.255 limited broadcast (RFC 919)
    )
)
_SPECIAL_V6 = tuple(
    ipaddress.IPv6Network(n)
    for n in (
        "::1/128",  # loopback (RFC 4291)
        "::/128",  # unspecified (RFC 4291)
        "::ffff:0:0:0/96",  # IPv4-translated, SIIT (RFC 2765): a translator's internal form
        "64:ff9b:1::/48",  # local-use IPv4/IPv6 translation (RFC 8215)
        "100::/64",  # discard-only (RFC 6666)
        "2001::/23",  # IETF protocol assignments (RFC 2928); Teredo 2001::/32 is judged apart
        "2001:db8::/32",  # documentation (RFC 3849)
        "2620:4f:8000::/48",  # direct delegation AS112 service (RFC 7534)
        "3fff::/20",  # documentation (RFC 9637)
        "5f00::/16",  # segment routing SIDs (RFC 9602)
        "fc00::/7",  # unique local (RFC 4193)
        "fe80::/10",  # link-local (RFC 4291)
        "fec0::/10",  # site-local, deprecated (RFC 3879)
        "ff00::/8",  # multicast (RFC 4291)
    )
)
#: the only IPv6 space IANA allocates as global unicast (IPv6 Address Space registry); the rest
#: of the 128-bit space is reserved by the IETF or special, and never a public web server
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")  # IPv4-mapped (RFC 4291)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # well-known NAT64 prefix (RFC 6052)
_SIXTOFOUR = ipaddress.IPv6Network("2002::/16")  # 6to4 (RFC 3056)
_TEREDO = ipaddress.IPv6Network("2001::/32")  # Teredo (RFC 4380)
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # IPv4-compatible, deprecated (RFC 4291)

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
# characters kept as they are (besides unreserved and escapes) in each part of a URL
_PATH_SAFE = frozenset("!$&'()*+,;=:@/")
_QUERY_SAFE = frozenset("!$&'()*+,;=:@/?")
_USER_SAFE = frozenset("!$&'()*+,;=:")
_HEX = frozenset("0123456789abcdefABCDEF")
_FORBIDDEN_HOST = re.compile(r"[\x00-\x20#%/:<>?@\[\\\]^|\x7f]")
_STRIP_CHARS = "".join(chr(c) for c in range(0x21))
_TAB_NEWLINE = re.compile(r"[\t\n\r]")


def _invalid(url: str, why: str) -> UsageError:
    return UsageError(f"not a valid URL: {url!r} ({why})")


def _parse_ipv4_number(part: str) -> int | None:
    """One part of a WHATWG IPv4 host: decimal, 0x hex or 0-prefixed octal; None if not a number."""
    if part == "":
        return None
    base = 10
    if len(part) >= 2 and part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) >= 2 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    digits = {10: "0123456789", 16: "0123456789abcdefABCDEF", 8: "01234567"}[base]
    if not all(c in digits for c in part):
        return None
    return int(part, base)


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    last = parts[-1]
    if last and all(c in "0123456789" for c in last):
        return True
    return _parse_ipv4_number(last) is not None and last[:2].lower() == "0x"


def _parse_ipv4(host: str) -> ipaddress.IPv4Address:
    """A host that ends in a number, read as IPv4 (``127.1``, ``0x7f.1``, ``2130706433``)."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]
    if len(parts) > 4:
        raise ValueError("an IPv4 address has at most four parts")
    numbers = []
    for part in parts:
        number = _parse_ipv4_number(part)
        if number is None:
            raise ValueError(f"{part!r} is not a number in an IPv4 address")
        numbers.append(number)
    if any(n > 255 for n in numbers[:-1]) or numbers[-1] >= 256 ** (5 - len(numbers)):
        raise ValueError("IPv4 address out of range")
    value = numbers[-1]
    for i, n in enumerate(numbers[:-1]):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)


def _percent_decode_host(host: str) -> str:
    if "%" not in host:
        return host
    raw = bytearray()
    i = 0
    while i < len(host):
        c = host[i]
        if c == "%" and i + 2 < len(host) and host[i + 1] in _HEX and host[i + 2] in _HEX:
            raw.append(int(host[i + 1 : i + 3], 16))
            i += 3
            continue
        raw.extend(c.encode("utf-8"))
        i += 1
    return raw.decode("utf-8")


@functools.lru_cache(maxsize=1024)  # a valid host is at most a few hundred characters
def _parse_host(host: str) -> str | IPAddress:
    """The canonical host: an IP address, or a lower-case ASCII (IDNA) name without a trailing dot.

    Raises ValueError when the host is not valid. Cached: a crawl asks about the same few hosts
    for every link and every request (a refused host raises again each time: errors are not
    cached), and the answer is a string or an immutable address.
    """
    if host.startswith("[") and host.endswith("]"):
        inner = host[1:-1]
        if "%" in inner:
            raise ValueError("IPv6 zone identifiers are not allowed")
        return ipaddress.IPv6Address(inner)
    host = _percent_decode_host(host)
    if not host.isascii():
        host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    host = host.lower()
    if host == "" or host == ".":
        raise ValueError("the host is empty")
    if _FORBIDDEN_HOST.search(host):
        raise ValueError(f"the host {host!r} has a character hosts cannot have")
    if _ends_in_number(host):
        return _parse_ipv4(host)
    host = host.rstrip(".") if host.endswith(".") else host
    if len(host) > 253 or any(len(label) == 0 or len(label) > 63 for label in host.split(".")):
        raise ValueError(f"the host {host!r} is not a valid name")
    if host.startswith("xn--") or ".xn--" in host:
        # decode and re-encode so a malformed punycode label is refused here, not by httpx
        idna.decode(host)
    return host


def _host_text(host: str | IPAddress) -> str:
    if isinstance(host, ipaddress.IPv6Address):
        return f"[{host.compressed}]"
    return str(host)


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Uppercase escapes, decode escaped unreserved characters, escape everything else unsafe."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%":
            if i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
                decoded = chr(int(text[i + 1 : i + 3], 16))
                out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
                i += 3
                continue
            out.append("%25")
        elif c in _UNRESERVED or c in safe:
            out.append(c)
        else:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4."""
    if "." not in path:
        return path
    segments = path.split("/")
    output: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


def _is_tracking(param: str) -> bool:
    name = param.split("=", 1)[0]
    if "%" in name:
        name = _percent_decode_host(name)
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(_TRACKING_PREFIXES)


def _split(url: str) -> tuple[SplitResult, str]:
    """urlsplit after the WHATWG clean-up (outer spaces and controls, inner tabs and newlines)."""
    if not isinstance(url, str):
        raise TypeError(f"a URL must be a str, not {type(url).__name__}")
    cleaned = _TAB_NEWLINE.sub("", url.strip(_STRIP_CHARS))
    parts = urlsplit(cleaned)
    return parts, cleaned


def normalise_url(url: str, *, trailing_slash: str = "keep") -> str:
    """The canonical form of an http(s) URL, so that one page has one URL in the archive.

    Scheme and host lower case, international names in IDNA (punycode), numeric IPv4 hosts in
    dotted-quad form, default ports dropped, the fragment dropped, tracking parameters
    (``utm_*``, ``fbclid``, ``gclid``, ``mc_cid``... see :data:`TRACKING_PARAMS`) dropped while
    the other parameters keep their order, percent-escapes normalised, ``.``/``..`` segments
    resolved, and an empty path written ``/``. ``trailing_slash`` is ``"keep"``, ``"strip"``
    (``/a/`` -> ``/a``) or ``"add"`` (``/a`` -> ``/a/``, except for a last segment with a dot,
    such as ``/a.html``).

    Raises UsageError for a string that is not an http(s) URL.
    """
    if trailing_slash not in ("keep", "strip", "add"):
        raise ValueError("trailing_slash must be 'keep', 'strip' or 'add'")
    try:
        parts, _ = _split(url)
        scheme = parts.scheme.lower()
        if scheme not in SCHEMES:
            why = f"scheme {scheme!r} is not http or https" if scheme else "no scheme"
            raise _invalid(url, why)
        netloc = parts.netloc
        userinfo, _, hostport = netloc.rpartition("@")
        host = _host_of(hostport)
        if not host:
            raise _invalid(url, "no host")
        parsed_host = _parse_host(host)
        port = parts.port  # raises ValueError when not a number in range
        path = parts.path or "/"
        if "\\" in path:
            path = path.replace("\\", "/")
        path = _remove_dot_segments(_normalise_escapes(path, _PATH_SAFE))
        if not path.startswith("/"):
            path = "/" + path
        if trailing_slash == "strip" and len(path) > 1:
            path = path.rstrip("/") or "/"
        elif trailing_slash == "add" and "." not in path.rsplit("/", 1)[-1] and path[-1] != "/":
            path += "/"
        query = ""
        if parts.query:
            kept = [
                _normalise_escapes(p, _QUERY_SAFE)
                for p in parts.query.split("&")
                if p and not _is_tracking(p)
            ]
            query = "&".join(kept)
        out = f"{scheme}://"
        if userinfo:
            out += _normalise_escapes(userinfo, _USER_SAFE) + "@"
        out += _host_text(parsed_host)
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            out += f":{port}"
        out += path
        if query:
            out += "?" + query
        return out
    except UsageError:
        raise
    except ValueError as exc:  # urlsplit, ports, ipaddress, idna (IDNAError), UnicodeError
        raise _invalid(url, str(exc) or type(exc).__name__) from exc


def is_private_address(ip: str | IPAddress) -> bool:
    """True for any address that is not a public unicast one, judged by the special-purpose
    address registries: what Python's ``ipaddress`` knows of them (``is_global``,
    ``is_multicast``, ``is_reserved``...) and IANA's registries as :data:`_SPECIAL_V4` and
    :data:`_SPECIAL_V6` hold them, whichever is stricter. IPv6 outside 2000::/3 is never public.
    IPv4-mapped, IPv4-compatible, NAT64, 6to4 and Teredo addresses are judged by the IPv4
    addresses they embed (Teredo: its server's and its client's).

    ``ip`` is an address object or its text (IPv6 with or without brackets, a zone allowed).
    Text that is not an address raises ValueError.
    """
    if isinstance(ip, str):
        text = ip.strip()
        if text.startswith("[") and text.endswith("]"):
            text = text[1:-1]
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded:
            return any(is_private_address(v4) for v4 in embedded)
        if ip not in _GLOBAL_UNICAST_V6 or any(ip in net for net in _SPECIAL_V6):
            return True
    elif any(ip in net for net in _SPECIAL_V4):
        return True
    return (
        not ip.is_global
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_unspecified
    )


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses an IPv6 address stands for, when it is one of the embedding forms."""
    if ip in _MAPPED:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _NAT64:
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    if ip in _SIXTOFOUR:
        return (ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF),)
    if ip in _TEREDO:
        server = ipaddress.IPv4Address((int(ip) >> 64) & 0xFFFFFFFF)
        client = ipaddress.IPv4Address(~int(ip) & 0xFFFFFFFF)
        return (server, client)
    if ip in _V4_COMPATIBLE and int(ip) > 1:
        # deprecated IPv4-compatible ::a.b.c.d; :: and ::1 are judged as themselves
        return (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF),)
    return ()


def is_private_name(host: str) -> bool:
    """True for names that always mean this machine or a private network (``localhost``,
    ``*.localhost``, ``*.local``, ``*.internal``, ``*.home.arpa``), whatever DNS answers."""
    name = host.lower().rstrip(".")
    return name in _PRIVATE_NAMES or name.endswith(_PRIVATE_SUFFIXES)


def _host_of(hostport: str) -> str:
    """The host of ``host[:port]`` as written, keeping an IPv6 literal's brackets."""
    if hostport.startswith("["):
        return hostport.partition("]")[0] + "]"
    return hostport.partition(":")[0]


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of a normalised URL: robots.txt and politeness are per origin."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def url_host(url: str) -> str | IPAddress:
    """The canonical host of an http(s) URL: an address object for a numeric host (however it
    is spelled), a lower-case ASCII name otherwise. Raises UsageError for an invalid URL."""
    try:
        parts, _ = _split(url)
        host = _host_of(parts.netloc.rpartition("@")[2])
        if not host:
            raise _invalid(url, "no host")
        return _parse_host(host)
    except UsageError:
        raise
    except ValueError as exc:
        raise _invalid(url, str(exc) or type(exc).__name__) from exc


def check_url_target(url: str, allow_private: bool) -> None:
    """Refuse a URL that is not http(s), or whose host is a private address or name.

    This is the part of the SSRF policy that needs no DNS: fetch/client.py resolves host names
    and checks every address with :func:`is_private_address`. Raises BlockedAddressError
    (or UsageError for a string that is not a URL at all).
    """
    try:
        scheme = _split(url)[0].scheme.lower()
    except ValueError as exc:
        raise _invalid(url, str(exc) or type(exc).__name__) from exc
    if not scheme:
        raise _invalid(url, "no scheme")
    if scheme not in SCHEMES:
        raise BlockedAddressError(url, f"only http and https URLs are fetched (scheme: {scheme})")
    host = url_host(url)
    if allow_private:
        return
    if isinstance(host, str):
        if is_private_name(host):
            raise BlockedAddressError(url, f"{host} is a private host name {PRIVATE_OPT_IN}")
    elif is_private_address(host):
        raise BlockedAddressError(url, f"{host} is a private or reserved address {PRIVATE_OPT_IN}")


def url_allowed(
    url: str, allow: Iterable[re.Pattern[str]] = (), deny: Iterable[re.Pattern[str]] = ()
) -> bool:
    """The site's allow/deny rules: a URL matching any ``deny`` pattern is out; otherwise it is
    in when ``allow`` is empty or any ``allow`` pattern matches (``re.search``)."""
    if any(p.search(url) for p in deny):
        return False
    allow = tuple(allow)
    return not allow or any(p.search(url) for p in allow)
