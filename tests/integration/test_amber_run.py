"""An AMBER run with the shipped tiny LLaVA-1.5 on files shaped like AMBER's (captions and yes/no
questions of every dimension), rescored from its run directory with the settings its rows carry;
a missing spaCy pipeline stops the run before any model loads."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit import score
from support import amber_fixture

REPO = Path(__file__).resolve().parents[2]


def _run(paths: dict, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit", "model=tiny_llava15", "dataset=amber",
                           f"dataset.query_file={paths['query']}", f"dataset.annotations={paths['annotations']}",
                           f"dataset.image_dir={paths['images']}", "progress=false", "device=cpu", *overrides],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


# Two captions and one question of each type: enough for every table row, small enough for the default tier.
CASES = [amber_fixture.CASES[i] for i in (0, 2, 6, 9, 12, 15, 17, 18)]


@pytest.mark.slow  # 23 s on CI's 2 cores: the default tier stays under 10 minutes
def test_tiny_run_scores_captions_and_answers_and_rescores_the_same(tmp_path, nltk_data, amber_nlp):
    paths = amber_fixture.write(tmp_path / "amber", CASES)
    out = tmp_path / "run"
    # Captions are open-ended: the 512 tokens (the tiny model stops at EOS long before).
    result = _run(paths, f"dataset.spacy_pipeline={amber_nlp}", "decoding.max_new_tokens=512", f"output_dir={out}")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == len(CASES) and all(r["error"] is None for r in rows)
    captions = [r for r in rows if r["category"] == "generative"]
    assert len(captions) == 2 and all(r["meta"]["spacy_pipeline"] == str(amber_nlp) for r in captions)
    metrics = pd.read_csv(out / "metrics.csv").set_index("category")
    assert metrics.loc["discriminative", "n"] == 6 and metrics.loc["generative", "n"] == 2
    assert set(metrics.index) == {"discriminative", "existence", "attribute", "state", "number", "action", "relation",
                                  "generative"}
    summary = json.loads((out / "summary.json").read_text())["metrics"]
    assert {"amber_score", "amber_chair", "amber_f1", "amber_cover", "amber_hal", "amber_cog"} <= set(summary)

    before = (out / "metrics.csv").read_text()
    assert score.main([str(out)]) == 0  # generate once, score many: the rows carry the caption settings
    assert (out / "metrics.csv").read_text() == before


def test_missing_spacy_pipeline_stops_before_the_model_loads(tmp_path, nltk_data):
    paths = amber_fixture.write(tmp_path / "amber", CASES)
    not_a_checkpoint = tmp_path / "not_a_checkpoint"  # exists (so the path check passes), cannot load
    not_a_checkpoint.mkdir()
    result = _run(paths, "dataset.spacy_pipeline=no_such_pipeline_xyz", f"model.path={not_a_checkpoint}",
                  f"output_dir={tmp_path / 'run'}")
    assert result.returncode != 0
    assert "python -m spacy download no_such_pipeline_xyz" in result.stderr
    assert "not_a_checkpoint" not in result.stderr  # the model was never reached
