"""TextVQA (Singh et al.) val: questions that need reading the text in the image, ten human answers.

Sources in LLaVA's `playground/data/eval/textvqa` layout: `TextVQA_0.5.1_val.json` (the answers;
required), `llava_textvqa_val_v051_ocr.jsonl` (LLaVA's prompts: the question, "Reference OCR token: "
and the image's OCR tokens, LLaVA's suffix; optional) and `train_images/`. Without LLaVA's file the
same prompt is built from the OCR tokens of the val json records (`ocr_tokens`), or of
`dataset.ocr_file` (TextVQA's Rosetta OCR json) when the records lack them; `dataset.ocr_tokens=false`
asks the plain question. `dataset.path=lmms-lab/textvqa` (or a local copy) reads the same fields
and images through `datasets` instead.

Scored as LLaVA's llava/eval/eval_textvqa.py: each answer is joined to its annotation by (image id,
lower-cased question) — the last annotation wins where two share both, as its dict does — and scored
with m4c's TextVQAAccuracyEvaluator (EvalAI's processor on the prediction and the ten answers).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from datasets_adapters.hub import image_ref as encoded_image
from datasets_adapters.vqa_common import (answer_import, check_images, hub_rows, import_rows, is_hub_source,
                                          llava_question, most_common, read_answers, read_json, read_records, require,
                                          unique_ids)
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.short_answer import ShortAnswerTask
from evalkit.types import Item

ANNOTATIONS = "TextVQA_0.5.1_val.json"
LLAVA_FILE = "llava_textvqa_val_v051_ocr.jsonl"
OCR_PREFIX = "Reference OCR token: "


@dataclass
class TextVQADatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.textvqa.TextVQADataset"
    name: str = "textvqa"
    path: str = "playground/data/eval/textvqa"  # LLaVA's folder, or lmms-lab/textvqa (hub id or a local copy)
    annotations: Optional[str] = None  # default: <path>/TextVQA_0.5.1_val.json
    questions: Optional[str] = None  # LLaVA's prompt file; default: <path>/llava_textvqa_val_v051_ocr.jsonl if there
    image_dir: Optional[str] = None  # default: <path>/train_images (val images are in the train folder)
    ocr_tokens: bool = True  # LLaVA's prompt with the OCR tokens; false: the plain question
    ocr_file: Optional[str] = None  # TextVQA_Rosetta_OCR_v0.2_val.json, when the val records lack ocr_tokens



def prompt_question(prompt: str) -> str:
    """eval_textvqa.py's prompt_processor: the question of a LLaVA prompt, lower-cased."""
    if prompt.startswith("OCR tokens: "):
        match = re.search(r"Question: (.*?) Short answer:", prompt, re.DOTALL)
        if match is None:
            raise DatasetError(f"prompt {prompt[:80]!r}: 'OCR tokens:' prompt without 'Question: ... Short answer:'")
        question = match.group(1)
    elif OCR_PREFIX in prompt and len(prompt.split("\n")) == 3:
        question = prompt.split("\n")[1] if prompt.startswith("Reference OCR token:") else prompt.split("\n")[0]
    elif len(prompt.split("\n")) == 2:
        question = prompt.split("\n")[0]
    else:  # eval_textvqa.py asserts here
        raise DatasetError(f"prompt {prompt[:80]!r}: not a LLaVA TextVQA prompt (question, OCR tokens, suffix lines)")
    return question.lower()


def load_annotations(path: Path) -> list[dict]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DatasetError(f"{path}: not TextVQA's val json (an object with 'data')")
    for i, r in enumerate(data["data"]):
        require(f"{path}[data][{i}]", r, ("question_id", "image_id", "question", "answers"), "TextVQA")
        if not isinstance(r["answers"], list) or len(r["answers"]) != 10:
            raise DatasetError(f"{path}[data][{i}] (question_id {r['question_id']}): 'answers' must list the 10 "
                               "human answers (m4c's evaluator asserts it)")
    return data["data"]


