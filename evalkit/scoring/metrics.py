"""Metrics: pure functions over a predictions DataFrame; no I/O, no parsing.

Input columns: `id, task, category, group, answer` (yes/no), `parsed` (yes/no/other under the
run's rule; None/NaN for error rows), `strict` (the strict rule's reading) and `error` (None or a
message). Rates are fractions in [0, 1]. Benchmarks build their own tables from these.

Conventions, chosen so degenerate runs never crash and never flatter a model:
- An error row counts as wrong: it is scored as if parsed "other", and counted in `n_error`.
- "other" is always wrong. It is never a yes prediction, so it lowers recall when the truth is yes
  (it sits in `fn`: a missed positive) and is in no cell when the truth is no (a negative that was
  not recognised, so not a true negative either). Hence accuracy = (tp + tn) / n still holds.
- `yes_ratio` is the share of *predictions* parsed yes, over all rows (errors included), the POPE
  hallucination signal; not the share of ground-truth yes that some harnesses report.
- precision / recall / F1 with yes as positive are NaN when undefined (no yes prediction, no yes
  ground truth), never a ZeroDivisionError.
- `n_other` counts "other" under the run's rule; `n_other_strict` counts what the strict parser
  could not read (how much the lenient official rule had to interpret). Both exclude error rows.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Optional

import pandas as pd

from evalkit.benchmark import OVERALL  # label of the pooled row in grouped tables
from evalkit.scoring.score_metrics import mean_stderr
from evalkit.scoring.stats import yes_f1

COUNT_COLUMNS = ("n", "n_correct", "tp", "fp", "tn", "fn", "n_other", "n_other_strict", "n_error")
RATE_COLUMNS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def error_mask(df: pd.DataFrame) -> pd.Series:
    """Rows whose `error` holds a message (None, NaN and "" mean the item ran)."""
    if "error" not in df.columns:
        return pd.Series(False, index=df.index)
    errors = df["error"]
    return errors.notna() & (errors.astype(object).map(lambda e: str(e).strip()) != "")


def prepare(df: pd.DataFrame) -> pd.DataFrame:
    """Add the effective prediction `_pred` (errors and unparsed -> other) and `_error` flags."""
    missing = [c for c in ("answer", "parsed") if c not in df.columns]
    if missing:
        raise ValueError(f"metrics need columns {missing}; got {list(df.columns)}")
    out = df.copy()
    bad = ~out["answer"].isin(["yes", "no"])
    if bad.any():
        ids = out.loc[bad, "id"].tolist()[:5] if "id" in out.columns else out.index[bad].tolist()[:5]
        raise ValueError(f"{int(bad.sum())} row(s) have an answer other than 'yes'/'no', e.g. ids {ids}")
    out["_error"] = error_mask(out)
    parsed = out["parsed"].astype(object)
    out["_pred"] = parsed.where(~out["_error"] & parsed.isin(["yes", "no", "other"]), "other")
    strict = out["strict"].astype(object) if "strict" in out.columns else pd.Series(None, index=out.index,
                                                                                      dtype=object)
    out["_strict_other"] = ~out["_error"] & (strict == "other")
    for column in ("category", "group"):
        if column not in out.columns:
            out[column] = ""
        out[column] = out[column].astype(object).where(out[column].notna(), "").astype(str)
    out["_correct"] = out["_pred"] == out["answer"]
    return out


def ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def counts(sub: pd.DataFrame) -> dict[str, Any]:
    """Counts and yes-positive rates of a prepared frame (see the module docstring)."""
    pred, truth_yes = sub["_pred"], sub["answer"] == "yes"
    tp = int(((pred == "yes") & truth_yes).sum())
    fp = int(((pred == "yes") & ~truth_yes).sum())
    tn = int(((pred == "no") & ~truth_yes).sum())
    fn = int((truth_yes & (pred != "yes")).sum())
    n = len(sub)
    precision, recall = ratio(tp, tp + fp), ratio(tp, tp + fn)
    f1 = yes_f1(tp, fp, fn)
    return {
        "n": n,
        "n_correct": int(sub["_correct"].sum()),
        "accuracy": ratio(int(sub["_correct"].sum()), n),
        "accuracy_stderr": mean_stderr(sub["_correct"].astype(float))[1],
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": ratio(int((pred == "yes").sum()), n),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "n_other": int(((pred == "other") & ~sub["_error"]).sum()),
        "n_other_strict": int(sub["_strict_other"].sum()),
        "n_error": int(sub["_error"].sum()),
    }


def grouped(prepared: pd.DataFrame, by: list[str]) -> Iterable[tuple[dict[str, Any], pd.DataFrame]]:
    for keys, sub in prepared.groupby(by, sort=True, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        yield dict(zip(by, keys)), sub


def binary_metrics(df: pd.DataFrame, by: Optional[list[str]] = None) -> pd.DataFrame:
    """Yes-positive binary metrics, one row per value of `by` plus an overall row labelled "all".

    With `by` None (or empty) the result is a single overall row without key columns.
    """
    prepared = prepare(df)
    if not by:
        return pd.DataFrame([counts(prepared)])
    rows = [{**keys, **counts(sub)} for keys, sub in grouped(prepared, list(by))]
    rows.append({**{column: OVERALL for column in by}, **counts(prepared)})
    return pd.DataFrame(rows, columns=[*by, *counts(prepared.iloc[:0]).keys()])
