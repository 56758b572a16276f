"""HallusionBench: the deterministic judge, the official statistics, the result-format import,
the rescoring CLI and the adapter.

The pinned numbers below were produced by running the official scorer itself,
tianyi-lab/HallusionBench `utils.py` at commit 744007c (BSD 3-Clause, see
shared/data/hallusionbench/LICENSE.md): `assign_correctness`, `get_eval_all`,
`get_eval_pair_all` (LH_cg / VI_cg / Mix_cg, as evaluation.py prints them), `get_eval_pair_easy`,
`get_eval_pair_hard`, `get_eval_fig` and `yes_ratio_stats`, fed with the codes and "same" values
of `codes()` below (gt_answer, correctness entry = code, same = "1"/"0"). They are pinned rather
than re-derived so the test does not share a bug with the implementation it checks.
"""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pandas as pd
import pytest
from support.shared_data import needs_shared
from omegaconf import OmegaConf

from datasets_adapters.hallusionbench import NO_IMAGE, HallusionBenchDataset
from datasets_adapters.hallusionbench_metrics import codes, judge
from evalkit.registry import benchmark_named
from evalkit.items import load_items
from evalkit.score import main
from evalkit.scoring.importers import PredictionImportError, import_predictions
from evalkit.scoring.scorer import score_predictions

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "hallusionbench"  # ../shared beside the repo
QUESTIONS = DATA / "HallusionBench.json"
SAMPLE = DATA / "HallusionBench_result_sample.json"
needs_data = needs_shared("hallusionbench/HallusionBench.json")

# Official utils.py on the sample's codes. The sample is an older release whose figured rows all
# have visual_input 1, so the current official hard split (visual_input 2) is empty: the official
# code divides by zero there, evalkit reports NaN.
OFFICIAL_SAMPLE = {
    "all": dict(aacc=0.610236220472, qacc=0.34188034188, easy_aacc=0.34188034188, hard_aacc=math.nan,
                facc=0.202898550725, fig_inconsistent=0.608695652174, fig_wrong=0.188405797101,
                fig_score=0.519323671498, yes_pct_diff=0.153543307087, fp_ratio=0.69696969697,
                lh=0.030303030303, vi=0.59595959596, mixed=0.373737373737, n_lh=3, n_vi=59, n_mixed=37),
    "VD": dict(aacc=0.49375, qacc=0.175675675676, easy_aacc=0.175675675676, hard_aacc=math.nan,
               facc=0.175438596491, fig_inconsistent=0.614035087719, fig_wrong=0.210526315789,
               fig_score=0.485380116959, yes_pct_diff=0.20625, fp_ratio=0.703703703704, lh=0.0,
               vi=0.567901234568, mixed=0.432098765432, n_lh=0, n_vi=46, n_mixed=35),
    "VS": dict(aacc=0.808510638298, qacc=0.627906976744, easy_aacc=0.627906976744, hard_aacc=math.nan,
               facc=0.333333333333, fig_inconsistent=0.583333333333, fig_wrong=0.083333333333,
               fig_score=0.680555555556, yes_pct_diff=0.063829787234, fp_ratio=0.666666666667,
               lh=0.166666666667, vi=0.722222222222, mixed=0.111111111111, n_lh=3, n_vi=13, n_mixed=2),
}
# Official utils.py on all 1,129 questions answered by `seeded_answers` (every branch reached,
# the hard split included).
OFFICIAL_FULL = dict(aacc=0.399468556244, qacc=0.116483516484, easy_aacc=0.336263736264,
                     hard_aacc=0.297674418605, facc=0.104046242775, fig_inconsistent=0.534682080925,
                     fig_wrong=0.361271676301, fig_score=0.346579961464, yes_pct_diff=0.065544729849,
                     fp_ratio=0.554572271386, lh=0.141592920354, vi=0.727138643068, mixed=0.131268436578,
                     n_lh=96, n_vi=493, n_mixed=89)


@pytest.mark.parametrize("text,expected", [
    ("Yes", "yes"), ("yes.", "yes"), ("YES, the circle is larger.", "yes"), ("No", "no"), ("no!", "no"),
    ("No, there is none.", "no"), ("Not at all", "uncertain"),  # "not" is its own word, not "no"
    ("Nope", "uncertain"), ("yesterday it was", "uncertain"), ("Yes and no.", "uncertain"),
    ("I cannot tell", "uncertain"), ("", "uncertain"), (None, "uncertain"),
    ("Yes,no", "uncertain"),  # punctuation separates words
    ("yes2no", "uncertain"),  # so does a digit: letter runs only
    ("Answer: yes\n", "yes"),
])
def test_judge(text, expected):
    assert judge(text) == expected


def seeded_answers(path: Path, out: Path) -> Path:
    records = json.loads(path.read_text(encoding="utf-8"))
    rng = random.Random(17)
    for r in records:
        r["model_prediction"] = rng.choice(["Yes, it is.", "No.", "Not sure, no idea", "yes and no", "Nope", "YES"])
    out.write_text(json.dumps(records), encoding="utf-8")
    return out


def scored(path: Path, questions=()):
    cls = benchmark_named("hallusionbench")
    frame, fmt = import_predictions(path, cls, list(questions))
    assert fmt == "hallusionbench_result"
    return score_predictions(frame, cls)


def assert_official(row: pd.Series, expected: dict) -> None:
    for key, value in expected.items():
        if math.isnan(value):
            assert math.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(value, abs=1e-11), key


