"""LLaVA-Bench-in-the-Wild: the judge requests evalkit sends are the ones LLaVA's own
eval_gpt_review_bench.py sends (both run against one scripted server, bodies compared), and the
numbers evalkit computes from the cached replies equal summarize_gpt_review.py's output on the
review file the official script wrote from the same replies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from datasets_adapters.llava_bench import LlavaBenchDataset, parse_score
from evalkit.errors import DatasetError
from evalkit.judge.config import validate_judge
from evalkit.judge.stage import judge_run, record_judge
from evalkit.score import rescore_run, score_file
from tests.support.judge_runs import write_run
from tests.support.judge_server import ScriptedServer

SUPPORT = Path(__file__).resolve().parents[1] / "support"
OFFICIAL = SUPPORT / "llava_eval"
TARGET = "datasets_adapters.llava_bench.LlavaBenchDataset"

# (category, question, model answer): unicode, quotes, trailing blanks, an empty answer, newlines.
QUESTIONS = [
    ("conv", "What is the name of the dish?", "It is ramen — a Japanese noodle soup."),
    ("conv", "How many \"cups\" are there?", "There are two cups.\n\nOne is blue."),
    ("detail", "Describe this photo in detail.", "A street at night; neon signs read 'OPEN'.  "),
    ("detail", "Describe the image.", ""),
    ("complex", "What might be the purpose of this setup?", "To cook.\tProbably."),
    ("complex", "Why is this funny?", "Because the cat 🐱 wears a hat."),
    ("conv", "What color is the car?", "Red"),
]
CAPTIONS = {"a.jpg": ["A bowl of ramen.", "Chopsticks on the side."], "b.jpg": "A street at night with neon.",
            "c.jpg": ["A cat wearing a hat."]}
IMAGES = ["a.jpg", "a.jpg", "b.jpg", "b.jpg", "c.jpg", "c.jpg", "b.jpg"]
# Replies: readable pairs, a comma pair, decimals, and the two unreadable forms (-> [-1, -1]).
REPLIES = ["8 7\nAssistant 1 is more detailed.", "9,6\nBoth fine.", "7.5 8\nok", "Scores: 8 3\nThe second is empty.",
           "9 4 extra\nx", "10 9", "6 6\n"]


def reply_for(body: dict) -> str:
    """The same reply for the same request, whichever script sends it."""
    user = body["messages"][-1]["content"]
    index = next(i for i, (_, q, _) in enumerate(QUESTIONS) if f"[Question]\n{q}\n" in user)
    return REPLIES[index]


def make_files(root: Path) -> Path:
    bench = root / "llava-bench-in-the-wild"
    (bench / "images").mkdir(parents=True)
    with open(bench / "questions.jsonl", "w") as q, open(bench / "answers_gpt4.jsonl", "w") as a:
        for n, ((category, question, _), image) in enumerate(zip(QUESTIONS, IMAGES)):
            q.write(json.dumps({"image": image, "text": question, "category": category, "question_id": n}) + "\n")
            a.write(json.dumps({"question_id": n, "prompt": question, "text": f"Reference answer {n}: a detailed, "
                                f"careful reply.\nSecond line é.", "answer_id": f"ref{n}", "model_id": "gpt-4-0314",
                                "metadata": {}}) + "\n")
    with open(bench / "context.jsonl", "w") as c:
        for n, (image, caption) in enumerate(CAPTIONS.items()):
            c.write(json.dumps({"id": f"c{n}", "image": image, "caption": caption}) + "\n")
    return bench


def run_official(bench: Path, answers: Path, out: Path, server: ScriptedServer) -> str:
    env = {**os.environ, "PYTHONPATH": str(SUPPORT / "old_openai"), "OPENAI_BASE_URL": server.base_url}
    subprocess.run([sys.executable, str(OFFICIAL / "eval_gpt_review_bench.py"), "--question",
                    str(bench / "questions.jsonl"), "--context", str(bench / "context.jsonl"), "--rule",
                    str(OFFICIAL / "rule.json"), "--answer-list", str(bench / "answers_gpt4.jsonl"), str(answers),
                    "--output", str(out)], check=True, env=env, capture_output=True, text=True)
    result = subprocess.run([sys.executable, str(OFFICIAL / "summarize_gpt_review.py"), "-f", str(out)],
                            check=True, capture_output=True, text=True)
    return result.stdout


def test_requests_and_summary_equal_llava_scripts(tmp_path: Path) -> None:
    bench = make_files(tmp_path)
    items = LlavaBenchDataset(path=str(bench)).load()
    answers = {item.id: text for item, (_, _, text) in zip(items, QUESTIONS)}
    run_dir = write_run(tmp_path / "run", TARGET, items, answers, name="llava_bench", path=str(bench))
    # LLaVA's answers file, as model_vqa writes it (the stripped output), for the official script.
    answer_file = tmp_path / "answers.jsonl"
    answer_file.write_text("".join(json.dumps({"question_id": int(i.id), "prompt": i.question,
                                               "text": answers[i.id].strip(), "answer_id": f"m{i.id}",
                                               "model_id": "m", "metadata": {}}) + "\n" for i in items))
    # The same answers imported from LLaVA's answer file give the same rows to judge.
    imported, _ = score_file(answer_file, "llava_bench", [bench], tmp_path / "imported", None)
    with ScriptedServer(reply_for) as server:
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4-0314", "concurrency": 3})
        store = judge_run(run_dir, cfg)
        judge_run(imported, cfg)
        assert len(server.bodies) == 2 * len(QUESTIONS)
        record_judge(run_dir, store)
        ours = sorted(server.bodies[:len(QUESTIONS)], key=lambda b: b["messages"][1]["content"])
        server.bodies.clear()
        printed = run_official(bench, answer_file, tmp_path / "reviews.jsonl", server)
        theirs = sorted(server.bodies, key=lambda b: b["messages"][1]["content"])
    assert len(ours) == len(QUESTIONS)
    for mine, official in zip(ours, theirs):
        assert mine == official  # model, messages (system + user, byte-equal text), temperature, max_tokens
    _, scores = rescore_run(run_dir, None)
    table = scores.tables["llava_bench"].set_index("category")
    names = {"llava_bench_conv": "conv", "llava_bench_detail": "detail", "llava_bench_complex": "complex",
             "all": "all"}
    lines = [line.split() for line in printed.splitlines() if line.split() and line.split()[0] in names]
    assert len(lines) == 4
    for name, relative, reference, model in lines:
        row = table.loc[names[name]]
        assert (row["relative_score"], row["reference_score"], row["model_score"]) == \
            (float(relative), float(reference), float(model))
    assert table.loc["all", "n_parse_failures"] == 2  # "Scores: 8 3" and "9 4 extra" -> [-1, -1], as officially
    assert scores.headline["llava_bench_relative"] == table.loc["all", "relative_score"]
    assert scores.headline["judge"] == "gpt-4-0314"
    _, from_import = rescore_run(imported, None)
    assert from_import.tables["llava_bench"].equals(scores.tables["llava_bench"])


@pytest.mark.parametrize("review, pair", [
    ("8 7\nbecause", [8.0, 7.0]), ("8,7", [8.0, 7.0]), ("8, 7", [-1, -1]), ("7.5 9", [7.5, 9.0]),
    ("Assistant 1: 8", [-1, -1]), ("", [-1, -1]), ("a b", [-1, -1]), (" 8 7", [-1, -1]),
])
def test_parse_score_table(review: str, pair: list) -> None:
    # The official parser's quirks kept: "8, 7" splits into three pieces and fails.
    assert parse_score(review) == pair


def test_rescoring_reads_the_cache_only_and_resumes(tmp_path: Path) -> None:
    bench = make_files(tmp_path)
    items = LlavaBenchDataset(path=str(bench)).load()
    run_dir = write_run(tmp_path / "run", TARGET, items, {i.id: f"answer {i.id}" for i in items}, name="llava_bench",
                        path=str(bench))
    with ScriptedServer(reply_for, fail_first=2) as server:  # two HTTP 500s: the client's backoff retries
        cfg = validate_judge({"kind": "openai", "base_url": server.base_url, "model": "gpt-4-0314",
                              "max_retries": 3})
        judge_run(run_dir, cfg)
        assert len(server.bodies) == len(items)
        judge_run(run_dir, cfg)  # everything cached: nothing sent
        assert len(server.bodies) == len(items)
    # Rescoring with no server at all: the judge is never called.
    _, scores = rescore_run(run_dir, None)
    assert scores.headline["n_unjudged"] == 0 and scores.headline["llava_bench_relative"] is not None
    lines = (run_dir / "judgments-gpt-4-0314.jsonl").read_text().splitlines()
    assert "api_key" not in lines[0] and json.loads(lines[0])["header"]["base_url_host"].startswith("127.0.0.1:")
    # A changed answer is a different request: its cached judgment is not used for it.
    rows = [json.loads(line) for line in (run_dir / "predictions.jsonl").read_text().splitlines()]
    rows[0]["text"] = "a different answer"
    (run_dir / "predictions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    _, scores = rescore_run(run_dir, None)
    assert scores.headline["n_unjudged"] == 1 and scores.headline.get("llava_bench_relative") is None


def test_loader_refuses_files_the_official_review_would_pair_wrongly(tmp_path: Path) -> None:
    bench = make_files(tmp_path)
    lines = (bench / "answers_gpt4.jsonl").read_text().splitlines()
    (bench / "answers_gpt4.jsonl").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n")
    with pytest.raises(DatasetError, match="questions.jsonl:1: question_id 0 but answers_gpt4.jsonl line 1"):
        LlavaBenchDataset(path=str(bench)).load()
