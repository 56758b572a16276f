"""MMBench / MMBench-CN (Liu et al. 2023) as LLaVA runs it and VLMEvalKit scores it (mmbench_metrics).

Data: the official TSV (`MMBench_DEV_EN.tsv`, `MMBench_DEV_CN.tsv`, ... : index, question, hint,
A-D, answer, category, l2-category, base64 image; `dataset.path=` the file, LLaVA's
playground/data/eval/mmbench layout), or the hub dataset `lmms-lab/MMBench` (config en / cn) or a
local copy of it. Every TSV row is an item (id = its index), the circular copies included.
Prompt: LLaVA's model_vqa_mmbench.py --single-pred-prompt: the hint on its own line first when
there is one, the question, "A. option" lines up to the first empty option, then "Answer with
the option's letter from the given choices directly." (`dataset.lang=cn`: "请直接回答选项字母。").
Scoring (dev, with answers): VLMEvalKit's can_infer and CircularEval (its exact_matching policy by
default; with `judge=...` the answers can_infer cannot read are matched by an LLM with VLMEvalKit's
prompt and retries, mmbench_llm), vanilla first-copy accuracy beside it, per category and
l2-category. The upload .xlsx (LLaVA uploads its dev runs; the test split has no answers):
`python -m datasets_adapters.mmbench_submit`, exactly as LLaVA's convert_mmbench_for_submission.py.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from datasets_adapters import mmbench_llm as LLM
from datasets_adapters import mmbench_metrics as M
from datasets_adapters.lmms_logs import doc_field, lmms_samples
from datasets_adapters.hub import hf_tables, image_ref, looks_like_hub_id
from evalkit.benchmark import Benchmark, Headline, ImportRules, Task, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.scoring.importers import PredictionImportError
from evalkit.scoring.score_metrics import mean_stderr
from evalkit.tasks.choice import LETTER_INSTRUCTION, ChoiceTask, choice_prompt, option_calibration, options_of, read_lenient, read_letter
from evalkit.tasks.judged import JudgedTask
from evalkit.types import Item

OPTION_LETTERS = ("A", "B", "C", "D")  # model_vqa_mmbench.py's all_options
INSTRUCTIONS = {"en": LETTER_INSTRUCTION, "cn": "请直接回答选项字母。"}
SPLITS = ("dev", "test")
REQUIRED = ("index", "question", "A", "B", "image")


@dataclass
class MMBenchConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mmbench.MMBenchDataset"
    name: str = "mmbench"
    path: str = "lmms-lab/MMBench"  # the official TSV, or a hub id / local copy of lmms-lab/MMBench
    lang: str = "en"  # en | cn: the hub config and the answer instruction
    split: str = "dev"  # dev (answers: scored) | test (submission file only)
    question_suffix: str = ""  # the instruction follows dataset.lang

    def __post_init__(self):
        check_choice("dataset.lang", self.lang, tuple(INSTRUCTIONS))
        check_choice("dataset.split", self.split, SPLITS)


def is_none(value: Any) -> bool:
    """model_vqa_mmbench.py's is_none: None, NaN, "nan" or "none" (any case)."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and value.lower() in ("nan", "none"))


def row_options(row: dict) -> dict[str, str]:
    """get_options: the options A, B, ... up to the first empty one."""
    options = {}
    for letter in OPTION_LETTERS:
        if letter not in row or is_none(row[letter]):
            break
        options[letter] = str(row[letter])
    return options


def read_tsv(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_table(path)  # as LLaVA reads it
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise DatasetError(f"{path}: cannot read the MMBench TSV ({type(exc).__name__}: {exc})") from None
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; the MMBench TSV has index, question, hint, A-D, "
                           f"answer, category, l2-category, image")
    return frame


# ------------------------------------------------------------------------------------------ task

def read_can_infer(text: str, item: Any) -> str:
    """VLMEvalKit's can_infer over the item's options: the letter, "Z" (refusal) or ""."""
    return M.can_infer(text, options_of(item))


