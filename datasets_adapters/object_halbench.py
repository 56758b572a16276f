"""`object_halbench`: RLHF-V's Object HalBench (Yu et al. 2023; RLHF-V/RLHF-V), 300 COCO val2014
images with its prompts, scored with CHAIR as RLHF-V's keyword evaluation computes it (no judge):
Response Hall (CHAIRs_refine) and Object Hall (CHAIRi), lower is better, plus Object Recall, the
correct rates, Average Length and the counts that `summarize_gpt_obj_halbench_review.py` prints
(object_halbench_task.py).

Items: `dataset.path=` the official question file `eval/data/obj_halbench_300_with_image.jsonl`
(RLHF-V or RLAIF-V repository): one JSON object a line with `image_id` (COCO id), `question` (the
prompt, used verbatim, no suffix) and `image` (base64 JPEG, decoded per item; an image that does
not decode becomes an error row of the run). Item ids are the rows' 0-based positions, the key the
official scorer joins answers by (`org_data[i]`). Generation runs to the caption task's 512 new
tokens unless decoding.max_new_tokens is set.

Ground truth: COCO's instances + captions of train2014 and val2014 in `annotations`, merged as the
official CHAIR class does (chair_coco_truth, cached by content hash, built with RLHF-V's vocabulary).

With a judge (`judge=openai judge.model=...`, or `python -m evalkit.judge RUN_DIR judge=...` on a
finished run), RLHF-V's --use_gpt path instead (object_halbench_gpt): the judge extracts each
answer's objects, spaCy's `dataset.spacy_model` (en_core_web_trf) lemmatises them. Items carry
spacy_model and judge_fail_limit in their meta, so rescoring and the judge stage read them.

Rescoring RLHF-V-format answer files (`{question_id?, image_id?, prompt|question, text|answer}` a
line, what its muffin_vqa writes): `python -m evalkit.score --benchmark object_halbench ANSWERS.jsonl
--annotations COCO_ANNOTATION_DIR [--questions obj_halbench_300_with_image.jsonl]`; rows without
`image_id` take the image of the question file's row at the same position, as the official script does;
`--set spacy_model=NAME_OR_FOLDER` / `--set judge_fail_limit=N` give the judged path's settings.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from datasets_adapters import object_halbench_gpt as GPT
from datasets_adapters.chair_coco_truth import annotation_files, ground_truth
from datasets_adapters.object_halbench_task import ObjectHalBenchTask
from datasets_adapters.object_halbench_vocab import OBJHAL_VOCABULARY
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import ConfigError, DatasetError
from evalkit.fileio import JsonlError, jsonl_values
from evalkit.tasks.caption import objects_answer
from evalkit.types import Item

log = logging.getLogger("evalkit.object_halbench")
ANSWER_FORMAT = "rlhfv_answers"  # {question_id?, image_id?, prompt|question, text|answer} rows


@dataclass
class ObjectHalBenchConfig(DatasetConfig):
    _target_: str = "datasets_adapters.object_halbench.ObjectHalBenchDataset"
    name: str = "object_halbench"
    path: str = "obj_halbench/obj_halbench_300_with_image.jsonl"
    annotations: str = "coco/annotations"  # instances_{train,val}2014.json + captions_{train,val}2014.json
    question_suffix: str = ""  # the official prompts are used verbatim
    cache_dir: Optional[str] = None  # ground-truth cache (default ~/.cache/evalkit/chair_coco)
    # The judged (--use_gpt) path only: the spaCy pipeline that lemmatises the judge's objects (a package
    # name or a folder), and the unreadable replies after which an answer's extraction fails (official: 100).
    spacy_model: str = GPT.SPACY_MODEL
    judge_fail_limit: int = GPT.FAIL_LIMIT

    def __post_init__(self):
        if int(self.judge_fail_limit) < 1:
            raise ConfigError(f"dataset.judge_fail_limit={self.judge_fail_limit}: at least 1 request per answer")


JUDGE_SETTINGS = ("spacy_model", "judge_fail_limit")  # in every item's meta


def judge_settings(given: Optional[Any] = None) -> dict[str, Any]:
    """spacy_model and judge_fail_limit: the defaults, updated by `given` (a mapping)."""
    defaults = ObjectHalBenchConfig()
    out = {k: getattr(defaults, k) for k in JUDGE_SETTINGS}
    unknown = sorted(set(given or {}) - set(JUDGE_SETTINGS))
    if unknown:
        raise ConfigError(f"object_halbench: unknown setting(s) {unknown}; its settings: {', '.join(JUDGE_SETTINGS)}")
    out.update(dict(given or {}))
    try:
        out["judge_fail_limit"] = int(out["judge_fail_limit"])
    except (TypeError, ValueError):
        raise ConfigError(f"judge_fail_limit={out['judge_fail_limit']!r}: a whole number") from None
    if out["judge_fail_limit"] < 1:
        raise ConfigError(f"judge_fail_limit={out['judge_fail_limit']}: at least 1 request per answer")
    out["spacy_model"] = str(out["spacy_model"])
    return out


def read_questions(path: Path | str) -> list[dict]:
    """The question file's rows (`image_id` as int, `question`, `image` kept as written), in order;
    a row without them, or not a JSON object, fails naming the file and line."""
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"dataset.path={path}: cannot read the Object HalBench question file ({exc.strerror or exc})"
                           ) from None
    rows = []
    try:
        for line, row in jsonl_values(text, path, torn_tail="error"):
            where = f"{path}:{line}"
            if not isinstance(row, dict):
                raise DatasetError(f"{where}: expected a JSON object with image_id, question and image")
            missing = [k for k in ("image_id", "question") if k not in row]
            if missing:
                raise DatasetError(f"{where}: missing {', '.join(missing)} (an Object HalBench question row has "
                                   f"image_id, question and image)")
            try:
                image_id = int(row["image_id"])
            except (TypeError, ValueError):
                raise DatasetError(f"{where}: image_id {row['image_id']!r} is not a COCO image id") from None
            if not isinstance(row["question"], str) or not row["question"].strip():
                raise DatasetError(f"{where}: question is empty or not text")
            rows.append({**row, "image_id": image_id, "line": line})
    except JsonlError as exc:
        raise DatasetError(str(exc)) from None
    if not rows:
        raise DatasetError(f"dataset.path={path}: no questions")
    return rows


def decode_image(value: Any, where: str) -> bytes:
    """The row's base64 image as bytes, decoded as base64.b64decode does by default (characters
    outside the alphabet, e.g. line breaks, skipped). Text that does not decode gives empty bytes,
    which the runner reports as this item's error row (the run goes on); a missing image is the same."""
    if not isinstance(value, str):
        log.warning("%s: no base64 image; the item will be an error row", where)
        return b""
    try:
        return base64.b64decode(value)
    except (binascii.Error, ValueError) as exc:
        log.warning("%s: image is not valid base64 (%s); the item will be an error row", where, exc)
        return b""


