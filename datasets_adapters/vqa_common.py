"""What the short-answer benchmarks (VQAv2, GQA, VizWiz, TextVQA, `vqa` files) share: reading their
JSON / JSON-lines files with errors that name the file and record, finding images, and reading other
tools' answers for `python -m evalkit.score --benchmark NAME ANSWERS` (LLaVA's answer JSONL, the
official VQA results format, lmms-eval's samples logs) into one {question_id: answer} map, which each
benchmark joins with its own ground truth (loaded by the same code as its items)."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional, Sequence

from datasets_adapters.file_rows import read_json, read_records  # noqa: F401  (the VQA adapters import them here)
from evalkit.errors import DatasetError
from evalkit.tasks.short_answer import PROCESSED
from evalkit.types import Item

log = logging.getLogger(__name__)


def require(origin: str, record: dict, keys: Sequence[str], what: str) -> None:
    missing = [k for k in keys if k not in record]
    if missing:
        raise DatasetError(f"{origin}: missing key(s) {', '.join(missing)}; {what} records have {', '.join(keys)}")


def most_common(answers: Sequence[str]) -> str:
    """The answer shown for an item: the most frequent human answer (first on ties), "" for none."""
    if not answers:
        return ""
    counts = Counter(answers)
    return max(answers, key=lambda a: (counts[a], -answers.index(a)))


def llava_question(text: str) -> str:
    """The question of a LLaVA prompt: its first line (the suffix and OCR tokens follow)."""
    return str(text).split("\n", 1)[0]


def check_images(image_dir: Path, names: Iterable[str], where: str) -> None:
    """All images missing: fail now (wrong folder); some: warn (those items become error rows)."""
    names = sorted(set(names))
    missing = [n for n in names if not (image_dir / n).is_file()]
    if names and len(missing) == len(names):
        present = sorted(p.name for p in image_dir.iterdir())[:5] if image_dir.is_dir() else []
        raise DatasetError(f"{where}: none of the {len(names)} images is in {image_dir} (e.g. {missing[0]}); "
                           f"the folder holds {', '.join(present) or 'nothing'}")
    if missing:
        log.warning("%s: %d of %d images are missing from %s (e.g. %s); their questions will be error rows",
                    where, len(missing), len(names), image_dir, ", ".join(missing[:3]))


def unique_ids(items: Sequence[Item], where: str) -> list[Item]:
    dups = [i for i, n in Counter(item.id for item in items).items() if n > 1]
    if dups:
        raise DatasetError(f"{where}: question ids repeat: {dups[:5]}")
    return list(items)


# ------------------------------------------------------------------------- other tools' answers

class NotOwnFormat(Exception):
    """evalkit's own predictions.jsonl: the generic importer reads it, not a benchmark's hook."""


def answer_import(hook):
    """A benchmark's import hook that hands evalkit predictions back to the generic importer."""
    def wrapped(records, questions, path, annotations=None):
        try:
            return hook(records, questions, path, annotations=annotations)
        except NotOwnFormat:
            return None

    wrapped.__doc__ = hook.__doc__
    return wrapped


@dataclass(frozen=True)
class Answer:
    text: str
    processed: bool = False  # the file held an evaluator's processed answer (VQA results format)
    prompt: Optional[str] = None


def read_answers(records: Sequence[dict], path: Path | str) -> tuple[dict[Any, Answer], str]:
    """{question_id: answer} and the format's name, from LLaVA's answer JSONL (question_id, prompt,
    text), the official VQA results format ([{question_id, answer}]), GQA's predictions format
    ([{questionId, prediction}]) or lmms-eval's samples logs (doc_id, doc, resps / filtered_resps)."""
    keys = set().union(*(r.keys() for r in records))
    if {"id", "task", "answer"} <= keys:
        raise NotOwnFormat()
    if {"doc", "doc_id"} <= keys:
        return _lmms_eval(records, path), "lmms_eval"
    for fmt, id_key, text_key, processed in (("llava_answers", "question_id", "text", False),
                                             ("vqa_results", "question_id", "answer", True),
                                             ("gqa_predictions", "questionId", "prediction", False)):
        if {id_key, text_key} <= keys:
            out: dict[Any, Answer] = {}
            for n, r in enumerate(records):
                if id_key not in r or not isinstance(r.get(text_key), str):
                    raise DatasetError(f"{path}: record {n}: needs {id_key!r} and a string {text_key!r}")
                out[r[id_key]] = Answer(r[text_key], processed, r.get("prompt"))  # the last wins, as LLaVA's dicts
            return out, fmt
    raise DatasetError(f"{path}: not a known answer format (LLaVA answers: question_id, text; VQA results: "
                       f"question_id, answer; GQA predictions: questionId, prediction; lmms-eval samples); "
                       f"found keys {sorted(keys)}")