def _hits_frame(rows: pd.DataFrame) -> pd.DataFrame:
    meta = rows["meta"].map(lambda m: m if isinstance(m, dict) else {})
    return pd.DataFrame({"index": meta.map(lambda m: int(m["index"])), "answer": rows["answer"].values,
                         "parsed": rows["parsed"].map(lambda p: p if isinstance(p, str) else "").values,
                         "category": meta.map(lambda m: m.get("category", "")).values,
                         "l2-category": meta.map(lambda m: m.get("l2-category", "")).values})


def import_llava_answers(records: Sequence[dict], questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """LLaVA's MMBench answers (question_id = the TSV index, prompt, text) joined by index with
    --questions TSV (the dev TSV, with answers); or lmms-eval's mmbench_*_dev samples (the TSV row in `doc`)."""
    samples = lmms_samples(records)
    if samples is not None:
        rows = []
        for _, doc, text in samples:
            row = {**doc, "index": doc_field(doc, "index", f"{path}: a sample", PredictionImportError),
                   "answer": doc_field(doc, "answer", f"{path}: index {doc['index']}", PredictionImportError)}
            rows.append({"id": str(int(row["index"])), "task": "mmbench", "question": str(row.get("question", "")),
                         "answer": str(row["answer"]), "category": str(row.get("category", "")),
                         "group": str(M.circular_index(int(row["index"]))), "prediction": text, "meta": _meta(row)})
        return rows
    if not isinstance(records, list):
        return None
    columns = set().union(*(r.keys() for r in records))
    if not {"question_id", "text"} <= columns or "answer" in columns or not questions:
        return None
    table = read_tsv(Path(questions[0]))
    if "answer" not in table.columns:
        raise PredictionImportError(f"{questions[0]}: no answer column (a test TSV: make the submission file instead)")
    by_index = {int(r["index"]): r for r in table.to_dict("records")}
    rows, unknown = [], []
    for r in records:
        row = by_index.get(int(r["question_id"]))
        if row is None:
            unknown.append(r["question_id"])
            continue
        rows.append({"id": str(row["index"]), "task": "mmbench", "question": str(row["question"]),
                     "answer": str(row["answer"]), "category": str(row.get("category", "")),
                     "group": str(M.circular_index(int(row["index"]))), "prediction": r.get("text"),
                     "prompt": r.get("prompt"), "meta": _meta(row)})
    if unknown:
        raise PredictionImportError(f"{path}: {len(unknown)} question_id(s) not in {questions[0]}, e.g. {unknown[:5]}")
    return rows


def _meta(row: dict) -> dict[str, Any]:
    return {"index": int(row["index"]), "options": row_options(row),
            "category": "" if is_none(row.get("category")) else str(row["category"]),
            "l2-category": "" if is_none(row.get("l2-category")) else str(row["l2-category"])}


class MMBenchTask(ChoiceTask, JudgedTask):
    """MMBench: can_infer per copy; CircularEval (headline) and vanilla accuracy per question. A
    judge (judge=..., python -m evalkit.judge) matches the answers can_infer cannot read
    (mmbench_llm); without one, VLMEvalKit's exact matching (the default)."""

    name = "mmbench"
    binary = True  # right / wrong per copy, with or without the judge
    score_name = "accuracy"
    judge_optional = True  # the exact-matching default is a number of its own: suites run it without a judge
    judge_temperature = LLM.TEMPERATURE
    judge_max_tokens = LLM.MAX_TOKENS
    judge_template = LLM.TEMPLATE
    rules = {"can_infer": read_can_infer, "letter": read_letter, "lenient": read_lenient}
    official_rule = "can_infer"
    headline = (Headline("mmbench_circular_accuracy"), Headline("mmbench_vanilla_accuracy"))
    columns = ("n_questions", "circular_accuracy", "vanilla_accuracy")
    formats = {"n_questions": "count", "circular_accuracy": "percent", "vanilla_accuracy": "percent"}
    shown = None
    category_values = ("circular_accuracy", "vanilla_accuracy")
    summary_rows = frozenset({"Overall"})
    note = ("MMBench: VLMEvalKit e8e78f05 can_infer (exact matching unless judged: mmbench_extraction says which); "
            "CircularEval: a question counts only when all its circular copies are answered right")
    imports = ImportRules(own_format="llava_mmbench_answers", own_rows=import_llava_answers)

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Beside the per-copy accuracy every task gets: CircularEval over questions (a question
        right when all its copies are) and vanilla over the first copies, bootstrapped by question."""
        from evalkit.scoring import stats as ST

        per_question = joined.groupby("group")[["correct_a", "correct_b"]].all()
        first = joined[joined["id"].astype(str) == joined["group"].astype(str)]
        return {name: ST.paired_bootstrap(ST.accuracy_stat, ST.accuracy_features(part["correct_a"].to_numpy(bool)),
                                          ST.accuracy_features(part["correct_b"].to_numpy(bool)), **boot)
                for name, part in (("mmbench_circular_accuracy", per_question), ("mmbench_vanilla_accuracy", first))}

    def next_ask(self, row, replies, base_temperature):
        return LLM.next_ask(row, replies, base_temperature)

    def rate(self, row, replies):
        return LLM.rate(row, replies)

    def judge_context(self, rows: pd.DataFrame):
        return LLM.needs_judge(rows)

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        """can_infer's letter (`parsed`), replaced by the judge's where the judge decided it (`by`:
        "llm" or "fallback"; `judged`: decided by the judge; `awaiting`: sent, reply not cached yet)."""
        rows = Task.annotate(self, rows, rule, is_error)
        rows["by"], rows["judged"], rows["awaiting"], rows["extraction_judge"] = "heuristic", False, False, None
        if rule != self.official_rule or not _judged(rows):
            return rows
        rows["extraction_judge"] = rows["judge"]
        for index, ratings, extras, error in zip(rows.index, rows["judge_ratings"], rows["judge_extra"], is_error):
            extra = extras[0] if isinstance(extras, list) and extras else {}
            if error:
                continue
            if not isinstance(ratings, list) or not ratings or ratings[0] is None:
                rows.at[index, "awaiting"] = True
            elif extra.get("by") in ("llm", "fallback"):
                rows.at[index, "parsed"] = extra["letter"]
                rows.at[index, "score"] = float(extra["letter"] == rows.at[index, "answer"])
                rows.at[index, "correct"] = extra["letter"] == rows.at[index, "answer"]
                rows.at[index, "by"], rows.at[index, "judged"] = extra["by"], True
        return rows

    def check_item(self, item: Item) -> None:
        if item.answer == "" and len(options_of(item)) >= 2:
            return  # the test split: no answers, a submission file only
        super().check_item(item)

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        if (rows["answer"].astype(str) == "").all():
            return TaskResult(pd.DataFrame(columns=["category", *self.columns]),
                              {"note": "MMBench test split: no answers to score; write the submission file with "
                                       "python -m datasets_adapters.mmbench_submit"})
        label = _extraction(rows)
        if label.get("n_unjudged"):  # partly judged: no number from partial data
            return TaskResult(pd.DataFrame([{"category": "Overall", "n_questions": rows["group"].nunique()}]), label)
        hits = _hits_frame(rows)
        circular = M.circular_hits(hits)
        vanilla = M.vanilla_hits(hits)
        table = M.report_acc(circular).rename(columns={"n": "n_questions", "accuracy": "circular_accuracy"})
        table["vanilla_accuracy"] = M.report_acc(vanilla)["accuracy"].values
        headline = {"mmbench_circular_accuracy": float(circular["hit"].mean()),
                    "mmbench_circular_accuracy_stderr": mean_stderr(circular["hit"].astype(float))[1],
                    "mmbench_vanilla_accuracy": float(vanilla["hit"].mean()),
                    "mmbench_vanilla_accuracy_stderr": mean_stderr(vanilla["hit"].astype(float))[1],
                    "n_questions": int(len(circular)), "n_copies": int(len(hits)), **label}
        calibration = option_calibration(rows)
        if calibration["n_probs"]:
            headline.update(choice_ece=calibration["ece"], choice_brier=calibration["brier"])
        return TaskResult(table, headline)


def _judged(rows: pd.DataFrame) -> bool:
    return "judge" in rows.columns and rows["judge"].notna().any() and "judge_ratings" in rows.columns


def _extraction(rows: pd.DataFrame) -> dict:
    """Which extraction decided the letters and, judged, how many the judge decided (by an LLM
    reply, by the fallback after 3 unreadable replies) and how many still wait for a reply."""
    judge = rows["extraction_judge"].iloc[0] if len(rows) else None
    if not isinstance(judge, str):
        return {"mmbench_extraction": "exact matching (VLMEvalKit's exact_matching policy; judge=... adds its LLM "
                                      "choice extraction)"}
    out = {"mmbench_extraction": f"{judge} (VLMEvalKit's LLM choice extraction)",
           "mmbench_llm_decided": int((rows["by"] == "llm").sum()),
           "mmbench_fallback_decided": int((rows["by"] == "fallback").sum())}
    if rows["awaiting"].any():
        out["n_unjudged"] = int(rows["awaiting"].sum())
    return out


MMBENCH = MMBenchTask()


class MMBenchDataset(Benchmark):
    schema = MMBenchConfig
    tasks = (MMBENCH,)

    def __init__(self, **settings):
        super().__init__(**settings)  # MMBenchConfig: path, lang, split, question_suffix
        if not Path(self.path).expanduser().exists() and not looks_like_hub_id(self.path):
            raise DatasetError(f"dataset.path={self.path}: no such file or folder, and not a hub id like lmms-lab/MMBench")

    def _rows(self) -> list[tuple[str, dict]]:
        local = Path(self.path).expanduser()
        if local.is_file() and local.suffix.lower() == ".tsv":
            return [(f"{local}: index {r['index']}", r) for r in read_tsv(local).to_dict("records")]
        rows = []
        for label, table in hf_tables(self.path, self.split, "MMBench", hub_config=self.lang):
            missing = [c for c in REQUIRED if c not in table.column_names]
            if missing:
                raise DatasetError(f"{label}: missing column(s) {missing}")
            rows += [(f"{label}: index {r['index']}", r) for r in table.to_pylist()]
        return rows

    def load(self) -> list[Item]:
        items, seen = [], set()
        for where, row in self._rows():
            index = int(row["index"])
            if index in seen:
                raise DatasetError(f"{where}: index repeats")
            seen.add(index)
            items.append(self._item(row, where))
        if not items:
            raise DatasetError(f"dataset.path={self.path}: no questions")
        return items

    def _item(self, row: dict, where: str) -> Item:
        options = row_options(row)
        if len(options) < 2:
            raise DatasetError(f"{where}: fewer than two options")
        answer = "" if is_none(row.get("answer")) else str(row["answer"]).strip()
        if self.split == "dev" and answer not in options:
            raise DatasetError(f"{where}: answer {row.get('answer')!r} is not one of its options {list(options)}")
        image = row["image"]
        image = base64.b64decode(image) if isinstance(image, str) else image_ref(image)
        hint = None if is_none(row.get("hint")) else str(row["hint"])
        prompt = choice_prompt(str(row["question"]), options, hint, INSTRUCTIONS[self.lang]) + self.question_suffix
        meta = _meta(row)
        return Item(id=str(int(row["index"])), image=image, question=str(row["question"]), answer=answer,
                    category=meta["category"], group=str(M.circular_index(int(row["index"]))), task=MMBENCH.name,
                    prompt_question=prompt, meta=meta)
