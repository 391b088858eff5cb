"""Bytes to text, for every path: the one decoder of fetched bodies, local files and stored
captures, and the sniffing that tells binary data from text. Pure: no I/O.

``scraper fetch``/``crawl`` decode a body here with its Content-Type; ``scraper extract`` and
``extract()`` decode bytes here without one; ``reextract`` decodes a stored body here with the
charset its fetch used (stored with the capture), so that every path reads the same bytes as
the same text. The charset is chosen as the HTML standard's encoding sniffing does it
(byte-order mark, then the transport's ``charset``, then ``<meta>`` in the first bytes), then
UTF-8 when the bytes are valid UTF-8, then detection. Decoding never raises: bad bytes become
U+FFFD. This module imports nothing of the package: both the fetch and the extract layers use
it.
"""

from __future__ import annotations

import codecs
import re
import unicodedata

#: the first bytes of an HTML body that are searched for <meta charset>
META_PRESCAN_BYTES = 4096
SNIFF_BYTES = 1024  # body bytes looked at for binary magic numbers

_MAGIC = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x1f\x8b", "gzip data"),
    (b"BZh", "bzip2 data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x28\xb5\x2f\xfd", "zstd data"),
    (b"\xfd7zXZ\x00", "xz data"),
    (b"\x7fELF", "an executable"),
    (b"MZ\x90\x00", "an executable"),
    (b"\x00asm", "WebAssembly"),
    (b"OggS", "an Ogg file"),
    (b"ID3", "an MP3 file"),
    (b"fLaC", "a FLAC file"),
    (b"wOFF", "a font"),
    (b"wOF2", "a font"),
    (b"\x00\x00\x01\x00", "an icon"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Office document"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\xca\xfe\xba\xbe", "an executable"),  # Mach-O universal binary, Java class file
    (b"\xfe\xed\xfa\xce", "an executable"),  # Mach-O, 32 and 64 bits, both byte orders
    (b"\xfe\xed\xfa\xcf", "an executable"),
    (b"\xce\xfa\xed\xfe", "an executable"),
    (b"\xcf\xfa\xed\xfe", "an executable"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)


_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})


def sniff_binary(head: bytes) -> str | None:
    """What binary format ``head`` (the first bytes of a body) is, or None if it may be text."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    if head[:4] == b"RIFF" and head[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return "a RIFF media file"
    if head[4:8] == b"ftyp":
        return "an MP4/QuickTime file"
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or not head:
        return None
    sample = head[:SNIFF_BYTES]
    odd, even = sample[1::2], sample[0::2]
    if sample.count(0) * 3 > len(sample) and (odd.count(0) < 2 or even.count(0) < 2):
        return None  # UTF-16 text without a BOM: zeros in every other byte only
    controls = len(sample) - len(sample.translate(None, _CONTROL))  # C0 bytes, one pass
    if controls * 10 > len(sample) * 3:
        return "binary data"
    # Text in any 8-bit web encoding has next to no C0 control bytes; random or compressed bytes
    # have one in ten. Valid UTF-8 keeps the looser bound above (a stray NUL in a page).
    if controls * 100 > len(sample) * MAX_CONTROL_PERCENT and not _utf8_prefix(sample):
        return "binary data"
    return None


#: control bytes (not tab, newline, form feed, CR, ESC) in a sample that is not UTF-8, at most
MAX_CONTROL_PERCENT = 3


def _utf8_prefix(sample: bytes) -> bool:
    """True when ``sample`` is the start of valid UTF-8 (a character cut at the end is fine)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


_WEB_CODECS = frozenset(
    [
        "utf-8",
        "utf-16",
        "utf-16-le",
        "utf-16-be",
        "koi8-r",
        "koi8-u",
        "mac-roman",
        "mac-cyrillic",
        "shift_jis",
        "cp932",
        "euc_jp",
        "iso2022_jp",
        "euc_kr",
        "cp949",
        "big5",
        "big5hkscs",
        "gb18030",
        "gbk",
        "gb2312",
    ]
)
_SINGLE_BYTE_CODEC = re.compile(r"^(iso8859-\d+|cp\d+|windows-\d+)$")
# WHATWG Encoding Standard: these labels mean windows-1252, gb2312 means gbk (decoded as gb18030)
_LABEL_ALIASES = dict.fromkeys(
    ["iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1", "us-ascii", "ascii"], "cp1252"
) | {
    **dict.fromkeys(["gb2312", "gbk", "x-gbk"], "gb18030"),
    **dict.fromkeys(["shift_jis", "sjis", "x-sjis", "windows-31j"], "cp932"),
    **dict.fromkeys(["euc-kr", "ks_c_5601-1987"], "cp949"),
    **dict.fromkeys(["tis-620", "iso-8859-11"], "cp874"),
}
_META_CHARSET = re.compile(rb"""<meta[^>]*?charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.I)
_XML_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([a-zA-Z0-9_.\-]+)""", re.I)


