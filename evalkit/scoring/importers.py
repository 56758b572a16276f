"""Other tools' prediction files -> evalkit's PredictionRow columns, so one scorer scores them all.

Formats, told apart by their columns (`detect_format`):
- `evalkit`: a predictions.jsonl from an evalkit run (id, task, answer, text).
- `simple`: one row per question with ground truth and prediction
  (question_id, answer, prediction [, category, image, question]).
- `llava_answers`: LLaVA's `model_vqa_loader` output (question_id, prompt, text): no ground truth,
  so it is joined BY ID with the benchmark files given as `questions` (LLaVA's question file with
  `category`, and/or POPE label files with `label`). Never by row position: LLaVA-1.5's POPE answers
  belong to an older random split, and positional pairing with today's files silently scores
  F1 45.7 instead of 87.1. Every join is checked on image and question text when both sides have them.
- `lmms_eval`: lmms-eval per-sample logs (doc_id, doc, resps / filtered_resps, target).
- a benchmark's own result format (its task's `ImportRules.own_rows`), tried first.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

import pandas as pd

from evalkit.benchmark import Benchmark, Task
from evalkit.errors import EvalkitError
from evalkit.fileio import JsonlError, jsonl_values
from evalkit.types import PredictionRow

FORMATS = ("evalkit", "simple", "llava_answers", "lmms_eval")

_ID_KEYS = ("question_id", "id")
_ANSWER_KEYS = ("answer", "label", "gt_answer")
_PREDICTION_KEYS = ("prediction", "pred", "response", "model_answer")
_ROW_COLUMNS = [f.name for f in dataclasses.fields(PredictionRow)]


class PredictionImportError(EvalkitError, ValueError):
    """A prediction or question file that cannot be imported; the message names the file."""


# ----------------------------------------------------------------------------------------- reading

def load_records(path: Path | str) -> list[dict[str, Any]]:
    """JSON lines or a JSON array of objects. A torn last JSON line is skipped with a warning."""
    path = Path(path)
    if not path.is_file():
        raise PredictionImportError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise PredictionImportError(f"{path}: invalid JSON array ({exc.msg}, line {exc.lineno})") from None
    else:
        try:
            records = [value for _, value in jsonl_values(text, path)]
        except JsonlError as exc:
            raise PredictionImportError(str(exc)) from None
    if not records or not all(isinstance(r, dict) for r in records):
        raise PredictionImportError(f"{path}: expected a non-empty list of JSON objects")
    return records


def _columns(records: Sequence[dict]) -> set[str]:
    return set().union(*(r.keys() for r in records))


def _first_key(columns: set[str], keys: Sequence[str]) -> Optional[str]:
    return next((k for k in keys if k in columns), None)


def detect_format(records: Sequence[dict], path: Path | str = "<rows>") -> str:
    """Name the format of `records` from their columns, or fail naming the closest format's gaps."""
    columns = _columns(records)
    # (format, required column groups: any key of a group will do)
    candidates: list[tuple[str, list[tuple[str, ...]]]] = [
        ("evalkit", [("id",), ("task",), ("answer",), ("text", "prediction")]),
        ("lmms_eval", [("doc_id",), ("resps", "filtered_resps"), ("doc",)]),
        ("simple", [_ID_KEYS, _ANSWER_KEYS, _PREDICTION_KEYS]),
        ("llava_answers", [("question_id",), ("text",)]),
    ]
    best, best_missing = "", None
    for name, groups in candidates:
        missing = ["|".join(g) for g in groups if not columns & set(g)]
        if not missing and not (name == "llava_answers" and columns & set(_ANSWER_KEYS)):
            return name
        if best_missing is None or len(missing) < len(best_missing):
            best, best_missing = name, missing
    raise PredictionImportError(
        f"{path}: unrecognised prediction format; closest is {best!r}, missing column(s) {best_missing}; "
        f"found {sorted(columns)}")


def split_from_name(path: Path | str, task: Task) -> Optional[str]:
    """The category a file name names, for tasks whose files are per category (POPE's
    coco_pope_random.json -> random), else None."""
    stem = Path(path).stem.lower()
    found = [s for s in task.imports.categories_in_file_names if s in stem]
    return found[0] if len(found) == 1 else None


# ------------------------------------------------------------------------------------- conversion

def _norm_answer(value: Any) -> Optional[str]:
    text = str(value).strip().lower().rstrip(".") if value is not None else ""
    return text if text in ("yes", "no") else None


