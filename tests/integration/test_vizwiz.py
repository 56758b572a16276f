"""VizWiz against the official code on the same files: the test upload byte-equal to LLaVA's
scripts/convert_vizwiz_for_submission.py (tests/support/llava_scripts); val scored as the VQA API's
vqaEval.py (tests/support/vqa_api) scores that upload, with "unanswerable" an answer and an answer type
(VizWiz's val.json is converted here into the VQA API's question / annotation format to run it)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters.vizwiz import VizWizDataset
from evalkit import score as score_cli
from evalkit.errors import ConfigError
from support.vqa_fixture import VIZWIZ, VIZWIZ_PREDICTIONS, VIZWIZ_PROMPT, llava_answers, write_vizwiz
from support.vqa_official import vizwiz_upload

def vqa_eval_of_upload(tmp: Path, val: Path, upload: Path) -> dict:
    """vqaEval.py on the upload, VizWiz's val.json written as VQA questions / annotations (id = position)."""
    from support.vqa_api.vqa import VQA
    from support.vqa_api.vqaEval import VQAEval

    records = json.loads(val.read_text())
    head = {"info": {}, "license": {}, "data_subtype": "val", "task_type": "Open-Ended", "data_type": "vizwiz"}
    questions, annotations = tmp / "q.json", tmp / "a.json"
    questions.write_text(json.dumps({**head, "questions": [
        {"question_id": n, "image_id": n, "question": r["question"]} for n, r in enumerate(records)]}))
    annotations.write_text(json.dumps({**head, "annotations": [
        {"question_id": n, "image_id": n, "question_type": "vizwiz", "answer_type": r["answer_type"],
         "answers": [{**a, "answer_id": i + 1} for i, a in enumerate(r["answers"])]} for n, r in enumerate(records)]}))
    by_image = {r["image"]: n for n, r in enumerate(records)}
    results = tmp / "results.json"
    results.write_text(json.dumps([{"question_id": by_image[r["image"]], "answer": r["answer"]}
                                   for r in json.loads(upload.read_text())]))
    vqa = VQA(str(annotations), str(questions))
    evaluator = VQAEval(vqa, vqa.loadRes(str(results), str(questions)), n=2)
    evaluator.evaluate()
    return evaluator.accuracy


@pytest.mark.parametrize("run", range(len(VIZWIZ_PREDICTIONS)))
def test_val_scores_equal_vqaEval_of_llavas_upload(tmp_path, run):
    files = write_vizwiz(tmp_path / "vizwiz")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], VIZWIZ_PREDICTIONS[run])
    official = vqa_eval_of_upload(tmp_path, files["annotations"], vizwiz_upload(tmp_path, files["llava"], answers))
    assert score_cli.main(["--benchmark", "vizwiz", str(answers), "--questions", str(files["llava"]),
                           "--annotations", str(files["annotations"]), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "metrics.csv")
    ours = {r.category: round(100 * r.accuracy, 2) for r in table.itertuples() if r.category != "all"}
    overall = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]["vizwiz_accuracy"]
    assert ours == official["perAnswerType"] and round(100 * overall, 2) == official["overall"]
    assert "unanswerable" in ours and (0 < official["overall"] < 100 or run == 0)


def test_test_upload_is_byte_equal_to_llavas(tmp_path, capsys):
    files = write_vizwiz(tmp_path / "vizwiz", split="test")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], VIZWIZ_PREDICTIONS[1])
    ours = tmp_path / "ours.json"
    assert score_cli.main(["--benchmark", "vizwiz", str(answers), "--questions", str(files["llava"]),
                           "--out", str(tmp_path / "out"), "--submission", str(ours)]) == 0
    assert ours.read_bytes() == vizwiz_upload(tmp_path, files["llava"], answers).read_bytes()
    assert "nothing is scored" in capsys.readouterr().out
    short = llava_answers(tmp_path / "short.jsonl", files["llava"], VIZWIZ_PREDICTIONS[1][:-1])
    assert score_cli.main(["--benchmark", "vizwiz", str(short), "--questions", str(files["llava"]),
                           "--out", str(tmp_path / "out2"), "--submission", str(ours)]) == 2  # the script asserts too


def test_dataset_prompts_and_splits(tmp_path):
    files = write_vizwiz(tmp_path / "vizwiz")
    items = VizWizDataset(path=str(tmp_path / "vizwiz")).load()
    assert items[0].prompt_question == "What is this?" + VIZWIZ_PROMPT
    assert [i.category for i in items] == [t for _, t, _ in VIZWIZ] and Path(items[0].image).is_file()
    assert items[4].answer == "unanswerable" and len(items[4].meta["answers"]) == 10
    test = write_vizwiz(tmp_path / "vizwiz", split="test")
    test["llava"].rename(tmp_path / "vizwiz" / "llava_test.jsonl")
    test_items = VizWizDataset(path=str(tmp_path / "vizwiz"), split="test").load()
    assert test_items[0].prompt_question == "What is this?" + VIZWIZ_PROMPT and test_items[0].meta["answers"] == []
    with pytest.raises(ConfigError, match="dataset.split='dev' is not valid"):
        VizWizDataset(path=str(tmp_path / "vizwiz"), split="dev")
