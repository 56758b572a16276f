"""VQAv2 (Goyal et al.): open-ended questions about COCO images, ten human answers each.

Sources, in LLaVA's `playground/data/eval/vqav2` layout or given one by one:
- questions: LLaVA's `llava_vqav2_mscoco_<split>.jsonl` (question_id, image, text: the question and
  LLaVA's suffix) or the official `v2_OpenEnded_mscoco_<split>_questions.json`;
- annotations (splits with answers, e.g. val2014): the official `v2_mscoco_<split>_annotations.json`
  (ten answers, question_type, answer_type, multiple_choice_answer);
- images: `<split>/` (test-dev2015 lives in `test2015/`), or `dataset.image_dir`;
- or the lmms-lab/VQAv2 dataset (`dataset.path=lmms-lab/VQAv2 dataset.split=validation|testdev|test`,
  through `datasets`: the hub cache and HF_DATASETS_OFFLINE are honoured; a local copy works too).

Splits with annotations are scored here exactly as the VQA API's vqaEval.py scores the answers LLaVA's
convert_vqav2_for_submission.py would upload (EvalAI's processor, then VQA accuracy; `--rule raw`
scores the text itself), per answer type and question type. test-dev / test have no answers: the
run reports none and `python -m evalkit.score RUN --submission FILE --questions
llava_vqav2_mscoco_test2015.jsonl` writes the EvalAI upload byte for byte as LLaVA's script does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.hub import image_ref
from datasets_adapters.vqa_common import (answer_import, check_images, hub_rows, import_rows, is_hub_source,
                                          llava_question, read_answers, read_json, read_records, require, unique_ids)
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, EvalkitError
from evalkit.tasks.short_answer import PROCESSED, ShortAnswerTask
from evalkit.types import Item


@dataclass
class VQAv2DatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.vqav2.VQAv2Dataset"
    name: str = "vqav2"
    # LLaVA's folder (question files, images, annotations), or lmms-lab/VQAv2 (hub id or a local copy)
    path: str = "playground/data/eval/vqav2"
    # test-dev2015 | test2015 | val2014 | any split whose files are there; lmms-lab/VQAv2: validation | testdev | test
    split: str = "test-dev2015"
    questions: Optional[str] = None  # a question file (LLaVA jsonl or official json); default: found in path
    annotations: Optional[str] = None  # the official annotations json; default: found in path (if any)
    image_dir: Optional[str] = None  # default: <path>/<split> (test-dev2015: test2015)



def image_folder(split: str) -> str:
    return "test2015" if split.startswith("test") else split


def coco_file_name(subtype: str, image_id: int) -> str:
    return f"COCO_{image_folder(subtype)}_{int(image_id):012d}.jpg"


def find_file(folder: Path, names: Sequence[str]) -> Optional[Path]:
    return next((folder / n for n in names if (folder / n).is_file()), None)


def load_questions(path: Path, subtype: str) -> list[dict]:
    """[{question_id, image_id?, image, question, prompt?}] from LLaVA's jsonl or the official json."""
    if path.suffix == ".jsonl":
        rows = []
        for origin, r in read_records(path):
            require(origin, r, ("question_id", "image", "text"), "LLaVA question")
            rows.append({"question_id": r["question_id"], "image": str(r["image"]),
                         "question": llava_question(r["text"]), "prompt": str(r["text"]), "origin": origin})
        return rows
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise DatasetError(f"{path}: not an official VQA question file (an object with 'questions')")
    subtype = data.get("data_subtype", subtype)
    rows = []
    for i, q in enumerate(data["questions"]):
        require(f"{path}[questions][{i}]", q, ("question_id", "image_id", "question"), "VQA question")
        rows.append({"question_id": q["question_id"], "image_id": q["image_id"], "question": q["question"],
                     "image": coco_file_name(subtype, q["image_id"]), "origin": f"{path}[questions][{i}]"})
    return rows


def load_annotations(path: Path) -> dict[Any, dict]:
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise DatasetError(f"{path}: not an official VQA annotation file (an object with 'annotations')")
    out = {}
    for i, a in enumerate(data["annotations"]):
        require(f"{path}[annotations][{i}]", a, ("question_id", "answers", "answer_type", "question_type"),
                "VQA annotation")
        answers = a["answers"]
        if not isinstance(answers, list) or not all(isinstance(x, dict) and isinstance(x.get("answer"), str)
                                                    for x in answers) or not answers:
            raise DatasetError(f"{path}[annotations][{i}] (question_id {a['question_id']}): 'answers' must be a "
                               "non-empty list of {answer: str, ...}")
        out[a["question_id"]] = a
    return out


def build_items(questions: list[dict], annotations: Optional[dict[Any, dict]], image_dir: Optional[Path],
                suffix: str, where: str) -> list[Item]:
    items = []
    for q in questions:
        qid = q["question_id"]
        ann = None
        if annotations is not None:
            ann = annotations.get(qid)
            if ann is None:
                raise DatasetError(f"{q['origin']}: question_id {qid} has no annotation in the annotations file")
        answers = [a["answer"] for a in ann["answers"]] if ann else []
        meta = {"question_id": qid, "image": q["image"], "answers": answers}
        if ann:
            meta.update(question_type=ann["question_type"], answer_type=ann["answer_type"])
        items.append(Item(
            id=str(qid), image=str(image_dir / q["image"]) if image_dir else q["image"], question=q["question"],
            answer=str(ann.get("multiple_choice_answer", "")) if ann else "",
            category=ann["answer_type"] if ann else "", group=q["image"], task="vqav2",
            prompt_question=q.get("prompt", q["question"] + suffix), meta=meta))
    return unique_ids(items, where)


