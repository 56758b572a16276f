"""score_predictions / read / write, importers (join by id), and the `python -m evalkit.score` CLI."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from evalkit.score import main
from evalkit.scoring.importers import detect_format, import_predictions
from datasets_adapters.mme import MME
from datasets_adapters.pope import POPE, POPEDataset
from evalkit.benchmark import Benchmark
from evalkit.scoring.scorer import read_predictions, score_predictions, write_scores
from evalkit.tasks.yesno import YESNO
from evalkit.types import PredictionRow

REPO = Path(__file__).resolve().parents[2]
# metrics.csv of a benchmark with several tasks: the tasks' columns, first appearance first (the
# yes/no columns, then MME's acc+ / score / pair counts, NaN on the other tasks' rows).
TIDY_COLUMNS = ["task", "category", "n", "n_correct", "accuracy", "precision", "recall", "f1", "yes_ratio", "tp", "fp",
                "tn", "fn", "n_other", "n_other_strict", "n_error", "acc_plus", "score", "n_groups", "n_bad_groups"]


class Mixed(Benchmark):
    """A benchmark of three yes/no tasks (composition: tasks are shared objects)."""

    tasks = (YESNO, MME, POPE)


def row(id: str, task: str, answer: str, text: str, category: str = "c", group: str = "",
        error: str | None = None) -> dict:
    return PredictionRow(id=id, task=task, question="q?", answer=answer, category=category, group=group,
                         prediction=" " + text + "\n", text=text, parsed="stale", correct=False,
                         error=error).to_json()


def mixed_rows() -> list[dict]:
    return [
        row("y1", "yesno", "yes", "Yes"), row("y2", "yesno", "no", "I think no"), row("y3", "yesno", "no", "No."),
        row("m1", "mme", "yes", "Yes", "existence", "i1"), row("m2", "mme", "no", "No", "existence", "i1"),
        row("m3", "mme", "yes", "yes", "code_reasoning", "i2"), row("m4", "mme", "no", "Yes", "code_reasoning", "i2"),
        row("p1", "pope", "yes", "Yes", "random"), row("p2", "pope", "no", "NO", "random"),
        row("p3", "pope", "yes", "", "popular", error="RuntimeError: CUDA OOM"),
        row("p4", "pope", "no", "No, there is not.", "popular"),
    ]


def test_score_predictions_mixed_tasks() -> None:
    scores = score_predictions(pd.DataFrame(mixed_rows()), Mixed)
    frame = scores.frame.set_index("id")
    assert frame.loc["y2", "parsed"] == "other"  # yesno uses the MME rule
    assert frame.loc["p2", "parsed"] == "yes"  # POPE rule: "NO" is yes
    assert frame.loc["p2", "strict"] == "no"
    assert frame.loc["p3", "parsed"] is None and not frame.loc["p3", "correct"]
    assert list(scores.metrics.columns) == TIDY_COLUMNS
    tidy = scores.metrics.set_index(["task", "category"])
    assert tidy.loc[("mme", "existence"), "score"] == pytest.approx(200.0)
    assert tidy.loc[("mme", "code_reasoning"), "score"] == pytest.approx(50.0)
    assert tidy.loc[("mme", "perception"), "score"] == pytest.approx(200.0)
    assert tidy.loc[("pope", "random"), "n_other_strict"] == 0
    assert tidy.loc[("pope", "popular"), "n_error"] == 1
    assert math.isnan(tidy.loc[("pope", "random"), "acc_plus"])  # NaN where not applicable
    h = scores.headline
    assert h["n_items"] == 11 and h["n_errors"] == 1 and h["rule"] == "official"
    assert h["mme_perception"] == pytest.approx(200.0) and h["mme_cognition"] == pytest.approx(50.0)
    assert h["rules"] == {"yesno": "mme", "mme": "mme", "pope": "pope"}
    assert "errors counted as wrong" in h["note"]
    # p: random tp1 fp1 -> P .5 R 1 F1 2/3; popular tp0 fp0 -> undefined -> mean NaN -> null
    assert h["pope_mean_f1"] is None and h["pope_pooled_f1"] == pytest.approx(2 * 0.5 * 0.5 / 1.0)
    json.dumps(h, allow_nan=False)  # strict JSON
    assert "pope" in scores.format() and "mme_perception" in scores.format()


def test_rule_override_and_bad_rule() -> None:
    scores = score_predictions(pd.DataFrame(mixed_rows()), Mixed, rule="strict")
    assert scores.frame.set_index("id").loc["p4", "parsed"] == "other"
    assert scores.headline["rule"] == "strict"
    with pytest.raises(ValueError, match="strict"):
        score_predictions(pd.DataFrame(mixed_rows()), Mixed, rule="loose")


def test_headline_only_has_what_applies() -> None:
    scores = score_predictions(pd.DataFrame([r for r in mixed_rows() if r["task"] == "yesno"]), Mixed)
    assert "pope_mean_f1" not in scores.headline and "mme_perception" not in scores.headline
    assert scores.headline["accuracy"] == pytest.approx(2 / 3)


def write_jsonl(path: Path, rows: list[dict], tail: str = "") -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + tail)
    return path


def test_read_predictions_torn_last_line_and_duplicates(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "predictions.jsonl", mixed_rows(), tail='{"id": "torn", "ta')
    with pytest.warns(RuntimeWarning, match="torn"):
        assert len(read_predictions(path)) == 11
    write_jsonl(path, mixed_rows() + [mixed_rows()[0]])
    with pytest.raises(ValueError, match="y1"):
        read_predictions(path)


def test_write_scores_merges_summary(tmp_path: Path) -> None:
    (tmp_path / "summary.json").write_text(json.dumps({"model": "x", "metrics": {"old": 1}}))
    write_scores(tmp_path, score_predictions(pd.DataFrame(mixed_rows()), Mixed))
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == "x" and "old" not in summary["metrics"] and summary["metrics"]["n_items"] == 11
    assert list(pd.read_csv(tmp_path / "metrics.csv").columns) == TIDY_COLUMNS


def shapes_run(folder: Path, keep=lambda rows: rows) -> Path:
    """A run directory of a small shapes run (MME- and POPE-style rows; its config names the
    benchmark and builds its items): the rows `keep` picks from one row per item."""
    from datasets_adapters.shapes import ShapesDataset

    folder.mkdir(parents=True, exist_ok=True)
    items = ShapesDataset(n_images=1).load()
    rows = [row(i.id, i.task, i.answer, "Yes" if n % 3 else "No", i.category, i.group) for n, i in enumerate(items)]
    write_jsonl(folder / "predictions.jsonl", keep(rows))
    (folder / "config.yaml").write_text("dataset:\n  _target_: datasets_adapters.shapes.ShapesDataset\n  name: shapes\n"
                                        "  n_images: 1\n")
    return folder


def test_cli_rescore_run_dir(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    shapes_run(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"n_items": 14}))
    assert main([str(tmp_path)]) == 0
    assert "existence" in capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n_items"] == 14 and summary["metrics"]["rule"] == "official"
    assert summary["metrics"]["n_missing"] == 0 and summary["metrics"]["partial"] is False
    assert json.loads((tmp_path / "predictions.jsonl").read_text().splitlines()[0])["parsed"] == "stale"


def test_cli_errors_exit_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main([str(tmp_path)]) == 2  # no predictions.jsonl
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"question_id": 1, "prediction": "Yes", "category": "random"}])
    assert main(["--benchmark", "pope", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert str(bad) in err and "answer" in err  # names the file and the missing column
    assert main(["--benchmark", "nope", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "unknown benchmark 'nope'" in err and "pope" in err and "yesno" in err  # lists the choices
    write_jsonl(tmp_path / "predictions.jsonl", mixed_rows())
    assert main([str(tmp_path)]) == 2  # no config.yaml: which benchmark scores it is unknown
    assert "which benchmark" in capsys.readouterr().err


def test_cli_simple_mme_file(tmp_path: Path) -> None:
    # lmms-lab/MME style: question_id is the image, shared by its two questions
    rows = [{"question_id": "artwork/1.jpg", "category": "artwork", "answer": "Yes", "prediction": "Yes"},
            {"question_id": "artwork/1.jpg", "category": "artwork", "answer": "No", "prediction": "No"},
            {"question_id": "OCR/2.jpg", "category": "OCR", "answer": "Yes", "prediction": "Yes"},
            {"question_id": "OCR/2.jpg", "category": "OCR", "answer": "No", "prediction": "Yes"}]
    path = write_jsonl(tmp_path / "mme_preds.jsonl", rows)
    assert main(["--benchmark", "mme", str(path)]) == 0
    out = tmp_path / "mme_preds_scores"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["mme_perception"] == pytest.approx(200 + 50)
    assert summary["source"]["format"] == "simple"
    assert main([str(out)]) == 0  # the output is a run directory: rescoring it works


def pope_labels(split: str, n_images: int = 3) -> list[dict]:
    rows, qid = [], 1
    for image in range(n_images):
        for obj, label in (("dog", "yes"), ("cat", "no")):
            rows.append({"question_id": qid, "image": f"img{image}.jpg", "text": f"Is there a {obj} in the image?",
                         "label": label})
            qid += 1
    return rows


def test_llava_answers_join_by_id_in_shuffled_order(tmp_path: Path) -> None:
    offsets = {"adversarial": 0, "random": 10_000_000}
    questions, answers, qfiles = [], [], []
    for split, offset in offsets.items():
        labels = pope_labels(split)
        qfiles.append(write_jsonl(tmp_path / f"coco_pope_{split}.json", labels))
        for label in labels:
            qid = label["question_id"] + offset
            questions.append({"question_id": qid, "image": label["image"], "category": split,
                              "text": label["text"] + "\nAnswer the question using a single word or phrase."})
            # adversarial answers all correct; random answers always "Yes"
            text = label["label"].capitalize() if split == "adversarial" else "Yes"
            answers.append({"question_id": qid, "prompt": questions[-1]["text"], "text": text})
    random.Random(0).shuffle(answers)
    qfile = write_jsonl(tmp_path / "llava_pope_test.jsonl", questions)
    afile = write_jsonl(tmp_path / "answers.jsonl", answers)
    frame, fmt = import_predictions(afile, POPEDataset, [qfile, *qfiles])
    assert fmt == "llava_answers" and len(frame) == 12
    table = score_predictions(frame, POPEDataset).tables["pope"].set_index("category")
    assert table.loc["adversarial", "f1"] == pytest.approx(1.0)
    assert table.loc["random", "f1"] == pytest.approx(2 * 0.5 / 1.5) and table.loc["random", "yes_ratio"] == 1.0

    # a label file of another version (different question at the same id) is refused, not mis-joined
    other = pope_labels("random")
    other[0]["text"] = "Is there a horse in the image?"
    write_jsonl(qfiles[1], other)
    with pytest.raises(ValueError, match="different image/question"):
        import_predictions(afile, POPEDataset, [qfile, *qfiles])


def test_llava_answers_need_questions(tmp_path: Path) -> None:
    afile = write_jsonl(tmp_path / "answers.jsonl", [{"question_id": 1, "prompt": "Is there?", "text": "Yes"}])
    with pytest.raises(ValueError, match="--questions"):
        import_predictions(afile, POPEDataset)


def test_lmms_eval_log(tmp_path: Path) -> None:
    rows = [{"doc_id": i, "doc": {"question_id": i + 1, "question": "Is there a dog in the image?",
                                  "answer": ans, "category": "adversarial", "image_source": f"img{i // 2}"},
             "target": ans, "resps": [[pred]], "filtered_resps": [pred]}
            for i, (ans, pred) in enumerate([("yes", "Yes."), ("no", "No"), ("yes", "No"), ("no", "no")])]
    path = write_jsonl(tmp_path / "samples_pope.jsonl", rows)
    frame, fmt = import_predictions(path, POPEDataset)
    assert fmt == "lmms_eval"
    table = score_predictions(frame, POPEDataset).tables["pope"].set_index("category")
    assert table.loc["adversarial", "accuracy"] == pytest.approx(0.75)
    assert table.loc["adversarial", "yes_ratio"] == pytest.approx(0.25)  # predictions, not ground truth


def test_detect_format_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="prediction"):
        detect_format([{"question_id": 1, "answer": "yes", "category": "x"}], "f.jsonl")


def test_module_entry_point(tmp_path: Path) -> None:
    shapes_run(tmp_path)
    done = subprocess.run([sys.executable, "-m", "evalkit.score", str(tmp_path)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "metrics.csv").is_file()
