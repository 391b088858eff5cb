"""Fetch, content: accepted media types; binary sniffing and charset decoding come from
:mod:`scraper.decode` (the one decoder every path shares). Pure.
"""

from __future__ import annotations

from collections.abc import Sequence

from scraper.decode import (
    META_PRESCAN_BYTES,
    SNIFF_BYTES,
    decode_body,
    header_charset,
    sniff_binary,
)

__all__ = [
    "META_PRESCAN_BYTES",
    "SNIFF_BYTES",
    "accepted_type",
    "decode_body",
    "header_charset",
    "sniff_binary",
]


def accepted_type(media: str, accept: Sequence[str]) -> bool:
    if not accept:
        return True
    for pattern in accept:
        if pattern in ("*/*", media):
            return True
        if pattern.endswith("/*") and media.startswith(pattern[:-1]):
            return True
    return False
