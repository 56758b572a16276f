"""GQA against the official pipeline run on the same files: LLaVA's scripts/convert_gqa_for_eval.py
(tests/support/llava_scripts) then GQA's eval.py (tests/support/gqa_eval.py: the script of the GQA
download, from its public copy) over testdev_balanced_questions.json written here, with answers that
need the conversion ("No.", "Left.", case) and ones it does not forgive ("an umbrella", "The dog")."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters.gqa import GQADataset
from evalkit import score as score_cli
from support.vqa_fixture import GQA, GQA_PREDICTIONS, llava_answers, write_gqa

SUPPORT = Path(__file__).resolve().parents[1] / "support"
RUNS = [GQA_PREDICTIONS, ["yes", "red.", "Yes", "umbrella", "left", "dog", "Giraffe."]]


def official_gqa(files: dict, answers: Path) -> dict[str, str]:
    """gqa.sh: convert_gqa_for_eval.py, then eval.py --tier testdev_balanced in the data folder."""
    data = files["questions"].parent
    env = {**os.environ, "PYTHONPATH": str(SUPPORT)}
    subprocess.run([sys.executable, str(SUPPORT / "llava_scripts" / "convert_gqa_for_eval.py"), "--src", str(answers),
                    "--dst", str(data / "testdev_balanced_predictions.json")], check=True, env=env)
    out = subprocess.run([sys.executable, str(SUPPORT / "gqa_eval.py"), "--tier", "testdev_balanced"], cwd=data,
                         check=True, env=env, capture_output=True, text=True).stdout
    return {m.group(1).strip(): m.group(2) for m in re.finditer(r"^\s*(\w+): (\d+\.\d\d)%", out, re.MULTILINE)}


@pytest.mark.parametrize("run", range(len(RUNS)))
def test_rescored_answers_equal_gqa_eval(tmp_path, run):
    files = write_gqa(tmp_path / "gqa")
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], RUNS[run])
    official = official_gqa(files, answers)
    assert score_cli.main(["--benchmark", "gqa", str(answers), "--questions", str(files["questions"]),
                           "--out", str(tmp_path / "out")]) == 0
    table = pd.read_csv(tmp_path / "out" / "metrics.csv")
    ours = {("Accuracy" if r.category == "all" else r.category.capitalize() if r.breakdown == "answer_type"
             else r.category): f"{100 * r.accuracy:.2f}" for r in table.itertuples()}
    # eval.py also prints validity / plausibility (0 without testdev's choices file), distribution and
    # accuracy per words / steps number: evalkit reports binary / open, structural and semantic types.
    official = {k: v for k, v in official.items() if k not in ("Validity", "Plausibility", "Distribution")
                and not k.isdigit()}
    assert ours == official
    assert 0 < float(official["Accuracy"]) < 100


def test_predictions_format_and_dataset(tmp_path):
    files = write_gqa(tmp_path / "gqa")
    predictions = tmp_path / "testdev_balanced_predictions.json"
    ids = [json.loads(line)["question_id"] for line in files["llava"].read_text().splitlines()]
    predictions.write_text(json.dumps([{"questionId": q, "prediction": p.rstrip(".").lower()}
                                       for q, p in zip(ids, GQA_PREDICTIONS)]))
    assert score_cli.main(["--benchmark", "gqa", str(predictions), "--questions", str(files["questions"]),
                           "--out", str(tmp_path / "out")]) == 0
    from_llava = tmp_path / "from_llava"
    answers = llava_answers(tmp_path / "answers.jsonl", files["llava"], GQA_PREDICTIONS)
    assert score_cli.main(["--benchmark", "gqa", str(answers), "--questions", str(files["questions"]),
                           "--out", str(from_llava)]) == 0
    metrics = [json.loads((d / "summary.json").read_text())["metrics"]["gqa_accuracy"]
               for d in (tmp_path / "out", from_llava)]
    assert metrics[0] == metrics[1] == 5 / 7  # "an umbrella" and "The dog" stay wrong
    items = GQADataset(path=str(tmp_path / "gqa")).load()
    assert len(items) == len(GQA)  # the unbalanced question is not an item
    assert items[0].prompt_question == "Is it overcast?\nAnswer the question using a single word or phrase."
    assert items[1].category == "open" and items[0].category == "binary" and items[1].meta["semantic"] == "attr"
