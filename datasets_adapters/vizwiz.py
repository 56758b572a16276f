"""VizWiz-VQA (Gurari et al.): questions blind people asked about their photos, ten human answers,
"unanswerable" among them.

Sources in LLaVA's `playground/data/eval/vizwiz` layout: `llava_test.jsonl` (LLaVA's test prompts:
question, LLaVA's unanswerable instruction, its suffix) with `test/`; for val, VizWiz's `val.json`
(or `Annotations/val.json`) with `val/`. Prompts built from VizWiz's json add the same two lines.
`dataset.path=lmms-lab/VizWiz-VQA` (or a local copy) reads its val / test rows through `datasets`.

val is scored here: VQA accuracy (the VQA API's vqaEval.py) of the answer LLaVA's
convert_vizwiz_for_submission.py would upload (EvalAI's processor), "unanswerable" an answer like any
other, per answer type (yes/no, number, other, unanswerable). test has no answers: `python -m
evalkit.score RUN --submission FILE` writes the EvalAI upload as that script does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.hub import image_ref as encoded_image
from datasets_adapters.vqa_common import (answer_import, check_images, hub_rows, import_rows, is_hub_source,
                                          llava_question, most_common, read_answers, read_json, read_records,
                                          require, unique_ids)
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, EvalkitError, check_choice
from evalkit.scoring.vqa_answers import evalai_answer
from evalkit.tasks.short_answer import PROCESSED, ShortAnswerTask
from evalkit.types import Item

UNANSWERABLE = "\nWhen the provided information is insufficient, respond with 'Unanswerable'."
SPLITS = ("val", "test")


@dataclass
class VizWizDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.vizwiz.VizWizDataset"
    name: str = "vizwiz"
    path: str = "playground/data/eval/vizwiz"  # LLaVA's folder, or lmms-lab/VizWiz-VQA (hub id or a local copy)
    split: str = "val"  # val (scored here) | test (upload file via --submission)
    questions: Optional[str] = None  # LLaVA's jsonl (test: <path>/llava_test.jsonl) or VizWiz's <split>.json
    image_dir: Optional[str] = None  # default: <path>/<split>
    question_suffix: str = UNANSWERABLE + LLAVA_SHORT_ANSWER

    def __post_init__(self):
        check_choice("dataset.split", self.split, SPLITS)



def load_vizwiz(path: Path, suffix: str) -> list[Item]:
    """Items of a LLaVA jsonl (question_id, image, text) or of VizWiz's json (image, question, answers)."""
    items = []
    if path.suffix == ".jsonl":
        for origin, r in read_records(path):
            require(origin, r, ("question_id", "image", "text"), "LLaVA question")
            items.append(_item(r["question_id"], str(r["image"]), llava_question(r["text"]), str(r["text"]), None, []))
        return unique_ids(items, str(path))
    data = read_json(path)
    if not isinstance(data, list):
        raise DatasetError(f"{path}: not a VizWiz annotation json (a list of {{image, question, answers}})")
    for i, r in enumerate(data):
        require(f"{path}[{i}]", r, ("image", "question"), "VizWiz")
        answers = [a.get("answer") for a in r.get("answers", [])]
        if not all(isinstance(a, str) for a in answers):
            raise DatasetError(f"{path}[{i}] (image {r['image']}): 'answers' must be a list of {{answer: str}}")
        items.append(_item(i, str(r["image"]), str(r["question"]), str(r["question"]) + suffix,
                           r.get("answer_type"), answers))
    return unique_ids(items, str(path))


def _item(question_id: Any, image: str, question: str, prompt: str, answer_type: Optional[str],
          answers: list[str]) -> Item:
    return Item(id=image, image=image, question=question, answer=most_common(answers),
                category=str(answer_type or ""), group=image, task="vizwiz", prompt_question=prompt,
                meta={"question_id": question_id, "image": image, "answers": answers})


def with_answers(items: list[Item], annotations: Path, suffix: str) -> list[Item]:
    """LLaVA-file items given the answers of VizWiz's json for the same images."""
    truth = {i.meta["image"]: i for i in load_vizwiz(annotations, suffix)}
    missing = [i.meta["image"] for i in items if i.meta["image"] not in truth]
    if missing:
        raise DatasetError(f"{annotations}: no annotation for {len(missing)} image(s) of the questions, e.g. {missing[:3]}")
    return [Item(**{**i.__dict__, "answer": truth[i.meta["image"]].answer, "category": truth[i.meta["image"]].category,
                    "meta": {**i.meta, "answers": truth[i.meta["image"]].meta["answers"]}}) for i in items]


