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

from omegaconf import MISSING

from datasets_adapters.file_rows import optional_text, read_rows
from datasets_adapters.vqa_common import most_common
from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.short_answer import ShortAnswerTask
from evalkit.types import Item

REQUIRED = ("id", "image", "question")
OPTIONAL = ("answers", "answer", "category", "group")


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

    def load(self) -> list[Item]:
        items, seen = [], set()
        for row_no, row in read_rows(self.path, REQUIRED, OPTIONAL):
            if "answers" not in row and "answer" not in row:
                raise DatasetError(f"{self.path}: row {row_no} (id {row['id']}): missing field answers (or answer)")
            item_id = row["id"]
            if item_id in seen:
                raise DatasetError(f"{self.path}: row {row_no}: duplicate id {item_id!r}")
            seen.add(item_id)
            answers = self._answers(row, row_no, item_id)
            question = str(row["question"])
            items.append(Item(id=item_id, image=str(self.path.parent / str(row["image"])), question=question,
                              answer=most_common(answers), category=optional_text(row.get("category")),
                              group=optional_text(row.get("group")) or str(row["image"]), task="vqa",
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
