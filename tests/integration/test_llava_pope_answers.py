"""Rescoring LLaVA-1.5-13B's released POPE answers reproduces the official numbers.

Answers and LLaVA's question file come from LLaVA's eval bundle; labels from the POPE version
LLaVA-1.5 used (`pope/llava_v15_eval_version`, random split 2910 rows). See the SOURCE.md files.
Expected (shared/data/llava_v15_13b_pope/SOURCE.md): F1 adversarial 84.46, popular 86.25,
random 87.14, mean 85.95; yes-ratio 43.30 / 41.37 / 41.68 %.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.score import main
from evalkit.scoring.importers import import_predictions
from datasets_adapters.pope import POPEDataset
from evalkit.scoring.scorer import score_predictions

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
LLAVA = SHARED / "data" / "llava_v15_13b_pope"
POPE_V15 = SHARED / "data" / "pope" / "llava_v15_eval_version"
ANSWERS = LLAVA / "answers_llava-v1.5-13b.jsonl"
QUESTIONS = [LLAVA / "llava_pope_test.jsonl"] + [POPE_V15 / f"coco_pope_{s}.json"
                                                  for s in ("adversarial", "popular", "random")]

pytestmark = [pytest.mark.shared_data,
              pytest.mark.skipif(not all(p.is_file() for p in [ANSWERS, *QUESTIONS]),
                                 reason=f"needs LLaVA's POPE answers and the POPE labels under {SHARED}/data")]

EXPECTED_F1 = {"adversarial": 84.46, "popular": 86.25, "random": 87.14}
EXPECTED_YES_RATIO = {"adversarial": 43.30, "popular": 41.37, "random": 41.68}


@pytest.fixture(scope="module")
def scores():
    frame, fmt = import_predictions(ANSWERS, POPEDataset, QUESTIONS)
    assert fmt == "llava_answers"
    return score_predictions(frame, POPEDataset)


def test_official_pope_numbers(scores) -> None:
    table = scores.tables["pope"].set_index("category")
    assert dict(table["n"]) == {"adversarial": 3000, "popular": 3000, "random": 2910, "all": 8910, "mean": 8910}
    for split, f1 in EXPECTED_F1.items():
        assert 100 * table.loc[split, "f1"] == pytest.approx(f1, abs=0.01), split
        assert 100 * table.loc[split, "yes_ratio"] == pytest.approx(EXPECTED_YES_RATIO[split], abs=0.01), split
    assert 100 * scores.headline["pope_mean_f1"] == pytest.approx(85.95, abs=0.01)
    assert scores.headline["n_errors"] == 0 and scores.headline["n_other_strict"] == 0


def test_current_pope_files_are_refused_not_misjoined(tmp_path: Path) -> None:
    """Today's POPE random split is another version: joining must fail loudly, not score 45.7."""
    current = SHARED / "data" / "pope"
    questions = [LLAVA / "llava_pope_test.jsonl"] + [current / f"coco_pope_{s}.json"
                                                     for s in ("adversarial", "popular", "random")]
    with pytest.raises(ValueError, match="llava_v15_eval_version"):
        import_predictions(ANSWERS, POPEDataset, questions)


def test_cli_end_to_end(tmp_path: Path) -> None:
    argv = ["--benchmark", "pope", str(ANSWERS), "--out", str(tmp_path)]
    for q in QUESTIONS:
        argv += ["--questions", str(q)]
    assert main(argv) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert 100 * summary["metrics"]["pope_mean_f1"] == pytest.approx(85.95, abs=0.01)
    assert main([str(tmp_path)]) == 0  # rescoring the imported run gives the same number
    again = json.loads((tmp_path / "summary.json").read_text())
    assert again["metrics"]["pope_mean_f1"] == pytest.approx(summary["metrics"]["pope_mean_f1"])
