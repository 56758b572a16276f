"""MMMU parity: evalkit's parse and scores against MMMU's own scripts (tests/support/mmmu,
Apache-2.0, MMMU-Benchmark/MMMU bb0b95a), run on the same files:

- LLaVA-1.5-13B's released validation outputs (mmmu/example_outputs/llava1.5_13b, 900 questions):
  `main_parse_and_eval.py --subject ALL` then `print_results.py` give per subject, per discipline
  and overall accuracy (Overall 0.367); evalkit parses every response to the same letter or list
  (the seeded random fallback included) and gives the same table; `main_eval_only.py` on
  `total_val_output.json` + `answer_dict_val.json` the same way;
- an output folder written here with tricky responses ("A", "A. cat", "(A)", "The answer is B.",
  "b", "", an option's text, Chinese text, several letters, numbers with commas, units).
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import mmmu_eval as E

MMMU = Path(__file__).resolve().parents[1] / "support" / "mmmu"
EXAMPLE = MMMU / "example_outputs" / "llava1.5_13b"

pytest.importorskip("tabulate", reason="print_results.py needs tabulate (the test extra)")


def official_parse_and_eval(folder: Path) -> tuple[dict, dict]:
    """Run main_parse_and_eval.py + print_results.py on `folder`: (per-id parsed/judge, table)."""
    subprocess.run([sys.executable, "main_parse_and_eval.py", "--path", str(folder), "--subject", "ALL"],
                   cwd=MMMU, check=True, capture_output=True)
    printed = subprocess.run([sys.executable, "print_results.py", "--path", str(folder)], cwd=MMMU, check=True,
                             capture_output=True, text=True).stdout
    table = {m[0].strip(): (int(m[1]), float(m[2]))
             for m in re.findall(r"^\| (.+?)\s+\|\s+(\d+) \|\s+([\d.]+)\s+\|$", printed, flags=re.M)}
    parsed = {r["id"]: r for p in folder.glob("*/parsed_output.json") for r in json.loads(p.read_text())}
    return parsed, table


def evalkit_scores(outputs: list[dict]) -> tuple[dict, pd.DataFrame]:
    """evalkit's parse of each output row (walked in the official order) and its table."""
    parser = E.MultiChoiceParser()
    parsed, rows = {}, []
    for r in sorted(outputs, key=lambda r: E.official_order(r["id"])):
        if r["question_type"] == E.MULTIPLE_CHOICE:
            p = parser(r["response"], r["all_choices"], r["index2ans"])
            correct = E.choice_correct(r["answer"], p)
        else:
            p = E.parse_open(r["response"])
            correct = E.open_correct(r["answer"], p)
        parsed[r["id"]] = p
        rows.append({"subject": E.subject_of(r["id"]), "correct": correct})
    return parsed, E.mmmu_table(pd.DataFrame(rows))


def assert_same(parsed_official: dict, table_official: dict, parsed: dict, table: pd.DataFrame):
    for qid, theirs in parsed_official.items():
        ours = parsed[qid]
        if isinstance(theirs["parsed_pred"], list):  # the official set() order is arbitrary
            assert sorted(map(repr, ours)) == sorted(map(repr, theirs["parsed_pred"])), qid
        else:
            assert ours == theirs["parsed_pred"], qid
    assert set(parsed) == set(parsed_official)
    ours = {r.category: (r.n, round(r.accuracy, 3)) for r in table.itertuples()}
    assert ours == table_official


def example_outputs() -> list[dict]:
    return [r for p in sorted(EXAMPLE.glob("*/output.json")) for r in json.loads(p.read_text())]


def test_llava15_13b_example_outputs_reproduce(tmp_path):
    folder = tmp_path / "llava1.5_13b"
    shutil.copytree(EXAMPLE, folder)
    parsed_official, table_official = official_parse_and_eval(folder)
    parsed, table = evalkit_scores(example_outputs())
    assert_same(parsed_official, table_official, parsed, table)
    assert table_official["Overall"] == (900, 0.367)  # the number the MMMU repo's example prints


def test_eval_only_on_total_val_output():
    printed = subprocess.run([sys.executable, "main_eval_only.py", "--output_path",
                              str(EXAMPLE / "total_val_output.json"), "--answer_path", "answer_dict_val.json"],
                             cwd=MMMU, check=True, capture_output=True, text=True).stdout
    theirs = ast.literal_eval(printed.strip().splitlines()[-1])
    answers = json.loads((MMMU / "answer_dict_val.json").read_text())
    rows = []
    for qid, pred in json.loads((EXAMPLE / "total_val_output.json").read_text()).items():
        gold = answers[qid]
        correct = (E.choice_correct(gold["ground_truth"], pred) if gold["question_type"] == E.MULTIPLE_CHOICE
                   else E.open_correct(gold["ground_truth"], E.parse_open(pred)))
        rows.append({"subject": E.subject_of(qid), "correct": correct})
    table = E.mmmu_table(pd.DataFrame(rows))
    assert {r.category: {"num": r.n, "acc": round(r.accuracy, 3)} for r in table.itertuples()} == theirs


TRICKY_MC = ["A", "A. cat", "(A)", "The answer is B.", "b", "", "the black cat sat on the mat", "答案是 C",
             "(A) or (B)? I think (B)", "A B", "It is C, not D, so the final answer is D today",
             "I would pick a dog over the cat every single time", "E", "'C'.", ".,D", "The answer is (C)",
             "Neither a nor b", "cat dog bird fish options all wrong here", "  B  ", "D!", "A\n", "\nC", " B.\n"]