def _codec(label: str | None) -> str | None:
    """Python's codec for a charset label, or None when unknown or not a web text encoding."""
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _LABEL_ALIASES.get(label) or label
    try:
        name = codecs.lookup(label).name
    except (LookupError, ValueError):
        return None
    if name in _WEB_CODECS or _SINGLE_BYTE_CODEC.match(name):
        return name
    return None


def _detect(sample: bytes) -> str | None:
    """charset-normalizer's first guess that names a language (its "best" on short or
    repetitive text is often a code page of no language), else its best."""
    # imported at the first guess, not with the module: most bodies name their charset, and
    # the import costs every process about 15 ms (a crawl of unchanged pages needs none)
    import charset_normalizer

    matches = list(charset_normalizer.from_bytes(sample))
    for match in matches:
        if match.language != "Unknown" and _codec(match.encoding):
            return _codec(match.encoding)
    return _codec(matches[0].encoding) if matches else None


_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def _latin_default(body: bytes, guess: str | None) -> str:
    """windows-1252 (the web's default for undeclared pages) unless detection found a
    non-Latin script: detectors often take Western text for Baltic or Central European."""
    if guess is None:
        return "cp1252"
    single_byte = _SINGLE_BYTE_CODEC.match(guess) or guess.startswith(("mac-", "koi8"))
    if guess == "cp1252" or not single_byte:
        return guess
    high = bytes(sorted({b for b in body if b >= 0x80}))
    if _CP1252_UNDEFINED & set(high):
        return guess
    letters = [c for c in high.decode(guess, errors="replace") if c.isalpha()]
    if all(unicodedata.name(c, "").startswith("LATIN") for c in letters):
        return "cp1252"
    return guess


def header_charset(content_type: str | None) -> str | None:
    """The ``charset`` parameter of a Content-Type header value, if any."""
    if not content_type:
        return None
    for param in content_type.split(";")[1:]:
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def decode_body(
    body: bytes, content_type: str | None = None, *, charset: str | None = None
) -> tuple[str, str]:
    """``(text, charset)`` of an HTML or XML body, decoded with ``errors="replace"``; the charset
    is the Python codec name used (``utf-8``, ``cp1251``...), what a capture stores.

    The charset is chosen as the HTML standard's sniffing does: a byte-order mark first (it
    beats the header, as in browsers), then ``charset`` when given (the one a stored capture was
    decoded with: decoding it again gives the same text), then the Content-Type ``charset``,
    then ``<meta charset>`` or ``<meta http-equiv>`` (or an XML declaration) in the first 4 KB
    (unless the body has non-ASCII bytes and all of it is valid UTF-8: then UTF-8), then UTF-8
    if the body is valid UTF-8, then detection (charset-normalizer).
    """
    if body.startswith(b"\xef\xbb\xbf"):
        return body[3:].decode("utf-8", errors="replace"), "utf-8"
    if body.startswith(b"\xff\xfe"):
        return body[2:].decode("utf-16-le", errors="replace"), "utf-16-le"
    if body.startswith(b"\xfe\xff"):
        return body[2:].decode("utf-16-be", errors="replace"), "utf-16-be"
    encoding = _codec(charset) or _codec(header_charset(content_type))
    if encoding is None:
        head = body[:META_PRESCAN_BYTES]
        match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
        if match:
            encoding = _codec(match.group(1).decode("ascii"))
            if encoding is not None and encoding.startswith("utf-16"):
                encoding = "utf-8"  # a body readable as ASCII is not UTF-16 (HTML standard)
            if encoding not in (None, "utf-8") and not body.isascii():
                # Non-ASCII text in another encoding is next to never valid UTF-8, while pages
                # saved or converted to UTF-8 that keep their old <meta> are common.
                try:
                    return body.decode("utf-8"), "utf-8"
                except UnicodeDecodeError:
                    pass
    if encoding is None:
        try:
            return body.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            encoding = _latin_default(body, _detect(body[:65536]))
    return body.decode(encoding, errors="replace"), encoding
