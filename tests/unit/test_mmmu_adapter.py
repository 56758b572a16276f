"""MMMU loader: a local parquet copy in the hub dataset's columns, the prompt equal to the MMMU
repo's construct_prompt with its llava1.5.yaml (tests/support/mmmu, run here), image_1 only, the
multi-image / image-option counts, and errors before any model loads."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from datasets_adapters.mmmu import MMMU, MMMUDataset
from evalkit.errors import ConfigError, DatasetError

MMMU_DIR = Path(__file__).resolve().parents[1] / "support" / "mmmu"


def png() -> dict:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(buffer, format="PNG")
    return {"bytes": buffer.getvalue(), "path": None}


ROWS = [
    {"id": "validation_Art_1", "question": "<image 1> Which style?", "options": "['Baroque', 'Gothic', 'Rococo']",
     "answer": "B", "question_type": "multiple-choice", "image_1": png(), "image_2": None},
    {"id": "validation_Art_2", "question": "Compare <image 1> and <image 2>.", "options": "['A1', \"B's\"]",
     "answer": "A", "question_type": "multiple-choice", "image_1": png(), "image_2": png()},
    {"id": "validation_Math_3", "question": "What is x in <image 1>?", "options": "[]", "answer": "['24/7', '3.429']",
     "question_type": "open", "image_1": png(), "image_2": None},
    {"id": "validation_Math_1", "question": "Pick <image 1>", "options": "[\"<img='a.png'>\", \"<img='b.png'>\"]",
     "answer": "A", "question_type": "multiple-choice", "image_1": png(), "image_2": None},
    {"id": "dev_Art_1", "question": "dev", "options": "['x', 'y']", "answer": "A", "question_type": "multiple-choice",
     "image_1": png(), "image_2": None},
]


@pytest.fixture()
def local_copy(tmp_path):
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "validation-00000.parquet")
    return tmp_path


def official_prompt(row: dict) -> str:
    sys.path.insert(0, str(MMMU_DIR))
    try:
        from utils.data_utils import construct_prompt, load_yaml
    finally:
        sys.path.remove(str(MMMU_DIR))
    config = {k: v[0] for k, v in load_yaml(str(MMMU_DIR / "configs" / "llava1.5.yaml")).items()}
    return construct_prompt(dict(row), config)["final_input_prompt"]


def test_items_prompts_and_counts(local_copy):
    items = MMMUDataset(path=str(local_copy)).load()
    assert [i.id for i in items] == ["validation_Art_1", "validation_Art_2", "validation_Math_1", "validation_Math_3"]
    by_id = {i.id: i for i in items}
    for row in ROWS[:4]:
        assert by_id[row["id"]].prompt_question == official_prompt(row), row["id"]
    assert by_id["validation_Art_1"].meta["options"] == {"A": "Baroque", "B": "Gothic", "C": "Rococo"}
    assert by_id["validation_Math_3"].meta["gold"] == ["24/7", "3.429"]
    assert by_id["validation_Art_2"].meta["n_images"] == 2 and by_id["validation_Math_1"].meta["n_option_images"] == 2
    for item in items:
        MMMU.check_item(item)
    assert MMMU.choices(by_id["validation_Math_3"]) is None and MMMU.choices(by_id["validation_Art_1"]) == ("A", "B", "C")
    only_choice = MMMUDataset(path=str(local_copy), question_types=["multiple-choice"]).load()
    assert all(i.meta["question_type"] == "multiple-choice" for i in only_choice) and len(only_choice) == 3


def test_bad_config_and_files_fail_early(local_copy, tmp_path):
    with pytest.raises(ConfigError, match="dataset.subjects"):
        MMMUDataset(path=str(local_copy), subjects=["Astrology"])
    with pytest.raises(DatasetError, match="not a hub id"):
        MMMUDataset(path=str(tmp_path / "missing" / "dir"))
    bad = tmp_path / "bad"
    bad.mkdir()
    pq.write_table(pa.Table.from_pylist([{k: v for k, v in ROWS[0].items() if k != "options"}]), bad / "v.parquet")
    with pytest.raises(DatasetError, match="missing column"):
        MMMUDataset(path=str(bad)).load()
