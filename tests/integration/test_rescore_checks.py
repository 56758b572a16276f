"""Rescoring checks rows against the benchmark (unknown ids refused, missing ones counted and the
score marked partial), keeps a run's official numbers when another rule is asked for, and never
imports code a run directory names (evalkit.trust)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit import settings, trust
from evalkit.errors import DatasetError
from evalkit.score import main

sys.path.insert(0, str(Path(__file__).parent))
from test_rescore_cli import pope_labels, row, shapes_run, write_jsonl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
PLANTED = '''
import pathlib
pathlib.Path(__file__).with_name("RAN").write_text("planted code ran")
from evalkit.benchmark import Benchmark
from datasets_adapters.pope import POPE

class Planted(Benchmark):
    tasks = (POPE,)
'''


@pytest.fixture(autouse=True)
def _forget_trust():
    yield
    trust.reset()


# ---------------------------------------------------------------- rows checked against the benchmark

def test_rows_of_ids_the_benchmark_lacks_are_refused(tmp_path, capsys):
    run = shapes_run(tmp_path / "run")
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    made_up = [row(f"pope-made_up-{i}", "pope", "yes", "Yes", "made_up") for i in range(6)]
    write_jsonl(run / "predictions.jsonl", rows + made_up)  # a split POPE does not have, all correct
    assert main([str(run)]) == 2
    err = capsys.readouterr().err
    assert "pope-made_up-0" in err and "not items of the benchmark" in err
    assert not (run / "metrics.csv").exists()


def test_a_row_that_disagrees_with_its_item_is_refused(tmp_path, capsys):
    run = shapes_run(tmp_path / "run")
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    rows[0]["answer"] = "no" if rows[0]["answer"] == "yes" else "yes"
    write_jsonl(run / "predictions.jsonl", rows)
    assert main([str(run)]) == 2
    assert f"{rows[0]['id']} answer" in capsys.readouterr().err


def test_half_a_run_scores_as_partial(tmp_path, capsys):
    run = shapes_run(tmp_path / "run", keep=lambda rows: rows[::2])
    assert main([str(run)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("PARTIAL: 7 of 14 items")
    metrics = json.loads((run / "summary.json").read_text())["metrics"]
    assert metrics["partial"] is True and metrics["n_missing"] == 7 and metrics["n_expected"] == 14

    from evalkit.report.__main__ import main as report_main

    assert report_main([str(run), "--out", str(tmp_path / "report"), "--n-boot", "10"]) == 0
    board = pd.read_csv(tmp_path / "report" / "leaderboard.csv")
    assert board["n_missing"].tolist() == [7]
    assert "n_missing" in (tmp_path / "report" / "report.html").read_text()


def test_pope_file_scored_as_mme_fails(tmp_path, capsys):
    rows = [{"question_id": i, "category": split, "answer": "yes" if i % 2 else "no", "prediction": "Yes"}
            for i, split in enumerate(["random", "popular", "adversarial"] * 2)]
    path = write_jsonl(tmp_path / "pope_answers.jsonl", rows)
    assert main(["--benchmark", "mme", str(path)]) == 2
    assert "are not mme's" in capsys.readouterr().err
    assert main(["--benchmark", "pope", str(path)]) == 0


def test_llava_answers_missing_from_the_labels_are_counted(tmp_path):
    labels = pope_labels("random")
    qfile = write_jsonl(tmp_path / "coco_pope_random.json", labels)
    answers = [{"question_id": r["question_id"], "prompt": r["text"], "text": "Yes"} for r in labels[:4]]
    afile = write_jsonl(tmp_path / "answers.jsonl", answers)
    with pytest.warns(RuntimeWarning, match="no answer"):
        assert main(["--benchmark", "pope", str(afile), "--questions", str(qfile)]) == 0
    metrics = json.loads((tmp_path / "answers_scores" / "summary.json").read_text())["metrics"]
    assert (metrics["n_missing"], metrics["n_expected"], metrics["partial"]) == (2, 6, True)


# ------------------------------------------------------------------- other rules write beside the run

def test_another_rule_keeps_the_official_numbers(tmp_path):
    run = shapes_run(tmp_path / "run")
    assert main([str(run)]) == 0
    official = (run / "metrics.csv").read_text()
    assert main([str(run), "--rule", "strict"]) == 0
    assert (run / "metrics.csv").read_text() == official
    assert json.loads((run / "summary.json").read_text())["metrics"]["rule"] == "official"
    sibling = tmp_path / "run_strict"
    summary = json.loads((sibling / "summary.json").read_text())
    assert summary["metrics"]["rule"] == "strict" and summary["rescored_from"]["run_dir"] == str(run)
    assert (sibling / "predictions.jsonl").is_file() and (sibling / "config.yaml").is_file()
    assert main([str(sibling)]) == 0  # a run directory of its own

    assert main([str(run), "--out", str(tmp_path / "elsewhere")]) == 0  # --out works for run directories
    assert json.loads((tmp_path / "elsewhere" / "summary.json").read_text())["metrics"]["rule"] == "official"


# --------------------------------------------------------------------- no code from run directories

def _planted_run(folder: Path, target: str = "planted.Planted") -> Path:
    (folder / "planted.py").write_text(PLANTED)
    run = folder / "results" / "run"
    run.mkdir(parents=True)
    write_jsonl(run / "predictions.jsonl", [row("p1", "pope", "yes", "Yes", "random")])
    (run / "config.yaml").write_text(f"dataset:\n  _target_: {target}\n  name: planted\n"
                                     "decoding:\n  _target_: planted.Method\n")
    return run


def test_rescoring_a_run_directory_never_imports_a_planted_module(tmp_path):
    run = _planted_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-m", "evalkit.score", str(run)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2 and not (tmp_path / "RAN").exists()
    assert "planted.Planted" in result.stderr and "--trust planted" in result.stderr


def test_report_and_merge_never_import_a_planted_module(tmp_path, monkeypatch):
    run = _planted_run(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as `python -m` puts the current directory first
    from evalkit.merge import main as merge_main
    from evalkit.report.__main__ import main as report_main

    assert report_main([str(run), "--out", str(tmp_path / "report")]) == 2
    assert merge_main([str(run)]) == 2
    assert settings.method_of({"_target_": "planted.Method"}) is None  # report labels, resume
    assert not (tmp_path / "RAN").exists()


def test_a_module_the_user_trusts_is_imported(tmp_path, monkeypatch):
    run = _planted_run(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main([str(run), "--trust", "planted"]) == 0
    assert (tmp_path / "RAN").exists()
    sys.modules.pop("planted", None)


def test_merge_builds_nothing_before_it_is_a_benchmark(tmp_path, monkeypatch):
    from omegaconf import OmegaConf

    import evalkit.items as items

    monkeypatch.setattr(items, "build", lambda *a, **k: pytest.fail("instantiated before the check"))
    with pytest.raises(DatasetError, match="not an evalkit benchmark"):
        items.load_items(OmegaConf.create({"_target_": "pathlib.Path", "name": "x"}), None)
    run = _planted_run(tmp_path, target="pathlib.Path")
    from evalkit.merge import main as merge_main

    assert merge_main([str(run)]) == 2
