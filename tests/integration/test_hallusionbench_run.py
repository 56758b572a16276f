"""A HallusionBench run with the shipped tiny LLaVA-1.5 on a fixture of official rows: image
questions are asked, text-only ones become error rows that say why, and the run is scored."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]


def one_vs_set(records: list[dict]) -> list[dict]:
    """Official rows of one VS set: the question without a figure first, then figures."""
    rows = [r for r in records if r["category"] == "VS" and r["subcategory"] == "chart" and r["set_id"] == "0"][:6]
    assert any(r["visual_input"] == "0" for r in rows) and any(r["visual_input"] != "0" for r in rows)
    return rows


def test_tiny_run_asks_image_questions_and_names_why_text_only_ones_fail(tmp_path, hallusionbench_set):
    path = hallusionbench_set(one_vs_set)
    out = tmp_path / "run"
    result = subprocess.run([sys.executable, "-m", "evalkit", "model=tiny_llava15", "dataset=hallusionbench",
                             f"dataset.path={path}", "limit=6", f"output_dir={out}", "progress=false",
                             "device=cpu"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6
    for row in rows:
        if row["meta"]["visual_input"] == "0":
            assert "text-only question" in row["error"]
        else:
            assert row["error"] is None and row["parsed"] in ("yes", "no", "uncertain")
    metrics = pd.read_csv(out / "metrics.csv").set_index("category")
    assert metrics.loc["all", "n"] == 6
    assert metrics.loc["all", "n_error"] == sum(r["meta"]["visual_input"] == "0" for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    assert "not the official GPT-4" in summary["metrics"]["note"]
