"""Any multiple-choice file: JSONL or CSV with `id, image, question, answer` (an option letter),
the options as `options` (a list, or a {"A": text} mapping; in CSV a JSON list) or as columns
`A`-`E`, and optional `hint` and `category`. Image paths are relative to the file.

Prompt: LLaVA's multiple-choice prompt (evalkit.tasks.choice.choice_prompt): the hint first when
present, the question, "A. option" lines, then "Answer with the option's letter from the given
choices directly.". Scored by the generic ChoiceTask (`letter` rule; `lenient` for analysis).
A bad row stops the load before any model, naming the row, its id and the field
(`file_rows.read_rows`: values as written, unknown fields warned).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING

from datasets_adapters.file_rows import read_rows

from evalkit.benchmark import Benchmark
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.choice import CHOICE, LETTER_INSTRUCTION, LETTERS, choice_prompt
from evalkit.types import Item

REQUIRED = ("id", "image", "question", "answer")
OPTION_COLUMNS = ("A", "B", "C", "D", "E")
OPTIONAL = ("options", *OPTION_COLUMNS, "hint", "category")


@dataclass
class MCQDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mcq_files.MCQFileDataset"
    name: str = "mcq"
    path: str = MISSING  # JSONL or CSV: id, image, question, options (or A-E), answer [, hint, category]
    question_suffix: str = "\n" + LETTER_INSTRUCTION  # the line after the options


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def row_options(row: dict, where: str) -> dict[str, str]:
    """The row's options in letter order, from `options` or the A-E columns."""
    value = row.get("options")
    if not _blank(value):
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise DatasetError(f"{where}: field options: {value[:60]!r} is not a JSON list or object") from None
        if isinstance(value, dict):
            options = {str(k).strip(): str(v) for k, v in value.items()}
            if list(options) != list(LETTERS[:len(options)]):
                raise DatasetError(f"{where}: field options: keys must be A, B, C, ... in order, got {list(options)}")
        elif isinstance(value, list):
            options = {LETTERS[k]: str(v) for k, v in enumerate(value)}
        else:
            raise DatasetError(f"{where}: field options: expected a list or an object, got {type(value).__name__}")
    else:
        options = {}
        for letter in OPTION_COLUMNS:
            if _blank(row.get(letter)):
                break
            options[letter] = str(row[letter])
        later = [c for c in OPTION_COLUMNS[len(options) + 1:] if not _blank(row.get(c))]
        if later:
            raise DatasetError(f"{where}: field {later[0]}: an option after the empty option {OPTION_COLUMNS[len(options)]}")
    if len(options) < 2:
        raise DatasetError(f"{where}: field options: a multiple-choice row needs two or more options "
                           f"(an `options` list or columns A-E), got {len(options)}")
    return options


class MCQFileDataset(Benchmark):
    schema = MCQDatasetConfig
    tasks = (CHOICE,)

    def __init__(self, path: str, **settings):
        super().__init__(path=path, **settings)  # MCQDatasetConfig: path, question_suffix
        self.path = Path(path).expanduser()
        if not self.path.is_file():
            raise DatasetError(f"dataset.path={path}: no such file (expected a .jsonl or .csv multiple-choice file)")

    def load(self) -> list[Item]:
        items, seen = [], set()
        for row_no, row in read_rows(self.path, REQUIRED, OPTIONAL):
            where = f"{self.path}: row {row_no} (id {row.get('id')!r})"
            item_id = row["id"]
            if item_id in seen:
                raise DatasetError(f"{where}: field id: duplicate id")
            seen.add(item_id)
            options = row_options(row, where)
            answer = str(row["answer"]).strip()
            if answer not in options:
                raise DatasetError(f"{where}: field answer: {row['answer']!r} is not one of the option letters "
                                   f"{list(options)}")
            hint = None if _blank(row.get("hint")) else str(row["hint"])
            question = str(row["question"])
            items.append(Item(
                id=item_id, image=str(self.path.parent / str(row["image"])), question=question, answer=answer,
                category="" if _blank(row.get("category")) else str(row["category"]), task=CHOICE.name,
                prompt_question=choice_prompt(question, options, hint, instruction="") + self.question_suffix,
                meta={"options": options, "image_file": str(row["image"]), **({"hint": hint} if hint else {})}))
        return items
