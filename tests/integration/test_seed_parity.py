"""SEED-Bench parity: evalkit's rule and table against LLaVA's
`scripts/convert_seed_for_submission.py` (tests/support/llava, Apache-2.0, c121f04), run on a
made-up SEED-Bench.json (image and video questions, 9 types) and an answer JSONL with tricky texts
(every question answered and each type of each data type right at least once: the script stops
with a KeyError otherwise); the script's upload file is compared too."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from datasets_adapters import seed_metrics as S

SCRIPT = Path(__file__).resolve().parents[1] / "support" / "llava" / "convert_seed_for_submission.py"
TYPES = {f"Type {k}": k for k in range(1, 10)}
TEXTS = ["A", "B", "C", "D", "A.", "(B)", "The answer is C.", "d", "", "猫", "A B", " A"]


def write_files(root: Path) -> tuple[Path, Path, list[dict]]:
    questions = [{"question_id": str(100 + n), "question": f"Q{n}?", "choice_a": "a", "choice_b": "b",
                  "choice_c": "c", "choice_d": "d", "answer": "ABCD"[n % 4], "question_type_id": 1 + n % 9,
                  "data_type": "image" if n % 7 else "video", "data_id": f"{n}.jpg"} for n in range(200)]
    annotation = root / "SEED-Bench.json"
    annotation.write_text(json.dumps({"question_type": TYPES, "questions": questions}))
    answers = [{"question_id": 100 + n, "prompt": "...",
                "text": questions[n]["answer"] if n % 2 == 0 else TEXTS[(n * 5) % len(TEXTS)].strip(),
                "answer_id": str(n), "model_id": "m", "metadata": {}} for n in range(200)]
    result = root / "merge.jsonl"
    result.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in answers))
    return annotation, result, questions


def test_table_and_upload_equal_llavas_script(tmp_path):
    annotation, result, questions = write_files(tmp_path)
    upload = tmp_path / "upload.jsonl"
    printed = subprocess.run([sys.executable, str(SCRIPT), "--annotation-file", str(annotation), "--result-file",
                              str(result), "--result-upload-file", str(upload)],
                             check=True, capture_output=True, text=True).stdout
    theirs = dict(re.findall(r"^(.+?): ([\d.]+)%$", printed, flags=re.M))
    texts = {a["question_id"]: a["text"] for a in map(json.loads, result.read_text().splitlines())}
    rows = pd.DataFrame([{"question_type_id": q["question_type_id"], "data_type": q["data_type"],
                          "correct": S.exact_text(texts.get(int(q["question_id"]))) == q["answer"]}
                         for q in questions])
    names = {v: k for k, v in TYPES.items()}
    everything = S.seed_table(rows, names).set_index("category")["accuracy"]
    image = S.seed_table(rows[rows["data_type"] == "image"], names).set_index("category")["accuracy"]
    video = S.seed_table(rows[rows["data_type"] == "video"], names).set_index("category")["accuracy"]
    pct = lambda v: f"{v * 100:.2f}"
    assert {k: pct(v) for k, v in everything.drop(S.TOTAL).items()} == {k: theirs[k] for k in TYPES}
    assert pct(everything[S.TOTAL]) == theirs["Total accuracy"]
    assert pct(image[S.TOTAL]) == theirs["image accuracy"] and pct(video[S.TOTAL]) == theirs["video accuracy"]
    assert 0 < image[S.TOTAL] < 1
    uploaded = [json.loads(line) for line in upload.read_text().splitlines()]
    assert uploaded == [{"question_id": q["question_id"], "prediction": texts[int(q["question_id"])]} for q in questions]


def test_rescoring_cli_and_upload_equal_llavas_script(tmp_path):
    from datasets_adapters import seed_submit
    from evalkit import score as score_cli

    annotation, result, questions = write_files(tmp_path)
    upload = tmp_path / "upload.jsonl"
    printed = subprocess.run([sys.executable, str(SCRIPT), "--annotation-file", str(annotation), "--result-file",
                              str(result), "--result-upload-file", str(upload)],
                             check=True, capture_output=True, text=True).stdout
    theirs = dict(re.findall(r"^(.+?): ([\d.]+)%$", printed, flags=re.M))
    out = tmp_path / "scores"
    assert score_cli.main(["--benchmark", "seed_bench", str(result), "--questions", str(annotation),
                           "--out", str(out)]) == 0
    metrics = json.loads((out / "summary.json").read_text())["metrics"]
    assert f"{metrics['seed_image_accuracy'] * 100:.2f}" == theirs["image accuracy"]
    assert f"{metrics['seed_accuracy'] * 100:.2f}" == theirs["Total accuracy"]
    table = pd.read_csv(out / "metrics.csv").set_index("category")
    assert {k: f"{table.loc[k, 'accuracy'] * 100:.2f}" for k in TYPES} == {k: theirs[k] for k in TYPES}
    ours = tmp_path / "ours.jsonl"
    assert seed_submit.main([str(out), "--questions", str(annotation), "--out", str(ours)]) == 0
    assert ours.read_text() == upload.read_text()


def test_loader_prompts_and_errors(tmp_path):
    from PIL import Image

    from datasets_adapters.seed_bench import SEED_BENCH, SeedBenchDataset
    from evalkit.errors import DatasetError

    annotation, _, questions = write_files(tmp_path)
    (tmp_path / "SEED-Bench-image").mkdir()
    for q in questions:
        if q["data_type"] == "image":
            Image.new("RGB", (4, 4)).save(tmp_path / "SEED-Bench-image" / q["data_id"])
    items = SeedBenchDataset(path=str(tmp_path)).load()
    assert len(items) == sum(q["data_type"] == "image" for q in questions)
    assert items[0].prompt_question == ("Q1?\nA. a\nB. b\nC. c\nD. d\n"
                                        "Answer with the option's letter from the given choices directly.")
    SEED_BENCH.check_item(items[0])
    llava = [{"question_id": q["question_id"], "image": f"SEED-Bench-image/{q['data_id']}", "text": f"LLaVA {q['question']}"}
             for q in questions if q["data_type"] == "image"]
    (tmp_path / "llava-seed-bench.jsonl").write_text("".join(json.dumps(r) + "\n" for r in llava))
    assert SeedBenchDataset(path=str(tmp_path)).load()[0].prompt_question == "LLaVA Q1?"
    with pytest.raises(DatasetError, match="video question"):
        SeedBenchDataset(path=str(tmp_path), data_types=["video"]).load()
    (tmp_path / "SEED-Bench-image" / questions[1]["data_id"]).unlink()
    with pytest.raises(DatasetError, match="question 101: no image"):
        SeedBenchDataset(path=str(tmp_path)).load()


def test_hub_copy_loads_the_image_questions(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq
    from PIL import Image

    from datasets_adapters.seed_bench import SeedBenchDataset
    from evalkit.errors import DatasetError

    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    image = {"bytes": buffer.getvalue(), "path": None}
    _, _, questions = write_files(tmp_path)
    rows = [{**q, "image": [image] if q["data_type"] == "image" else [image] * 8} for q in questions[:20]]
    (tmp_path / "hub").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hub" / "test-00000.parquet")
    items = SeedBenchDataset(path=str(tmp_path / "hub")).load()
    assert [i.id for i in items] == [q["question_id"] for q in questions[:20] if q["data_type"] == "image"]
    assert items[0].category == "Instance Identity" and items[0].prompt_question.startswith("Q1?\nA. a\n")
    with pytest.raises(DatasetError, match="image questions only"):
        SeedBenchDataset(path=str(tmp_path / "hub"), data_types=["image", "video"])