def by_image_question(annotations: Sequence[dict]) -> dict[tuple[Any, str], dict]:
    """eval_textvqa.py's index: (image_id, question.lower()) -> annotation, the last one winning."""
    return {(a["image_id"], a["question"].lower()): a for a in annotations}


def ocr_prompt(question: str, tokens: Sequence[str], suffix: str) -> str:
    """LLaVA's prompt: the question, the OCR tokens line when the image has any, the suffix."""
    if tokens:
        return f"{question}\n{OCR_PREFIX}{', '.join(map(str, tokens))}{suffix}"
    return question + suffix


def item_of(annotation: dict, prompt: str, image: str, image_dir: Optional[Path], item_id: str,
            image_ref: Any = None) -> Item:
    """An item of one annotation; `image` names the file, `image_ref` (HF rows) is the encoded image."""
    source = image_ref if image_ref is not None else str(image_dir / image) if image_dir else image
    return Item(id=item_id, image=source, question=annotation["question"],
                answer=most_common_answer(annotation["answers"]), category=str(annotation.get("set_name", "val")),
                group=str(annotation["image_id"]), task="textvqa", prompt_question=prompt,
                meta={"question_id": annotation["question_id"], "image_id": annotation["image_id"], "image": image,
                      "answers": [str(a) for a in annotation["answers"]]})


def most_common_answer(answers: Sequence[str]) -> str:
    return most_common([str(a) for a in answers])


def _own_rows(records, questions, path, annotations=None):
    """LLaVA's answer JSONL joined as eval_textvqa.py joins it; lmms-eval samples by question_id."""
    if annotations is None:
        raise DatasetError(f"{path}: TextVQA answers are scored against --annotations {ANNOTATIONS}")
    table = load_annotations(Path(annotations))
    if records and {"id", "task", "answer"} <= set(records[0]):
        return None  # evalkit's predictions.jsonl: the generic importer
    rows = []
    if records and "doc" in records[0]:
        answers, _ = read_answers(records, path)
        items = [item_of(a, a["question"], f"{a['image_id']}.jpg", None, str(a["question_id"])) for a in table]
        return import_rows(items, answers, path)
    index = by_image_question(table)
    for n, r in enumerate(records):
        if not {"question_id", "prompt", "text"} <= set(r):
            return None  # not LLaVA's answer format
        annotation = index.get((r["question_id"], prompt_question(str(r["prompt"]))))
        if annotation is None:
            raise DatasetError(f"{path}: record {n} (question_id {r['question_id']!r}): no annotation with that image "
                               f"id and question in {annotations} (eval_textvqa.py would fail on it)")
        item = item_of(annotation, r["prompt"], f"{r['question_id']}.jpg", None, f"{r['question_id']}/{n}")
        rows.append({"id": item.id, "task": item.task, "question": item.question, "answer": item.answer,
                     "category": item.category, "group": item.group, "prediction": r["text"], "prompt": r["prompt"],
                     "meta": dict(item.meta)})
    if len(rows) < len(table):  # eval_textvqa.py scores what it is given; say that it is part of val
        warnings.warn(f"{path}: {len(rows)} answers for the {len(table)} questions of {annotations}: the accuracy "
                      "is over the answered questions only (as eval_textvqa.py computes it)", RuntimeWarning,
                      stacklevel=2)
    return rows


TEXTVQA = ShortAnswerTask("textvqa", scoring="m4c", official_rule="raw", rules=("raw",),
                          imports=ImportRules(own_format="textvqa answers (LLaVA jsonl, lmms-eval samples)",
                                              own_rows=answer_import(_own_rows)))