@needs_data
def test_sample_statistics_equal_the_official_scorer():
    scores = scored(SAMPLE, [QUESTIONS])  # the sample lacks gt_answer: joined by the official key
    table = scores.tables["hallusionbench"].set_index("category")
    for category, expected in OFFICIAL_SAMPLE.items():
        assert_official(table.loc[category], expected)
    assert table.loc["all", "n"] == 254 and table.loc["all", "n_error"] == 0
    # every subcategory has its row, and the subsets add up to the whole
    assert {"VD/illusion", "VD/video", "VS/chart", "VS/map"} <= set(table.index)
    assert table.loc[["VD", "VS"], "n"].sum() == 254
    assert scores.headline["hallusionbench_aacc"] == pytest.approx(OFFICIAL_SAMPLE["all"]["aacc"])


@needs_data
def test_full_benchmark_statistics_equal_the_official_scorer(tmp_path):
    scores = scored(seeded_answers(QUESTIONS, tmp_path / "result.json"))  # rows carry gt_answer
    table = scores.tables["hallusionbench"].set_index("category")
    assert table.loc["all", "n"] == 1129
    assert_official(table.loc["all"], OFFICIAL_FULL)
    assert "not the official GPT-4" in scores.headline["note"]


def test_codes_same_and_uncertain_on_vs_without_figure():
    """Code 2 counts correct only on VS figure_id 0 (assign_correctness); same compares with the
    figure_id 0 answer; an error row is code 0."""
    def row(cat, fig, vi, answer, parsed, error=None):
        return {"answer": answer, "parsed": parsed, "error": error,
                "meta": dict(category=cat, subcategory="s", set_id="0", figure_id=fig, question_id="0",
                             visual_input=vi)}
    rows = pd.DataFrame([row("VS", "0", "0", "yes", "uncertain"), row("VS", "1", "1", "yes", "uncertain"),
                         row("VD", "0", "1", "no", "yes"), row("VD", "1", "2", "yes", "yes"),
                         row("VD", "2", "2", "no", None, "FileNotFoundError")])
    c = codes(rows)
    assert c["code"].tolist() == [2, 2, 0, 1, 0]
    assert c["correct"].tolist() == [1, 0, 0, 1, 0]
    assert c["same"].tolist()[2:] == [1.0, 1.0, 0.0]


@needs_data
def test_rescore_cli_writes_a_run_directory(tmp_path):
    out = tmp_path / "scores"
    assert main(["--benchmark", "hallusionbench", str(SAMPLE), "--questions", str(QUESTIONS), "--out", str(out)]) == 0
    written = (out / "metrics.csv").read_text()
    metrics = pd.read_csv(out / "metrics.csv").set_index("category")
    assert metrics.loc["all", "aacc"] == pytest.approx(OFFICIAL_SAMPLE["all"]["aacc"])
    assert metrics.loc["VS", "qacc"] == pytest.approx(OFFICIAL_SAMPLE["VS"]["qacc"])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["hallusionbench_facc"] == pytest.approx(OFFICIAL_SAMPLE["all"]["facc"])
    assert summary["metrics"]["hallusionbench_hard_aacc"] is None  # undefined on the sample: not 0
    assert summary["source"]["format"] == "hallusionbench_result"
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 254
    assert main([str(out)]) == 0  # the run directory rescores like any run
    assert (out / "metrics.csv").read_text() == written  # same numbers from the stored predictions


@needs_data
def test_result_without_ground_truth_needs_the_questions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default dataset.path is relative: absent here
    with pytest.raises(PredictionImportError, match="--questions"):
        import_predictions(SAMPLE, benchmark_named("hallusionbench"))


# ---------------------------------------------------------------------------------------- adapter

def official_set(records: list[dict]) -> list[dict]:
    """A few official rows: a VS set (no figure / original / edited) and a VD pair."""
    vs = [r for r in records if r["category"] == "VS" and r["subcategory"] == "chart" and r["set_id"] == "0"]
    vd = [r for r in records if r["category"] == "VD" and r["subcategory"] == "illusion" and r["set_id"] == "0"]
    return vs[:6] + vd[:4]


@needs_data
def test_adapter_items(tmp_path, hallusionbench_set):
    path = hallusionbench_set(official_set)
    cfg = OmegaConf.create({"_target_": "datasets_adapters.hallusionbench.HallusionBenchDataset",
                            "name": "hallusionbench", "path": str(path), "question_suffix": "",
                            "parse_rule": None})
    items = load_items(cfg, limit=None)
    records = json.loads(path.read_text())
    assert len(items) == len(records) and len({i.id for i in items}) == len(items)
    for item, r in zip(items, records):
        assert item.task == "hallusionbench" and item.answer == {"1": "yes", "0": "no"}[r["gt_answer"]]
        assert item.meta["figure_id"] == r["figure_id"] and item.meta["visual_input"] == r["visual_input"]
        assert item.prompt_question == r["question"]  # the official evaluation asks it as released
        if r["visual_input"] == "0":
            assert item.image == NO_IMAGE
        else:
            assert Path(item.image).is_file()
    image_only = HallusionBenchDataset(path=str(path), questions="image").load()
    assert len(image_only) == sum(r["visual_input"] != "0" for r in records)


@needs_data
def test_adapter_reports_a_missing_image_folder(tmp_path, hallusionbench_set):
    path = hallusionbench_set(official_set)
    with pytest.raises(Exception, match="image_dir"):
        HallusionBenchDataset(path=str(path), image_dir=str(tmp_path / "nowhere")).load()
