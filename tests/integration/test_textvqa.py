"""TextVQA against LLaVA's llava/eval/eval_textvqa.py (with its m4c_evaluator.py; tests/support/llava,
Apache-2.0) run on the same TextVQA_0.5.1_val.json and answer file: OCR strings with punctuation and
case, number words, answers that differ only by EvalAI's processing; and the prompts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_adapters.textvqa import TextVQADataset, prompt_question
from evalkit import score as score_cli
from evalkit.errors import DatasetError
from support.vqa_fixture import TEXTVQA, TEXTVQA_PREDICTIONS, llava_answers, write_textvqa

SUPPORT = Path(__file__).resolve().parents[1] / "support"
RUNS = [TEXTVQA_PREDICTIONS, ["dakota digital", "Stop", "5", "example.com", "23", "Rowling"],
        ["", "all-way", "five", "WWW.EXAMPLE.COM", "23.", "jk rowling"]]


def official_textvqa(files, answers, capsys) -> str:
    """`python -m llava.eval.eval_textvqa` as LLaVA's scripts/v1_5/eval/textvqa.sh runs it."""
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    out = subprocess.run([sys.executable, "-m", "llava.eval.eval_textvqa", "--annotation-file", str(files["annotations"]),
                          "--result-file", str(answers)], env=env, check=True, capture_output=True, text=True).stdout
    return next(line for line in out.splitlines() if line.startswith("Accuracy:"))


@pytest.mark.parametrize("run", range(len(RUNS)))
def test_rescored_answers_equal_eval_textvqa(tmp_path, capsys, run):
    files = write_textvqa(tmp_path / "textvqa")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], RUNS[run])
    official = official_textvqa(files, answers, capsys)
    assert score_cli.main(["--benchmark", "textvqa", str(answers), "--annotations", str(files["annotations"]),
                           "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())["metrics"]
    assert official == f"Accuracy: {100. * summary['textvqa_accuracy']:.2f}%"


def test_prompts_built_from_the_val_json_equal_llavas_file(tmp_path):
    files = write_textvqa(tmp_path / "textvqa")
    llava = [json.loads(line)["text"] for line in files["llava"].read_text().splitlines()]
    with_file = TextVQADataset(path=str(tmp_path / "textvqa")).load()
    files["llava"].unlink()
    built = TextVQADataset(path=str(tmp_path / "textvqa")).load()
    assert [i.prompt_question for i in built] == [i.prompt_question for i in with_file] == llava
    assert [i.meta["answers"] for i in built] == [a for _, _, a in TEXTVQA]
    assert "Reference OCR token: DAKOTA, digital, single-use\n" in built[0].prompt_question
    assert built[4].prompt_question.count("\n") == 1  # no OCR tokens: no OCR line, as LLaVA's file
    plain = TextVQADataset(path=str(tmp_path / "textvqa"), ocr_tokens=False).load()
    assert plain[0].prompt_question == "what brand is this camera?\nAnswer the question using a single word or phrase."
    assert [prompt_question(p) for p in llava] == [q for q, _, _ in TEXTVQA]


def test_missing_ocr_tokens_fail_before_any_model_loads(tmp_path):
    files = write_textvqa(tmp_path / "textvqa", with_ocr=False)
    files["llava"].unlink()
    with pytest.raises(DatasetError, match="ocr_file"):
        TextVQADataset(path=str(tmp_path / "textvqa")).load()
    assert len(TextVQADataset(path=str(tmp_path / "textvqa"), ocr_tokens=False).load()) == len(TEXTVQA)
    with pytest.raises(DatasetError, match="TextVQA_0.5.1_val.json"):
        TextVQADataset(path=str(tmp_path / "nowhere"))


def test_lmms_eval_samples_score_as_llava_answers(tmp_path):
    files = write_textvqa(tmp_path / "textvqa")
    data = json.loads(files["annotations"].read_text())["data"]
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({"doc_id": n, "doc": {"question_id": r["question_id"]},
                                           "filtered_resps": [p], "resps": [[p]]}) + "\n"
                               for n, (r, p) in enumerate(zip(data, RUNS[2]))))
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], RUNS[2])
    for source, out in ((samples, "a"), (answers, "b")):
        assert score_cli.main(["--benchmark", "textvqa", str(source), "--annotations", str(files["annotations"]),
                               "--out", str(tmp_path / out)]) == 0
    a, b = (json.loads((tmp_path / d / "summary.json").read_text())["metrics"]["textvqa_accuracy"] for d in "ab")
    assert a == b and 0 < a < 1


def test_partial_answers_are_scored_as_eval_textvqa_does_and_said_to_be(tmp_path):
    files = write_textvqa(tmp_path / "textvqa")
    lines = files["llava"].read_text().splitlines()[:4]
    (tmp_path / "part.jsonl").write_text("\n".join(lines) + "\n")
    answers = llava_answers(tmp_path / "answers.jsonl", tmp_path / "part.jsonl", RUNS[1])
    with pytest.warns(RuntimeWarning, match="4 answers for the 6 questions"):
        assert score_cli.main(["--benchmark", "textvqa", str(answers), "--annotations", str(files["annotations"]),
                               "--out", str(tmp_path / "out")]) == 0