class TextVQADataset(Benchmark):
    schema = TextVQADatasetConfig
    tasks = (TEXTVQA,)

    def __init__(self, **settings):
        super().__init__(**settings)  # the schema's keys become attributes; files are found here
        path, annotations, questions, image_dir, ocr_file = (self.path, self.annotations, self.questions,
                                                             self.image_dir, self.ocr_file)
        self.path = Path(path).expanduser()
        self.hub = annotations is None and questions is None and is_hub_source(path)
        if self.hub:  # lmms-lab/textvqa: the val json's fields and the image in one table
            self.hub_path = path
            return
        self.annotations = Path(annotations).expanduser() if annotations else self.path / ANNOTATIONS
        if not self.annotations.is_file():
            raise DatasetError(f"dataset.annotations: no such file {self.annotations} (TextVQA's {ANNOTATIONS})")
        default_questions = self.path / LLAVA_FILE
        self.questions = Path(questions).expanduser() if questions else (
            default_questions if default_questions.is_file() else None)
        if self.questions is not None and not self.questions.is_file():
            raise DatasetError(f"dataset.questions={questions}: no such file")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.path / "train_images"
        if not self.image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder (TextVQA's train_images)")
        self.ocr_file = Path(ocr_file).expanduser() if ocr_file else None
        if self.ocr_file is not None and not self.ocr_file.is_file():
            raise DatasetError(f"dataset.ocr_file={ocr_file}: no such file")

    def load(self) -> list[Item]:
        if self.hub:
            rows = hub_rows(self.hub_path, "validation", "textvqa",
                            ("question_id", "image_id", "question", "answers", "image"), ("ocr_tokens", "set_name"))
            for r in rows:
                if not isinstance(r["answers"], list) or len(r["answers"]) != 10:
                    raise DatasetError(f"{self.hub_path}: question_id {r['question_id']}: 'answers' must list the 10 "
                                       "human answers")
            return unique_ids([item_of(r, ocr_prompt(r["question"], (r.get("ocr_tokens") or ()) if self.ocr_tokens
                                                     else (), self.question_suffix), f"{r['image_id']}.jpg", None,
                                       str(r["question_id"]), encoded_image(r["image"])) for r in rows], self.hub_path)
        table = load_annotations(self.annotations)
        items = self._from_llava_file(table) if self.questions else self._from_annotations(table)
        check_images(self.image_dir, [i.meta["image"] for i in items], str(self.questions or self.annotations))
        return unique_ids(items, str(self.questions or self.annotations))

    def _from_llava_file(self, table: list[dict]) -> list[Item]:
        index = by_image_question(table)
        items = []
        for n, (origin, r) in enumerate(read_records(self.questions)):
            require(origin, r, ("question_id", "image", "text"), "LLaVA question")
            annotation = index.get((r["question_id"], prompt_question(str(r["text"]))))
            if annotation is None:
                raise DatasetError(f"{origin}: no annotation in {self.annotations} for image {r['question_id']!r} "
                                   f"and question {llava_question(r['text'])!r}")
            prompt = str(r["text"]) if self.ocr_tokens else llava_question(r["text"]) + self.question_suffix
            items.append(item_of(annotation, prompt, str(r["image"]), self.image_dir, f"{r['question_id']}/{n}"))
        return items

    def _from_annotations(self, table: list[dict]) -> list[Item]:
        ocr = self._ocr_tokens(table) if self.ocr_tokens else {}
        items = []
        for a in table:
            tokens = (a["ocr_tokens"] if "ocr_tokens" in a else ocr.get(a["image_id"], ())) if self.ocr_tokens else ()
            items.append(item_of(a, ocr_prompt(a["question"], tokens, self.question_suffix), f"{a['image_id']}.jpg",
                                 self.image_dir, str(a["question_id"])))
        return items

    def _ocr_tokens(self, table: list[dict]) -> dict[Any, list]:
        """The OCR file's tokens by image, for records that lack their own `ocr_tokens`."""
        if all("ocr_tokens" in a for a in table):
            return {}
        if self.ocr_file is None:
            raise DatasetError(f"{self.annotations}: records without 'ocr_tokens' and no {LLAVA_FILE} in "
                               f"{self.path}: set dataset.ocr_file (TextVQA_Rosetta_OCR_v0.2_val.json), "
                               "give LLaVA's file, or dataset.ocr_tokens=false for the plain question")
        data = read_json(self.ocr_file)
        records = data.get("data") if isinstance(data, dict) else None
        if not isinstance(records, list):
            raise DatasetError(f"{self.ocr_file}: not a TextVQA OCR json (an object with 'data')")
        return {r["image_id"]: list(r.get("ocr_tokens", [])) for r in records if "image_id" in r}