def _import_rows(records: Sequence[dict], questions, path, annotations=None, settings=None) -> Optional[list[dict]]:
    """The import hook: RLHF-V answer rows, or evalkit predictions re-grounded with --annotations
    (`settings`, --set KEY=VALUE: spacy_model, judge_fail_limit for the judged path; evalkit rows
    keep their own unless set)."""
    from evalkit.scoring.importers import PredictionImportError

    columns = set().union(*(r.keys() for r in records))
    if {"id", "task", "text"} <= columns:  # evalkit predictions keep their own ground truth unless given
        if annotations is None:
            return None
        metas = [r.get("meta") if isinstance(r.get("meta"), dict) else {} for r in records]
        entries = [(r["id"], m.get("image_id"), r.get("question"), r.get("text"),
                    {k: m[k] for k in JUDGE_SETTINGS if k in m}) for r, m in zip(records, metas)]
    elif {"prompt", "question"} & columns and {"text", "answer"} & columns:
        entries = _answer_entries(records, questions, path)
    else:
        return None
    if annotations is None:
        raise PredictionImportError(f"{path}: answer rows carry no ground truth; pass --annotations "
                                    f"COCO_ANNOTATION_DIR (instances + captions of train2014 and val2014)")
    try:
        truth = ground_truth(annotations, OBJHAL_VOCABULARY)
    except DatasetError as exc:
        raise PredictionImportError(str(exc)) from None
    unknown = [entry[1] for entry in entries if entry[1] not in truth]
    if unknown:
        raise PredictionImportError(f"{path}: {len(unknown)} image id(s) are not in the annotations, "
                                    f"e.g. {unknown[:5]}")
    rows = []
    for item_id, image_id, question, text, own in entries:
        try:
            chosen = judge_settings({**own, **dict(settings or {})})
        except ConfigError as exc:
            raise PredictionImportError(f"{path}: --set: {exc}") from None
        answer = objects_answer(truth[image_id])
        text = text if isinstance(text, str) else None
        rows.append({"id": str(item_id), "task": OBJHAL.name, "question": str(question or ""), "answer": answer,
                     "category": "", "group": str(image_id), "prediction": text,
                     "meta": {"image_id": image_id, **chosen, **OBJHAL.details(text or "", answer)}})
    return rows


