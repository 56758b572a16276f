"""A short-answer run end to end: the tiny LLaVA-1.5 answers the VQAv2-format fixture (val2014 files in
LLaVA's layout, three questions per image), and the run's numbers equal the VQA API's vqaEval.py on the
upload LLaVA's convert_vqav2_for_submission.py writes from the same answers; rescoring reproduces them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from support.vqa_fixture import jsonl, write_vqav2
from support.vqa_official import evalkit_accuracy, llava_upload, official_accuracy, vizwiz_upload

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's evalkit, from any working directory


def test_tiny_run_equals_vqaEval(tiny_checkpoints, tmp_path):
    files = write_vqav2(tmp_path / "vqav2")
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "model=tiny_llava15", f"model.path={tiny_checkpoints['llava15']}",
         "dataset=vqav2", f"dataset.path={tmp_path / 'vqav2'}", "dataset.split=val2014", f"output_dir={out}",
         "decoding.max_new_tokens=6", "batch_size=4", "device=cpu", "progress=false", "num_workers=0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and all(r["error"] is None and len(r["meta"]["answers"]) == 10 for r in rows)
    assert rows[0]["prompt"].endswith("How many dogs are there?\nAnswer the question using a single word or phrase. "
                                      "ASSISTANT:")
    answers = jsonl(tmp_path / "answers.jsonl", [{"question_id": r["meta"]["question_id"], "prompt": "",
                                                  "text": r["text"]} for r in rows])
    upload = llava_upload(tmp_path, answers, files["llava"])
    assert evalkit_accuracy(out) == official_accuracy(files, upload)
    before = (out / "metrics.csv").read_text()
    rescore = subprocess.run([sys.executable, "-m", "evalkit.score", str(out)], capture_output=True, text=True,
                             env=ENV)
    assert rescore.returncode == 0, rescore.stderr
    assert (out / "metrics.csv").read_text() == before


@pytest.mark.slow  # a second CLI run (~30 s here); the upload's bytes are also checked by tests/integration/test_vizwiz.py
def test_tiny_run_on_a_test_split_writes_llavas_upload(tiny_checkpoints, tmp_path):
    """VizWiz test: nothing scored, and the run directory's upload equals convert_vizwiz_for_submission.py's."""
    from support.vqa_fixture import write_vizwiz

    files = write_vizwiz(tmp_path / "vizwiz", split="test")
    files["llava"].rename(tmp_path / "vizwiz" / "llava_test.jsonl")
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "evalkit", "model=tiny_llava15", f"model.path={tiny_checkpoints['llava15']}",
         "dataset=vizwiz", f"dataset.path={tmp_path / 'vizwiz'}", "dataset.split=test", f"output_dir={out}",
         "decoding.max_new_tokens=4", "batch_size=4", "device=cpu", "progress=false", "num_workers=0"],
        capture_output=True, text=True, cwd=tmp_path, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads((out / "summary.json").read_text())["metrics"]["unscored"].startswith("vizwiz: this split")
    upload = tmp_path / "upload.json"
    rescore = subprocess.run([sys.executable, "-m", "evalkit.score", str(out), "--submission", str(upload)],
                             capture_output=True, text=True, env=ENV)
    assert rescore.returncode == 0, rescore.stderr
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    answers = jsonl(tmp_path / "answers.jsonl", [{"question_id": r["meta"]["question_id"], "prompt": "",
                                                  "text": r["text"]} for r in rows])
    assert upload.read_bytes() == vizwiz_upload(tmp_path, tmp_path / "vizwiz" / "llava_test.jsonl", answers).read_bytes()
