"""An Object HalBench run with the shipped tiny LLaVA-1.5 on a question file shaped like RLHF-V's
(three base64 images and one that does not decode), rescored from its run directory; a missing
COCO annotation file stops the run before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit import score
from support.coco_files import write_coco
from support.objhal_files import TRUTH, jpeg_base64

REPO = Path(__file__).resolve().parents[2]


def _questions(folder: Path) -> Path:
    path = folder / "obj_halbench_300_with_image.jsonl"
    rows = [{"image_id": 1, "question": "Describe this image in detail.", "image": jpeg_base64((200, 0, 0))},
            {"image_id": 2, "question": "What is in the image?", "image": jpeg_base64((0, 200, 0))},
            {"image_id": 9, "question": "Describe the scene.", "image": jpeg_base64((0, 0, 200))},
            {"image_id": 5, "question": "Describe it.", "image": "bm90IGFuIGltYWdl"}]  # base64 of "not an image"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path



def _run(tmp_path: Path, coco: Path, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", "model=tiny_llava15", "dataset=object_halbench",
                           f"dataset.path={_questions(tmp_path)}", f"dataset.annotations={coco}", "progress=false",
                           "device=cpu", "decoding.max_new_tokens=8", *overrides],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


@pytest.mark.slow  # 15-25 s on this shared 2-core CPU (process start, WordNet, 3 answers): the default tier stays lean
def test_tiny_run_writes_answers_and_objhal_metrics(tmp_path, nltk_data):
    coco = write_coco(tmp_path / "coco", TRUTH)
    out = tmp_path / "run"
    result = _run(tmp_path, coco, f"output_dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["0", "1", "2", "3"]
    assert [r["question"] for r in rows[:2]] == ["Describe this image in detail.", "What is in the image?"]
    assert all(r["error"] is None and r["text"] for r in rows[:3]) and rows[3]["error"]  # the bad image: an error row
    assert rows[0]["answer"] == "dog, person" and rows[0]["meta"]["image_id"] == 1
    metrics = pd.read_csv(out / "metrics.csv").set_index("category").loc["all"]
    assert (metrics["n"], metrics["n_error"], metrics["gt_words"]) == (3, 1, 2 + 2 + 2)
    # The tiny model (trained on shapes) names no COCO object: Response Hall and Object Hall are
    # undefined (the official script divides by zero), not 0, and the summary leaves them out.
    assert (metrics["coco_sentences"], metrics["n_mentions"]) == (0, 0) and pd.isna(metrics["response_hall"])
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    assert summary["objhal_recall"] == 0 and summary["objhal_len"] > 0 and "objhal_response_hall" not in summary

    before = (out / "metrics.csv").read_text()
    assert score.main([str(out)]) == 0  # generate once, score many: rows carry their ground truth
    assert (out / "metrics.csv").read_text() == before


def test_missing_annotation_file_stops_before_the_model_loads(tmp_path, nltk_data):
    coco = write_coco(tmp_path / "coco", TRUTH)
    (coco / "instances_val2014.json").unlink()
    not_a_checkpoint = tmp_path / "not_a_checkpoint"
    not_a_checkpoint.mkdir()
    result = _run(tmp_path, coco, f"model.path={not_a_checkpoint}", f"output_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "instances_val2014.json" in result.stderr
    assert "not_a_checkpoint" not in result.stderr  # the model was never reached


@pytest.mark.slow  # ~10 s on the shared 2-core CPU (a process); the default tier runs the same check in process
def test_a_judged_run_without_the_spacy_pipeline_stops_before_the_model_loads(tmp_path, nltk_data):
    """RLHF-V's --use_gpt path lemmatises the judge's objects with spaCy: with judge=..., a missing
    pipeline stops the run before the model (and before the judge endpoint is even asked)."""
    coco = write_coco(tmp_path / "coco", TRUTH)
    not_a_checkpoint = tmp_path / "not_a_checkpoint"
    not_a_checkpoint.mkdir()
    result = _run(tmp_path, coco, f"model.path={not_a_checkpoint}", f"output_dir={tmp_path / 'run'}",
                  f"dataset.spacy_model={tmp_path / 'no_pipeline'}", "judge=openai",
                  "judge.model=gpt-3.5-turbo-0613", "judge.base_url=http://127.0.0.1:9/v1")
    assert result.returncode != 0
    assert "dataset.spacy_model=" in result.stderr and "python -m spacy download" in result.stderr
    assert "not_a_checkpoint" not in result.stderr and "127.0.0.1:9" not in result.stderr
