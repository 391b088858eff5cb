"""One byte decoder for every path: fetch, ``scraper extract``/``extract()`` and reextract read
the same bytes as the same text."""

from __future__ import annotations

import json
import random
from pathlib import Path

from click.testing import CliRunner

from scraper.cli import cli
from scraper.decode import decode_body, sniff_binary
from scraper.extract import extract
from tests.conftest import FIXTURES
from tests.server import LocalServer

RU_TEXT = (FIXTURES / "charset" / "bridge-ru.html").read_text(encoding="utf-8")
RU_CP1251 = RU_TEXT.encode("cp1251")  # no <meta charset> in it
RU_SENTENCE = "После двух лет ремонта мост через гавань снова открыт для пешеходов"
RU_TITLE = "Мост через гавань снова открыт"


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_undeclared_cyrillic_is_detected() -> None:
    assert decode_body(RU_CP1251) == (RU_TEXT, "cp1251")


def test_a_given_charset_beats_meta_and_header_but_not_a_bom() -> None:
    body = '<meta charset="utf-8"><p>Привет</p>'.encode("koi8-r")
    assert decode_body(body, "text/html; charset=utf-8", charset="koi8-r") == (
        '<meta charset="utf-8"><p>Привет</p>',
        "koi8-r",
    )
    assert decode_body(b"\xef\xbb\xbf<p>ok</p>", charset="cp1251") == ("<p>ok</p>", "utf-8")
    # an unknown stored name falls back to the usual sniffing
    assert decode_body(RU_CP1251, charset="no-such-charset") == (RU_TEXT, "cp1251")


def test_decoding_with_the_charset_it_returned_gives_the_same_text() -> None:
    for body, content_type in [
        (RU_CP1251, None),
        (RU_CP1251, "text/html; charset=windows-1251"),
        (RU_TEXT.encode("koi8-r"), "text/html; charset=KOI8-R"),
        ("<p>café</p>".encode("cp1252"), None),
        (b"\xff\xfe" + "<p>x</p>".encode("utf-16-le"), None),
    ]:
        text, charset = decode_body(body, content_type)
        assert decode_body(body, charset=charset) == (text, charset)


def test_random_bytes_are_binary_and_legacy_text_is_not() -> None:
    noise = random.Random(10).randbytes(4096)
    assert sniff_binary(noise) == "binary data"
    assert sniff_binary(("Привет, мир! " * 100).encode("cp1251")) is None  # 8-bit, no markup
    assert sniff_binary(RU_CP1251) is None
    assert sniff_binary(b"\xcf\xfa\xed\xfe\x07\x00\x00\x01") == "an executable"


def test_extract_of_an_undeclared_cp1251_file_reads_cyrillic(tmp_path: Path) -> None:
    page = tmp_path / "bridge.html"
    page.write_bytes(RU_CP1251)
    result = run("extract", str(page), "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["title"] == RU_TITLE
    assert RU_SENTENCE in data["text"]


def test_fetch_and_extract_of_the_same_bytes_give_the_same_text(
    server: LocalServer, tmp_path: Path
) -> None:
    """Served with no charset anywhere (header or meta), then with it in the header only."""
    page = tmp_path / "bridge.html"
    page.write_bytes(RU_CP1251)
    extracted = json.loads(run("extract", str(page), "--format", "json").stdout)
    for path, content_type in [
        ("/ru-bare.html", "text/html"),
        ("/ru-header.html", "text/html; charset=windows-1251"),
    ]:
        server.route(path, body=RU_CP1251, headers={"Content-Type": content_type})
        result = run("fetch", "--no-store", "--allow-private", "--format", "json", server.url(path))
        assert result.exit_code == 0, result.stderr
        fetched = json.loads(result.stdout)
        assert fetched["text"] == extracted["text"]
        assert fetched["title"] == extracted["title"] == RU_TITLE
    assert extract(RU_CP1251).text == extracted["text"]


def test_valid_utf8_beats_a_stale_meta_charset() -> None:
    """A page converted to UTF-8 that kept its old <meta charset=iso-8859-1>: reading it as
    windows-1252 gives "â€“" mojibake; real windows-1252 text is not valid UTF-8."""
    html = '<meta charset="iso-8859-1"><p>Caf\u00e9 \u2013 cr\u00e8me</p>'
    assert decode_body(html.encode("utf-8")) == (html, "utf-8")
    assert decode_body(html.encode("cp1252")) == (html, "cp1252")
    # the transport's charset still wins
    assert decode_body(html.encode("utf-8"), "text/html; charset=iso-8859-1")[1] == "cp1252"
