"""Any short-answer file: JSONL or CSV with `id, image, question` and the human answers, as `answers`
(a list; in CSV a JSON list or `|`-separated) or one `answer` (+ optional `category`, `group`).
Image paths are relative to the file.

Scored with the VQA API's vqaEval.py accuracy where an item has several answers (ten, as VQAv2), and
with one answer as a match after vqaEval.py's processing of both sides (its leave-one-out accuracy
needs several answers; with k answers that all agree an item scores min((k-1)/3, 1), so give at least
four to let a right answer reach 1, ten as VQAv2 does); the model's text is read with EvalAI's
processor first, as LLaVA's VQA submissions are."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import MISSING

from datasets_adapters.vqa_common import most_common
from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.fileio import JsonlError, read_jsonl
from evalkit.tasks.short_answer import ShortAnswerTask
from evalkit.types import Item

REQUIRED = ("id", "image", "question")


@dataclass
class VQAFileDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.vqa_files.VQAFileDataset"
    name: str = "vqa"
    path: str = MISSING  # JSONL or CSV with id, image, question, answers (list) or answer [, category, group]


VQA_FILE = ShortAnswerTask("vqa", scoring="vqa_or_match", official_rule="evalai")


class VQAFileDataset(Benchmark):
    schema = VQAFileDatasetConfig
    tasks = (VQA_FILE,)

    def __init__(self, path: str, **settings):
        super().__init__(path=path, **settings)  # the schema's: question_suffix (LLaVA's short-answer suffix)
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DatasetError(f"dataset.path={path}: no such file (expected a .jsonl or .csv short-answer file)")

    def _read(self) -> list[dict]:
        suffix = self.path.suffix.lower()
        try:
            if suffix == ".csv":
                return pd.read_csv(self.path, dtype=str, keep_default_na=False).to_dict("records")
            if suffix in (".jsonl", ".json"):
                return read_jsonl(self.path, torn_tail="error")
        except JsonlError as exc:
            raise DatasetError(str(exc)) from exc
        except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
            raise DatasetError(f"{self.path}: cannot read ({type(exc).__name__}: {exc})") from exc
        raise DatasetError(f"{self.path}: unsupported file type {suffix!r}; use .jsonl or .csv")

    def load(self) -> list[Item]:
        items, seen = [], set()
        for row_no, row in enumerate(self._read(), 1):
            if not isinstance(row, dict):
                raise DatasetError(f"{self.path}: row {row_no}: expected an object, got {type(row).__name__}")
            missing = [c for c in REQUIRED if c not in row] + ([] if "answers" in row or "answer" in row
                                                              else ["answers (or answer)"])
            if missing:
                raise DatasetError(f"{self.path}: row {row_no} (id {row.get('id', '?')}): missing field(s) "
                                   f"{', '.join(missing)}")
            item_id = str(row["id"])
            if item_id in seen:
                raise DatasetError(f"{self.path}: row {row_no}: duplicate id {item_id!r}")
            seen.add(item_id)
            answers = self._answers(row, row_no, item_id)
            question = str(row["question"])
            items.append(Item(id=item_id, image=str(self.path.parent / str(row["image"])), question=question,
                              answer=most_common(answers), category=_text(row.get("category")),
                              group=_text(row.get("group")) or str(row["image"]), task="vqa",
                              prompt_question=question + self.question_suffix,
                              meta={"image_file": str(row["image"]), "answers": answers}))
        return items

    def _answers(self, row: dict, row_no: int, item_id: str) -> list[str]:
        field = "answers" if "answers" in row else "answer"
        value = row[field]
        if field == "answers" and isinstance(value, str):  # CSV: a JSON list or a|b|c
            text = value.strip()
            try:
                value = json.loads(text) if text.startswith("[") else text.split("|")
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{self.path}: row {row_no} (id {item_id}): field answers is not a JSON list "
                                   f"({exc.msg})") from exc
        answers = value if isinstance(value, list) else [value]
        if not answers or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in answers):
            raise DatasetError(f"{self.path}: row {row_no} (id {item_id}): field {field} must be a non-empty "
                               f"answer or list of answers, got {row[field]!r}")
        answers = [str(a) for a in answers]
        if not any(a.strip() for a in answers):
            raise DatasetError(f"{self.path}: row {row_no} (id {item_id}): field {field} is empty")
        return answers


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
