"""Metrics over the per-item `score` column every task's `annotate` adds: pure functions.

`score` is 1/0 for exact answers (multiple choice, yes/no), a soft accuracy for VQA, a judge's
rating for judged tasks; errors score 0 (they count as wrong, as everywhere in evalkit). The
standard error is lm-evaluation-harness's `mean_stderr`: the sample standard deviation over
sqrt(n), so a headline reads "64.3 ± 1.3".
"""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL

SCORE_COLUMNS = ("n", "n_correct", "accuracy", "accuracy_stderr", "n_unread", "n_error")
SCORE_FORMATS = {"accuracy": "percent", "accuracy_stderr": "percent", "n": "count", "n_correct": "count",
                 "n_unread": "count", "n_error": "count"}


def mean_stderr(values: Iterable[float]) -> tuple[float, float]:
    """(mean, standard error of the mean); NaN for no values, stderr NaN for one."""
    array = np.asarray(list(values), dtype=float)
    if array.size == 0:
        return math.nan, math.nan
    mean = float(array.mean())
    if array.size == 1:
        return mean, math.nan
    return mean, float(array.std(ddof=1) / math.sqrt(array.size))


def _is_error(rows: pd.DataFrame) -> pd.Series:
    if "error" not in rows.columns:
        return pd.Series(False, index=rows.index)
    errors = rows["error"]
    return errors.notna() & (errors.astype(object).map(lambda e: str(e).strip()) != "")


def score_counts(rows: pd.DataFrame) -> dict:
    """n, correct count, mean score with its standard error, unreadable answers, errors."""
    error = _is_error(rows)
    parsed = rows["parsed"] if "parsed" in rows.columns else pd.Series("", index=rows.index)
    unread = ~error & parsed.astype(object).map(lambda p: not (isinstance(p, str) and p != ""))
    accuracy, stderr = mean_stderr(rows["score"].astype(float))
    return {"n": int(len(rows)), "n_correct": int(rows["correct"].astype(bool).sum()), "accuracy": accuracy,
            "accuracy_stderr": stderr, "n_unread": int(unread.sum()), "n_error": int(error.sum())}


def score_table(rows: pd.DataFrame, by: Optional[Sequence[str]] = ("category",)) -> pd.DataFrame:
    """One row per value of `by` (sorted) and the pooled row "all" (first column labels it)."""
    if not by:
        return pd.DataFrame([score_counts(rows)], columns=list(SCORE_COLUMNS))
    by = list(by)
    out = []
    for keys, sub in rows.groupby(by, sort=True, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        out.append({**dict(zip(by, keys)), **score_counts(sub)})
    out.append({**{column: OVERALL for column in by}, **score_counts(rows)})
    return pd.DataFrame(out, columns=[*by, *SCORE_COLUMNS])
