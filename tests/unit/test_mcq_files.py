"""dataset=mcq: JSONL and CSV option files (options as a list, an object or A-E columns), LLaVA's
multiple-choice prompt, row errors that name the row, id and field, and a scored end-to-end run
through the rescoring CLI (the generic `letter` rule; `lenient` for analysis)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from datasets_adapters.mcq_files import MCQFileDataset
from evalkit import score as score_cli
from evalkit.errors import DatasetError
from evalkit.tasks.choice import CHOICE

ROWS = [
    {"id": "q1", "image": "a.png", "question": "What colour?", "options": ["red", "blue"], "answer": "B",
     "hint": "Look closely.", "category": "colour"},
    {"id": "q2", "image": "b.png", "question": "How many?", "options": {"A": "1", "B": "2", "C": "3"}, "answer": "C",
     "category": "count"},
]


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


def test_jsonl_and_csv_give_the_same_items(tmp_path):
    items = MCQFileDataset(str(write_jsonl(tmp_path / "q.jsonl", ROWS))).load()
    assert items[0].prompt_question == ("Look closely.\nWhat colour?\nA. red\nB. blue\n"
                                        "Answer with the option's letter from the given choices directly.")
    assert items[1].meta["options"] == {"A": "1", "B": "2", "C": "3"} and items[1].category == "count"
    frame = pd.DataFrame([{"id": "q1", "image": "a.png", "question": "What colour?", "A": "red", "B": "blue", "C": "",
                           "answer": "B", "hint": "Look closely.", "category": "colour"}])
    frame.to_csv(tmp_path / "q.csv", index=False)
    csv_item = MCQFileDataset(str(tmp_path / "q.csv")).load()[0]
    assert (csv_item.prompt_question, dict(csv_item.meta["options"])) == (items[0].prompt_question, {"A": "red", "B": "blue"})
    for item in items:
        CHOICE.check_item(item)


@pytest.mark.parametrize("change, message", [
    ({"answer": "D"}, r"row 1 \(id 'q1'\): field answer: 'D' is not one of the option letters"),
    ({"answer": "b"}, r"field answer: 'b'"),
    ({"options": ["only one"]}, r"row 1 \(id 'q1'\): field options: a multiple-choice row needs two"),
    ({"options": {"B": "x", "A": "y"}}, r"field options: keys must be A, B, C"),
    ({"question": ""}, r"row 1 \(id q1\): required field 'question' is empty"),
    ({"image": None}, r"required field 'image' is null"),
])
def test_bad_rows_name_row_id_and_field(tmp_path, change, message):
    path = write_jsonl(tmp_path / "q.jsonl", [{**ROWS[0], **change}, ROWS[1]])
    with pytest.raises(DatasetError, match=message):
        MCQFileDataset(str(path)).load()


def test_duplicate_ids_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"row 2 \(id 'q1'\): field id: duplicate"):
        MCQFileDataset(str(write_jsonl(tmp_path / "q.jsonl", [ROWS[0], ROWS[0]]))).load()
    with pytest.raises(DatasetError, match="no such file"):
        MCQFileDataset(str(tmp_path / "none.jsonl"))


def test_rescored_with_letter_and_lenient_rules(tmp_path):
    rows = [{"id": f"q{n}", "task": "choice", "question": "?", "answer": "B", "category": "c",
             "text": text, "error": None, "meta": {"options": {"A": "red", "B": "blue"}}}
            for n, text in enumerate(["B", "B. blue", "(B)", "b", "blue", "The answer is B.", "A", ""])]
    predictions = write_jsonl(tmp_path / "predictions.jsonl", rows)
    for rule, expected in (("official", 3 / 8), ("lenient", 5 / 8)):
        out = tmp_path / rule
        assert score_cli.main(["--benchmark", "mcq", str(predictions), "--out", str(out), "--rule", rule]) == 0
        assert json.loads((out / "summary.json").read_text())["metrics"]["accuracy"] == pytest.approx(expected)


def test_option_probabilities_give_calibration(tmp_path):
    """Rows of a decoding=choice_logits run (option_probs) add ECE and Brier to the MCQ headlines."""
    rows = [{"id": f"q{n}", "task": "scienceqa", "question": "?", "answer": "A", "category": "natural science",
             "text": best, "error": None, "option_probs": probs,
             "meta": {"options": {"A": "x", "B": "y"}, "is_multimodal": True, "subject": "natural science",
                      "grade": "grade1", "has_text": False, "has_image": True}}
            for n, (best, probs) in enumerate([("A", {"A": 0.9, "B": 0.1}), ("B", {"A": 0.3, "B": 0.7}),
                                               ("A", {"A": 0.6, "B": 0.4})])]
    out = tmp_path / "out"
    assert score_cli.main(["--benchmark", "scienceqa", str(write_jsonl(tmp_path / "p.jsonl", rows)), "--out", str(out)]) == 0
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert metrics["scienceqa_img_accuracy"] == pytest.approx(2 / 3)
    assert metrics["choice_brier"] == pytest.approx(((0.1 ** 2) * 2 + (0.7 ** 2) * 2 + (0.4 ** 2) * 2) / 3)
    assert 0 < metrics["choice_ece"] < 1


def test_ids_as_written_and_unknown_fields_warned(tmp_path):
    """The shared row reader: an id 7 is "7" (not "7.0"), and a field no loader reads (a typo of
    `hint`) is named once instead of silently dropped."""
    rows = [{**ROWS[0], "id": 7, "hnit": "x"}, {**ROWS[1], "hnit": "y"}]
    with pytest.warns(RuntimeWarning, match=r"hnit \(2 rows\)"):
        items = MCQFileDataset(str(write_jsonl(tmp_path / "q.jsonl", rows))).load()
    assert [i.id for i in items] == ["7", "q2"] and "hint" not in items[1].meta
