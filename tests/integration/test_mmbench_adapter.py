"""MMBench loader, rescoring CLI and submission file: the TSV read as LLaVA reads it (prompt of
model_vqa_mmbench.py, en and cn), `python -m evalkit.score --benchmark mmbench` on LLaVA answers
equal to VLMEvalKit's CircularEval / vanilla numbers (tests/support/vlmevalkit), and the test-split
.xlsx equal to what LLaVA's convert_mmbench_for_submission.py (tests/support/llava) writes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import mmbench_submit
from datasets_adapters.mmbench import MMBENCH, MMBenchDataset
from evalkit import score as score_cli
from evalkit.errors import ConfigError, DatasetError
from support.mmbench_files import predictions, question_rows
from support.vlmevalkit import mmbench_eval as V

LLAVA = Path(__file__).resolve().parents[1] / "support" / "llava"


def write_tsv(path: Path, table: pd.DataFrame) -> Path:
    table.to_csv(path, sep="\t", index=False)
    return path


def test_items_and_prompts(tmp_path):
    table = question_rows(6)
    items = MMBenchDataset(path=str(write_tsv(tmp_path / "dev.tsv", table))).load()
    assert len(items) == len(table) and items[0].id == "0"
    by_id = {i.id: i for i in items}
    # question 0: hint, 2 options; question 1: no hint (NaN in the TSV), 3 options; a rotated copy
    assert by_id["0"].prompt_question == ("Hint 0\nQuestion 0?\nA. option 0-0\nB. option 0-1\n"
                                          "Answer with the option's letter from the given choices directly.")
    assert by_id["1"].prompt_question == ("Question 1?\nA. option 1-0\nB. option 1-1\nC. option 1-2\n"
                                          "Answer with the option's letter from the given choices directly.")
    assert by_id["1000001"].meta["options"] == {"A": "option 1-1", "B": "option 1-2", "C": "option 1-0"}
    assert by_id["1000001"].group == "1" and by_id["1000001"].answer == "A"
    cn = MMBenchDataset(path=str(tmp_path / "dev.tsv"), lang="cn").load()[0]
    assert cn.prompt_question.endswith("\nB. option 0-1\n请直接回答选项字母。")
    for item in items:
        MMBENCH.check_item(item)


def test_bad_inputs_fail_before_any_model(tmp_path):
    with pytest.raises(DatasetError, match="not a hub id"):
        MMBenchDataset(path=str(tmp_path / "none" / "x.tsv"))
    with pytest.raises(ConfigError, match="dataset.lang"):
        MMBenchDataset(path="lmms-lab/MMBench", lang="fr")
    bad = question_rows(3)
    bad.loc[1, "answer"] = "D"
    with pytest.raises(DatasetError, match=r"index 1: answer 'D' is not one of its options"):
        MMBenchDataset(path=str(write_tsv(tmp_path / "bad.tsv", bad))).load()
    with pytest.raises(DatasetError, match="missing column"):
        MMBenchDataset(path=str(write_tsv(tmp_path / "cols.tsv", question_rows(2).drop(columns=["B"])))).load()


@pytest.mark.parametrize("chinese", [False, True])
def test_rescoring_llava_answers_equals_vlmevalkit(chinese, tmp_path):
    table = question_rows(chinese=chinese)
    tsv = write_tsv(tmp_path / "dev.tsv", table)
    preds = predictions(table)
    answers = tmp_path / "answers.jsonl"
    answers.write_text("".join(json.dumps({"question_id": int(i), "round_id": 0, "prompt": "...", "text": t.strip(),
                                           "answer_id": "x", "model_id": "m", "metadata": {}}, ensure_ascii=False) + "\n"
                               for i, t in zip(table["index"], preds)))
    out = tmp_path / "scores"
    assert score_cli.main(["--benchmark", "mmbench", str(answers), "--questions", str(tsv), "--out", str(out)]) == 0
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    data = table.drop(columns=["answer"]).assign(prediction=[t.strip() for t in preds])
    circular = V.report_acc(V.mcq_circular_eval(None, data.copy(), table, 1, str(tmp_path / "c.pkl"), "MMBench"))
    vanilla = V.report_acc(V.mcq_vanilla_eval(None, data[data["index"] < 1_000_000].copy(), table, 1,
                                              str(tmp_path / "v.pkl"), "MMBench"))
    assert metrics["mmbench_circular_accuracy"] == pytest.approx(float(circular["Overall"].iloc[0]))
    assert metrics["mmbench_vanilla_accuracy"] == pytest.approx(float(vanilla["Overall"].iloc[0]))
    csv = pd.read_csv(out / "metrics.csv").set_index("category")
    assert csv.loc["CP", "circular_accuracy"] == pytest.approx(float(circular["CP"].iloc[0]))
    assert csv.loc["ocr", "vanilla_accuracy"] == pytest.approx(float(vanilla["ocr"].iloc[0]))


def test_submission_xlsx_equals_llavas(tmp_path):
    pytest.importorskip("openpyxl", reason="the .xlsx needs openpyxl (the test extra)")
    table = question_rows(8).drop(columns=["answer"])
    tsv = write_tsv(tmp_path / "test.tsv", table)
    texts = {int(i): t.strip() for i, t in zip(table["index"], predictions(question_rows(8)))}
    (tmp_path / "answers").mkdir()
    (tmp_path / "answers" / "exp.jsonl").write_text(
        "".join(json.dumps({"question_id": i, "text": t}, ensure_ascii=False) + "\n" for i, t in texts.items()))
    subprocess.run([sys.executable, str(LLAVA / "convert_mmbench_for_submission.py"), "--annotation-file", str(tsv),
                    "--result-dir", str(tmp_path / "answers"), "--upload-dir", str(tmp_path), "--experiment", "exp"],
                   check=True, capture_output=True)
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions.jsonl").write_text("".join(json.dumps({"id": str(i), "task": "mmbench", "answer": "",
                                                               "text": t, "error": None}, ensure_ascii=False) + "\n"
                                                   for i, t in texts.items()))
    assert mmbench_submit.main([str(run), "--tsv", str(tsv), "--out", str(tmp_path / "ours.xlsx")]) == 0
    theirs, ours = pd.read_excel(tmp_path / "exp.xlsx"), pd.read_excel(tmp_path / "ours.xlsx")
    pd.testing.assert_frame_equal(ours, theirs)
    assert list(ours.columns)[6] == "prediction"


def test_report_compare_pairs_circular_questions(tmp_path):
    from evalkit.report.__main__ import main as report_main

    table = question_rows()
    tsv = write_tsv(tmp_path / "dev.tsv", table)
    runs = []
    for name, shift in (("a", 0), ("b", 1)):
        preds = predictions(table)
        if shift:  # run B answers every first copy with the right letter
            preds = [row.answer if row.index < 1_000_000 else p for row, p in zip(table.itertuples(), preds)]
        answers = tmp_path / f"{name}.jsonl"
        answers.write_text("".join(json.dumps({"question_id": int(i), "prompt": "", "text": t}) + "\n"
                                   for i, t in zip(table["index"], preds)))
        out = tmp_path / name
        assert score_cli.main(["--benchmark", "mmbench", str(answers), "--questions", str(tsv), "--out", str(out)]) == 0
        runs.append(json.loads((out / "summary.json").read_text())["metrics"])
    assert report_main(["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"),
                        "--n-boot", "200"]) == 0
    deltas = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["deltas"]
    for name in ("mmbench_circular_accuracy", "mmbench_vanilla_accuracy"):
        assert deltas[name]["delta"] == pytest.approx(runs[1][name] - runs[0][name])
    assert deltas["mmbench_vanilla_accuracy"]["delta"] > 0
