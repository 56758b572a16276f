"""Prompt parity: LLaVA's own evaluation scripts (tests/support/llava/model_vqa_mmbench.py and
model_vqa_science.py, Apache-2.0, c121f04, run unchanged) with stand-ins for its model code
(tests/support/llava_stubs: the "model" answers with the user message it was sent) build, for the
same files, exactly the user message evalkit sends: "<image>\\n" + the item's prompt_question
(evalkit's llava_eval prompt puts the image token first, as LLaVA does)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from datasets_adapters.mmbench import MMBenchDataset
from datasets_adapters.scienceqa import ScienceQADataset
from support.mmbench_files import question_rows
from support.scienceqa_files import cqm_prompt, problem

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def run_llava(script: str, *args: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SUPPORT / "llava_stubs"), os.environ.get("PYTHONPATH", "")])}
    subprocess.run([sys.executable, str(SUPPORT / "llava" / script), *args], check=True, capture_output=True, env=env)


def png_base64() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (6, 6), "green").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize("lang, chinese", [("en", False), ("cn", True)])
def test_mmbench_prompts_equal_model_vqa_mmbench(tmp_path, lang, chinese):
    table = question_rows(10, chinese=chinese).assign(image=png_base64())
    table.loc[3, "hint"] = "nan"  # LLaVA's is_none: the string "nan" is no hint either
    table.loc[4, "D"] = None
    tsv = tmp_path / "dev.tsv"
    table.to_csv(tsv, sep="\t", index=False)
    answers = tmp_path / "answers.jsonl"
    run_llava("model_vqa_mmbench.py", "--question-file", str(tsv), "--answers-file", str(answers),
              "--single-pred-prompt", "--lang", lang, "--temperature", "0")
    sent = {str(r["question_id"]): r["text"] for r in map(json.loads, answers.read_text().splitlines())}
    items = MMBenchDataset(path=str(tsv), lang=lang).load()
    assert len(sent) == len(items) == len(table)
    for item in items:
        assert "<image>\n" + item.prompt_question == sent[item.id], item.id


def test_scienceqa_prompts_equal_model_vqa_science(tmp_path):
    problems = {str(i): problem(i) for i in range(1, 16)}
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    (tmp_path / "pid_splits.json").write_text(json.dumps({"test": list(problems)}))
    entries = []
    for pid, p in problems.items():
        entry = {"id": pid, "conversations": [{"from": "human", "value": cqm_prompt(p)}, {"from": "gpt", "value": "A"}]}
        if p["image"]:
            (tmp_path / "images" / "test" / pid).mkdir(parents=True)
            Image.new("RGB", (6, 6)).save(tmp_path / "images" / "test" / pid / "image.png")
            entry["image"] = f"{pid}/image.png"
            entry["conversations"][0]["value"] = "<image>\n" + cqm_prompt(p)
        entries.append(entry)
    (tmp_path / "llava_test_CQM-A.json").write_text(json.dumps(entries))
    answers = tmp_path / "answers.jsonl"
    run_llava("model_vqa_science.py", "--question-file", str(tmp_path / "llava_test_CQM-A.json"), "--image-folder",
              str(tmp_path / "images" / "test"), "--answers-file", str(answers), "--single-pred-prompt",
              "--temperature", "0")
    sent = {r["question_id"]: r["text"] for r in map(json.loads, answers.read_text().splitlines())}
    items = ScienceQADataset(path=str(tmp_path)).load()
    assert len(items) == sum(bool(p["image"]) for p in problems.values())
    for item in items:
        assert "<image>\n" + item.prompt_question == sent[item.id], item.id
    (tmp_path / "llava_test_CQM-A.json").unlink()  # built from problems.json: the same text
    for item in ScienceQADataset(path=str(tmp_path)).load():
        assert "<image>\n" + item.prompt_question == sent[item.id], item.id
