"""evalkit.fileio: the one JSONL reader/appender and atomic writer every module uses."""

import json
from pathlib import Path

import pytest

from evalkit.fileio import JsonlAppender, JsonlError, read_jsonl, write_atomic, write_json_atomic


def test_torn_last_line_is_dropped_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a"}\n\n{"id": "b"}\n{"id": "c", "te', encoding="utf-8")
    with pytest.warns(RuntimeWarning, match=r"p\.jsonl:4: skipping torn last line"):
        assert read_jsonl(path) == [{"id": "a"}, {"id": "b"}]


def test_torn_last_line_is_an_error_where_nothing_appends(tmp_path: Path) -> None:
    path = tmp_path / "questions.jsonl"
    path.write_text('{"id": "a"}\n{"id": "b', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"questions\.jsonl:2: not valid JSON"):
        read_jsonl(path, torn_tail="error")


def test_a_bad_line_before_the_last_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"id": "a"}\nnot json\n{"id": "c"}\n\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"p\.jsonl:2: not valid JSON"):
        read_jsonl(path)


def test_appender_cuts_a_torn_tail_then_appends_whole_lines(tmp_path: Path) -> None:
    path = tmp_path / "shards" / "rank0.jsonl"
    with JsonlAppender(path) as out:
        out.write([{"id": "a"}, {"id": "é"}])
    with open(path, "a", encoding="utf-8") as handle:
        handle.write('{"id": "kil')  # a kill mid-write
    with JsonlAppender(path) as out:
        out.write([{"id": "c"}])
    assert path.read_text(encoding="utf-8") == '{"id": "a"}\n{"id": "é"}\n{"id": "c"}\n'


def test_atomic_writes_replace_the_file_and_leave_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    path.write_text("old", encoding="utf-8")
    write_json_atomic(path, {"n": 1, "name": "é"}, ensure_ascii=False)
    assert path.read_text(encoding="utf-8") == json.dumps({"n": 1, "name": "é"}, indent=2, ensure_ascii=False) + "\n"
    write_atomic(tmp_path / "blob.bin", b"\x00\x01")
    assert (tmp_path / "blob.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blob.bin", "summary.json"]
