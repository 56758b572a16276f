"""Generic yes/no benchmark from a file: JSONL or CSV with columns `id, image, question, answer`
(+ optional `category`, `group`); image paths are relative to the file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import MISSING

from datasets_adapters import LLAVA_SHORT_ANSWER
from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.fileio import JsonlError, read_jsonl
from evalkit.tasks.yesno import YESNO
from evalkit.types import Item

REQUIRED = ("id", "image", "question", "answer")
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

    def __init__(self, path: str, question_suffix: str = LLAVA_SHORT_ANSWER):
        self.path = Path(path).expanduser()
        self.question_suffix = question_suffix
        if not self.path.is_file():
            raise DatasetError(f"dataset.path={path}: no such file (expected a .jsonl or .csv yes/no file)")

    def _read(self) -> pd.DataFrame:
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".csv":
                return pd.read_csv(self.path, dtype=str, keep_default_na=False)
            if suffix in (".jsonl", ".json"):
                return pd.DataFrame(read_jsonl(self.path, torn_tail="error"))  # nothing appends to a dataset
        except JsonlError as exc:
            raise DatasetError(str(exc)) from exc
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DatasetError(f"{self.path}: cannot read ({type(exc).__name__}: {exc})") from exc
        raise DatasetError(f"{self.path}: unsupported file type {suffix!r}; use .jsonl or .csv")

    def load(self) -> list[Item]:
        frame = self._read()
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise DatasetError(
                f"{self.path}: missing column(s) {', '.join(missing)}; found {', '.join(map(str, frame.columns))}"
            )
        items, seen = [], set()
        for row_no, row in enumerate(frame.to_dict("records"), 1):
            item_id = str(row["id"])
            if item_id in seen:
                raise DatasetError(f"{self.path}: row {row_no}: duplicate id {item_id!r}")
            seen.add(item_id)
            answer = str(row["answer"]).strip().lower()
            if answer not in _YES | _NO:
                raise DatasetError(f"{self.path}: row {row_no} (id {item_id}): answer {row['answer']!r} is not yes/no")
            question = str(row["question"])
            items.append(
                Item(
                    id=item_id,
                    image=str(self.path.parent / str(row["image"])),
                    question=question,
                    answer="yes" if answer in _YES else "no",
                    category=_text(row.get("category")),
                    group=_text(row.get("group")),
                    task="yesno",
                    prompt_question=question + self.question_suffix,
                    meta={"image_file": str(row["image"])},
                )
            )
        return items


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
