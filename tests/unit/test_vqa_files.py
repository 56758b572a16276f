"""`dataset=vqa`: any JSONL / CSV of short-answer questions; bad rows are named by row, id and field
before any model loads; several human answers score as vqaEval.py, one as a processed match."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from datasets_adapters.vqa_files import VQA_FILE, VQAFileDataset
from evalkit.benchmark import ItemView
from evalkit.errors import DatasetError
from evalkit.scoring.vqa_answers import vqa_accuracy
from support.vqa_fixture import write_images


def write(tmp_path, rows, name="q.jsonl"):
    path = tmp_path / name
    if name.endswith(".csv"):
        pd.DataFrame(rows).to_csv(path, index=False)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_jsonl_and_csv_rows(tmp_path):
    write_images(tmp_path / "img", ["a.png"])
    path = write(tmp_path, [{"id": "q1", "image": "img/a.png", "question": "How many?", "answers": ["2"] * 9 + ["3"]},
                            {"id": "q2", "image": "img/a.png", "question": "What colour?", "answer": "Red",
                             "category": "colour"}])
    items = VQAFileDataset(str(path)).load()
    assert items[0].answer == "2" and items[0].group == "img/a.png" and items[1].meta["answers"] == ["Red"]
    assert items[0].prompt_question == "How many?\nAnswer the question using a single word or phrase."
    csv = write(tmp_path, [{"id": "c1", "image": "img/a.png", "question": "Q?", "answers": "dog|a dog|dogs"},
                           {"id": "c2", "image": "img/a.png", "question": "Q?", "answers": '["yes", "no"]'}], "q.csv")
    assert [i.meta["answers"] for i in VQAFileDataset(str(csv)).load()] == [["dog", "a dog", "dogs"], ["yes", "no"]]


@pytest.mark.parametrize("row, message", [
    ({"id": "q1", "image": "a.png", "question": "Q?"}, r"row 1 \(id q1\): missing field answers \(or answer\)"),
    ({"id": "q1", "question": "Q?", "answer": "x"}, r"row 1 \(id q1\): required field 'image' is missing"),
    ({"id": "q1", "image": "a.png", "question": "Q?", "answers": []}, r"row 1 \(id q1\): field answers must be"),
    ({"id": "q1", "image": "a.png", "question": "Q?", "answer": " "}, r"row 1 \(id q1\): field answer is empty"),
    ({"id": "q1", "image": "a.png", "question": "Q?", "answers": [{"answer": "x"}]}, r"field answers must be"),
])
def test_bad_rows_name_row_id_and_field(tmp_path, row, message):
    with pytest.raises(DatasetError, match=message):
        VQAFileDataset(str(write(tmp_path, [row]))).load()


def test_duplicate_ids_and_missing_file(tmp_path):
    row = {"id": "q1", "image": "a.png", "question": "Q?", "answer": "x"}
    with pytest.raises(DatasetError, match="row 2: duplicate id 'q1'"):
        VQAFileDataset(str(write(tmp_path, [row, row]))).load()
    with pytest.raises(DatasetError, match="no such file"):
        VQAFileDataset(str(tmp_path / "absent.jsonl"))


def test_scores_several_answers_as_vqaEval_and_one_as_a_processed_match():
    ten = ItemView(id="a", question="", answer="2", meta={"answers": ["2"] * 9 + ["two"]})
    one = ItemView(id="b", question="", answer="a Dog", meta={"answers": ["a Dog"]})
    read = VQA_FILE.rules[VQA_FILE.official_rule]
    assert VQA_FILE.score(read("Two.", ten), ten) == vqa_accuracy("2", ten.meta["answers"]) == 1.0
    assert VQA_FILE.score(read("dog!", one), one) == 1.0 and VQA_FILE.score(read("dogs", one), one) == 0.0


def test_error_rows_score_zero_and_a_test_split_is_not_scored():
    from evalkit.scoring.scorer import score_predictions
    from datasets_adapters.vqa_files import VQAFileDataset as Benchmark

    def row(i, answers, error=None):
        return {"id": f"q{i}", "task": "vqa", "question": "Q?", "answer": answers[0] if answers else "",
                "text": "2", "error": error, "meta": {"answers": answers}}

    frame = pd.DataFrame([row(1, ["2"] * 10), row(2, ["2"] * 10, error="OSError: image")])
    scores = score_predictions(frame, Benchmark)
    assert scores.headline["vqa_accuracy"] == 0.5 and list(scores.frame["score"]) == [1.0, 0.0]
    test = score_predictions(pd.DataFrame([row(1, []), row(2, [], error="OSError: image")]), Benchmark)
    assert "vqa_accuracy" not in test.headline and "nothing is scored" in test.headline["unscored"]
    with pytest.raises(Exception, match="1 of 2 rows have no human answers"):
        score_predictions(pd.DataFrame([row(1, ["2"] * 10), row(2, [])]), Benchmark)


def test_unknown_fields_are_warned(tmp_path):
    """A typo (`anwser`) is named by the shared row reader, and the row without answers is refused."""
    with pytest.warns(RuntimeWarning, match="anwser"), pytest.raises(DatasetError, match="missing field answers"):
        VQAFileDataset(str(write(tmp_path, [{"id": 3, "image": "a.png", "question": "Q?", "anwser": "x"}]))).load()
