"""MMHal-Bench: evalkit's judge requests are the ones LLaVA-RLHF's eval_gpt_mmhal.py sends, and its
average rating, hallucination rate and per-type averages equal what that script and
summarize_gpt_mmhal.py print over the same replies (all three run on 96 test-made records)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_adapters.mmhal import MMHalDataset, rating_of
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.score import rescore_run, score_file
from tests.support.judge_server import ScriptedServer

SUPPORT = Path(__file__).resolve().parents[1] / "support"
TARGET = "datasets_adapters.mmhal.MMHalDataset"
TYPES = ["attribute", "adversarial", "comparison", "counting", "relation", "environment", "holistic", "other"]


def review(n: int) -> str:
    """Readable ratings 0-6 in several spellings, and the two unreadable forms (none, several)."""
    if n % 17 == 5:
        return "The response is fine. Rating: 2, or maybe Rating: 5"
    if n % 23 == 7:
        return "No hallucination, informative."
    spelled = ["Rating: {}", "rating: {}", "RATING: {}, very informative", "Explanation...\n- Rating: {}"][n % 4]
    return spelled.format((n * 5) % 7)


def reply_for(body: dict) -> str:
    content = body["messages"][0]["content"]
    n = int(content.split("### Question\nQuestion number ")[1].split("?")[0])
    return review(n)


def records() -> list[dict]:
    return [{"question_type": TYPES[n % 8], "question_topic": "t", "image_id": f"img{n}",
             "image_src": f"https://example.org/img/{n}.jpg", "image_content": ["Cat", "Tree"][: 1 + n % 2],
             "question": f"Question number {n}?", "gt_answer": f"Answer {n} — é", "model_answer": ""} for n in range(96)]


def test_requests_and_summary_equal_llava_rlhf_scripts(tmp_path: Path) -> None:
    template = tmp_path / "response_template.json"
    template.write_text(json.dumps(records(), indent=2))
    items = MMHalDataset(path=str(template)).load()
    answers = {item.id: f"The model's answer {item.id}.\nIt has two lines." for item in items}
    responses = [{**r, "model_answer": answers[str(n)]} for n, r in enumerate(records())]
    (tmp_path / "responses.json").write_text(json.dumps(responses, indent=2))
    # The run directory is the official response file imported (model_vqa_mmhal.py's output).
    run_dir, _ = score_file(tmp_path / "responses.json", "mmhal", [], tmp_path / "run", None)
    assert [r["meta"]["image_content"] for r in map(json.loads, (run_dir / "predictions.jsonl").open())] == \
        [i.meta["image_content"] for i in items]
    with ScriptedServer(reply_for) as server:
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4-0314"})
        record_judge(run_dir, judge_run(run_dir, cfg))
        ours = sorted(json.dumps(b, sort_keys=True) for b in server.bodies)
        server.bodies.clear()
        env = {**os.environ, "PYTHONPATH": str(SUPPORT / "old_openai"), "OPENAI_BASE_URL": server.base_url,
               "OPENAI_SHIM_NO_SLEEP": "1"}
        printed = subprocess.run([sys.executable, str(SUPPORT / "mmhal" / "eval_gpt_mmhal.py"), "--response",
                                  str(tmp_path / "responses.json"), "--evaluation", str(tmp_path / "review.json"),
                                  "--api-key", "x"], check=True, env=env, capture_output=True, text=True).stdout
        theirs = sorted(json.dumps(b, sort_keys=True) for b in server.bodies)
    assert len(ours) == 96 and ours == theirs
    summary = subprocess.run([sys.executable, str(SUPPORT / "mmhal" / "summarize_gpt_mmhal.py"), "--evaluation",
                              str(tmp_path / "review.json")], check=True, capture_output=True, text=True).stdout
    _, scores = rescore_run(run_dir, None)
    table = scores.tables["mmhal"].set_index("category")
    ours_printed = [f"Average score: {scores.headline['mmhal_score']:.2f}",
                    f"Hallucination rate: {scores.headline['mmhal_hallucination_rate']:.2f}",
                    "Average score for each question type: " + ",".join(str(round(table.loc[t, "score"], 2))
                                                                         for t in TYPES)]
    for output in (printed, summary):
        lines = [line for line in output.splitlines() if line.startswith(("Average", "Hallucination"))]
        assert lines == ours_printed
    failures = sum(1 for n in range(96) if rating_of(review(n)) is None)
    assert scores.headline["mmhal_parse_failures"] == failures >= 8


@pytest.mark.parametrize("text, rating", [
    ("Rating: 4", 4), ("rating: 0, not informative", 0), ("RATING: 6", 6), ("Rating:4", None),
    ("Rating: 2 ... Rating: 5", None), ("Rating: 7", None), ("no rating", None), ("Rating: 3\nRating: 3", 3),
])
def test_rating_table(text: str, rating) -> None:
    assert rating_of(text) == rating
