"""The extraction benchmark's own options: ``--dump`` and ``--reuse`` (an earlier dump's
trafilatura results instead of running trafilatura again)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.benchmarks import bench_extract

_ARTICLE = (
    "<html><head><title>A test page</title></head><body><article><h1>A test page</h1>"
    + "".join(
        f"<p>Paragraph {n} of the article says something long enough to be prose, with many "
        f"plain words in it so that every extractor keeps it as the page's text.</p>"
        for n in range(6)
    )
    + "</article></body></html>"
)


def _bench_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "bench" / "scrapinghub"
    (folder / "html").mkdir(parents=True)
    truth = {}
    for page_id in ("p1", "p2"):
        (folder / "html" / f"{page_id}.html.gz").write_bytes(gzip.compress(_ARTICLE.encode()))
        truth[page_id] = {"articleBody": "Paragraph 0 of the article says something long"}
    (folder / "ground-truth.json").write_text(json.dumps(truth), encoding="utf-8")
    return tmp_path / "bench"


def _rows(path: Path) -> dict[str, dict[str, object]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {row["id"]: row for row in map(json.loads, lines)}


def test_reuse_takes_trafilatura_results_from_an_earlier_dump(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_dir(tmp_path)
    first = tmp_path / "first.jsonl"
    assert bench_extract.main(["--bench-dir", str(bench), "--jobs", "1", "--dump", str(first)]) == 0
    rows = _rows(first)
    assert set(rows) == {"p1", "p2"}
    assert all(row["half"] in {"tune", "check"} for row in rows.values())
    assert "Paragraph 3" in str(rows["p1"]["trafilatura"])
    # an earlier dump whose trafilatura text for p1 is something else: reuse must show it
    rows["p1"]["trafilatura"] = "zzz qqq xxx"
    edited = tmp_path / "edited.jsonl"
    edited.write_text("".join(json.dumps(r) + "\n" for r in rows.values()), encoding="utf-8")
    capsys.readouterr()
    second = tmp_path / "second.jsonl"
    argv = ["--bench-dir", str(bench), "--jobs", "1", "--reuse", str(edited)]
    assert bench_extract.main([*argv, "--dump", str(second)]) == 0
    again = _rows(second)
    assert again["p1"]["trafilatura"] == "zzz qqq xxx"
    assert again["p1"]["trafilatura_f1"] == 0.0
    assert again["p2"]["trafilatura"] == rows["p2"]["trafilatura"]
    assert again["p1"]["scraper"] == rows["p1"]["scraper"]
    assert "lost pages" in capsys.readouterr().out


def test_reuse_of_an_unreadable_dump_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench_dir(tmp_path)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("not json\n", encoding="utf-8")
    for path in (garbage, tmp_path / "missing.jsonl"):
        assert bench_extract.main(["--bench-dir", str(bench), "--reuse", str(path)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"{path}: cannot read an earlier --dump")
        assert err.count("\n") == 1
