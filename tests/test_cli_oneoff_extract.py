"""``scraper extract`` as people use it: gzip, binary refusal, several files, ``--input-dir``,
JSON Lines, a progress bar on a terminal, one failure not stopping the others."""

from __future__ import annotations

import gzip
import json
import os
import pty
import random
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from scraper.cli import cli
from scraper.extract import extract
from scraper.localinput import MAX_INPUT_BYTES, read_input
from tests.conftest import FIXTURES

PAGE = (FIXTURES / "site" / "blog" / "lighthouse.html").read_bytes()
TITLE = "The lighthouse keeper's last winter"
NO_ARTICLE = b"<html><body><nav><a href='/'>Home</a></nav></body></html>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(64)
ELF = b"\x7fELF\x02\x01\x01\x00" + bytes(200)


def run(*args: str, input: bytes | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def one_line_errors(result: Result) -> list[str]:
    lines = result.stderr.splitlines()
    assert "Traceback" not in result.stderr
    return [line for line in lines if line.startswith("Error: ")]


def test_gzip_is_read_by_its_bytes_whatever_the_name(tmp_path: Path) -> None:
    expected = extract(PAGE).text
    for name in ("page.html.gz", "page.html"):  # the second is gzip without the suffix
        path = tmp_path / name
        path.write_bytes(gzip.compress(PAGE))
        result = run("extract", str(path), "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["text"] == expected
    piped = run("extract", "-", "--format", "json", input=gzip.compress(PAGE))
    assert json.loads(piped.stdout)["text"] == expected


def test_corrupt_gzip_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.html.gz"
    path.write_bytes(gzip.compress(PAGE)[:200])
    result = run("extract", str(path))
    assert result.exit_code == 1
    (error,) = one_line_errors(result)
    assert str(path) in error
    assert "gzip" in error


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (PNG, "a PNG image"),
        (ELF, "an executable"),
        (random.Random(7).randbytes(5000), "binary data"),
        (gzip.compress(PNG), "a PNG image"),  # what is inside the gzip counts
    ],
)
def test_binary_files_are_refused(tmp_path: Path, content: bytes, what: str) -> None:
    path = tmp_path / "thing.html"
    path.write_bytes(content)
    result = run("extract", str(path), "--format", "json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert one_line_errors(result) == [f"Error: {path}: is {what}, not HTML"]


def test_a_directory_given_as_file_says_what_to_do(tmp_path: Path) -> None:
    result = run("extract", str(tmp_path))
    assert result.exit_code == 1
    assert one_line_errors(result) == [f"Error: {tmp_path}: is a directory (use --input-dir DIR)"]


def make_tree(root: Path) -> dict[str, bytes]:
    """A directory of inputs: articles, one without an article, one binary, non-HTML names."""
    files = {
        "a.html": PAGE,
        "nested/deeper/b.HTM": PAGE.replace(b"last winter", b"first summer"),
        "nested/c.html.gz": gzip.compress(PAGE),
        "nested/empty.html": NO_ARTICLE,
        "photo.html": PNG,
        "notes.txt": b"not picked up",
        "page.html.bak": PAGE,
    }
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def test_input_dir_json_lines_and_failures(tmp_path: Path) -> None:
    make_tree(tmp_path)
    result = run("extract", "--input-dir", str(tmp_path), "--format", "json")
    assert result.exit_code == 1  # photo.html failed; the others were still extracted
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["file"] for line in lines] == [
        str(tmp_path / "a.html"),
        str(tmp_path / "nested/c.html.gz"),
        str(tmp_path / "nested/deeper/b.HTM"),
        str(tmp_path / "nested/empty.html"),
    ]
    assert [line["title"] for line in lines] == [
        TITLE,
        TITLE,
        "The lighthouse keeper's first summer",
        extract(NO_ARTICLE).title,
    ]
    assert [line["found"] for line in lines] == [True, True, True, False]
    assert one_line_errors(result) == [
        f"Error: {tmp_path / 'photo.html'}: is a PNG image, not HTML"
    ]
    assert "1 of 5 files failed" in result.stderr


