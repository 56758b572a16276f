"""ScienceQA (Lu et al. 2022) as LLaVA evaluates it: the image questions of the test split
(ScienceQA-IMG, 2017 questions, the published column), LLaVA's prompt and answer rule.

Data: LLaVA's Evaluation.md layout `playground/data/eval/scienceqa` (`dataset.path=` that folder),
or the hub dataset `lmms-lab/ScienceQA` (its ScienceQA-IMG config; items numbered by row, as
lmms-eval's doc_ids) or a local copy of it. The folder holds:
`problems.json` + `pid_splits.json` (ScienceQA's own, needed for the answers and breakdowns),
`llava_test_CQM-A.json` (LLaVA's released prompts; optional: without it the same layout is built
from problems.json: "Context: <hint>" line when there is a hint, the question, "A. option" lines,
as lmms-eval's scienceqa "default" format; note that the repo's scripts/convert_sqa_to_llava.py
writes an older "Context: ... / Question: ... / Options: (A) ..." layout, not the released file's) and the images under `images/test/<pid>/image.png` (or `dataset.image_dir=`).

Prompt: model_vqa_science.py with --single-pred-prompt: the CQM-A question ("Context: <hint>"
line when there is a hint, the question, "A. option" lines), "<image>" removed, then "Answer
with the option's letter from the given choices directly.". Score: eval_science_qa.py (see
scienceqa_metrics); the headline is LLaVA's IMG accuracy, with overall accuracy and ScienceQA's
breakdowns beside it. Text-only questions need a model call without an image, which evalkit's
runner does not make: runs hold the image questions; rescoring LLaVA's answer files
(`python -m evalkit.score --benchmark scienceqa answers.jsonl --questions FOLDER`) scores all 4241.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from datasets_adapters import scienceqa_metrics as S
from datasets_adapters.hub import hf_tables, image_ref, looks_like_hub_id
from datasets_adapters.lmms_logs import doc_field, lmms_samples
from evalkit.benchmark import Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.scoring.importers import PredictionImportError
from evalkit.tasks.choice import LETTER_INSTRUCTION, ChoiceTask, option_calibration, read_lenient, read_letter
from evalkit.types import Item

SPLITS = ("test", "val", "minival", "train")
HUB_CONFIG = "ScienceQA-IMG"  # lmms-lab/ScienceQA: the image questions (ScienceQA-FULL: all)


@dataclass
class ScienceQAConfig(DatasetConfig):
    _target_: str = "datasets_adapters.scienceqa.ScienceQADataset"
    name: str = "scienceqa"
    # folder with problems.json, pid_splits.json [, llava_test_CQM-A.json, images/test] (LLaVA's place for it),
    # or the hub dataset lmms-lab/ScienceQA (ScienceQA-IMG) / a local copy of it
    path: str = "playground/data/eval/scienceqa"
    split: str = "test"
    image_dir: Optional[str] = None  # default: <path>/images/<split>, else <path>/<split>
    question_suffix: str = "\n" + LETTER_INSTRUCTION

    def __post_init__(self):
        check_choice("dataset.split", self.split, SPLITS)


def read_problems(root: Path, split: str) -> tuple[dict[str, dict], list[str]]:
    """problems.json and the split's problem ids from pid_splits.json; a missing file or id fails here."""
    files = {name: root / name for name in ("problems.json", "pid_splits.json")}
    for name, path in files.items():
        if not path.is_file():
            raise DatasetError(f"{root}: no {name} (ScienceQA's data/scienceqa files; LLaVA's Evaluation.md puts them "
                               f"in playground/data/eval/scienceqa)")
    try:
        problems = json.loads(files["problems.json"].read_text(encoding="utf-8"))
        splits = json.loads(files["pid_splits.json"].read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DatasetError(f"{root}: cannot read problems.json / pid_splits.json ({exc})") from None
    if split not in splits:
        raise DatasetError(f"{files['pid_splits.json']}: no split {split!r}; it has {sorted(splits)}")
    ids = [str(pid) for pid in splits[split]]
    unknown = [pid for pid in ids if pid not in problems]
    if unknown:
        raise DatasetError(f"{files['problems.json']}: {len(unknown)} problem(s) of split {split} missing, e.g. {unknown[:5]}")
    for pid in ids:
        problem = problems[pid]
        missing = [k for k in ("question", "choices", "answer") if k not in problem]
        if missing or not isinstance(problem.get("choices"), list) or not 2 <= len(problem["choices"]) <= len(S.LETTERS):
            raise DatasetError(f"{files['problems.json']}: problem {pid}: needs question, answer and 2-5 choices "
                               f"(missing {missing or 'choices'})")
    return problems, ids


def cqm_question(problem: dict) -> str:
    """LLaVA's CQM-A question text (as in llava_test_CQM-A.json, without "<image>")."""
    context = f"Context: {problem['hint']}\n" if problem.get("hint") else ""
    options = "\n".join(f"{S.LETTERS[k]}. {c}" for k, c in enumerate(problem["choices"]))
    return f"{context}{problem['question']}\n{options}"


def item_meta(problem: dict) -> dict[str, Any]:
    options = {S.LETTERS[k]: str(c) for k, c in enumerate(problem["choices"])}
    return {"options": options, "is_multimodal": bool(problem.get("image")), **S.context_facts(problem)}


def read_llava_questions(path: Path) -> dict[str, str]:
    """llava_test_CQM-A.json: id -> the human turn with "<image>" removed (model_vqa_science.py)."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
        return {str(e["id"]): e["conversations"][0]["value"].replace("<image>", "").strip() for e in entries}
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise DatasetError(f"{path}: not LLaVA's question file (id, conversations[0].value): {exc}") from None


# ------------------------------------------------------------------------------------------ task

def _facts(rows: pd.DataFrame) -> pd.DataFrame:
    meta = rows["meta"].map(lambda m: m if isinstance(m, dict) else {})
    out = rows.copy()
    for key, default in (("subject", ""), ("grade", ""), ("has_text", False), ("has_image", False),
                         ("is_multimodal", False)):
        out[key] = meta.map(lambda m, k=key, d=default: m.get(k, d))
    return out


def import_llava_answers(records: Sequence[dict], questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """LLaVA's answer file (question_id, prompt, text) joined with --questions FOLDER (problems.json,
    pid_splits.json): a row for every problem of the test split, as eval_science_qa.py scores them
    (an unanswered problem counts as wrong, and not as an image question). lmms-eval sample logs
    carry their problem in `doc` (lmms-lab/ScienceQA: question, choices, answer index, hint, ...)."""
    samples = lmms_samples(records)
    if samples is not None:
        return lmms_rows(samples, path)
    if not isinstance(records, list):
        return None
    columns = set().union(*(r.keys() for r in records))
    if not {"question_id", "text", "prompt"} <= columns or "answer" in columns:
        return None
    if len(questions) != 1:
        raise PredictionImportError(f"{path}: LLaVA ScienceQA answers need --questions FOLDER (the one holding "
                                    f"problems.json and pid_splits.json, eval_science_qa.py's --base-dir)")
    root = Path(questions[0])
    root = root.parent if root.is_file() else root
    try:
        problems, ids = read_problems(root, "test")
    except DatasetError as exc:
        raise PredictionImportError(str(exc)) from None
    answers = {str(r["question_id"]): r for r in records}
    unknown = sorted(set(answers) - set(ids))
    if unknown:
        raise PredictionImportError(f"{path}: {len(unknown)} question_id(s) are not test problems of {root}, "
                                    f"e.g. {unknown[:5]}")
    rows = []
    for pid in ids:
        problem, answer = problems[pid], answers.get(pid)
        meta = item_meta(problem)
        meta["is_multimodal"] = answer is not None and "<image>" in str(answer.get("prompt") or "")
        rows.append({"id": pid, "task": SCIENCEQA.name, "question": str(problem["question"]),
                     "answer": S.LETTERS[int(problem["answer"])], "category": problem.get("subject") or "",
                     "group": pid, "prediction": answer.get("text") if answer else None,
                     "prompt": answer.get("prompt") if answer else None, "meta": meta})
    return rows


def lmms_rows(samples: list, path: Any) -> list[dict]:
    """lmms-eval's scienceqa / scienceqa_img samples: ids are its doc_ids; a doc whose image is
    null was asked without one (scienceqa_img holds image questions only)."""
    rows = []
    for doc_id, doc, text in samples:
        where = f"{path}: doc_id {doc_id}"
        problem = {**doc, "choices": doc_field(doc, "choices", where, PredictionImportError),
                   "image": doc.get("image", True) is not None}
        answer = int(doc_field(doc, "answer", where, PredictionImportError))
        rows.append({"id": doc_id, "task": SCIENCEQA.name, "question": str(doc.get("question", "")),
                     "answer": S.LETTERS[answer], "category": doc.get("subject") or "", "group": doc_id,
                     "prediction": text, "meta": item_meta(problem)})
    return rows


class ScienceQATask(ChoiceTask):
    """LLaVA's ScienceQA scoring: eval_science_qa.py's rule, IMG accuracy first."""

    name = "scienceqa"
    rules = {"llava": S.llava_letter, "letter": read_letter, "lenient": read_lenient}
    official_rule = "llava"
    headline = (Headline("scienceqa_img_accuracy"), Headline("scienceqa_accuracy"))
    category_values = ("accuracy",)
    summary_rows = frozenset({S.ALL, S.IMG_HEADLINE})
    note = ("ScienceQA: LLaVA's eval_science_qa.py rule (a letter, 'X. ...', or one 'The answer is X.'; "
            "anything else wrong); IMG = questions asked with their image")
    imports = ImportRules(own_format="llava_scienceqa_answers", own_rows=import_llava_answers)

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = S.scienceqa_table(_facts(rows))
        by = table.set_index("category")
        headline = {"scienceqa_img_accuracy": float(by.loc[S.IMG_HEADLINE, "accuracy"]),
                    "scienceqa_img_accuracy_stderr": float(by.loc[S.IMG_HEADLINE, "accuracy_stderr"]),
                    "scienceqa_accuracy": float(by.loc[S.ALL, "accuracy"]),
                    "scienceqa_accuracy_stderr": float(by.loc[S.ALL, "accuracy_stderr"])}
        calibration = option_calibration(rows)  # decoding=choice_logits: over the option probabilities
        if calibration["n_probs"]:
            headline.update(choice_ece=calibration["ece"], choice_brier=calibration["brier"])
        return TaskResult(table, headline)


SCIENCEQA = ScienceQATask()


def _holds_hub_copy(folder: Path) -> bool:
    return any(folder.rglob("*.parquet")) or any((folder / name).is_file() for name in ("dataset_dict.json", "state.json"))


class ScienceQADataset(Benchmark):
    schema = ScienceQAConfig
    tasks = (SCIENCEQA,)

    def __init__(self, **settings):
        super().__init__(**settings)  # ScienceQAConfig: path, split, image_dir, question_suffix
        path, split, image_dir = self.path, self.split, self.image_dir
        self.root = Path(path).expanduser()
        self.image_dir = None
        if not (self.root / "problems.json").is_file():  # the hub dataset (lmms-lab/ScienceQA) or a copy of it
            if not self.root.exists() and not looks_like_hub_id(path):
                raise DatasetError(f"dataset.path={path}: no such folder (the one holding problems.json, "
                                   f"pid_splits.json) and not a hub id like lmms-lab/ScienceQA")
            if self.root.is_dir() and not _holds_hub_copy(self.root):
                raise DatasetError(f"dataset.path={path}: no problems.json (LLaVA's scienceqa folder) and no copy of "
                                   f"lmms-lab/ScienceQA (parquet files, save_to_disk folder, hub cache) here")
            return
        candidates = [Path(image_dir).expanduser()] if image_dir else [self.root / "images" / split, self.root / split]
        self.image_dir = next((c for c in candidates if c.is_dir()), None)
        if self.image_dir is None:
            raise DatasetError(f"dataset.image_dir: no image folder {' or '.join(map(str, candidates))} "
                               f"(ScienceQA's images/{split}: <pid>/image.png)")

    def _hub_items(self) -> list[Item]:
        """lmms-lab/ScienceQA's ScienceQA-IMG config: no problem ids, so items are numbered by row,
        as lmms-eval's doc_ids are (its sample logs then pair with these runs)."""
        items = []
        tables = hf_tables(self.path, self.split, "ScienceQA", hub_config=HUB_CONFIG)
        img = [(label, table) for label, table in tables if HUB_CONFIG in label and self.split in Path(label).name]
        for label, table in img or tables:  # a copy of the whole repo also holds ScienceQA-FULL and other splits
            missing = [c for c in ("image", "question", "choices", "answer") if c not in table.column_names]
            if missing:
                raise DatasetError(f"{label}: missing column(s) {missing}; lmms-lab/ScienceQA has image, question, "
                                   f"choices, answer, hint, subject, grade, ...")
            for n, row in enumerate(table.to_pylist()):
                if row.get("image") is None:
                    continue
                problem = {**row, "image": True}
                items.append(Item(id=str(n), image=image_ref(row["image"]), question=str(row["question"]),
                                  answer=S.LETTERS[int(row["answer"])], category=row.get("subject") or "",
                                  group=str(n), task=SCIENCEQA.name,
                                  prompt_question=cqm_question(problem) + self.question_suffix, meta=item_meta(problem)))
        if not items:
            raise DatasetError(f"dataset.path={self.path}: no image questions in split {self.split}")
        return items

    def load(self) -> list[Item]:
        if self.image_dir is None:
            return self._hub_items()
        problems, ids = read_problems(self.root, self.split)
        llava_file = self.root / f"llava_{self.split}_CQM-A.json"
        prompts = read_llava_questions(llava_file) if llava_file.is_file() else {}
        items = []
        for pid in ids:
            problem = problems[pid]
            if not problem.get("image"):
                continue  # text-only: asked without an image, which the runner does not do (module docstring)
            image = self.image_dir / pid / str(problem["image"])
            if not image.is_file():
                raise DatasetError(f"{self.image_dir}: problem {pid}: no image {image.name} (expected {image})")
            question = prompts.get(pid) or cqm_question(problem)
            items.append(Item(id=pid, image=str(image), question=str(problem["question"]),
                              answer=S.LETTERS[int(problem["answer"])], category=problem.get("subject") or "",
                              group=pid, task=SCIENCEQA.name, prompt_question=question + self.question_suffix,
                              meta=item_meta(problem)))
        if not items:
            raise DatasetError(f"{self.root}: split {self.split} has no image questions")
        return items