def ground_truth(questions: Sequence[Path | str], annotations: Optional[Path | str]) -> list[Item]:
    """Items (without images) from question file(s) and an annotation file: the import's ground truth."""
    if not questions:
        raise DatasetError("VQAv2 rescoring needs --questions (LLaVA's jsonl or the official questions json)")
    loaded = [q for path in questions for q in load_questions(Path(path), "")]
    table = load_annotations(Path(annotations)) if annotations else None
    return build_items(loaded, table, None, LLAVA_SHORT_ANSWER, ", ".join(map(str, questions)))


def _own_rows(records, questions, path, annotations=None):
    answers, fmt = read_answers(records, path)
    if fmt == "gqa_predictions":
        return None
    # Without --annotations (test-dev) nothing is scored: the rows are for --submission, which fills
    # the questions without an answer with '' as LLaVA's script does.
    return import_rows(ground_truth(questions, annotations), answers, path, partial=annotations is None)


class VQAv2Task(ShortAnswerTask):
    def submission(self, rows: pd.DataFrame, questions: Sequence[Path]) -> list[dict]:
        """LLaVA's convert_vqav2_for_submission.py: every question of the split file (the full test2015
        file for test-dev), the EvalAI-processed answer where one exists, '' where none does."""
        results: dict[Any, str] = {}
        in_run = []  # every row, error rows too ('' below, as for a question LLaVA's merge.jsonl lacks)
        for row in rows.to_dict("records"):
            meta = row.get("meta") or {}
            in_run.append(meta.get("question_id", row["id"]))
            if isinstance(row.get("error"), str) and row["error"].strip():  # NaN / None: it ran
                continue
            text = row["text"] if isinstance(row["text"], str) else ""
            results[meta.get("question_id", row["id"])] = text if meta.get(PROCESSED) else evalai_text(text)
        order = [q["question_id"] for path in questions for q in load_questions(Path(path), "")] if questions \
            else in_run
        unknown = set(results) - set(order)
        if unknown:
            raise EvalkitError(f"{len(unknown)} answered question(s) are not in the --questions file(s), e.g. "
                               f"{sorted(unknown, key=str)[:5]}")
        return [{"question_id": qid, "answer": results.get(qid, "")} for qid in order]


def evalai_text(text: str) -> str:
    from evalkit.scoring.vqa_answers import evalai_answer

    return evalai_answer(text)


VQAV2 = VQAv2Task("vqav2", scoring="vqa", official_rule="evalai", category="answer_type",
                  breakdowns=("question_type",),
                  note="vqav2: VQA accuracy as vqaEval.py of the answers LLaVA's convert_vqav2_for_submission.py "
                       "uploads (EvalAI's processor); per-item scores are fractions",
                  imports=ImportRules(own_format="vqav2 answers (LLaVA jsonl, VQA results, lmms-eval samples)",
                                      own_rows=answer_import(_own_rows)))


class VQAv2Dataset(Benchmark):
    schema = VQAv2DatasetConfig
    tasks = (VQAV2,)

    def __init__(self, **settings):
        super().__init__(**settings)  # the schema's keys become attributes; files are found here
        path, split, questions, annotations, image_dir = (self.path, self.split, self.questions, self.annotations,
                                                          self.image_dir)
        self.path = Path(path).expanduser()
        self.hub = questions is None and is_hub_source(path)
        if self.hub:
            self.hub_path = path
            return
        self.questions = Path(questions).expanduser() if questions else find_file(
            self.path, [f"llava_vqav2_mscoco_{split}.jsonl", f"v2_OpenEnded_mscoco_{split}_questions.json"])
        if self.questions is None or not self.questions.is_file():
            raise DatasetError(f"dataset.path={path} split={split}: no question file (looked for "
                               f"llava_vqav2_mscoco_{split}.jsonl and v2_OpenEnded_mscoco_{split}_questions.json; "
                               f"or set dataset.questions)")
        self.annotations = Path(annotations).expanduser() if annotations else find_file(
            self.path, [f"v2_mscoco_{split}_annotations.json"])
        if self.annotations is not None and not self.annotations.is_file():
            raise DatasetError(f"dataset.annotations={annotations}: no such file")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.path / image_folder(split)
        if not self.image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder (the {split} images)")

    def load(self) -> list[Item]:
        if self.hub:
            return self._hub_items()
        questions = load_questions(self.questions, self.split)
        annotations = load_annotations(self.annotations) if self.annotations else None
        items = build_items(questions, annotations, self.image_dir, self.question_suffix, str(self.questions))
        check_images(self.image_dir, [i.meta["image"] for i in items], str(self.questions))
        return items

    def _hub_items(self) -> list[Item]:
        """lmms-lab/VQAv2 rows: the official annotation fields beside the image (test splits: no answers)."""
        rows = hub_rows(self.hub_path, self.split, "VQAv2", ("question_id", "question", "image"),
                        ("image_id", "answers", "answer_type", "question_type", "multiple_choice_answer"))
        items = []
        for r in rows:
            answers = [a["answer"] for a in r.get("answers") or [] if isinstance(a, dict)]
            meta = {"question_id": r["question_id"], "image": str(r.get("image_id", "")), "answers": answers}
            if answers:
                meta.update(question_type=r.get("question_type"), answer_type=r.get("answer_type"))
            items.append(Item(id=str(r["question_id"]), image=image_ref(r["image"]), question=r["question"],
                              answer=str(r.get("multiple_choice_answer") or "") if answers else "",
                              category=str(r.get("answer_type") or "") if answers else "",
                              group=str(r.get("image_id", "")), task="vqav2",
                              prompt_question=r["question"] + self.question_suffix, meta=meta))
        return unique_ids(items, self.hub_path)
