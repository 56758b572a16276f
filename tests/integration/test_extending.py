"""docs/extending.md's worked examples, executed: a benchmark from the user's own module and config
folder, run, rescored and reported without editing evalkit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DOTS = REPO / "docs" / "examples" / "dots"


def run(args: list[str], cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(pythonpath), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts)


def test_own_benchmark_runs_scores_and_reports(tmp_path: Path) -> None:
    assert _files(DOTS) == ["conf/dataset/dots.yaml", "dots.py"]  # all a new benchmark takes: one module, one yaml
    out = tmp_path / "run"
    searchpath = f"hydra.searchpath=[file://{DOTS / 'conf'}]"
    printed = run(["evalkit", "dataset=dots", searchpath, f"output_dir={out}", "limit=6", "decoding.max_new_tokens=4",
                   "progress=false"], cwd=tmp_path, pythonpath=DOTS).stdout
    assert "== count ==" in printed and "count_accuracy" in printed

    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns) == ["task", "category", "n", "accuracy", "mae", "n_unread", "n_error"]
    assert set(metrics["task"]) == {"count"} and int(metrics.loc[metrics["category"] == "all", "n"].iloc[0]) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["rules"] == {"count": "first_number"}
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert [r["task"] for r in rows] == ["count"] * 6 and all(r["answer"] in "12345" for r in rows)

    # Generate once, score many: the rescoring CLI and the report find the benchmark in config.yaml
    # and import it because the user names the module (a run directory alone never makes them).
    run(["evalkit.score", str(out), "--trust", "dots"], cwd=tmp_path, pythonpath=DOTS)
    assert pd.read_csv(out / "metrics.csv").equals(metrics)
    run(["evalkit.report", str(out), "--out", str(tmp_path / "report"), "--trust", str(DOTS / "conf")], cwd=tmp_path,
        pythonpath=DOTS)
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert "count_accuracy" in board.columns
    # The tiny model answers yes/no, so no count is read and the MAE is undefined: shown as such,
    # not as 0 (a number the metric could not compute is left out, never invented).
    unread = int(metrics.loc[metrics["category"] == "all", "n_unread"].iloc[0])
    assert (summary["metrics"]["count_mae"] is None) == (unread == 6)
    assert "## dots · count · accuracy" in (tmp_path / "report" / "leaderboard.md").read_text()


def test_parse_rule_of_own_task() -> None:
    sys.path.insert(0, str(DOTS))
    try:
        from dots import COUNT, first_number
    finally:
        sys.path.remove(str(DOTS))
    cases = {"3": "3", "There are three dots.": "3", "Two": "2", "12 dots": "12", "Yes": "", "": ""}
    assert {text: first_number(text, None) for text in cases} == cases
    assert COUNT.parse("four", None) == "4"


def test_typo_in_own_benchmark_key_names_its_closest_argument(tmp_path: Path) -> None:
    """The keys of a benchmark without a schema are its constructor's arguments: a typo gets evalkit's
    "did you mean" before anything loads, not Hydra's `+dataset.key` advice and then a TypeError."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(DOTS), os.environ.get("PYTHONPATH", "")])}
    searchpath = f"hydra.searchpath=[file://{DOTS / 'conf'}]"
    for typo in ("dataset.n_image=3", "+dataset.n_image=3"):
        done = subprocess.run([sys.executable, "-m", "evalkit", "dataset=dots", searchpath, typo], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 2, done.stderr[-2000:]
        assert "unknown config key 'dataset.n_image' (did you mean dataset.n_images?)" in done.stderr
        assert "n_images, name, parse_rule, question_suffix, seed" in done.stderr and "TypeError" not in done.stderr
    assert not (tmp_path / "results").exists()

    # The same check when the typo is in the yaml itself (the run builds the adapter from it).
    from omegaconf import OmegaConf

    from evalkit.errors import ConfigError
    from evalkit.items import load_items

    sys.path.insert(0, str(DOTS))
    try:
        node = OmegaConf.create({"_target_": "dots.DotsBenchmark", "name": "dots", "n_imags": 2, "seed": 7,
                                 "question_suffix": ""})
        with pytest.raises(ConfigError, match="did you mean dataset.n_images"):
            load_items(node, limit=None)
    finally:
        sys.path.remove(str(DOTS))


BLIND = REPO / "docs" / "examples" / "blind"


def test_own_model_wrapper_answers_from_the_question_alone(tmp_path: Path) -> None:
    """Example 3: a model class of the user's own (LLaVA on a blank image) through the CLI."""
    assert _files(BLIND) == ["blind.py", "conf/model/blind_tiny_llava15.yaml"]
    out = tmp_path / "blind"
    run(["evalkit", "model=blind_tiny_llava15", f"hydra.searchpath=[file://{BLIND / 'conf'}]", f"output_dir={out}",
         "limit=96", "progress=false"], cwd=tmp_path, pythonpath=BLIND)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"]["image"].startswith("blank") and summary["model"]["name"] == "blind_tiny_llava15"
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    by_question: dict[str, list[float]] = {}
    for row in rows:
        by_question.setdefault(row["question"], []).append(row["p_yes"])
    # Padded to a square, every blank image is the same picture: P(yes) depends on the question only.
    assert len(by_question) < len(rows)
    for question, p_yes in by_question.items():
        assert max(p_yes) - min(p_yes) < 1e-4, question


SWATCHES = REPO / "docs" / "examples" / "swatches"


def test_own_multiple_choice_benchmark_with_the_core_task(tmp_path: Path, tiny_letters_checkpoint) -> None:
    """Example 4: one module + one yaml using evalkit.tasks.choice as it is (no annotate, no metrics
    of its own), generated and scored by letters, and two runs compared with paired statistics.
    The model is a tiny LLaVA-1.5 built from config, whose tokenizer has the option letters as
    tokens (the shipped tiny checkpoints' does not: choice_logits refuses them, naming why)."""
    assert _files(SWATCHES) == ["conf/dataset/swatches.yaml", "swatches.py"]
    searchpath = f"hydra.searchpath=[file://{SWATCHES / 'conf'}]"
    runs = {}
    for decoding in ("greedy", "choice_logits"):
        runs[decoding] = tmp_path / decoding
        run(["evalkit", "dataset=swatches", searchpath, f"decoding={decoding}", f"output_dir={runs[decoding]}",
             f"model.path={tiny_letters_checkpoint}",
             "decoding.max_new_tokens=4" if decoding == "greedy" else "batch_size=4", "progress=false"],
            cwd=tmp_path, pythonpath=SWATCHES)
    rows = [json.loads(line) for line in (runs["choice_logits"] / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(r["text"] in r["meta"]["options"] for r in rows)  # always a letter
    assert all(abs(sum(r["option_probs"].values()) - 1) < 1e-5 for r in rows)
    summary = json.loads((runs["choice_logits"] / "summary.json").read_text())["metrics"]
    assert {"accuracy", "accuracy_stderr", "choice_ece", "choice_brier"} <= set(summary)
    assert summary["rules"] == {"choice": "letter"}
    compared = run(["evalkit.report", "compare", str(runs["greedy"]), str(runs["choice_logits"]), "--trust", "swatches"],
                   cwd=tmp_path, pythonpath=SWATCHES).stdout
    assert "accuracy" in compared and "McNemar exact p" in compared and "8 paired items" in compared


TALLIES = REPO / "docs" / "examples" / "tallies"


# Slow tier (about 20 s on CI: three CLI processes): the same pattern as the multiple-choice example above,
# which the default tier runs; the short-answer scoring itself is tested in tests/unit.
@pytest.mark.slow
def test_own_short_answer_benchmark_with_the_core_task(tmp_path: Path) -> None:
    """Example 5: one module + one yaml using evalkit.tasks.short_answer as it is, two runs (greedy,
    sampled) scored with VQA-style soft accuracy and compared: a bootstrap CI of the mean score,
    and no McNemar line (the scores are not 0/1)."""
    assert _files(TALLIES) == ["conf/dataset/tallies.yaml", "tallies.py"]
    searchpath = f"hydra.searchpath=[file://{TALLIES / 'conf'}]"
    runs = {}
    for decoding in ("greedy", "sample"):
        runs[decoding] = tmp_path / decoding
        extra = ["decoding.temperature=1.0"] if decoding == "sample" else []
        run(["evalkit", "dataset=tallies", searchpath, f"decoding={decoding}", f"output_dir={runs[decoding]}",
             "decoding.max_new_tokens=6", "progress=false", *extra], cwd=tmp_path, pythonpath=TALLIES)
    rows = [json.loads(line) for line in (runs["greedy"] / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(set(r["meta"]["answers"]) == {r["answer"], ["zero", "one", "two", "three", "four",
                                                                                "five"][int(r["answer"])]} for r in rows)
    summary = json.loads((runs["greedy"] / "summary.json").read_text())["metrics"]
    assert "tally_accuracy" in summary and "tally_accuracy_stderr" in summary
    compared = run(["evalkit.report", "compare", str(runs["greedy"]), str(runs["sample"]), "--trust", "tallies"],
                   cwd=tmp_path, pythonpath=TALLIES).stdout
    assert "8 paired items" in compared and "accuracy" in compared and "CI [" in compared
    assert "McNemar" not in compared
