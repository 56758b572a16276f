"""SEED-Bench (Li et al. 2023), image questions, as LLaVA runs and scores it (seed_metrics).

Files (LLaVA's Evaluation.md layout `playground/data/eval/seed_bench`, `dataset.path=` that folder):
`SEED-Bench.json` (the official questions: question_id, choice_a-d, answer, question_type_id,
data_type, data_id), LLaVA's `llava-seed-bench.jsonl` (question_id, image, text: the prompt
model_vqa_loader.py sends; optional: without it the same "question\\nA. ...\\nD. ...\\nAnswer with
the option's letter from the given choices directly." prompt is built) and the images under
`SEED-Bench-image/` (video questions: LLaVA's middle frames under `SEED-Bench-video-image/`);
or the hub dataset `lmms-lab/SEED-Bench` (or a local copy): its image questions.
Score: convert_seed_for_submission.py (exact text = letter) per question type; the headline is
its "Total accuracy" over the questions run (LLaVA's published SEED column runs the image and the
video questions: `dataset.data_types=[image,video]`), its "image accuracy" beside it. The upload file: `python -m
datasets_adapters.seed_submit`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pandas as pd

from datasets_adapters import seed_metrics as S
from datasets_adapters.hub import hf_tables, image_ref, looks_like_hub_id
from datasets_adapters.lmms_logs import doc_field, lmms_samples
from evalkit.benchmark import Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.fileio import JsonlError, read_jsonl
from evalkit.scoring.importers import PredictionImportError
from evalkit.scoring.score_metrics import score_counts
from evalkit.tasks.choice import ChoiceTask, choice_prompt, option_calibration, read_lenient, read_letter
from evalkit.types import Item

DATA_TYPES = ("image", "video")
# SEED-Bench.json's question_type (name -> id), for the hub copy, which carries the ids only.
HUB_TYPE_NAMES = {1: "Scene Understanding", 2: "Instance Identity", 3: "Instance Attributes", 4: "Instance Location",
                  5: "Instances Counting", 6: "Spatial Relation", 7: "Instance Interaction", 8: "Visual Reasoning",
                  9: "Text Understanding", 10: "Action Recognition", 11: "Action Prediction",
                  12: "Procedure Understanding"}
QUESTION_KEYS = ("question_id", "question", "choice_a", "choice_b", "choice_c", "choice_d", "answer",
                 "question_type_id", "data_type", "data_id")


@dataclass
class SeedBenchConfig(DatasetConfig):
    _target_: str = "datasets_adapters.seed_bench.SeedBenchDataset"
    name: str = "seed_bench"
    # SEED-Bench.json [, llava-seed-bench.jsonl], the images; or the hub lmms-lab/SEED-Bench / a local copy
    path: str = "playground/data/eval/seed_bench"
    data_types: List[str] = field(default_factory=lambda: ["image"])  # video: LLaVA's middle frames
    question_suffix: str = ""  # the instruction is part of LLaVA's prompt

    def __post_init__(self):
        self.data_types = check_choice("dataset.data_types", self.data_types, DATA_TYPES, many=True)


def read_seed_json(path: Path) -> tuple[list[dict], dict[int, str]]:
    """SEED-Bench.json's questions (checked) and its question-type names by id."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (SEED-Bench.json, from SEED-Bench's DATASET.md)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        questions, types = data["questions"], data["question_type"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DatasetError(f"{path}: not SEED-Bench.json (questions, question_type): {exc}") from None
    for n, q in enumerate(questions, 1):
        missing = [k for k in QUESTION_KEYS if k not in q]
        if missing:
            raise DatasetError(f"{path}: question {n} (question_id {q.get('question_id')!r}) lacks {missing}")
    return questions, {int(v): k for k, v in types.items()}


def seed_meta(question: dict, type_names: dict[int, str]) -> dict[str, Any]:
    options = {letter: str(question[f"choice_{letter.lower()}"]) for letter in "ABCD"}
    type_id = int(question["question_type_id"])
    return {"options": options, "question_type_id": type_id, "question_type": type_names.get(type_id, str(type_id)),
            "data_type": question["data_type"], "question_id": question["question_id"]}


# ------------------------------------------------------------------------------------------ task

def import_llava_answers(records: Any, questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """LLaVA's merged answers (question_id, prompt, text) with --questions SEED-Bench.json: a row
    per SEED-Bench question (an unanswered one counts as wrong; LLaVA's script stops there); or
    lmms-eval's seedbench samples (the question in `doc`; type names from --questions when given)."""
    samples = lmms_samples(records)
    if samples is not None:
        names = read_seed_json(Path(questions[0]))[1] if questions else {}
        rows = []
        for _, doc, text in samples:
            where = f"{path}: question_id {doc.get('question_id')}"
            q = {k: doc_field(doc, k, where, PredictionImportError) for k in
                 ("question_id", "answer", "question_type_id", "data_type", "choice_a", "choice_b", "choice_c", "choice_d")}
            meta = seed_meta(q, names)
            rows.append({"id": str(q["question_id"]), "task": "seed_bench", "question": str(doc.get("question", "")),
                         "answer": str(q["answer"]), "category": meta["question_type"], "group": str(doc.get("data_id", "")),
                         "prediction": text, "meta": meta})
        return rows
    if not isinstance(records, list):
        return None
    columns = set().union(*(r.keys() for r in records))
    if not {"question_id", "text"} <= columns or "answer" in columns or not questions:
        return None
    try:
        seed, names = read_seed_json(Path(questions[0]))
    except DatasetError as exc:
        raise PredictionImportError(str(exc)) from None
    texts = {str(r["question_id"]): r for r in records}
    known = {str(q["question_id"]) for q in seed}
    unknown = sorted(set(texts) - known)
    if unknown:
        raise PredictionImportError(f"{path}: {len(unknown)} question_id(s) not in {questions[0]}, e.g. {unknown[:5]}")
    rows = []
    for q in seed:
        answer = texts.get(str(q["question_id"]))
        meta = seed_meta(q, names)
        rows.append({"id": str(q["question_id"]), "task": "seed_bench", "question": str(q["question"]),
                     "answer": str(q["answer"]), "category": meta["question_type"], "group": str(q["data_id"]),
                     "prediction": answer.get("text") if answer else None,
                     "prompt": answer.get("prompt") if answer else None, "meta": meta})
    return rows


class SeedBenchTask(ChoiceTask):
    """SEED-Bench: LLaVA's exact-text rule, accuracy per question type, image accuracy first."""

    name = "seed_bench"
    rules = {"exact": S.exact_text, "letter": read_letter, "lenient": read_lenient}
    official_rule = "exact"
    headline = (Headline("seed_accuracy"), Headline("seed_image_accuracy"))
    summary_rows = frozenset({S.TOTAL})
    note = "SEED-Bench: LLaVA's convert_seed_for_submission.py rule: the answer text must be the letter itself"
    imports = ImportRules(own_format="llava_seed_answers", own_rows=import_llava_answers)

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        meta = rows["meta"].map(lambda m: m if isinstance(m, dict) else {})
        type_ids = meta.map(lambda m: int(m.get("question_type_id", -1)))
        names = dict(zip(type_ids, meta.map(lambda m: m.get("question_type", ""))))
        table = [{"category": names[t], **score_counts(rows[type_ids == t])} for t in sorted(set(type_ids))]
        table.append({"category": S.TOTAL, **score_counts(rows)})
        image = rows[meta.map(lambda m: m.get("data_type") == "image")]
        image_counts, all_counts = score_counts(image), score_counts(rows)
        headline = {"seed_image_accuracy": image_counts["accuracy"],
                    "seed_image_accuracy_stderr": image_counts["accuracy_stderr"],
                    "seed_accuracy": all_counts["accuracy"], "seed_accuracy_stderr": all_counts["accuracy_stderr"]}
        calibration = option_calibration(rows)
        if calibration["n_probs"]:
            headline.update(choice_ece=calibration["ece"], choice_brier=calibration["brier"])
        return TaskResult(pd.DataFrame(table), headline)


SEED_BENCH = SeedBenchTask()


class SeedBenchDataset(Benchmark):
    schema = SeedBenchConfig
    tasks = (SEED_BENCH,)

    def __init__(self, **settings):
        super().__init__(**settings)  # SeedBenchConfig: path, data_types, question_suffix
        path, data_types = self.path, self.data_types
        self.root = Path(path).expanduser()
        self.hub = not (self.root / "SEED-Bench.json").is_file()
        if self.hub and not self.root.exists() and not looks_like_hub_id(path):
            raise DatasetError(f"dataset.path={path}: no such folder (the one holding SEED-Bench.json) and not a hub "
                               f"id like lmms-lab/SEED-Bench")
        if self.hub and self.root.is_dir() and not any(self.root.rglob("*.parquet")) \
                and not (self.root / "dataset_dict.json").is_file():
            raise DatasetError(f"dataset.path={path}: no SEED-Bench.json (LLaVA's seed_bench folder) and no copy of "
                               f"lmms-lab/SEED-Bench here")
        if self.hub and list(data_types) != ["image"]:
            raise DatasetError("dataset.data_types: the hub copy serves the image questions only (LLaVA asks video "
                               "questions with its own middle frames: use its seed_bench folder)")

    def _hub_items(self) -> list[Item]:
        """lmms-lab/SEED-Bench (split test): the image questions, their one image."""
        items = []
        for label, table in hf_tables(self.path, "test", "SEED-Bench"):
            missing = [k for k in (*QUESTION_KEYS, "image") if k not in table.column_names]
            if missing:
                raise DatasetError(f"{label}: missing column(s) {missing}")
            for q in table.to_pylist():
                if q["data_type"] != "image":
                    continue
                images = q["image"] if isinstance(q["image"], list) else [q["image"]]
                if len(images) != 1:
                    raise DatasetError(f"{label}: question {q['question_id']}: {len(images)} images for an image question")
                meta = seed_meta(q, HUB_TYPE_NAMES)
                items.append(Item(id=str(q["question_id"]), image=image_ref(images[0]), question=str(q["question"]),
                                  answer=str(q["answer"]), category=meta["question_type"], group=str(q["data_id"]),
                                  task=SEED_BENCH.name, prompt_question=choice_prompt(str(q["question"]), meta["options"])
                                  + self.question_suffix, meta=meta))
        if not items:
            raise DatasetError(f"dataset.path={self.path}: no image questions")
        return items

    def _llava_prompts(self) -> dict[str, dict]:
        path = self.root / "llava-seed-bench.jsonl"
        if not path.is_file():
            return {}
        try:
            rows = read_jsonl(path, torn_tail="error")
        except JsonlError as exc:
            raise DatasetError(str(exc)) from None
        for n, row in enumerate(rows, 1):
            if not {"question_id", "image", "text"} <= set(row):
                raise DatasetError(f"{path}: line {n}: needs question_id, image, text")
        return {str(r["question_id"]): r for r in rows}

    def load(self) -> list[Item]:
        if self.hub:
            return self._hub_items()
        questions, names = read_seed_json(self.root / "SEED-Bench.json")
        prompts = self._llava_prompts()
        items = []
        for q in questions:
            if q["data_type"] not in self.data_types:
                continue
            qid, meta = str(q["question_id"]), seed_meta(q, names)
            llava = prompts.get(qid)
            if llava is not None:
                image, prompt = self.root / str(llava["image"]), str(llava["text"])
            elif q["data_type"] == "image":
                image, prompt = self.root / "SEED-Bench-image" / str(q["data_id"]), choice_prompt(str(q["question"]), meta["options"])
            else:
                raise DatasetError(f"{self.root}: video question {qid}: LLaVA's llava-seed-bench.jsonl names its "
                                   "middle frame; put that file beside SEED-Bench.json")
            if not image.is_file():
                raise DatasetError(f"{self.root}: question {qid}: no image {image}")
            items.append(Item(id=qid, image=str(image), question=str(q["question"]), answer=str(q["answer"]),
                              category=meta["question_type"], group=str(q["data_id"]), task=SEED_BENCH.name,
                              prompt_question=prompt + self.question_suffix, meta=meta))
        if not items:
            raise DatasetError(f"{self.root}: no {self.data_types} questions in SEED-Bench.json")
        return items