def _question_text(text: Any) -> str:
    """A question as released: LLaVA's prompt suffix ("\\nAnswer ...") and MME's "Please answer yes
    or no." removed, whitespace collapsed, so prompt and label files can be compared."""
    first = str(text or "").split("\n", 1)[0]
    first = re.sub(r"\s*Please answer yes or no\.?\s*$", "", first)
    return " ".join(first.split())


def _frame(rows: list[dict[str, Any]], path: Path | str) -> pd.DataFrame:
    """PredictionRow columns from minimal dicts (id, task, question, answer, category, group,
    prediction, meta); ids must be unique, answers yes/no."""
    bad = [r["id"] for r in rows if r["answer"] is None]
    if bad:
        raise PredictionImportError(f"{path}: {len(bad)} row(s) have a ground truth other than yes/no, "
                                    f"e.g. ids {bad[:5]}")
    ids = pd.Series([r["id"] for r in rows], dtype=object)
    dups = ids[ids.duplicated()].unique().tolist()
    if dups:
        raise PredictionImportError(f"{path}: duplicate id(s) {dups[:10]}")
    out = []
    for r in rows:
        prediction = r.get("prediction")
        error = None if isinstance(prediction, str) else "ImportError: no prediction in the source file"
        prediction = prediction if isinstance(prediction, str) else ""
        out.append({
            "id": r["id"], "task": r["task"], "question": r.get("question") or "", "answer": r["answer"],
            "category": str(r.get("category") or ""), "group": str(r.get("group") or ""),
            "prediction": prediction, "text": prediction.strip(), "parsed": None, "correct": False,
            "error": error, "p_yes": None, "batch_size": 1, "batch_time_s": 0.0, "n_input_tokens": 0,
            "prompt": r.get("prompt"), "meta": r.get("meta") or {},
        })
    return pd.DataFrame(out, columns=_ROW_COLUMNS)


def _unique_ids(records: Sequence[dict], id_key: str, task: Task, path: Path | str) -> list[str]:
    """Source ids made unique: as is; else per category (POPE ids restart per split); else, where
    the task says ids repeat per image, numbered within the id (lmms-lab/MME's question_id is the
    image, shared by its 2 questions)."""
    raw = [str(r.get(id_key)) for r in records]
    if len(set(raw)) == len(raw):
        return raw
    scoped = [f"{r.get('category', '')}/{i}" for r, i in zip(records, raw)]
    if len(set(scoped)) == len(scoped):
        return scoped
    if task.imports.number_repeated_ids:
        counts: dict[str, int] = {}
        numbered = []
        for i in raw:
            counts[i] = counts.get(i, 0) + 1
            numbered.append(f"{i}#{counts[i]}")
        return numbered
    dups = sorted(i for i, n in Counter(scoped).items() if n > 1)
    raise PredictionImportError(f"{path}: duplicate question ids (within category) {dups[:10]}")


def from_simple(records: Sequence[dict], task: Task, path: Path | str = "<rows>") -> pd.DataFrame:
    columns = _columns(records)
    id_key, answer_key = _first_key(columns, _ID_KEYS), _first_key(columns, _ANSWER_KEYS)
    prediction_key = _first_key(columns, _PREDICTION_KEYS)
    default_category = split_from_name(path, task)
    if task.imports.category and "category" not in columns and default_category is None:
        raise PredictionImportError(f"{path}: missing column(s) ['category'] ({task.imports.category})")
    ids = _unique_ids(records, id_key, task, path)  # type: ignore[arg-type]
    rows = []
    for r, uid in zip(records, ids):
        group = r.get("image") or (r.get(id_key) if task.imports.group_is_question_id else "") or ""
        rows.append({"id": uid, "task": task.name, "question": _question_text(r.get("question", r.get("text"))),
                     "answer": _norm_answer(r.get(answer_key)), "category": r.get("category", default_category),
                     "group": group, "prediction": r.get(prediction_key),
                     "meta": {"question_id": r.get(id_key), "image": r.get("image")}})
    return _frame(rows, path)


