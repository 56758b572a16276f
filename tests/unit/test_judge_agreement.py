"""`python -m evalkit.report judges`: agreement statistics checked against scipy's, two judges of one
LLaVA-Bench run and MM-Vet's grading runs compared from the cached judgments, and a leaderboard of
runs judged by different judges that says so."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from datasets_adapters.llava_bench import LlavaBenchDataset
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.report import agreement
from evalkit.report.__main__ import main as report_main
from tests.support.judge_runs import write_run
from tests.support.judge_server import ScriptedServer
from tests.integration.test_llava_bench import QUESTIONS, TARGET, make_files


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_correlations_equal_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 8, size=40).astype(float)  # ties on purpose
    b = np.clip(a + rng.integers(-2, 3, size=40), 1, 10).astype(float)
    assert agreement.spearman(a, b) == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12)
    assert agreement.kendall_tau_b(a, b) == pytest.approx(stats.kendalltau(a, b).statistic, abs=1e-12)


def test_cohen_kappa_textbook_example() -> None:
    # Cohen (1960)-style 2x2 table: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4.
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert agreement.cohen_kappa(a, b) == pytest.approx(0.4)


def judged_twice(tmp_path: Path) -> Path:
    bench = make_files(tmp_path)
    items = LlavaBenchDataset(path=str(bench)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, {i.id: q[2] for i, q in zip(items, QUESTIONS)},
                        name="llava_bench", path=str(bench))

    def judge_a(body):
        n = next(i for i, q in enumerate(QUESTIONS) if f"[Question]\n{q[1]}\n" in body["messages"][1]["content"])
        return f"8 {1 + n}\nA"

    def judge_b(body):
        n = next(i for i, q in enumerate(QUESTIONS) if f"[Question]\n{q[1]}\n" in body["messages"][1]["content"])
        return f"8 {[2, 1, 4, 3, 9, 6, 7][n]}\nB"

    for name, reply in (("judge-a", judge_a), ("judge-b", judge_b)):
        with ScriptedServer(reply, models=["m"]) as server:
            cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "m", "name": name})
            record_judge(run_dir, judge_run(run_dir, cfg))
    return run_dir


def test_two_judges_of_one_run(tmp_path: Path, capsys) -> None:
    run_dir = judged_twice(tmp_path)
    assert report_main(["judges", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "judges.csv")
    assert len(table) == 1
    row = table.iloc[0]
    a, b = np.arange(1, 8, dtype=float), np.array([2, 1, 4, 3, 9, 6, 7], dtype=float)
    assert row["n"] == 7 and row["a"].endswith(":judge-a") and row["b"].endswith(":judge-b")
    assert row["spearman"] == pytest.approx(stats.spearmanr(a, b).statistic)
    assert row["kendall_tau_b"] == pytest.approx(stats.kendalltau(a, b).statistic)
    assert row["mean_difference"] == pytest.approx((b - a).mean())
    assert row["ci_low"] <= row["mean_difference"] <= row["ci_high"]
    details = json.loads((tmp_path / "out" / "judges.json").read_text())
    assert details[0]["disagreements"][0]["id"] == "4" and details[0]["disagreements"][0]["difference"] == 4
    assert "Judge agreement" in (tmp_path / "out" / "report.html").read_text()
    assert "Spearman" in capsys.readouterr().out


def test_leaderboard_says_when_judges_differ(tmp_path: Path, capsys) -> None:
    run_dir = judged_twice(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    for name in ("config.yaml", "predictions.jsonl", "judgments-judge-a.jsonl"):
        (other / name).write_bytes((run_dir / name).read_bytes())
    from evalkit.score import rescore_run

    rescore_run(run_dir, None, judge="judge-b")
    rescore_run(other, None, judge="judge-a")
    assert report_main([str(run_dir), str(other), "--out", str(tmp_path / "board")]) == 0
    assert "runs judged by different judges (judge-a, judge-b)" in capsys.readouterr().err
    board = pd.read_csv(tmp_path / "board" / "leaderboard.csv")
    assert sorted(board["judge"]) == ["judge-a", "judge-b"]
    assert "**Not comparable:** judged by different judges (judge-a, judge-b)" in \
        (tmp_path / "board" / "leaderboard.md").read_text()
    assert "Not comparable:" in (tmp_path / "board" / "report.html").read_text()


def test_grading_runs_of_one_judge_are_compared(tmp_path: Path) -> None:
    from datasets_adapters.mmvet import MMVetDataset
    from tests.integration import test_mmvet

    bench = test_mmvet.make_files(tmp_path)
    items = MMVetDataset(path=str(bench)).load()
    run_dir = write_run(tmp_path / "run", "datasets_adapters.mmvet.MMVetDataset", items,
                        {f"v1_{n}": item[3] for n, item in enumerate(test_mmvet.ITEMS)}, name="mmvet", path=str(bench))
    with ScriptedServer(test_mmvet.Replies(), models=["gpt-4-0613"]) as server:
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4-0613", "runs": 2,
                              "concurrency": 1})
        record_judge(run_dir, judge_run(run_dir, cfg))
    assert report_main(["judges", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "judges.csv")
    assert list(table["a"]) == ["run:gpt-4-0613#run0"] and list(table["b"]) == ["run:gpt-4-0613#run1"]
    # Only the scripted item 5 grades differently between runs (0.2, then 0.9).
    assert table.loc[0, "mean_difference"] == pytest.approx(0.7 / len(items))
    details = json.loads((tmp_path / "out" / "judges.json").read_text())
    assert details[0]["disagreements"][0]["id"] == "v1_5"
