"""Running the official VQAv2 code on test-made files: LLaVA's convert_vqav2_for_submission.py
(tests/support/llava_scripts) in LLaVA's folder layout, and the VQA API's vqaEval.py (tests/support/vqa_api)
on the upload; and evalkit's numbers read back as vqaEval.py prints them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def run_llava_script(script: str, *args: str, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    subprocess.run([sys.executable, str(SUPPORT / "llava_scripts" / script), *args], cwd=cwd, env=env, check=True,
                   capture_output=True)


def llava_upload(tmp: Path, answers: Path, test_questions: Path) -> Path:
    """convert_vqav2_for_submission.py in LLaVA's layout: --dir with the test2015 question file."""
    root = tmp / "llava_vqav2"
    merge = root / "answers" / "split" / "ckpt" / "merge.jsonl"
    merge.parent.mkdir(parents=True, exist_ok=True)
    merge.write_bytes(answers.read_bytes())
    (root / "llava_vqav2_mscoco_test2015.jsonl").write_bytes(test_questions.read_bytes())
    run_llava_script("convert_vqav2_for_submission.py", "--dir", str(root), "--ckpt", "ckpt", "--split", "split",
                     cwd=tmp)
    return root / "answers_upload" / "split" / "ckpt.json"


def official_accuracy(files: dict, results: Path) -> dict:
    from support.vqa_api.vqa import VQA
    from support.vqa_api.vqaEval import VQAEval

    vqa = VQA(str(files["annotations"]), str(files["questions"]))
    evaluator = VQAEval(vqa, vqa.loadRes(str(results), str(files["questions"])), n=2)
    evaluator.evaluate()
    return evaluator.accuracy


def evalkit_accuracy(out: Path) -> dict:
    """evalkit's numbers printed as vqaEval.py prints them (x100, 2 decimals)."""
    table = pd.read_csv(out / "metrics.csv")
    summary = json.loads((out / "summary.json").read_text())["metrics"]

    def per(breakdown):
        rows = table[(table["breakdown"] == breakdown) & (table["category"] != "all")]
        return {r.category: round(100 * r.accuracy, 2) for r in rows.itertuples()}

    return {"overall": round(100 * summary["vqav2_accuracy"], 2), "perAnswerType": per("answer_type"),
            "perQuestionType": per("question_type")}


def vizwiz_upload(tmp: Path, questions: Path, answers: Path) -> Path:
    """LLaVA's convert_vizwiz_for_submission.py on a question file and an answer file."""
    upload = tmp / "upload" / "answers.json"
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    subprocess.run([sys.executable, str(SUPPORT / "llava_scripts" / "convert_vizwiz_for_submission.py"),
                    "--annotation-file", str(questions), "--result-file", str(answers), "--result-upload-file",
                    str(upload)], check=True, env=env, capture_output=True)
    return upload
