"""Yes/no answers: the task every yes/no benchmark scores with or builds on.

`YesNoTask` reads answers with the rules of `evalkit.scoring.parse` (the official one of a
benchmark, or `strict` to see how much a lenient rule interpreted), keeps the strict reading
beside it, and scores accuracy, yes-ratio and yes-positive precision / recall / F1 per category.
Benchmarks whose tasks are all yes/no also get the pooled numbers (over all their rows) in the
headline and the pooled paired statistics in `report compare`.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL, Headline, ItemView, Task, TaskResult, text_rule
from evalkit.scoring import metrics as M
from evalkit.scoring.calibration import agreement, calibration_metrics
from evalkit.scoring.parse import YESNO_RULES, parse_strict

# metrics.csv columns of a yes/no task (binary_metrics' counts and yes-positive rates).
BINARY_COLUMNS = ("n", "n_correct", "accuracy", "accuracy_stderr", "precision", "recall", "f1", "yes_ratio", "tp", "fp", "tn", "fn",
                  "n_other", "n_other_strict", "n_error")
BINARY_FORMATS = {**{c: "percent" for c in (*M.RATE_COLUMNS, "accuracy_stderr")}, **{c: "count" for c in M.COUNT_COLUMNS}}

POOLED_FRONT = (Headline("accuracy"), Headline("yes_ratio", direction="target", target=0.5))
POOLED_BACK = (Headline("n_other", direction="lower", format="count"),)


class YesNoTask(Task):
    """A free yes/no task (files of yes/no questions): MME's rule by default, the stricter of the
    two official ones, which unlike POPE's can say "other"."""

    name = "yesno"
    rules = {name: text_rule(read) for name, read in YESNO_RULES.items()}
    official_rule = "mme"
    answers = ("yes", "no")
    columns = BINARY_COLUMNS
    formats = BINARY_FORMATS
    pooled_headlines = (POOLED_FRONT, POOLED_BACK)
    shown = ("category", "n", "accuracy", "precision", "recall", "f1", "yes_ratio", "n_other", "n_other_strict",
             "n_error")

    def truth(self, answer: str) -> str:
        """Yes/no ground truths are read case-insensitively ("Yes", " no" in other tools' files)."""
        return str(answer).strip().lower()

    def score(self, parsed: str, item: ItemView) -> float:
        return 1.0 if parsed == self.truth(item.answer) else 0.0

    def choices(self, item) -> tuple[str, ...]:
        return ("yes", "no")

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        rows = super().annotate(rows, rule, is_error)
        strict = [parse_strict(t) for t in rows["text"]]
        rows["strict"] = pd.Series(strict, index=rows.index, dtype=object).where(~is_error, None)
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        return TaskResult(M.binary_metrics(rows, ["category"]))


def yesno_tasks(tasks: Sequence[Task]) -> list[Task]:
    """The yes/no tasks among `tasks` (a benchmark may mix them with caption tasks: shapes describe)."""
    return [task for task in tasks if isinstance(task, YesNoTask)]


def pooled_headline(rows: pd.DataFrame) -> dict[str, Any]:
    """Accuracy, yes-ratio and unreadable answers over every row of a yes/no benchmark."""
    overall = M.binary_metrics(rows).iloc[0] if len(rows) else None
    return {
        "n_other": int(overall["n_other"]) if overall is not None else 0,
        "n_other_strict": int(overall["n_other_strict"]) if overall is not None else 0,
        "accuracy": float(overall["accuracy"]) if overall is not None else math.nan,
        "yes_ratio": float(overall["yes_ratio"]) if overall is not None else math.nan,
    }


def calibration_scores(rows: pd.DataFrame) -> Optional[tuple[pd.DataFrame, dict[str, Any]]]:
    """AUROC / ECE / Brier of p_yes per category and the headline numbers (overall AUROC and ECE,
    agreement of the p_yes decision with the parsed answer), when the run recorded p_yes (logit
    mode, or greedy's first step): whether the model's confidence separates yes from no at all."""
    if "p_yes" not in rows.columns or rows["p_yes"].notna().sum() == 0:
        return None
    table = calibration_metrics(rows[rows["p_yes"].notna()], by=["category"])
    overall = table[table["category"] == OVERALL].iloc[0]
    headline = {"auroc": overall["auroc"], "ece": overall["ece"],
                **{f"p_yes_{k}": v for k, v in agreement(rows).items() if k in ("agreement", "n_clean")}}
    return table, headline


def pooled_deltas(joined: pd.DataFrame, boot: dict) -> dict:
    """Accuracy and F1 (yes positive) of run B minus run A over the paired rows, bootstrapped."""
    from evalkit.scoring import stats as S

    ok_a, ok_b = joined["correct_a"].to_numpy(bool), joined["correct_b"].to_numpy(bool)
    truth = joined["answer"].to_numpy() == "yes"
    yes_a, yes_b = joined["parsed_a"].to_numpy() == "yes", joined["parsed_b"].to_numpy() == "yes"
    return {
        "accuracy": S.paired_bootstrap(S.accuracy_stat, S.accuracy_features(ok_a), S.accuracy_features(ok_b), **boot),
        "f1": S.paired_bootstrap(S.f1_stat, S.f1_features(yes_a, truth), S.f1_features(yes_b, truth), **boot),
    }


def yes_features(joined: pd.DataFrame, side: str) -> np.ndarray:
    """F1 features (tp, fp, fn per row) of one side of a paired frame."""
    from evalkit.scoring import stats as S

    return S.f1_features(joined[f"parsed_{side}"].to_numpy() == "yes", joined["answer"].to_numpy() == "yes")


YESNO = YesNoTask()
