"""Fetch, block pages: is a 200 answer a captcha, bot check or "access denied" page? Pure.

A block page must never replace a good snapshot, so fetch raises BlockPageError for one. The test
is conservative: an article that talks about captchas is an article.
"""

from __future__ import annotations

import html
import re

_BLOCK_TITLE = re.compile(
    r"^\s*(access denied|attention required!?|just a moment\.*|please wait\.*|one more step"
    r"|security check|are you a robot\??|robot or human\??|verify you are (?:a )?human"
    r"|human verification|captcha|bot check|pardon our interruption|request blocked"
    r"|you have been blocked|access to this page has been denied\.?|ddos-guard"
    r"|checking your browser\.*|403 forbidden|forbidden)"
    r"(\s*[|:\-\u2013\u2014].*)?\s*$",
    re.I,
)
# vendor challenge pages: these strings appear on the challenge itself, not on normal pages
_BLOCK_VENDOR = (
    "cf_chl_opt",
    "cf-browser-verification",
    "/cdn-cgi/challenge-platform/",
    "captcha-delivery.com",
    "_incapsula_resource",
    "px-captcha",
    "sec-if-cpt-container",
)
_BLOCK_PHRASES = (
    "verify you are human",
    "verify that you are human",
    "are you a robot",
    "not a robot",
    "checking your browser",
    "enable javascript and cookies to continue",
    "access denied",
    "you don't have permission to access",
    "you do not have permission to access",
    "request unsuccessful",
    "incapsula incident",
    "complete the security check",
    "unusual traffic",
    "why have i been blocked",
    "captcha",
    "ray id",
    "reference #",
)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title", re.I | re.S)
_INVISIBLE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
#: a page with more visible text than this is never taken for a block page
BLOCK_PAGE_MAX_TEXT_CHARS = 2000
_BLOCK_PAGE_MAX_CHARS = 256 * 1024


def block_page_reason(text: str) -> str | None:
    """Why the HTML ``text`` looks like a captcha, bot check or "access denied" page, or None.

    Conservative on purpose: only a page with little visible text (an article has more) and a
    tell-tale title, a bot-vendor challenge marker, or two block phrases counts.
    """
    if len(text) > _BLOCK_PAGE_MAX_CHARS:
        return None
    title_match = _TITLE.search(text)
    title = html.unescape(_TAG.sub("", title_match.group(1))).strip() if title_match else ""
    visible = html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", text)))
    visible = " ".join(visible.split())
    if len(visible) > BLOCK_PAGE_MAX_TEXT_CHARS:
        return None
    if title and _BLOCK_TITLE.match(title):
        return f"title {title[:80]!r}"
    lower = text.lower()
    for marker in _BLOCK_VENDOR:
        if marker in lower:
            return f"bot-check marker {marker!r}"
    found = [p for p in _BLOCK_PHRASES if p in visible.lower()]
    if len(found) >= 2:
        return f"{found[0]!r} and {found[1]!r} on a near-empty page"
    return None
