"""ScienceQA loader: LLaVA's layout, its prompt (from llava_test_CQM-A.json or built the same way
from problems.json), image questions only, and errors that name the file and problem."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from datasets_adapters.scienceqa import SCIENCEQA, ScienceQADataset, cqm_question
from evalkit.errors import DatasetError
from support.scienceqa_files import problem

INSTRUCTION = "\nAnswer with the option's letter from the given choices directly."


def write_folder(root, n=12, llava_file=True):
    problems = {str(i): problem(i) for i in range(1, n + 1)}
    (root / "problems.json").write_text(json.dumps(problems))
    (root / "pid_splits.json").write_text(json.dumps({"test": list(problems)}))
    for pid, p in problems.items():
        if p["image"]:
            (root / "images" / "test" / pid).mkdir(parents=True)
            Image.new("RGB", (8, 8)).save(root / "images" / "test" / pid / "image.png")
    if llava_file:
        entries = [{"id": pid, "image": f"{pid}/image.png",
                    "conversations": [{"from": "human", "value": f"<image>\nLLaVA says: {p['question']}"}]}
                   for pid, p in problems.items()]
        (root / "llava_test_CQM-A.json").write_text(json.dumps(entries))
    return problems


def test_items_are_the_image_questions_with_llavas_prompt(tmp_path):
    problems = write_folder(tmp_path)
    items = ScienceQADataset(path=str(tmp_path)).load()
    assert [i.id for i in items] == [pid for pid, p in problems.items() if p["image"]]
    first = items[0]
    assert first.prompt_question == f"LLaVA says: {problems[first.id]['question']}" + INSTRUCTION
    assert first.answer == "ABCDE"[problems[first.id]["answer"]]
    assert first.meta["options"] == {"ABCDE"[k]: c for k, c in enumerate(problems[first.id]["choices"])}
    for item in items:
        SCIENCEQA.check_item(item)
        assert SCIENCEQA.choices(item) == tuple(item.meta["options"])


def test_prompt_built_from_problems_without_llavas_file(tmp_path):
    problems = write_folder(tmp_path, llava_file=False)
    item = ScienceQADataset(path=str(tmp_path)).load()[1]
    p = problems[item.id]
    expected = (f"Context: {p['hint']}\n" if p["hint"] else "") + p["question"] + "\n" + "\n".join(
        f"{'ABCDE'[k]}. {c}" for k, c in enumerate(p["choices"]))
    assert cqm_question(p) == expected and item.prompt_question == expected + INSTRUCTION


def test_missing_files_fail_before_any_model(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        ScienceQADataset(path=str(tmp_path / "nope"))
    with pytest.raises(DatasetError, match="no problems.json"):
        ScienceQADataset(path=str(tmp_path))
    (tmp_path / "problems.json").write_text("{}")
    with pytest.raises(DatasetError, match="image folder"):
        ScienceQADataset(path=str(tmp_path))
    write_folder(tmp_path)
    (tmp_path / "images" / "test" / "1" / "image.png").unlink()
    with pytest.raises(DatasetError, match="problem 1: no image"):
        ScienceQADataset(path=str(tmp_path)).load()
    (tmp_path / "pid_splits.json").unlink()
    with pytest.raises(DatasetError, match="no pid_splits.json"):
        ScienceQADataset(path=str(tmp_path)).load()


def test_hub_copy_items_numbered_as_lmms_eval(tmp_path):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="PNG")
    rows = [{**problem(i), "image": {"bytes": buffer.getvalue(), "path": None} if i != 2 else None} for i in range(1, 5)]
    for row in rows:
        row.pop("split")
    (tmp_path / "ScienceQA-IMG").mkdir()
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "ScienceQA-IMG" / "test-00000.parquet")
    items = ScienceQADataset(path=str(tmp_path)).load()
    assert [i.id for i in items] == ["0", "2", "3"]  # row 1 has no image
    assert items[0].prompt_question == cqm_question(problem(1)) + INSTRUCTION and items[0].answer == "ABCDE"[problem(1)["answer"]]
    with pytest.raises(DatasetError, match="not a hub id"):
        ScienceQADataset(path=str(tmp_path / "x" / "y"))
