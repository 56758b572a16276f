"""Short answers (VQAv2, GQA, VizWiz, TextVQA, any file of questions with human answers).

An item's `meta["answers"]` holds its human answers (VQAv2 / VizWiz / TextVQA: ten; GQA and plain
files: one), `answer` the one shown in tables (the most common, or GQA's gold). A task declares how
answers compare, as its benchmark's official evaluator does (`evalkit.scoring.vqa_answers`):

- `vqa`: VQA accuracy as the VQA API's vqaEval.py (answers processed only when they differ);
- `m4c`: VQA accuracy as m4c's TextVQAAccuracyEvaluator (EvalAI's processor on every answer);
- `exact`: 1 if the parsed answer equals the ground truth as written (GQA's eval.py);
- `vqa_or_match`: `vqa` for items with several answers, a processed match for one (`vqa` files).

and reads the model's text with rules of the same source (`raw`: the text as LLaVA's answer file
has it; `evalai`: EvalAI's processor, what LLaVA's submission files hold; `gqa`: LLaVA's
convert_gqa_for_eval.py). Per-item scores are fractions (0, 1/3, 2/3, 0.9, 1...), so `binary` is
False: reports bootstrap the mean score instead of McNemar on correctness; `correct` is score 1.

Items of a split without answers (VQAv2 test-dev, VizWiz test) score NaN and the task reports no
accuracy: their number comes from the evaluation server, from the file `--submission` writes.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

import pandas as pd

from evalkit.benchmark import OVERALL, Headline, ItemView, Task, TaskResult
from evalkit.errors import EvalkitError
from evalkit.scoring.score_metrics import SCORE_COLUMNS, SCORE_FORMATS, score_counts
from evalkit.scoring.vqa_answers import evalai_answer, gqa_prediction, m4c_accuracy, vqa_accuracy, vqa_eval_answer
from evalkit.types import Item

# Meta flag of imported rows whose answers a tool already processed (the VQA results format):
# the `evalai` rule reads them as written, as vqaEval.py would (EvalAI's processor is not idempotent:
# it splits the "'s" of the "he's" it wrote itself).
PROCESSED = "answer_processed"


def raw(text: str, item: ItemView) -> str:
    """The text as LLaVA's answer file holds it (stripped); what vqaEval.py / m4c receive."""
    return text


def evalai(text: str, item: ItemView) -> str:
    """EvalAI's answer processor, as LLaVA's convert_vqav2/vizwiz_for_submission.py apply it."""
    return text if item.meta.get(PROCESSED) else evalai_answer(text)


def gqa(text: str, item: ItemView) -> str:
    """LLaVA's convert_gqa_for_eval.py: trailing periods stripped, lowercased."""
    return gqa_prediction(text)


SCORINGS: Mapping[str, str] = {
    "vqa": "VQA accuracy as vqaEval.py (VQA API)",
    "m4c": "VQA accuracy as m4c's TextVQAAccuracyEvaluator (LLaVA's eval_textvqa.py)",
    "exact": "exact match with the ground truth as written (GQA's eval.py)",
    "vqa_or_match": "VQA accuracy as vqaEval.py where an item has several human answers; with one, a match "
                    "after vqaEval.py's processing of both (leave-one-out needs several answers)",
}
RULES: Mapping[str, Callable[[str, ItemView], str]] = {"raw": raw, "evalai": evalai, "gqa": gqa}
BREAKDOWN = "breakdown"  # metrics.csv column naming what `category` is (answer_type, question_type, ...)


