"""ScienceQA parity: evalkit's rule and tables against the official scripts, both run on the same
files written here (tests/support/scienceqa_files.py: 4241 made-up test problems, LLaVA answers
with tricky texts, one question left unanswered):

- LLaVA's `llava/eval/eval_science_qa.py` (tests/support/llava, Apache-2.0, c121f04) prints
  accuracy and IMG-Accuracy and writes each problem's parsed option index;
- ScienceQA's `tools/evaluate_acc.py` (tests/support/scienceqa, MIT) reads that result file and
  prints the NAT/SOC/LAN, TXT/IMG/NO and G1-6/G7-12 accuracies.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import scienceqa_metrics as S
from support.scienceqa_files import write_scienceqa

SUPPORT = Path(__file__).resolve().parents[1] / "support"


def run_official(root: Path, answers: Path) -> dict:
    out = {"output": root / "out.json", "result": root / "result.json"}
    printed = subprocess.run(
        [sys.executable, str(SUPPORT / "llava" / "eval_science_qa.py"), "--base-dir", str(root),
         "--result-file", str(answers), "--output-file", str(out["output"]), "--output-result",
         str(out["result"])], check=True, capture_output=True, text=True).stdout
    total = re.search(r"Accuracy: ([\d.]+)%, IMG-Accuracy: ([\d.]+)%", printed)
    breakdown = subprocess.run(
        [sys.executable, str(SUPPORT / "scienceqa" / "evaluate_acc.py"), "--data_file",
         str(root / "problems.json"), "--result_file", str(out["result"])],
        check=True, capture_output=True, text=True).stdout
    scores = dict(re.findall(r"^([\w-]+): \t(\S+)$", breakdown, flags=re.M))
    return {"accuracy": total.group(1), "img": total.group(2), "scores": scores,
            "parsed": {r["question_id"]: r["parsed_ans"] for part in json.loads(out["output"].read_text()).values()
                       for r in part},
            "results": json.loads(out["result"].read_text())["results"]}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("sqa")
    paths = write_scienceqa(root)
    return paths, run_official(root, paths["answers"])


def evalkit_rows(root: Path, answers: Path) -> pd.DataFrame:
    """Per problem: evalkit's parse and correctness plus the breakdown facts (what the task's rows carry)."""
    problems = json.loads((root / "problems.json").read_text())
    texts = {a["question_id"]: a for a in map(json.loads, answers.read_text().splitlines())}
    rows = []
    for pid in json.loads((root / "pid_splits.json").read_text())["test"]:
        p, answer = problems[pid], texts.get(pid)
        parsed = S.llava_letter(answer["text"]) if answer else S.FAILED
        correct = parsed == S.LETTERS[p["answer"]]
        rows.append({"id": pid, "parsed": parsed, "correct": correct, "score": float(correct),
                     "is_multimodal": bool(answer) and "<image>" in answer["prompt"], **S.context_facts(p)})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("text, expected", [
    ("A", "A"), ("A. cat", "A"), ("(A)", ""), ("The answer is B.", "B"), ("b", ""), ("", ""),
    ("答案是A", ""), ("A.", ""), ("The answer is A", ""), ("The answer is A. The answer is B.", ""),
    ("The answer is F.", "F"), ("The answer is C!", "C"), ("B) x", ""), ("A.B. ", ""), ("E", "E"), ("F", ""),
])
def test_rule_table(text, expected):
    assert S.llava_letter(text) == expected


def test_parse_equals_eval_science_qa(files):
    paths, official = files
    rows = evalkit_rows(paths["root"], paths["answers"]).set_index("id")
    theirs = {pid: ("" if p == "FAILED" else p) for pid, p in official["parsed"].items()}
    assert rows["parsed"].to_dict() == theirs
    # the official per-problem result is the option index, -1 when the letter is not one of the options
    problems = json.loads((paths["root"] / "problems.json").read_text())
    for pid, index in official["results"].items():
        letters = S.LETTERS[:len(problems[pid]["choices"])]
        parsed = rows.loc[pid, "parsed"]
        assert index == (letters.index(parsed) if parsed in letters else -1), pid


def test_tables_equal_both_official_scripts(files):
    paths, official = files
    table = S.scienceqa_table(evalkit_rows(paths["root"], paths["answers"])).set_index("category")
    pct = lambda name: f"{table.loc[name, 'accuracy'] * 100:.2f}"
    assert pct(S.ALL) == official["accuracy"] == official["scores"]["average"]
    assert pct(S.IMG_HEADLINE) == official["img"]
    names = {"NAT": "natural", "SOC": "social", "LAN": "language", "TXT": "has_text", "IMG": "has_image",
             "NO": "no_context", "G1-6": "grade_1_6", "G7-12": "grade_7_12"}
    assert {k: pct(k) for k in names} == {k: official["scores"][v] for k, v in names.items()}
    assert 0 < table.loc[S.ALL, "accuracy"] < 1 and table.loc[S.ALL, "n"] == 4241


def test_rescoring_cli_equals_both_official_scripts(files, tmp_path, capsys):
    from evalkit import score as score_cli

    paths, official = files
    out = tmp_path / "scores"
    assert score_cli.main(["--benchmark", "scienceqa", str(paths["answers"]), "--questions", str(paths["root"]),
                           "--out", str(out)]) == 0
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert f"{metrics['scienceqa_img_accuracy'] * 100:.2f}" == official["img"]
    assert f"{metrics['scienceqa_accuracy'] * 100:.2f}" == official["accuracy"]
    table = pd.read_csv(out / "metrics.csv").set_index("category")
    assert f"{table.loc['G7-12', 'accuracy'] * 100:.2f}" == official["scores"]["grade_7_12"]
    assert table.loc[S.ALL, "n_error"] == 1  # the unanswered problem: wrong, as eval_science_qa.py's FAILED
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    parsed = {r["id"]: r["parsed"] or "" for r in rows if not r["error"]}
    assert parsed == {pid: ("" if p == "FAILED" else p) for pid, p in official["parsed"].items() if pid != "7"}