def _lmms_eval(records: Sequence[dict], path: Path | str) -> dict[Any, Answer]:
    out: dict[Any, Answer] = {}
    for n, r in enumerate(records):
        doc = r.get("doc") if isinstance(r.get("doc"), dict) else {}
        qid = next((doc[k] for k in ("question_id", "questionId", "id") if k in doc), None)
        text = _first_text(r.get("filtered_resps")) or _first_text(r.get("resps"))
        if qid is None or text is None:
            raise DatasetError(f"{path}: lmms-eval record {n} (doc_id {r.get('doc_id')}): no doc.question_id "
                               "or no response text")
        out[qid] = Answer(text.strip())
    return out


def _first_text(value: Any) -> Optional[str]:
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def import_rows(items: Sequence[Item], answers: dict[Any, Answer], path: Path | str,
                key=lambda item: item.meta.get("question_id"), partial: bool = False) -> list[dict]:
    """Minimal prediction rows (evalkit.scoring.importers) joining `answers` to `items` by question id
    (`key`). Answers for unknown questions, or questions without an answer, are refused: a number over
    part of a split is not the benchmark's number (`partial`: questions without an answer are left
    out, for splits that are not scored here)."""
    by_key = {}
    for item in items:
        by_key[key(item)] = item
    known = {str(k) for k in by_key}
    unknown = [q for q in answers if str(q) not in known]
    if unknown:
        raise DatasetError(f"{path}: {len(unknown)} answer(s) for questions not in the ground truth, e.g. "
                           f"{unknown[:5]} (another split's answers?)")
    lookup = {str(q): a for q, a in answers.items()}
    missing = [k for k in by_key if str(k) not in lookup]
    if missing and not partial:
        raise DatasetError(f"{path}: {len(missing)} of {len(by_key)} questions have no answer, e.g. {missing[:5]}; "
                           "the official evaluators refuse partial results")
    rows = []
    for k, item in by_key.items():
        if str(k) not in lookup:
            continue
        answer = lookup[str(k)]
        meta = dict(item.meta)
        if answer.processed:
            meta[PROCESSED] = True
        rows.append({"id": item.id, "task": item.task, "question": item.question, "answer": item.answer,
                     "category": item.category, "group": item.group, "prediction": answer.text,
                     "prompt": answer.prompt, "meta": meta})
    return rows


# ------------------------------------------------------------------------------ lmms-lab datasets

def is_hub_source(path: str) -> bool:
    """A hub id (lmms-lab/VQAv2) or a local copy of a `datasets` dataset, rather than LLaVA's folder."""
    from datasets_adapters.hub import looks_like_hub_id

    local = Path(path).expanduser()
    if local.exists():
        return local.is_file() and local.suffix == ".parquet" or local.is_dir() and (
            (local / "dataset_dict.json").is_file() or (local / "state.json").is_file()
            or any(local.glob("datasets--*")) or (local / "snapshots").is_dir() or any(local.rglob("*.parquet")))
    return looks_like_hub_id(path)


def hub_rows(path: str, split: str, repo_hint: str, columns: Sequence[str], optional: Sequence[str] = ()) -> list[dict]:
    """Rows of the lmms-lab dataset (hub id, honouring HF_DATASETS_OFFLINE and the cache, or a local
    copy), images left encoded; a missing column fails naming the table and what it has."""
    from datasets_adapters.hub import filter_rows, hf_tables

    rows: list[dict] = []
    for label, table in hf_tables(path, hub_split=split, repo_hint=repo_hint):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise DatasetError(f"{label}: missing column(s) {', '.join(missing)} for {repo_hint}; found "
                               f"{', '.join(table.column_names)}")
        rows += filter_rows(table, "", None, [*columns, *optional])
    if not rows:
        raise DatasetError(f"dataset.path={path}: no rows")
    return rows