def _first_text(value: Any) -> Optional[str]:
    """lmms-eval keeps responses as [[text]] (resps) or [text] (filtered_resps)."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def from_lmms_eval(records: Sequence[dict], task: Task, path: Path | str = "<rows>") -> pd.DataFrame:
    rows = []
    for r in records:
        doc = r.get("doc") if isinstance(r.get("doc"), dict) else {}
        answer = doc.get("answer", r.get("target"))
        prediction = _first_text(r.get("filtered_resps")) or _first_text(r.get("resps"))
        category = doc.get("category", "")
        if task.imports.lmms_eval_group is not None:
            group = task.imports.lmms_eval_group(doc)
        else:  # the image path, where the log kept it (images are usually dropped: not JSON)
            group = doc["image"] if isinstance(doc.get("image"), str) else ""
        rows.append({"id": str(r["doc_id"]), "task": task.name, "question": _question_text(doc.get("question")),
                     "answer": _norm_answer(answer), "category": category, "group": group,
                     "prediction": prediction, "meta": {"doc_id": r["doc_id"], "question_id": doc.get("question_id")}})
    if task.imports.category and not any(row["category"] for row in rows):
        raise PredictionImportError(f"{path}: lmms-eval rows lack doc.category ({task.imports.category})")
    return _frame(rows, path)


def _load_questions(files: Iterable[Path | str], task: Task) -> tuple[dict[Any, dict], dict[tuple[str, Any], dict]]:
    """(index: question_id -> row, from files without labels; labels: (category, question_id) -> row)."""
    index: dict[Any, dict] = {}
    labels: dict[tuple[str, Any], dict] = {}
    for path in files:
        records = load_records(path)
        columns = _columns(records)
        if "question_id" not in columns:
            raise PredictionImportError(f"{path}: missing column(s) ['question_id'] in a questions file")
        answer_key = _first_key(columns, _ANSWER_KEYS)
        default_category = split_from_name(path, task) or ""
        for r in records:
            if answer_key is None:
                target, key = index, r["question_id"]
            else:
                target, key = labels, (str(r.get("category") or default_category), r["question_id"])
            if key in target:
                raise PredictionImportError(f"{path}: question_id {r['question_id']!r} appears twice "
                                            f"(in this file or an earlier --questions file)")
            target[key] = {**r, "_source": str(path), "_answer_key": answer_key}
    return index, labels


def _find_label(labels: dict[tuple[str, Any], dict], categories: set[str], qid: Any,
                category: Optional[str], stride: Optional[int]) -> list[dict]:
    keys = [qid] + ([qid % stride] if stride and isinstance(qid, int) and qid > stride else [])
    scope = [category] if category is not None else sorted(categories)
    for key in keys:
        found = [labels[(c, key)] for c in scope if (c, key) in labels]
        if found:
            return found
    return []


def from_llava_answers(records: Sequence[dict], task: Task, questions: Sequence[Path | str],
                       path: Path | str = "<rows>") -> pd.DataFrame:
    if not questions:
        raise PredictionImportError(f"{path}: LLaVA answer rows (question_id, text) carry no ground truth; "
                                    f"pass the benchmark's question/label files with --questions")
    index, labels = _load_questions(questions, task)
    if not labels:
        raise PredictionImportError(f"{path}: none of the --questions files has a 'label' or 'answer' column")
    categories = {c for c, _ in labels}
    rows, unknown, ambiguous, mismatched = [], [], [], []
    for r in records:
        qid = r["question_id"]
        info = index.get(qid)
        if index and info is None:
            unknown.append(qid)
            continue
        category = (info or {}).get("category", r.get("category"))
        found = _find_label(labels, categories, qid, None if category is None else str(category),
                            task.imports.id_stride)
        if len(found) != 1:
            (ambiguous if found else unknown).append(qid)
            continue
        label = found[0]
        # Join by id, then prove it: same image, same question text, wherever both sides have them.
        asked = _question_text((info or {}).get("text") or r.get("prompt"))
        image = (info or {}).get("image", r.get("image"))
        if (image and label.get("image") and image != label["image"]) or \
                (asked and label.get("text") and asked != _question_text(label["text"])):
            mismatched.append(qid)
            continue
        named = label.get("category") or split_from_name(label["_source"], task)
        split = str(category if category is not None else named)
        rows.append({"id": str(qid), "task": task.name, "question": _question_text(label.get("text") or asked),
                     "answer": _norm_answer(label.get(label["_answer_key"])), "category": split,
                     "group": label.get("image") or image or "", "prediction": r.get("text"),
                     "prompt": r.get("prompt"),
                     "meta": {"question_id": qid, "label_question_id": label["question_id"],
                              "image": label.get("image") or image}})
    if unknown or ambiguous or mismatched:
        parts = [f"{len(unknown)} answer id(s) not found in the questions, e.g. {unknown[:5]}" if unknown else "",
                 f"{len(ambiguous)} id(s) match several files (pass LLaVA's question file with 'category'), "
                 f"e.g. {ambiguous[:5]}" if ambiguous else "",
                 f"{len(mismatched)} id(s) join to a different image/question (wrong version of the label "
                 f"files? LLaVA-1.5 used POPE's llava_v15_eval_version), e.g. {mismatched[:5]}" if mismatched else ""]
        raise PredictionImportError(f"{path}: cannot join answers to --questions: " + "; ".join(p for p in parts if p))
    _warn_uncovered(rows, labels, path)
    return _frame(rows, path)


def _warn_uncovered(rows: list[dict], labels: dict[tuple[str, Any], dict], path: Path | str) -> None:
    """Labels of the scored categories that got no answer make the score partial: say so."""
    answered = {(row["category"], row["meta"]["label_question_id"]) for row in rows}
    scored = {row["category"] for row in rows}
    missing = [key for key in labels if key[0] in scored and key not in answered]
    if missing:
        warnings.warn(f"{path}: {len(missing)} labelled question(s) have no answer and are not scored, "
                      f"e.g. {missing[:5]}", RuntimeWarning, stacklevel=3)


def from_evalkit(records: Sequence[dict], task: Optional[Task], path: Path | str = "<rows>") -> pd.DataFrame:
    frame = pd.DataFrame(list(records))
    if task is not None:
        frame["task"] = frame["task"].fillna(task.name)
    return frame


def _own_format_input(path: Path | str) -> Any:
    """What a benchmark's own result format may be besides rows: a folder of result files (MMMU's
    <Subject>/output.json) or one JSON object (MMMU's id -> answer); None for anything else."""
    path = Path(path)
    if path.is_dir():
        return path
    if path.is_file() and path.suffix == ".json" and path.read_text(encoding="utf-8").lstrip().startswith("{"):
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def import_predictions(path: Path | str, benchmark: type[Benchmark], questions: Sequence[Path | str] = (),
                       annotations: Optional[Path | str] = None, settings: Optional[dict[str, str]] = None
                       ) -> tuple[pd.DataFrame, str]:
    """Read `path`, detect its format and return (PredictionRow frame, format name). Rows without a
    task of their own are scored with the benchmark's first task. `annotations` (a ground-truth
    file or folder) and `settings` (KEY=VALUE) are for the benchmark's own format only."""
    if not benchmark.tasks:
        raise PredictionImportError(f"{benchmark.__name__} declares no task to score imported predictions with")
    task = benchmark.tasks[0]
    records = _own_format_input(path) if task.imports.own_rows is not None else None
    records = load_records(path) if records is None else records
    extras = {k: v for k, v in (("annotations", annotations), ("settings", settings)) if v}
    hook = task.imports.own_rows
    unused = [k for k in extras if hook is None or k not in inspect.signature(hook).parameters]
    if unused:
        raise PredictionImportError(f"{path}: {benchmark.__name__}'s import takes no --{unused[0].replace('settings', 'set')}")
    try:
        own = hook(records, questions, path, **extras) if hook is not None else None
    except (AttributeError, TypeError, KeyError):
        if isinstance(records, list):
            raise
        own = None  # a folder / JSON object this benchmark's own format does not read: the row formats' error below
    if own is not None:  # the task's own result format reads its --questions / --annotations itself
        return _frame(own, path), task.imports.own_format or "own"
    if not isinstance(records, list):  # a folder or a JSON object that the benchmark's format did not take
        records = load_records(path)
    if extras:
        raise PredictionImportError(f"{path}: --annotations / --set apply to {benchmark.__name__}'s own result format "
                                    f"({task.imports.own_format}), which this file is not")
    fmt = detect_format(records, path)
    if fmt == "evalkit":
        frame = from_evalkit(records, task, path)
    elif fmt == "simple":
        frame = from_simple(records, task, path)
    elif fmt == "lmms_eval":
        frame = from_lmms_eval(records, task, path)
    else:
        frame = from_llava_answers(records, task, questions, path)
    if questions and fmt != "llava_answers":
        warnings.warn(f"{path}: --questions ignored, the {fmt} format carries its own ground truth", RuntimeWarning,
                      stacklevel=2)
    return frame, fmt