def _answer_entries(records: Sequence[dict], questions: Sequence[Any], path) -> list[tuple]:
    """(id, image id, prompt, answer, {}) per RLHF-V answer row, as load_generated_captions reads them:
    the row's image_id, else the question file's row at the same position."""
    from evalkit.scoring.importers import PredictionImportError

    by_position = None
    if any("image_id" not in r for r in records):
        if len(questions) != 1:
            raise PredictionImportError(f"{path}: answer rows without image_id are matched by position to the "
                                        f"question file, as RLHF-V's script does: pass --questions "
                                        f"obj_halbench_300_with_image.jsonl (once)")
        try:
            by_position = read_questions(questions[0])
        except DatasetError as exc:
            raise PredictionImportError(str(exc)) from None
        if len(by_position) != len(records):
            raise PredictionImportError(f"{path}: {len(records)} answer rows but {len(by_position)} questions in "
                                        f"{questions[0]}; rows without image_id are matched by position, so the "
                                        f"counts must agree")
    out = []
    for i, r in enumerate(records):
        text = r["text"] if "text" in r else r.get("answer")
        question = r["prompt"] if "prompt" in r else r.get("question")
        if text is None or question is None:
            raise PredictionImportError(f"{path}[{i}]: expected 'prompt' or 'question' and 'text' or 'answer' "
                                        f"(RLHF-V's answer rows); got {sorted(r)}")
        try:
            image_id = int(r["image_id"]) if "image_id" in r else by_position[i]["image_id"]
        except (TypeError, ValueError):
            raise PredictionImportError(f"{path}[{i}]: image_id {r['image_id']!r} is not a COCO image id") from None
        out.append((i, image_id, question, text, {}))
    return out


OBJHAL = ObjectHalBenchTask("object_halbench", OBJHAL_VOCABULARY,
                            imports=ImportRules(own_format=ANSWER_FORMAT, own_rows=_import_rows))


class ObjectHalBenchDataset(Benchmark):
    schema = ObjectHalBenchConfig  # its settings: ObjectHalBenchDataset(path=..., annotations=...) or the yaml's keys
    tasks = (OBJHAL,)

    def load(self) -> list[Item]:
        OBJHAL.check_ready()  # NLTK data missing: stop here, before any model loads
        annotation_files(self.annotations)  # a missing COCO file: stop before reading 300 images
        settings = judge_settings({k: getattr(self, k) for k in JUDGE_SETTINGS})
        rows = read_questions(self.path)
        truth = ground_truth(self.annotations, OBJHAL_VOCABULARY, self.cache_dir)
        unknown = [r for r in rows if r["image_id"] not in truth]
        if unknown:
            first = unknown[0]
            raise DatasetError(f"dataset.annotations={self.annotations}: {len(unknown)} image id(s) of {self.path} are "
                               f"in no COCO 2014 captions file, e.g. {first['image_id']} (line {first['line']})")
        return [Item(id=str(i), image=decode_image(r.get("image"), f"{self.path}:{r['line']}"), question=r["question"],
                     answer=objects_answer(truth[r["image_id"]]), category="", group=str(r["image_id"]),
                     task=OBJHAL.name, prompt_question=r["question"] + self.question_suffix,
                     meta={"image_id": r["image_id"], **settings}) for i, r in enumerate(rows)]