class ShortAnswerTask(Task):
    """One short-answer protocol; a benchmark builds one with its scoring, rule and breakdowns."""

    binary = False
    summary_rows = frozenset({OVERALL})
    columns = (BREAKDOWN, *SCORE_COLUMNS)
    formats = SCORE_FORMATS
    shown = ("category", BREAKDOWN, "n", "accuracy", "accuracy_stderr", "n_unread", "n_error")

    def __init__(self, name: str, scoring: str, official_rule: str, *, rules: Sequence[str] = ("raw", "evalai"),
                 category: str = "category", breakdowns: Sequence[str] = (), headline: Optional[str] = None,
                 note: str = "", imports=None):
        if scoring not in SCORINGS:
            raise ValueError(f"task {name}: scoring must be one of {tuple(SCORINGS)}, got {scoring!r}")
        if official_rule not in rules:
            raise ValueError(f"task {name}: official rule {official_rule!r} is not among its rules {tuple(rules)}")
        self.name = name
        self.scoring = scoring
        self.rules = {r: RULES[r] for r in rules}
        self.official_rule = official_rule
        self.category = category  # what the items' `category` holds (answer type, structural type...)
        self.breakdowns = tuple(breakdowns)  # further meta keys tabulated (question_type, semantic...)
        self.headline_name = headline or f"{name}_accuracy"
        self.headline = (Headline(self.headline_name),)
        self.formats = {**SCORE_FORMATS, f"{self.headline_name}_stderr": "percent"}
        self.category_values = ("accuracy",)
        self.note = note or f"{name}: {SCORINGS[scoring]}; per-item scores are fractions"
        if imports is not None:
            self.imports = imports

    # ------------------------------------------------------------------------------------ scoring
    def score(self, parsed: str, item: ItemView) -> float:
        answers = human_answers(item)
        if not answers:  # a test split: no ground truth here
            return math.nan
        if self.scoring == "exact":
            return 1.0 if parsed == item.answer else 0.0
        if self.scoring == "m4c":
            return m4c_accuracy(parsed, answers)
        if self.scoring == "vqa_or_match" and len(answers) == 1:
            return 1.0 if vqa_eval_answer(parsed) == vqa_eval_answer(answers[0]) else 0.0
        return vqa_accuracy(parsed, answers)

    def is_correct(self, score: float, item: ItemView) -> bool:
        return score >= 1.0  # NaN (no answers) is not correct

    def check_item(self, item: Item) -> None:
        answers = item.meta.get("answers")
        if not isinstance(answers, (list, tuple)) or not all(isinstance(a, str) for a in answers):
            raise ValueError(f"item {item.id!r}: meta['answers'] must be a list of strings for task {self.name}")
        if self.scoring == "m4c" and answers and len(answers) != 10:
            raise ValueError(f"item {item.id!r}: the m4c evaluator needs 10 human answers, got {len(answers)}")

    # ------------------------------------------------------------------------------------ metrics
    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        # Items with human answers (error rows among them score 0); none: a test split.
        answered = rows["meta"].map(lambda m: bool(human_answers(ItemView(id="", question="", answer="", meta=m)))
                                    if isinstance(m, Mapping) else False)
        if not answered.any():  # the number comes from the evaluation server
            table = pd.DataFrame([{"category": OVERALL, BREAKDOWN: self.category, **_unscored(rows)}],
                                 columns=["category", *self.columns])
            return TaskResult(table, {self.headline_name: None,
                                      "unscored": f"{self.name}: this split has no answers here, nothing is scored; "
                                                  "its number comes from the evaluation server (--submission)"})
        if not answered.all():
            raise EvalkitError(f"task {self.name}: {int((~answered).sum())} of {len(rows)} rows have no human "
                               f"answers (e.g. {rows.loc[~answered, 'id'].iloc[0]!r}): a score over part of the split "
                               "is not the benchmark's number")
        scored = rows
        parts = [breakdown_table(scored, "category", self.category, with_overall=True)]
        for key in self.breakdowns:
            values = scored["meta"].map(lambda m, k=key: str((m or {}).get(k, "")) if isinstance(m, Mapping) else "")
            parts.append(breakdown_table(scored.assign(_by=values), "_by", key, with_overall=False))
        table = pd.concat(parts, ignore_index=True)[["category", *self.columns]]
        overall = table[(table["category"] == OVERALL)].iloc[0]
        return TaskResult(table, {self.headline_name: float(overall["accuracy"]),
                                  f"{self.headline_name}_stderr": float(overall["accuracy_stderr"])})

    # --------------------------------------------------------------------------------- submission
    def submission(self, rows: pd.DataFrame, questions: Sequence[Path]) -> list[dict]:
        """The evaluation server's upload file for these prediction rows (VQAv2, VizWiz)."""
        raise EvalkitError(f"task {self.name} has no submission file format; it is scored locally")


def human_answers(item: ItemView) -> list[str]:
    answers = item.meta.get("answers")
    return list(answers) if isinstance(answers, (list, tuple)) else []


def breakdown_table(rows: pd.DataFrame, column: str, label: str, with_overall: bool) -> pd.DataFrame:
    """score_counts per value of `column` (sorted), labelled `label` in the breakdown column."""
    out = [{"category": str(value), BREAKDOWN: label, **score_counts(sub)}
           for value, sub in rows.groupby(column, sort=True, dropna=False)]
    if with_overall:
        out.append({"category": OVERALL, BREAKDOWN: label, **score_counts(rows)})
    return pd.DataFrame(out)


def _unscored(rows: pd.DataFrame) -> dict[str, Any]:
    counts = score_counts(rows.assign(score=0.0))
    return {**counts, "n_correct": None, "accuracy": math.nan, "accuracy_stderr": math.nan}
