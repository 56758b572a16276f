"""HallusionBench with a judge (`judge=...`): the requests evalkit sends are the ones the official
evaluation.py / utils.py send (correctness against gt_answer_details, then consistency with the
answer on the original figure), and the leaderboard numbers evalkit computes from the replies equal
what evaluation.py prints; all against one scripted server, on official rows of HallusionBench.json
(a VD set and a VS set with and without figures)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_adapters.hallusionbench import HallusionBenchDataset
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.score import rescore_run
from tests.support.judge_runs import write_run
from tests.support.judge_server import ScriptedServer

SUPPORT = Path(__file__).resolve().parents[1] / "support"
OFFICIAL = SUPPORT / "hallusionbench_official"
TARGET = "datasets_adapters.hallusionbench.HallusionBenchDataset"
SETS = {("VD", "illusion", "0"), ("VD", "illusion", "1"), ("VS", "chart", "5"), ("VS", "chart", "6")}
CORRECTNESS = ["correct", "Incorrect.", "The prediction is unclear", "I cannot tell", "Correct!"]
SAME = ["same", "Different", "they are the same", "no idea"]


def pick(text: str, options: list[str]) -> str:
    return options[int(hashlib.sha256(text.encode()).hexdigest(), 16) % len(options)]


def reply_for(body: dict) -> str:
    content = body["messages"][0]["content"]
    return pick(content, SAME if "response1:" in content else CORRECTNESS)


def _correctness_prompt(record: dict) -> str:
    from datasets_adapters.hallusionbench_gpt import CORRECTNESS as PROMPT

    return (PROMPT + record["question"] + "\nReference answer: " + record["gt_answer_details"] + "\nPrediction answer:"
            + answer_for(record) + "\nOutput:")


def answer_for(record: dict) -> str:
    return pick(record["question"] + record["figure_id"], ["Yes, it is.", "No.", "I am not sure.", "yes"])


def test_gpt_path_requests_and_numbers_equal_evaluation_py(tmp_path: Path, hallusionbench_set) -> None:
    pytest.importorskip("prettytable")
    path = hallusionbench_set(lambda records: [r for r in records
                                               if (r["category"], r["subcategory"], r["set_id"]) in SETS])
    records = json.loads(path.read_text())
    items = HallusionBenchDataset(path=str(path)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, {i.id: answer_for(r) for i, r in zip(items, records)},
                        name="hallusionbench", path=str(path))
    work = tmp_path / "official"
    work.mkdir()
    (work / "HallusionBench_result.json").write_text(json.dumps([{**r, "model_prediction": answer_for(r)}
                                                                 for r in records]))
    with ScriptedServer(reply_for, models=["gpt-4"]) as server:
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4"})
        record_judge(run_dir, judge_run(run_dir, cfg))
        ours = sorted(json.dumps(b["messages"]) for b in server.bodies)
        assert all(set(b) == {"model", "messages"} for b in server.bodies)  # no temperature, as officially
        server.bodies.clear()
        env = {**os.environ, "PYTHONPATH": str(SUPPORT / "old_openai"), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_SHIM_NO_SLEEP": "1"}
        printed = subprocess.run([sys.executable, str(OFFICIAL / "evaluation.py")], cwd=work, env=env, check=True,
                                 capture_output=True, text=True).stdout
        theirs = sorted(json.dumps(b["messages"]) for b in server.bodies)
    assert len(ours) == 2 * len(records) and ours == theirs
    official = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in printed.splitlines()
                if line.startswith("| GPT Eval")]
    qacc, facc, easy, hard, aacc = map(float, official[0][1:])
    pct_diff, fp, fig_correct, fig_inconsistent, fig_wrong, lh, vi, mixed = map(float, official[1][1:])
    _, scores = rescore_run(run_dir, None)
    row = scores.tables["hallusionbench"].set_index("category").loc["all"]
    ours_printed = {"qacc": qacc, "facc": facc, "easy_aacc": easy, "hard_aacc": hard, "aacc": aacc,
                    "fig_inconsistent": fig_inconsistent, "fig_wrong": fig_wrong, "lh": lh, "vi": vi, "mixed": mixed}
    for key, value in ours_printed.items():
        assert round(100 * row[key], 4) == value, key
    # yes_ratio_stats prints these two as unrounded fractions
    assert row["yes_pct_diff"] == pytest.approx(pct_diff, abs=1e-12) and row["fp_ratio"] == pytest.approx(fp, abs=1e-12)
    assert scores.headline["hallusionbench_judge"].startswith("gpt-4 (the official GPT evaluation prompt)")
    assert row["n_uncertain"] > 0  # "unclear" and unreadable replies: code 2, as utils.py reads them
    unreadable = sum(1 for r in records if pick(_correctness_prompt(r), CORRECTNESS) == "I cannot tell")
    assert scores.headline["hallusionbench_parse_failures"] == unreadable > 0
