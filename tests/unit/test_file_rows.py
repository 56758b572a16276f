"""Dataset files are read as written and checked: no "nan" questions, no "1.0" ids, every missing
required field named with its file, row, id and field; over-long lines refused before any model."""

from __future__ import annotations

import json

import pytest

from datasets_adapters import file_rows
from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.errors import DatasetError


def _jsonl(tmp_path, rows, name="q.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


GOOD = {"image": "a.png", "question": "Is it red?", "answer": "yes"}


def test_ids_are_read_as_written(tmp_path):
    path = _jsonl(tmp_path, [{"id": 1, **GOOD, "group": 10}, {"id": 2, **GOOD, "category": "c"},
                             {"id": "007", **GOOD, "group": 11}])
    items = YesNoFileDataset(str(path)).load()
    assert [i.id for i in items] == ["1", "2", "007"]
    assert [i.category for i in items] == ["", "c", ""]  # a gap is empty, never "nan"
    assert [i.group for i in items] == ["10", "", "11"]  # never "10.0" (a column with a gap is float in pandas)


@pytest.mark.parametrize("row, field, what", [
    ({"id": "q1", "image": "a.png", "answer": "yes"}, "question", "missing"),
    ({"id": "q1", "image": None, "question": "Is it?", "answer": "yes"}, "image", "null"),
    ({"id": "q1", "image": "a.png", "question": "  ", "answer": "yes"}, "question", "empty"),
    ({"id": "", "image": "a.png", "question": "Is it?", "answer": "yes"}, "id", "empty"),
])
def test_missing_or_null_required_fields_are_errors(tmp_path, row, field, what):
    path = _jsonl(tmp_path, [{"id": "q0", **GOOD}, row])
    with pytest.raises(DatasetError, match=rf"q.jsonl: row 2 \(id .*\): required field '{field}' is {what}"):
        YesNoFileDataset(str(path)).load()


def test_csv_gaps_are_missing_not_nan(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("id,image,question,answer,category\n1,a.png,Is it red?,yes,\n2,,Is it blue?,no,c\n")
    with pytest.raises(DatasetError, match=r"row 2 \(id 2\): required field 'image' is empty"):
        YesNoFileDataset(str(path)).load()
    path.write_text("id,image,question,answer\n1,a.png,Is it red?,yes\n")
    assert YesNoFileDataset(str(path)).load()[0].id == "1"


def test_unknown_fields_are_listed_once(tmp_path):
    path = _jsonl(tmp_path, [{"id": i, **GOOD, "qustion": "typo", "extra": 1} for i in range(3)])
    with pytest.warns(RuntimeWarning, match=r"qustion \(3 rows\), extra \(3 rows\)") as caught:
        YesNoFileDataset(str(path)).load()
    assert len([w for w in caught if "no loader reads" in str(w.message)]) == 1


def test_an_over_long_line_is_refused_with_its_row(tmp_path, monkeypatch):
    monkeypatch.setattr(file_rows, "MAX_LINE_BYTES", 1000)
    path = _jsonl(tmp_path, [{"id": "q0", **GOOD}, {"id": "q1", **GOOD, "question": "x" * 5000}])
    with pytest.raises(DatasetError, match="row 2: line longer than 1000 bytes"):
        YesNoFileDataset(str(path)).load()
    csv_path = tmp_path / "q.csv"
    csv_path.write_text("id,image,question,answer\n1,a.png,Is it red?,yes\n2,a.png," + "x" * 5000 + ",no\n")
    with pytest.raises(DatasetError, match="row 2"):
        YesNoFileDataset(str(csv_path)).load()


def test_every_jsonl_reader_refuses_an_over_long_line(tmp_path, monkeypatch):
    from evalkit import fileio

    monkeypatch.setattr(fileio, "MAX_LINE_CHARS", 100)
    path = _jsonl(tmp_path, [{"id": "a"}, {"id": "b", "text": "x" * 500}], name="predictions.jsonl")
    with pytest.raises(fileio.JsonlError, match=r"predictions.jsonl:2: line of \d+ characters is over the limit"):
        fileio.read_jsonl(path)
