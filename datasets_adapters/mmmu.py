"""MMMU (Yue et al. 2024), validation split scored as the MMMU repository scores it (mmmu_eval).

Data: the hub dataset `lmms-lab/MMMU` (default; `MMMU/MMMU`, one config per subject, works too) or
a local copy of either (parquet / save_to_disk / hub cache; the `datasets` offline cache is
honoured). Columns: id (`validation_<Subject>_<n>`), question, options (a Python list literal),
answer, question_type, image_1..image_7.

Prompt: the MMMU repo's LLaVA config (`mmmu/configs/llava1.5.yaml`, `utils/data_utils.py`
construct_prompt): multiple choice "<question>\\n(A) <option>\\n(B) ...\\n\\nAnswer with the option's
letter from the given choices directly."; open questions "<question>\\nAnswer the question using a
single word or phrase.". The `<image 1>` markers stay in the text.
Images: as the repo's LLaVA runner (`process_single_sample`), the model sees `image_1` only. Two
kinds of questions are affected and counted in summary.json: `n_multi_image` (questions with
image_2.. that the model never sees) and `n_option_images` (options that are images: the repo's
runner does not ask LLaVA at all there and answers a random letter; evalkit asks the model with
image_1, so these rows are the only place its numbers can differ from that protocol).
The random fallback depends on every row scored before it: summary.json / metrics.csv come from
scoring the whole run, while the `parsed` a run writes into predictions.jsonl for an unreadable
answer is its batch's draw (rescoring recomputes; predictions.jsonl is never rewritten).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional, Sequence

import pandas as pd

from datasets_adapters import mmmu_eval as E
from datasets_adapters.lmms_logs import doc_field, lmms_samples
from datasets_adapters.hub import hf_tables, image_ref, looks_like_hub_id
from evalkit.benchmark import Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.scoring.importers import PredictionImportError
from evalkit.scoring.score_metrics import mean_stderr
from evalkit.tasks.choice import LETTER_INSTRUCTION, ChoiceTask, option_calibration
from evalkit.types import Item

SPLITS = ("validation", "dev", "test")
QUESTION_TYPES = ("multiple-choice", "open")
OPEN_INSTRUCTION = "Answer the question using a single word or phrase."
COLUMNS = ("id", "question", "options", "answer", "question_type", *(f"image_{k}" for k in range(1, 8)))
_OPTION_IMAGE = re.compile(r"<img='(.*?)'>")


@dataclass
class MMMUConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mmmu.MMMUDataset"
    name: str = "mmmu"
    path: str = "lmms-lab/MMMU"  # hub id or local copy (MMMU/MMMU: one config per subject)
    split: str = "validation"  # validation | dev | test (test has no answers: submission only)
    subjects: List[str] = field(default_factory=lambda: list(E.SUBJECTS))
    question_types: List[str] = field(default_factory=lambda: list(QUESTION_TYPES))  # multiple-choice only: choice_logits
    question_suffix: str = ""  # the instructions are part of MMMU's prompt formats

    def __post_init__(self):
        check_choice("dataset.split", self.split, SPLITS)
        self.subjects = check_choice("dataset.subjects", self.subjects, E.SUBJECTS, many=True)
        self.question_types = check_choice("dataset.question_types", self.question_types, QUESTION_TYPES, many=True)


def mmmu_prompt(question: str, options: Sequence[str], question_type: str) -> str:
    """construct_prompt with the llava1.5.yaml formats (task_instructions empty)."""
    if question_type == E.MULTIPLE_CHOICE:
        example = "".join(f"({chr(65 + k)}) {option}\n" for k, option in enumerate(options))
        return f"{question}\n{example}\n{LETTER_INSTRUCTION}"
    return f"{question}\n{OPEN_INSTRUCTION}"


def parse_options(value: Any, where: str) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    try:
        options = ast.literal_eval(str(value))  # the official eval() of a list literal, without running code
    except (ValueError, SyntaxError):
        raise DatasetError(f"{where}: options {str(value)[:80]!r} is not a list literal") from None
    return [str(v) for v in options]


def gold_text(gold: Any) -> str:
    return json.dumps(gold, ensure_ascii=False) if isinstance(gold, (list, tuple)) else str(gold)


# ------------------------------------------------------------------------------------------ task

TASK_NAME = "mmmu"


def official_rows(records: Any, questions: Sequence[Any], path: Any, annotations: Any = None) -> Optional[list[dict]]:
    """The MMMU repo's result formats: an output folder (`<Subject>/output.json` with `response`,
    main_parse_and_eval.py's input), one such output.json, or `total_val_output.json` (id -> the
    runner's parsed answer, main_eval_only.py's input) with --annotations answer_dict_val.json."""
    path = Path(path)
    if path.is_dir():
        files = [path / s / "output.json" for s in E.SUBJECTS if (path / s / "output.json").is_file()]
        if not files:
            raise PredictionImportError(f"{path}: no <Subject>/output.json (the MMMU repo's output folder)")
        outputs = [r for f in files for r in json.loads(f.read_text(encoding="utf-8"))]
    elif isinstance(records, dict):
        if annotations is None:
            raise PredictionImportError(f"{path}: id -> answer outputs (total_val_output.json) need --annotations "
                                        f"answer_dict_val.json (main_eval_only.py's --answer_path)")
        answers = json.loads(Path(annotations).read_text(encoding="utf-8"))
        unknown = sorted(set(records) - set(answers))
        if unknown:
            raise PredictionImportError(f"{path}: {len(unknown)} id(s) not in {annotations}, e.g. {unknown[:5]}")
        return [{"id": qid, "task": TASK_NAME, "question": "", "answer": gold_text(answers[qid]["ground_truth"]),
                 "category": E.subject_of(qid), "group": qid, "prediction": str(pred),
                 "meta": {"question_type": answers[qid]["question_type"], "gold": answers[qid]["ground_truth"],
                          "preparsed": True}} for qid, pred in records.items()]
    elif lmms_samples(records) is not None:  # lmms-eval's mmmu_val samples: the MMMU row in `doc`
        outputs = []
        for _, doc, text in lmms_samples(records):
            where = f"{path}: id {doc.get('id')}"
            kind = doc_field(doc, "question_type", where, PredictionImportError)
            output = {"id": doc_field(doc, "id", where, PredictionImportError), "question_type": kind,
                      "answer": doc_field(doc, "answer", where, PredictionImportError), "response": text or ""}
            if kind == E.MULTIPLE_CHOICE:
                options = parse_options(doc_field(doc, "options", where, PredictionImportError), where)
                output.update(all_choices=[chr(65 + k) for k in range(len(options))],
                              index2ans={chr(65 + k): o for k, o in enumerate(options)})
            elif isinstance(output["answer"], str) and output["answer"].startswith("["):
                try:
                    output["answer"] = [str(a) for a in ast.literal_eval(output["answer"])]
                except (ValueError, SyntaxError):
                    pass
            outputs.append(output)
    elif records and all(isinstance(r, dict) and {"id", "question_type", "response"} <= set(r) for r in records):
        outputs = list(records)
    else:
        return None
    rows = []
    for n, r in enumerate(outputs, 1):
        missing = [k for k in ("id", "question_type", "answer", "response") if k not in r]
        multiple = r.get("question_type") == E.MULTIPLE_CHOICE
        if missing or (multiple and not {"all_choices", "index2ans"} <= set(r)):
            raise PredictionImportError(f"{path}: output {n} (id {r.get('id')!r}) lacks {missing or 'all_choices/index2ans'}")
        meta = {"question_type": r["question_type"], "gold": r["answer"]}
        if multiple:
            meta.update(options=dict(r["index2ans"]), all_choices=list(r["all_choices"]))
        rows.append({"id": r["id"], "task": TASK_NAME, "question": "", "answer": gold_text(r["answer"]),
                     "category": E.subject_of(r["id"]), "group": r["id"], "prediction": r["response"], "meta": meta})
    return rows



def _meta(rows: pd.DataFrame, key: str, default: Any = None) -> pd.Series:
    return rows["meta"].map(lambda m: m.get(key, default) if isinstance(m, dict) else default)


class MMMUTask(ChoiceTask):
    """MMMU's scoring: the repo's parse (with its seeded random fallback, walked in the official
    order over the rows being scored) and evaluate; per subject, per discipline and overall."""

    name = TASK_NAME
    rules = {"mmmu": lambda text, item: text}  # the rule needs every row (the random stream): annotate applies it
    official_rule = "mmmu"
    headline = (Headline("mmmu_accuracy"),)
    columns = ("n", "n_correct", "accuracy")
    formats = {"n": "count", "n_correct": "count", "accuracy": "percent"}
    shown = None
    summary_rows = frozenset({E.OVERALL} | {f"{E.OVERALL}-{d}" for d in E.DISCIPLINES})
    imports = ImportRules(own_format="mmmu_outputs", own_rows=official_rows)
    note = ("MMMU: mmmu/utils/eval_utils.py parse and evaluate (an unreadable multiple-choice answer gets the "
            "repo's seeded random letter); the model sees image_1 only, as the repo's LLaVA runner")

    def check_item(self, item: Item) -> None:
        if item.meta.get("unanswered"):
            return  # the test split: a submission file, no score
        if item.meta.get("question_type") == E.MULTIPLE_CHOICE:
            super().check_item(item)
        elif not item.answer:
            raise ValueError(f"item {item.id!r}: an open MMMU question needs its answer")

    def choices(self, item: Item) -> Optional[tuple[str, ...]]:
        return super().choices(item) if item.meta.get("question_type") == E.MULTIPLE_CHOICE else None

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        parser = E.MultiChoiceParser()
        parsed = pd.Series(None, index=rows.index, dtype=object)
        correct = pd.Series(False, index=rows.index, dtype=bool)
        random_letter = pd.Series(False, index=rows.index, dtype=bool)
        order = sorted(rows.index[~is_error], key=lambda i: E.official_order(rows.at[i, "id"]))
        for i in order:
            # the official parse reads the response as generated, not stripped ("A\n" is not " A ")
            raw = rows.at[i, "prediction"] if "prediction" in rows.columns else None
            meta, text = rows.at[i, "meta"], raw if isinstance(raw, str) else rows.at[i, "text"]
            gold = meta.get("gold", rows.at[i, "answer"])
            if meta.get("question_type") == E.MULTIPLE_CHOICE:
                before = parser.n_random
                # total_val_output.json holds answers the repo's runner already parsed: used as they are
                letter = text if meta.get("preparsed") else parser(text, meta["all_choices"], meta["options"])
                random_letter[i] = parser.n_random > before
                parsed[i], correct[i] = letter, E.choice_correct(gold, letter)
            else:
                values = E.parse_open(text)
                parsed[i] = json.dumps(sorted(values, key=repr), ensure_ascii=False)
                correct[i] = E.open_correct(gold, values)
        rows["parsed"], rows["correct"] = parsed, correct
        rows["score"] = correct.astype(float)
        rows["random_letter"] = random_letter
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        if _meta(rows, "unanswered", False).all():
            return TaskResult(pd.DataFrame(columns=["category", *self.columns]),
                              {"note": "MMMU test split: no answers to score; write the submission json with "
                                       "python -m datasets_adapters.mmmu_submit"})
        frame = rows.assign(subject=[E.subject_of(i) for i in rows["id"]])
        table = E.mmmu_table(frame)
        overall = table[table["category"] == E.OVERALL].iloc[0]
        headline = {"mmmu_accuracy": float(overall["accuracy"]),
                    "mmmu_accuracy_stderr": mean_stderr(rows["score"].astype(float))[1],
                    "n_random_letter": int(rows.get("random_letter", pd.Series(dtype=bool)).sum()),
                    "n_multi_image": int((_meta(rows, "n_images", 1) > 1).sum()),
                    "n_option_images": int((_meta(rows, "n_option_images", 0) > 1).sum())}
        calibration = option_calibration(rows[_meta(rows, "question_type") == E.MULTIPLE_CHOICE])
        if calibration["n_probs"]:
            headline.update(choice_ece=calibration["ece"], choice_brier=calibration["brier"])
        return TaskResult(table, headline)


MMMU = MMMUTask()


class MMMUDataset(Benchmark):
    schema = MMMUConfig
    tasks = (MMMU,)

    def __init__(self, **settings):
        super().__init__(**settings)  # MMMUConfig: path, split, subjects, question_types, question_suffix
        local = Path(self.path).expanduser()
        if not local.exists() and not looks_like_hub_id(self.path):
            raise DatasetError(f"dataset.path={self.path}: no such file or folder, and not a hub id like lmms-lab/MMMU")

    def _tables(self) -> list[tuple]:
        if not Path(self.path).expanduser().exists() and self.path.lower() == "mmmu/mmmu":
            return [t for s in self.subjects for t in hf_tables(self.path, self.split, "MMMU", hub_config=s)]
        return hf_tables(self.path, self.split, self.path.rstrip("/").split("/")[-1])

    def load(self) -> list[Item]:
        items = []
        for label, table in self._tables():
            missing = [c for c in ("id", "question", "options", "answer", "question_type", "image_1")
                       if c not in table.column_names]
            if missing:
                raise DatasetError(f"{label}: missing column(s) {missing}; MMMU has {', '.join(COLUMNS)}")
            for row in table.select([c for c in COLUMNS if c in table.column_names]).to_pylist():
                qid = str(row["id"])
                if not qid.startswith(f"{self.split}_") or E.subject_of(qid) not in self.subjects:
                    continue  # a local copy holds every split and subject
                item = self._item(row, f"{label}: {qid}")
                if item.meta["question_type"] in self.question_types or (
                        item.meta["question_type"] != E.MULTIPLE_CHOICE and "open" in self.question_types):
                    items.append(item)
        ids = [i.id for i in items]
        if not items:
            raise DatasetError(f"dataset.path={self.path}: no {self.split} questions of {self.subjects[:3]}...")
        if len(set(ids)) != len(ids):
            raise DatasetError(f"dataset.path={self.path}: question ids repeat (two copies of a subject?)")
        return sorted(items, key=lambda i: E.official_order(i.id))

    def _item(self, row: dict, where: str) -> Item:
        options = parse_options(row["options"], where)
        kind = str(row["question_type"])
        images = [row.get(f"image_{k}") for k in range(1, 8)]
        if images[0] is None:
            raise DatasetError(f"{where}: no image_1")
        meta: dict[str, Any] = {"question_type": kind, "n_images": sum(i is not None for i in images),
                                "unanswered": self.split == "test",
                                "n_option_images": sum(len(_OPTION_IMAGE.findall(o)) for o in options)}
        answer = row["answer"]
        if kind == E.MULTIPLE_CHOICE:
            letters = [chr(65 + k) for k in range(len(options))]
            meta.update(options=dict(zip(letters, options)), all_choices=letters, gold=str(answer))
        else:
            meta["gold"] = answer
            if isinstance(answer, str) and answer.startswith("["):  # several accepted answers, as a list literal
                try:
                    meta["gold"] = [str(a) for a in ast.literal_eval(answer)]
                except (ValueError, SyntaxError):
                    pass
        return Item(id=str(row["id"]), image=image_ref(images[0]), question=str(row["question"]),
                    answer=gold_text(meta["gold"]), category=E.subject_of(str(row["id"])), group=str(row["id"]),
                    task=MMMU.name, prompt_question=mmmu_prompt(str(row["question"]), options, kind) + self.question_suffix,
                    meta=meta)