def test_input_dir_skips_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A FIFO or a device with an HTML name would block the run forever; a link to a file is
    read, a link to a directory (a loop here) is not followed."""
    (tmp_path / "a.html").write_bytes(PAGE)
    os.mkfifo(tmp_path / "pipe.html")
    (tmp_path / "zero.html").symlink_to("/dev/zero")
    (tmp_path / "link.html").symlink_to(tmp_path / "a.html")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    result = run("extract", "--input-dir", str(tmp_path), "--format", "json")
    assert result.exit_code == 0, result.stderr
    files = [json.loads(line)["file"] for line in result.stdout.splitlines()]
    assert files == [str(tmp_path / "a.html"), str(tmp_path / "link.html")]


def test_a_gzip_bomb_is_read_only_so_far(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.html.gz"
    with gzip.open(bomb, "wb") as out:
        out.write(PAGE)
        chunk = b"<p>" + b"a" * (1 << 20) + b"</p>"
        for _ in range(64):  # 64 MB unpacked
            out.write(chunk)
    assert len(read_input(bomb)) == MAX_INPUT_BYTES  # unpacking stopped there
    result = run("extract", str(bomb), "--format", "json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["title"] == TITLE


def test_several_files_as_text_are_separated(tmp_path: Path) -> None:
    make_tree(tmp_path)
    a, b, empty = (
        tmp_path / "a.html",
        tmp_path / "nested/deeper/b.HTM",
        tmp_path / "nested/empty.html",
    )
    result = run("extract", str(a), str(empty), str(b))
    assert result.exit_code == 1
    assert one_line_errors(result) == [f"Error: {empty}: no article found"]
    out = result.stdout
    assert out.startswith(f"==> {a} <==\n\n{TITLE}\n")
    assert f"\n\n==> {b} <==\n\nThe lighthouse keeper's first summer\n" in out
    assert out.count("==> ") == 2
    markdown = run("extract", str(a), str(b), "--format", "markdown")
    assert markdown.exit_code == 0, markdown.stderr
    assert markdown.stdout.count("==> ") == 2
    assert extract(PAGE).markdown in markdown.stdout


def test_all_good_files_exit_zero_and_missing_one_is_one_line(tmp_path: Path) -> None:
    make_tree(tmp_path)
    good = run("extract", str(tmp_path / "a.html"), str(tmp_path / "nested/c.html.gz"))
    assert good.exit_code == 0, good.stderr
    missing = tmp_path / "gone.html"
    result = run("extract", str(missing), str(tmp_path / "a.html"), "--format", "json")
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1
    (error,) = one_line_errors(result)
    assert error.startswith(f"Error: {missing}: cannot read file")


def test_usage_errors(tmp_path: Path) -> None:
    make_tree(tmp_path)
    one_url = run("extract", str(tmp_path / "a.html"), "-", "--url", "https://example.org/")
    assert one_url.exit_code == 2
    assert "--url" in one_url.stderr
    empty = tmp_path / "empty-dir"
    empty.mkdir()
    nothing = run("extract", "--input-dir", str(empty))
    assert nothing.exit_code == 1
    assert one_line_errors(nothing) == [
        f"Error: {empty}: no *.html, *.htm or *.html.gz files in it"
    ]
    missing_dir = run("extract", "--input-dir", str(tmp_path / "nope"))
    assert missing_dir.exit_code == 2


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """stderr a terminal, stdout a pipe: the bar is drawn on stderr, stdout stays JSON Lines."""
    make_tree(tmp_path)
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scraper",
            "extract",
            "--input-dir",
            str(tmp_path),
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=slave,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 300  # a budget far above the second the work takes
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the child closed the terminal (EIO)
            break
        if not chunk:
            break
        screen += chunk
    else:
        proc.kill()
    out, _ = proc.communicate(timeout=300)
    os.close(master)
    text = screen.decode("utf-8", "replace")
    assert proc.returncode == 1
    assert "extracting" in text
    assert "5/5" in text
    assert "photo.html: is a PNG image, not HTML" in text
    assert len(out.decode().splitlines()) == 4
    # not a terminal: no bar
    quiet = run("extract", "--input-dir", str(tmp_path), "--format", "json")
    assert "extracting" not in quiet.stderr