def _own_rows(records, questions, path, annotations=None):
    answers, fmt = read_answers(records, path)
    if len(questions) != 1:
        raise DatasetError(f"{path}: VizWiz answers are joined to one --questions file (LLaVA's jsonl, or "
                           "VizWiz's val.json for answers keyed by its position)")
    items = load_vizwiz(Path(questions[0]), VizWizDatasetConfig.question_suffix)
    if annotations is not None:
        items = with_answers(items, Path(annotations), VizWizDatasetConfig.question_suffix)
    scored = any(i.meta["answers"] for i in items)
    return import_rows(items, answers, path, partial=not scored)


class VizWizTask(ShortAnswerTask):
    def submission(self, rows: pd.DataFrame, questions: Sequence[Path]) -> list[dict]:
        """LLaVA's convert_vizwiz_for_submission.py: {image, answer} for every question, in file order."""
        results: dict[Any, str] = {}
        in_run: list[tuple[Any, str]] = []  # every row, error rows too: the upload needs them all
        for row in rows.to_dict("records"):
            meta = row.get("meta") or {}
            in_run.append((meta.get("question_id"), meta.get("image")))
            if isinstance(row.get("error"), str) and row["error"].strip():  # NaN / None: it ran
                continue
            text = row["text"] if isinstance(row["text"], str) else ""
            results[meta.get("question_id")] = text if meta.get(PROCESSED) else evalai_answer(text)
        order = [(i.meta["question_id"], i.meta["image"]) for q in questions for i in load_vizwiz(Path(q), "")] \
            if questions else in_run
        missing = [qid for qid, _ in order if qid not in results]
        if missing:  # the script asserts every question has an answer
            raise EvalkitError(f"{len(missing)} question(s) have no answer (or an error), e.g. {missing[:5]}; "
                               "LLaVA's convert_vizwiz_for_submission.py refuses that too")
        return [{"image": image, "answer": results[qid]} for qid, image in order]


VIZWIZ = VizWizTask("vizwiz", scoring="vqa", official_rule="evalai", category="answer_type",
                    note="vizwiz: VQA accuracy as vqaEval.py of the answers LLaVA's convert_vizwiz_for_submission.py "
                         "uploads (EvalAI's processor); per-item scores are fractions",
                    imports=ImportRules(own_format="vizwiz answers (LLaVA jsonl, VQA results, lmms-eval samples)",
                                        own_rows=answer_import(_own_rows)))


class VizWizDataset(Benchmark):
    schema = VizWizDatasetConfig
    tasks = (VIZWIZ,)

    def __init__(self, **settings):
        super().__init__(**settings)  # the schema's keys (split checked there) become attributes
        path, split, questions, image_dir = self.path, self.split, self.questions, self.image_dir
        self.path = Path(path).expanduser()
        self.hub = questions is None and is_hub_source(path)
        if self.hub:
            self.hub_path = path
            return
        candidates = [self.path / "llava_test.jsonl"] if split == "test" else []
        candidates += [self.path / f"{split}.json", self.path / "Annotations" / f"{split}.json"]
        self.questions = Path(questions).expanduser() if questions else next(
            (c for c in candidates if c.is_file()), None)
        if self.questions is None or not self.questions.is_file():
            raise DatasetError(f"dataset.path={path} split={split}: no question file (looked for "
                               f"{', '.join(str(c.relative_to(self.path)) for c in candidates)}; or set dataset.questions)")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.path / split
        if not self.image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder (VizWiz's {split} images)")

    def load(self) -> list[Item]:
        if self.hub:
            return self._hub_items()
        items = load_vizwiz(self.questions, self.question_suffix)
        if self.split == "val" and not any(i.meta["answers"] for i in items):
            raise DatasetError(f"{self.questions}: val questions without answers; give VizWiz's val.json")
        check_images(self.image_dir, [i.meta["image"] for i in items], str(self.questions))
        return [Item(**{**i.__dict__, "image": str(self.image_dir / i.meta["image"])}) for i in items]

    def _hub_items(self) -> list[Item]:
        """lmms-lab/VizWiz-VQA: question_id (the image's stem), question, answers (strings), image."""
        rows = hub_rows(self.hub_path, self.split, "VizWiz-VQA", ("question_id", "question", "image"),
                        ("answers", "answer_type", "category"))
        items = []
        for n, r in enumerate(rows):
            answers = [str(a) for a in r.get("answers") or []]
            item = _item(n, f"{r['question_id']}.jpg", str(r["question"]), str(r["question"]) + self.question_suffix,
                         r.get("answer_type") or r.get("category"), answers)
            items.append(Item(**{**item.__dict__, "image": encoded_image(r["image"])}))
        if self.split == "val" and not any(i.meta["answers"] for i in items):
            raise DatasetError(f"{self.hub_path}: the val rows have no answers")
        return unique_ids(items, self.hub_path)
