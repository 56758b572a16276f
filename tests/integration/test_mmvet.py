"""MM-Vet: evalkit's grading requests (re-asks included) are the ones mm-vet_evaluator.py sends, and
its per-capability / total / std numbers over two grading runs equal the evaluator's cap-score table,
both run against one scripted server on files in the official format."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters.mmvet import PROMPT, MMVetDataset, read_grade
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.score import rescore_run, score_file
from tests.support.judge_server import ScriptedServer

EVALUATOR = Path(__file__).resolve().parents[1] / "support" / "mmvet" / "mm-vet_evaluator.py"
TARGET = "datasets_adapters.mmvet.MMVetDataset"

# (capabilities, question, ground truth, model answer, replies in order of asking)
ITEMS = [
    (["rec"], "What is in the bowl?", "ramen", "Ramen.", ["0.5"]),
    (["ocr", "rec"], "What does the sign say?", "OPEN", "It says \"OPEN\".", ["1.0 because"]),
    (["know", "rec", "gen"], "Who painted this?", "Van Gogh", "Vincent van Gogh", ["Correctness: 0.3", "0.3"]),
    (["spat", "ocr"], "Which is left?", "the cup", "cup", ["n/a"] * 6),
    (["math", "ocr"], "What is x?", "-1<AND>-5", "x = -1", ["1.5", "-0.1", "0.8"]),
    (["rec"], "How many cats?", "2<OR>two", "two cats\nand a dog", None),  # differs between runs
    (["gen"], "Write a poem about it.", "(any poem)", "", ["0.0"]),
    (["rec", "know"], "What breed is the dog?", "corgi", "A corgi — é", ["0.7\n"]),
]


class Replies:
    """Replies by item and attempt; item 5 answers its n-th identical request with the n-th grade."""

    def __init__(self):
        self.seen = Counter()

    def __call__(self, body: dict) -> str:
        content = body["messages"][0]["content"]
        rest = content[len(PROMPT) + 1:]
        index = next(i for i, item in enumerate(ITEMS) if rest.startswith(item[1] + " | "))
        self.seen[content, body["temperature"]] += 1
        if ITEMS[index][4] is None:
            return ["0.2", "0.9"][self.seen[content, body["temperature"]] - 1]
        attempt = 0 if not content.endswith("(digit): ") else {0.0: 1, 0.5: 2, 1.0: 3, 1.5: 4, 2.0: 5}[body["temperature"]]
        replies = ITEMS[index][4]
        return replies[min(attempt, len(replies) - 1)]


def make_files(root: Path) -> Path:
    bench = root / "mm-vet"
    (bench / "images").mkdir(parents=True)
    data = {f"v1_{n}": {"imagename": f"v1_{n}.png", "capability": caps, "question": q, "answer": gt}
            for n, (caps, q, gt, _, _) in enumerate(ITEMS)}
    (bench / "mm-vet.json").write_text(json.dumps(data, indent=2))
    return bench


def test_requests_and_cap_scores_equal_the_evaluator(tmp_path: Path) -> None:
    bench = make_files(tmp_path)
    items = MMVetDataset(path=str(bench)).load()
    answers = {f"v1_{n}": item[3] for n, item in enumerate(ITEMS)}
    # The run directory is LLaVA's answer file (model_vqa's lines) imported with mm-vet.json.
    llava = tmp_path / "llava-mm-vet-answers.jsonl"
    llava.write_text("".join(json.dumps({"question_id": n, "prompt": item[1], "text": item[3], "answer_id": f"a{n}",
                                         "model_id": "m", "metadata": {}}) + "\n" for n, item in enumerate(ITEMS)))
    run_dir, _ = score_file(llava, "mmvet", [bench / "mm-vet.json"], tmp_path / "run", None)
    assert len(items) == len(ITEMS)
    results = tmp_path / "results"
    results.mkdir()
    (results / "model.json").write_text(json.dumps(answers, indent=2))  # LLaVA's convert_mmvet_for_eval.py format
    with ScriptedServer(Replies(), models=["gpt-4-0613"]) as server:
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4-0613", "runs": 2,
                              "concurrency": 1})
        record_judge(run_dir, judge_run(run_dir, cfg))
        ours = sorted(json.dumps(b, sort_keys=True) for b in server.bodies)
        server.bodies.clear()
        server.reply = Replies()
        env = {**os.environ, "OPENAI_BASE_URL": server.base_url, "OPENAI_API_KEY": "test"}
        subprocess.run([sys.executable, str(EVALUATOR), "--mmvet_path", str(bench), "--result_file",
                        str(results / "model.json"), "--result_path", str(results), "--gpt_model", "gpt-4-0613",
                        "--num_run", "2"], check=True, env=env, capture_output=True, text=True, cwd=tmp_path)
        theirs = sorted(json.dumps(b, sort_keys=True) for b in server.bodies)
    assert len(ours) == 2 * (1 + 1 + 2 + 6 + 3 + 1 + 1 + 1) and ours == theirs
    official = pd.read_csv(results / "model_gpt-4-0613-cap-score-2runs.csv", index_col=0).iloc[0]
    _, scores = rescore_run(run_dir, None)
    table = scores.tables["mmvet"].set_index("category")
    for capability in ("rec", "ocr", "know", "gen", "spat", "math", "total"):
        assert table.loc[capability, "score"] == official[capability], capability
    assert scores.headline["mmvet_total"] == official["total"]
    assert scores.headline["mmvet_total_std"] == official["std"] > 0
    # its `runs` column is str() of a list of numpy floats ("[np.float64(43.8), ...]" under numpy 2)
    assert scores.headline["mmvet_runs"] == [float(x) for x in re.findall(r"-?\d+\.\d+", official["runs"])]
    assert table.loc["total", "n_parse_failures"] == 2  # item 3, both runs: 0.0 after five re-asks
    assert table.loc["total", "n_regraded"] == 6  # items 2, 3, 4, both runs


@pytest.mark.parametrize("content, grade", [
    ("0.5", 0.5), ("1.0 because", 1.0), ("0.7\n", 0.7), ("1", 1.0), ("1.5", None), ("-0.1", None),
    ("Correctness: 0.3", None), ("0.3.", None), ("", None), (" 0.4", None),
])
def test_read_grade_table(content: str, grade) -> None:
    # The evaluator's rule: content.split(" ")[0].strip() as a float in [0, 1] (a leading space fails).
    assert read_grade(content) == grade
