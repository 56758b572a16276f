"""Generic yes/no benchmark from a file: JSONL or CSV with columns `id, image, question, answer`
(+ optional `category`, `group`); image paths are relative to the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import MISSING

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.file_rows import as_text, optional_text, read_rows
from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.yesno import YESNO
from evalkit.types import Item

REQUIRED = ("id", "image", "question", "answer")
OPTIONAL = ("category", "group")
_YES = {"yes", "y", "true", "1"}
_NO = {"no", "n", "false", "0"}


@dataclass
class YesNoDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.yesno_files.YesNoFileDataset"
    name: str = "yesno"
    path: str = MISSING  # JSONL or CSV with id, image, question, answer [, category, group]



class YesNoFileDataset(Benchmark):
    schema = YesNoDatasetConfig
    tasks = (YESNO,)

    def __init__(self, path: str, **settings):
        super().__init__(path=path, **settings)  # the schema's: question_suffix (LLaVA's short-answer suffix)
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DatasetError(f"dataset.path={path}: no such file (expected a .jsonl or .csv yes/no file)")

    def load(self) -> list[Item]:
        # Read as written (ids "1", not "1.0"; no "nan"), every required field checked: file_rows.
        rows = read_rows(self.path, REQUIRED, OPTIONAL)
        items, seen = [], set()
        for row_no, row in rows:
            item_id = row["id"]
            if item_id in seen:
                raise DatasetError(f"{self.path}: row {row_no}: duplicate id {item_id!r}")
            seen.add(item_id)
            answer = str(row["answer"]).strip().lower()
            if answer not in _YES | _NO:
                raise DatasetError(f"{self.path}: row {row_no} (id {item_id}): answer {row['answer']!r} is not yes/no")
            question = as_text(row["question"])
            image = as_text(row["image"])
            items.append(
                Item(
                    id=item_id,
                    image=str(self.path.parent / image),
                    question=question,
                    answer="yes" if answer in _YES else "no",
                    category=optional_text(row.get("category")),
                    group=optional_text(row.get("group")),
                    task="yesno",
                    prompt_question=question + self.question_suffix,
                    meta={"image_file": image},
                )
            )
        return items
