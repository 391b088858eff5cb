"""urls.py: normalisation, the private-address policy whatever the spelling, allow/deny rules,
and hypothesis properties (idempotent, never crashes, never changes public into private)."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scraper.errors import BlockedAddressError, UsageError
from scraper.urls import (
    check_url_target,
    is_private_address,
    is_private_name,
    normalise_url,
    url_allowed,
    url_host,
)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM", "http://example.com/"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com:80/", "https://example.com:80/"),
        ("http://example.com/a#section-2", "http://example.com/a"),
        ("http://example.com/?utm_source=x&id=3&UTM_Medium=y&b=1", "http://example.com/?id=3&b=1"),
        ("http://example.com/p?fbclid=abc&gclid=1&mc_cid=2&mc_eid=3", "http://example.com/p"),
        ("http://example.com/p?b=2&a=1&b=1", "http://example.com/p?b=2&a=1&b=1"),
        ("http://example.com/p?", "http://example.com/p"),
        ("http://example.com/a/./b/../c", "http://example.com/a/c"),
        ("http://example.com/%7euser/%2fx", "http://example.com/~user/%2Fx"),
        ("http://example.com/caf\u00e9 au lait", "http://example.com/caf%C3%A9%20au%20lait"),
        ("http://example.com/100%", "http://example.com/100%25"),
        ("http://b\u00fccher.example/", "http://xn--bcher-kva.example/"),
        ("http://EXAMPLE.com./x", "http://example.com/x"),
        ("  http://example.com/x\n", "http://example.com/x"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://[::FFFF:7F00:1]/", "http://[::ffff:7f00:1]/"),
        ("http://user:p%40ss@example.com/", "http://user:p%40ss@example.com/"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected


@pytest.mark.parametrize(
    ("mode", "url", "expected"),
    [
        ("keep", "http://e.com/a/", "http://e.com/a/"),
        ("strip", "http://e.com/a/", "http://e.com/a"),
        ("strip", "http://e.com/", "http://e.com/"),
        ("add", "http://e.com/a", "http://e.com/a/"),
        ("add", "http://e.com/a/", "http://e.com/a/"),
        ("add", "http://e.com/a.html", "http://e.com/a.html"),
    ],
)
def test_trailing_slash(mode: str, url: str, expected: str) -> None:
    assert normalise_url(url, trailing_slash=mode) == expected


@pytest.mark.parametrize(
    "url",
    [
        "",
        "example.com",
        "ftp://example.com/",
        "javascript:alert(1)",
        "file:///etc/passwd",
        "http://",
        "http://exa mple.com/",
        "http://example.com:99999/",
        "http://1.2.3.4.5/",
        "http://256.1.1.1/",
        "http://[::1/",
        "http://a..b/",
    ],
)
def test_invalid_urls_are_usage_errors_naming_the_url(url: str) -> None:
    with pytest.raises(UsageError, match=r"^not a valid URL: ") as info:
        normalise_url(url)
    assert repr(url) in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("127.255.255.254", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("172.31.255.255", True),
        ("172.32.0.1", False),
        ("192.168.0.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("100.127.255.255", True),
        ("100.128.0.1", False),
        ("0.0.0.0", True),
        ("224.0.0.251", True),
        ("239.255.255.250", True),
        ("240.0.0.1", True),
        ("255.255.255.255", True),
        ("192.0.2.1", True),
        ("198.18.0.1", True),
        ("8.8.8.8", False),
        ("93.184.216.34", False),
        ("::1", True),
        ("::", True),
        ("fd12:3456::1", True),
        ("fc00::1", True),
        ("fe80::1", True),
        ("ff02::1", True),
        ("::ffff:127.0.0.1", True),
        ("::ffff:169.254.169.254", True),
        ("::ffff:8.8.8.8", False),
        ("::127.0.0.1", True),
        ("64:ff9b::10.0.0.1", True),
        ("64:ff9b::8.8.8.8", False),
        ("2002:7f00:1::", True),
        ("2002:a9fe:a9fe::1", True),
        ("2002:808:808::1", False),
        ("2001:db8::1", True),
        ("2606:4700:4700::1111", False),
        ("[::1]", True),
        # the special-purpose registries, not a hand list (issue 11)
        ("::ffff:0:127.0.0.1", True),  # IPv4-translated ::ffff:0:0:0/96
        ("::ffff:0:8.8.8.8", True),  # a translator's internal form, whatever it embeds
        ("3fff::1", True),  # documentation 3fff::/20
        ("3fff:fff::1", True),
        ("5f00::1", True),  # segment routing SIDs 5f00::/16
        ("4000::1", True),  # outside 2000::/3, the only global unicast space
        ("64:ff9b:1::1", True),  # local-use NAT64
        ("64:ff9b::127.0.0.1", True),
        ("2001:0:808:808:0:0:80ff:fffe", True),  # Teredo, client 127.0.0.1
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", True),  # Teredo, client 192.0.2.45
        ("2001:0:808:808:8000:63bf:f7f7:f7f7", False),  # Teredo, public server and client
        ("192.0.0.9", True),  # IETF protocol assignments, globally reachable or not
        ("192.31.196.1", True),  # AS112-v4
        ("2620:4f:8000::1", True),  # AS112 direct delegation
        ("1.1.1.1", False),
    ],
)
def test_is_private_address(address: str, private: bool) -> None:
    assert is_private_address(address) is private


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0177.0.0.01/",
        "http://0x7f.1/",
        "http://0x7f000001/",
        "http://127.1/",
        "http://127.0.1/",
        "http://%31%32%37.0.0.1/",
        "http://[::1]/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://[::ffff:0:127.0.0.1]/",
        "http://[3fff::1]/",
        "http://[5f00::1]/",
        "http://[2002:7f00:1::1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9fea9fe/",
        "http://10.0.0.1/",
        "http://012.0.0.1/",
        "http://100.64.0.1/",
        "http://0/",
        "http://localhost/",
        "http://LOCALHOST./",
        "http://api.localhost:3000/",
        "http://printer.local/",
        "http://metadata.google.internal/",
        "http://router.home.arpa/",
        "http://user@127.0.0.1:80/",
        "http://example.com@127.0.0.1/",
    ],
)
def test_private_targets_are_blocked_whatever_the_spelling(url: str) -> None:
    with pytest.raises(BlockedAddressError, match="private") as info:
        check_url_target(url, allow_private=False)
    assert info.value.url == url
    check_url_target(url, allow_private=True)  # the opt-in lets them through


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/",
        "https://93.184.216.34/",
        "http://[2606:4700:4700::1111]/",
        "http://127.0.0.1.nip.io.example/",
        "http://127.0.0.1@example.com/",
        "http://localhost.example.com/",
    ],
)
def test_public_targets_pass(url: str) -> None:
    check_url_target(url, allow_private=False)


@pytest.mark.parametrize("url", ["ftp://example.com/", "file:///etc/passwd", "gopher://x/"])
def test_only_http_and_https_whatever_allow_private(url: str) -> None:
    for allow in (False, True):
        with pytest.raises(BlockedAddressError, match="only http and https"):
            check_url_target(url, allow_private=allow)


def test_a_string_without_a_scheme_is_not_a_url() -> None:
    with pytest.raises(UsageError, match="not a valid URL: 'example.com/page' \\(no scheme\\)"):
        check_url_target("example.com/page", allow_private=False)


def test_url_host_and_private_names() -> None:
    assert url_host("http://0x7f.1:8080/") == ipaddress.IPv4Address("127.0.0.1")
    assert url_host("http://[::1]/") == ipaddress.IPv6Address("::1")
    assert url_host("http://WWW.Example.com./") == "www.example.com"
    assert is_private_name("localhost")
    assert is_private_name("x.y.localhost.")
    assert not is_private_name("localhost.example.com")


def test_url_allowed() -> None:
    allow = (re.compile(r"^https://www\.example\.com/post/"),)
    deny = (re.compile(r"/post/drafts/"), re.compile(r"\?print=1"))
    assert url_allowed("https://www.example.com/post/a", allow, deny)
    assert not url_allowed("https://www.example.com/about", allow, deny)
    assert not url_allowed("https://www.example.com/post/drafts/x", allow, deny)
    assert not url_allowed("https://www.example.com/post/a?print=1", allow, deny)
    assert url_allowed("https://anything.example/", (), ())
    assert not url_allowed("https://anything.example/?print=1", (), deny)


# --- properties ------------------------------------------------------------------------------


def _ipv4_spellings(value: int) -> st.SearchStrategy[str]:
    quad = list(ipaddress.IPv4Address(value).packed)
    return st.sampled_from(
        [
            ".".join(map(str, quad)),
            str(value),
            hex(value),
            ".".join(f"0{b:o}" for b in quad),
            ".".join(hex(b) for b in quad),
            f"{quad[0]}.{(quad[1] << 16) | (quad[2] << 8) | quad[3]}",
            f"{quad[0]}.{quad[1]}.{(quad[2] << 8) | quad[3]}",
            f"[::ffff:{ipaddress.IPv4Address(value)}]",
        ]
    )


_ADDRESSES = st.one_of(
    st.integers(0, 2**32 - 1),
    st.sampled_from([0x7F000001, 0x0A000001, 0xA9FEA9FE, 0x64400001, 0xC0A80101, 0x5DB8D822]),
)
_NAMES = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.org.",
        "localhost",
        "a.localhost",
        "b\u00fccher.example",
        "xn--bcher-kva.example",
        "x_y.example",
    ]
)
_HOSTS = st.one_of(_NAMES, _ADDRESSES.flatmap(_ipv4_spellings))
_PATH = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="#?"), max_size=20)
_QUERY = st.lists(
    st.tuples(
        st.sampled_from(["id", "utm_source", "fbclid", "q", "a b", "%75tm_x"]), st.text(max_size=5)
    ),
    max_size=4,
).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv))

URLS = st.builds(
    lambda scheme, user, host, port, path, query, frag: (
        f"{scheme}://{user}{host}{port}/{path}" + (f"?{query}" if query else "") + frag
    ),
    st.sampled_from(["http", "https", "HTTP", "hTTps"]),
    st.sampled_from(["", "user@", "u:p@", "a@b@"]),
    _HOSTS,
    st.sampled_from(["", ":80", ":443", ":8080", ":0"]),
    _PATH,
    _QUERY,
    st.sampled_from(["", "#x", "#"]),
)
ANY_TEXT = st.one_of(URLS, st.text(max_size=60), st.text(max_size=20).map(lambda t: "http://" + t))


def _blocked(url: str) -> bool:
    try:
        check_url_target(url, allow_private=False)
    except BlockedAddressError:
        return True
    return False


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_TEXT, st.sampled_from(["keep", "strip", "add"]))
def test_normalise_is_idempotent_and_never_crashes(url: str, mode: str) -> None:
    try:
        once = normalise_url(url, trailing_slash=mode)
    except UsageError:
        return
    assert normalise_url(once, trailing_slash=mode) == once


@settings(max_examples=400, deadline=None)
@given(URLS)
def test_normalise_never_changes_whether_a_url_is_private(url: str) -> None:
    try:
        normalised = normalise_url(url)
    except UsageError:
        return
    assert _blocked(normalised) == _blocked(url), (url, normalised)


@settings(max_examples=200, deadline=None)
@given(_ADDRESSES.flatmap(lambda v: st.tuples(st.just(v), _ipv4_spellings(v))))
def test_every_spelling_of_an_address_gets_the_same_answer(case: tuple[int, str]) -> None:
    value, spelling = case
    expected = is_private_address(ipaddress.IPv4Address(value))
    assert _blocked(f"http://{spelling}/") is expected


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("https://example.org/a/b?c=1", "https://example.org"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("http://[::1]:8000/x", "http://[::1]:8000"),
        ("https://example.org", "https://example.org"),
    ],
)
def test_origin_of(url: str, origin: str) -> None:
    from scraper.urls import origin_of

    assert origin_of(url) == origin