TRICKY_OPEN = ["12", "1,234", "The answer is 3.14159.", "x = 2.50", "so it is 1e3", "Tampa, Florida",
               "mgs", "b", "Therefore the result is 24/7.", "", "INVALID GENERATION FOR MULTIPLE IMAGE INPUTS",
               "The value is 5.\nThus 6"]


def tricky_outputs() -> dict[str, list[dict]]:
    options = {"A": "cat", "B": "dog", "C": "black cat", "D": "1,000"}
    by_subject: dict[str, list[dict]] = {"Art": [], "Math": [], "Accounting": []}
    n = 0
    for subject, rows in by_subject.items():
        for k, text in enumerate(TRICKY_MC):
            n += 1
            letters = list(options)[:2 + (k + n) % 3]
            rows.append({"id": f"validation_{subject}_{k + 1}", "question_type": E.MULTIPLE_CHOICE,
                         "answer": "ABCD"[n % len(letters)], "all_choices": letters,
                         "index2ans": {c: options[c] for c in letters}, "response": text})
        golds = ["12", "1234", "3.14", "2.5", "1000", ["Tampa", "Florida"], ["$MgS$", "MgS"], "B", "24/7", "0",
                 "x", "6"]
        for k, text in enumerate(TRICKY_OPEN):
            rows.append({"id": f"validation_{subject}_{len(TRICKY_MC) + k + 1}", "question_type": "short-answer",
                         "answer": golds[k], "response": text})
    return by_subject


def test_tricky_responses_parse_and_score_as_the_official_script(tmp_path):
    outputs = tricky_outputs()
    for subject, rows in outputs.items():
        (tmp_path / subject).mkdir()
        (tmp_path / subject / "output.json").write_text(json.dumps(rows, ensure_ascii=False))
    parsed_official, table_official = official_parse_and_eval(tmp_path)
    parsed, table = evalkit_scores([r for rows in outputs.values() for r in rows])
    assert_same(parsed_official, table_official, parsed, table)
    from evalkit import score as score_cli  # the CLI reads the folder and parses the raw responses the same way

    assert score_cli.main(["--benchmark", "mmmu", str(tmp_path), "--out", str(tmp_path / "scores")]) == 0
    table = pd.read_csv(tmp_path / "scores" / "metrics.csv")
    assert {r.category: (r.n, round(r.accuracy, 3)) for r in table.itertuples()} == table_official
    rows = [json.loads(line) for line in (tmp_path / "scores" / "predictions.jsonl").read_text().splitlines()]
    for row in rows:
        theirs = parsed_official[row["id"]]["parsed_pred"]
        if not isinstance(theirs, list):
            assert row["parsed"] == theirs, row["id"]
    parser = E.MultiChoiceParser()
    for rows in outputs.values():
        for r in rows:
            if r["question_type"] == E.MULTIPLE_CHOICE:
                parser(r["response"], r["all_choices"], r["index2ans"])
    assert parser.n_random > 3  # the seeded fallback was exercised, in the official order


def test_rescoring_cli_reproduces_the_example_outputs(tmp_path):
    """`python -m evalkit.score --benchmark mmmu` on the output folder and on total_val_output.json."""
    from evalkit import score as score_cli

    folder = tmp_path / "llava1.5_13b"
    shutil.copytree(EXAMPLE, folder)
    _, table_official = official_parse_and_eval(folder)
    for source, extra, out in ((EXAMPLE, [], tmp_path / "a"), (EXAMPLE / "total_val_output.json",
                                                                  ["--answers", str(MMMU / "answer_dict_val.json")],
                                                                  tmp_path / "b")):
        assert score_cli.main(["--benchmark", "mmmu", str(source), *extra, "--out", str(out)]) == 0
        table = pd.read_csv(out / "metrics.csv")
        assert {r.category: (r.n, round(r.accuracy, 3)) for r in table.itertuples()} == table_official
        metrics = json.loads((out / "summary.json").read_text())["metrics"]
        assert round(metrics["mmmu_accuracy"], 3) == 0.367
    rows = [json.loads(line) for line in (tmp_path / "a" / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 900 and sum(r["correct"] for r in rows) == 330


def test_submission_json_scored_by_main_eval_only(tmp_path):
    """mmmu_submit's {id: answer} file, given to the repo's main_eval_only.py with its answers,
    gives evalkit's own table (the submission holds what evalkit scored)."""
    from datasets_adapters import mmmu_submit
    from evalkit import score as score_cli

    assert score_cli.main(["--benchmark", "mmmu", str(EXAMPLE), "--out", str(tmp_path / "run")]) == 0
    assert mmmu_submit.main([str(tmp_path / "run"), "--out", str(tmp_path / "submit.json")]) == 0
    printed = subprocess.run([sys.executable, "main_eval_only.py", "--output_path", str(tmp_path / "submit.json"),
                              "--answer_path", "answer_dict_val.json"], cwd=MMMU, check=True, capture_output=True,
                             text=True).stdout
    theirs = ast.literal_eval(printed.strip().splitlines()[-1])
    table = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert {r.category: {"num": r.n, "acc": round(r.accuracy, 3)} for r in table.itertuples()} == theirs
