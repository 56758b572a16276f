"""VQAv2 against the official code run on the same files: the VQA API's vqaEval.py (tests/support/vqa_api,
BSD) scoring the upload LLaVA's convert_vqav2_for_submission.py (tests/support/llava_scripts, Apache-2.0)
writes from LLaVA's answer file, and evalkit's rescoring of that answer file; the upload file byte for
byte; the official results format and lmms-eval logs imported; the dataset loading both question formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from datasets_adapters.vqav2 import VQAv2Dataset
from evalkit import score as score_cli
from evalkit.errors import DatasetError
from support.vqa_fixture import PREDICTIONS, VQA_QUESTIONS, jsonl, llava_answers, write_vqav2
from support.vqa_official import evalkit_accuracy, llava_upload, official_accuracy

@pytest.mark.parametrize("run", range(len(PREDICTIONS)))
def test_rescored_llava_answers_equal_vqaEval_of_llavas_upload(tmp_path, run, capsys):
    files = write_vqav2(tmp_path / "vqav2")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], PREDICTIONS[run])
    upload = llava_upload(tmp_path, answers, files["llava"])
    assert score_cli.main(["--benchmark", "vqav2", str(answers), "--questions", str(files["llava"]),
                           "--annotations", str(files["annotations"]), "--out", str(tmp_path / "out")]) == 0
    official = official_accuracy(files, upload)
    assert evalkit_accuracy(tmp_path / "out") == official
    assert 0 < official["overall"] < 100 or run == 0  # the tricky runs are neither all right nor all wrong


def test_raw_rule_equals_vqaEval_of_the_text_itself(tmp_path):
    files = write_vqav2(tmp_path / "vqav2")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], PREDICTIONS[1])
    results = tmp_path / "raw_results.json"
    results.write_text(json.dumps([{"question_id": json.loads(l)["question_id"], "answer": p}
                                   for l, p in zip(files["llava"].read_text().splitlines(), PREDICTIONS[1])]))
    assert score_cli.main(["--benchmark", "vqav2", str(answers), "--questions", str(files["llava"]), "--rule", "raw",
                           "--annotations", str(files["annotations"]), "--out", str(tmp_path / "out")]) == 0
    official = official_accuracy(files, results)
    assert evalkit_accuracy(tmp_path / "out") == official
    assert official["overall"] != official_accuracy(files, llava_upload(tmp_path, answers, files["llava"]))["overall"]


def test_vqa_results_format_is_scored_as_written(tmp_path):
    """An upload file (already processed) imported: vqaEval.py's number on that very file."""
    files = write_vqav2(tmp_path / "vqav2")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], PREDICTIONS[2])
    upload = llava_upload(tmp_path, answers, files["llava"])
    assert score_cli.main(["--benchmark", "vqav2", str(upload), "--questions", str(files["questions"]),
                           "--annotations", str(files["annotations"]), "--out", str(tmp_path / "out")]) == 0
    assert evalkit_accuracy(tmp_path / "out") == official_accuracy(files, upload)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["source"]["format"].startswith("vqav2")


def test_lmms_eval_samples_are_joined_by_question_id(tmp_path):
    files = write_vqav2(tmp_path / "vqav2")
    questions = [json.loads(l) for l in files["llava"].read_text().splitlines()]
    samples = jsonl(tmp_path / "samples.jsonl", [
        {"doc_id": i, "doc": {"question_id": q["question_id"], "question": q["text"]}, "target": "x",
         "resps": [[p]], "filtered_resps": [p]} for i, (q, p) in enumerate(zip(questions, PREDICTIONS[1]))])
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], PREDICTIONS[1])
    assert score_cli.main(["--benchmark", "vqav2", str(samples), "--questions", str(files["llava"]),
                           "--annotations", str(files["annotations"]), "--out", str(tmp_path / "out")]) == 0
    assert evalkit_accuracy(tmp_path / "out") == official_accuracy(files, llava_upload(tmp_path, answers, files["llava"]))


def test_test_dev_submission_is_byte_equal_to_llavas(tmp_path, capsys):
    """test-dev answers, the full test2015 question file: every test question present, '' for the rest."""
    files = write_vqav2(tmp_path / "vqav2", subtype="test2015")
    test_dev = jsonl(tmp_path / "llava_vqav2_mscoco_test-dev2015.jsonl",
                     [json.loads(l) for l in files["llava"].read_text().splitlines()][:8])
    answers = llava_answers(tmp_path / "answers.jsonl", test_dev, PREDICTIONS[2])
    upload = llava_upload(tmp_path, answers, files["llava"])
    ours = tmp_path / "ours.json"
    assert score_cli.main(["--benchmark", "vqav2", str(answers), "--questions", str(test_dev),
                           "--out", str(tmp_path / "out"), "--submission", str(ours),
                           "--questions", str(files["llava"])]) == 2  # both files hold the test-dev questions: refused
    capsys.readouterr()
    assert score_cli.main(["--benchmark", "vqav2", str(answers), "--questions", str(files["llava"]),
                           "--out", str(tmp_path / "out"), "--submission", str(ours)]) == 0
    printed = capsys.readouterr().out
    assert ours.read_bytes() == upload.read_bytes()
    assert "nothing is scored" in printed and "12 answers" in printed
    # the run directory rescored later writes the same file
    again = tmp_path / "again.json"
    assert score_cli.main([str(tmp_path / "out"), "--submission", str(again), "--questions", str(files["llava"])]) == 0
    assert again.read_bytes() == upload.read_bytes()


@pytest.mark.parametrize("source", ["official", "llava"])
def test_dataset_loads_either_question_format(tmp_path, source):
    files = write_vqav2(tmp_path / "vqav2")
    questions = files["questions"] if source == "official" else files["llava"]
    items = VQAv2Dataset(path=str(tmp_path / "vqav2"), split="val2014", questions=str(questions)).load()
    assert len(items) == len(VQA_QUESTIONS)
    first = items[1]
    assert first.prompt_question == "How many cats are there?\nAnswer the question using a single word or phrase."
    assert first.meta["answers"] == VQA_QUESTIONS[1][3] and first.category == "number"
    assert Path(first.image).is_file() and first.group == "COCO_val2014_000000000100.jpg"
    assert first.meta["question_type"] == "how many" and first.answer == "2"


def test_missing_files_fail_before_any_model_loads(tmp_path):
    write_vqav2(tmp_path / "vqav2")
    with pytest.raises(DatasetError, match="no question file.*test-dev2015"):
        VQAv2Dataset(path=str(tmp_path / "vqav2"))
    (tmp_path / "vqav2" / "v2_mscoco_val2014_annotations.json").write_text(json.dumps({"annotations": [
        {"question_id": 100000, "answers": [{"answer": "2"}], "answer_type": "number"}]}))
    with pytest.raises(DatasetError, match=r"annotations\]\[0\].*missing key\(s\) question_type"):
        VQAv2Dataset(path=str(tmp_path / "vqav2"), split="val2014").load()
