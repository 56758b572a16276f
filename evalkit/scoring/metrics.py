"""Metrics: pure functions over a predictions DataFrame; no I/O, no parsing.

Input columns: `id, task, category, group, answer` (yes/no), `parsed` (yes/no/other under the
run's rule; None/NaN for error rows), `strict` (the strict rule's reading) and `error` (None or a
message). Rates are fractions in [0, 1]; MME scores are in MME's own points (max 200 a subtask).

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

OVERALL = "all"  # label of the pooled row in grouped tables
MEAN = "mean"  # label of the mean-over-splits row (POPE)

MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")

# Spellings seen in the wild (official folder names, lmms-lab/MME `category`, papers' tables) ->
# the official subtask name. Keys are lower-cased with spaces/hyphens as underscores.
_MME_ALIASES = {
    **{name.lower(): name for name in MME_PERCEPTION + MME_COGNITION},
    "colour": "color", "poster": "posters", "celebrities": "celebrity", "landmarks": "landmark",
    "artworks": "artwork", "scenes": "scene", "counting": "count",
    "commonsense": "commonsense_reasoning", "common_sense_reasoning": "commonsense_reasoning",
    "numerical": "numerical_calculation", "numeric_calculation": "numerical_calculation",
    "translation": "text_translation", "code": "code_reasoning",
}

COUNT_COLUMNS = ("n", "n_correct", "tp", "fp", "tn", "fn", "n_other", "n_other_strict", "n_error")
RATE_COLUMNS = ("accuracy", "precision", "recall", "f1", "yes_ratio")


def mme_subtask(category: str) -> Optional[str]:
    """The official MME subtask a category name denotes, or None when it is not one."""
    key = str(category).strip().lower().replace(" ", "_").replace("-", "_")
    return _MME_ALIASES.get(key)


def mme_kind(category: str) -> str:
    """"perception", "cognition" or "other" (not an official MME subtask)."""
    name = mme_subtask(category)
    if name in MME_PERCEPTION:
        return "perception"
    if name in MME_COGNITION:
        return "cognition"
    return "other"


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


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _counts(sub: pd.DataFrame) -> dict[str, Any]:
    """Counts and yes-positive rates of a prepared frame (see the module docstring)."""
    pred, truth_yes = sub["_pred"], sub["answer"] == "yes"
    tp = int(((pred == "yes") & truth_yes).sum())
    fp = int(((pred == "yes") & ~truth_yes).sum())
    tn = int(((pred == "no") & ~truth_yes).sum())
    fn = int((truth_yes & (pred != "yes")).sum())
    n = len(sub)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    if math.isnan(precision) or math.isnan(recall):
        f1 = math.nan
    else:
        f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "n": n,
        "n_correct": int(sub["_correct"].sum()),
        "accuracy": _ratio(int(sub["_correct"].sum()), n),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "yes_ratio": _ratio(int((pred == "yes").sum()), n),
        "tp": tp, "fp": fp, "tn": tn, "fn": fn,
        "n_other": int(((pred == "other") & ~sub["_error"]).sum()),
        "n_other_strict": int(sub["_strict_other"].sum()),
        "n_error": int(sub["_error"].sum()),
    }


def _grouped(prepared: pd.DataFrame, by: list[str]) -> Iterable[tuple[dict[str, Any], pd.DataFrame]]:
    for keys, sub in prepared.groupby(by, sort=True, dropna=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        yield dict(zip(by, keys)), sub


def binary_metrics(df: pd.DataFrame, by: Optional[list[str]] = None) -> pd.DataFrame:
    """Yes-positive binary metrics, one row per value of `by` plus an overall row labelled "all".

    With `by` None (or empty) the result is a single overall row without key columns.
    """
    prepared = prepare(df)
    if not by:
        return pd.DataFrame([_counts(prepared)])
    rows = [{**keys, **_counts(sub)} for keys, sub in _grouped(prepared, list(by))]
    rows.append({**{column: OVERALL for column in by}, **_counts(prepared)})
    return pd.DataFrame(rows, columns=[*by, *_counts(prepared.iloc[:0]).keys()])


def _group_stats(sub: pd.DataFrame) -> tuple[int, int, int]:
    """(valid pairs, pairs with both answers right, bad groups) of one prepared subtask."""
    valid = both = bad = 0
    for _, group in sub.groupby("group", sort=False):
        if len(group) == 2 and sorted(group["answer"]) == ["no", "yes"]:
            valid += 1
            both += bool(group["_correct"].all())
        else:
            bad += 1
    return valid, both, bad


def _mme_order(category: str) -> tuple[int, str]:
    official = MME_PERCEPTION + MME_COGNITION
    name = mme_subtask(category)
    return (official.index(name) if name else len(official), str(category))


def mme_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per MME subtask (`category`): acc, acc+ (pairs by `group` = image), score = 100 acc + 100 acc+.

    acc+ is computed over groups with exactly one yes and one no question; other groups are counted
    in `n_bad_groups` (list them with `mme_bad_groups`) and left out of acc+ rather than guessed.
    A subtask with no valid pair has acc+ and score NaN. Rows follow the official subtask order.
    """
    prepared = prepare(df)
    rows = []
    for keys, sub in _grouped(prepared, ["category"]):
        counts = _counts(sub)
        valid, both, bad = _group_stats(sub)
        acc_plus = _ratio(both, valid)
        rows.append({
            "category": keys["category"],
            "kind": mme_kind(keys["category"]),
            "n": counts["n"],
            "n_correct": counts["n_correct"],
            "accuracy": counts["accuracy"],
            "acc_plus": acc_plus,
            "score": 100 * counts["accuracy"] + 100 * acc_plus,
            "n_groups": valid,
            "n_bad_groups": bad,
            **{k: counts[k] for k in ("yes_ratio", "precision", "recall", "f1", "tp", "fp", "tn", "fn",
                                      "n_other", "n_other_strict", "n_error")},
        })
    columns = ["category", "kind", "n", "n_correct", "accuracy", "acc_plus", "score", "n_groups", "n_bad_groups",
               "yes_ratio", "precision", "recall", "f1", "tp", "fp", "tn", "fn", "n_other", "n_other_strict",
               "n_error"]
    table = pd.DataFrame(rows, columns=columns)
    order = sorted(range(len(table)), key=lambda i: _mme_order(table["category"].iloc[i]))
    return table.iloc[order].reset_index(drop=True)


def mme_bad_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Groups (images) that acc+ cannot use: not exactly one yes and one no question."""
    prepared = prepare(df)
    rows = []
    for (category, group), sub in prepared.groupby(["category", "group"], sort=True):
        if len(sub) == 2 and sorted(sub["answer"]) == ["no", "yes"]:
            continue
        ids = sub["id"].astype(str).tolist() if "id" in sub.columns else [str(i) for i in sub.index]
        rows.append({"category": category, "group": group, "n": len(sub),
                     "n_yes": int((sub["answer"] == "yes").sum()), "n_no": int((sub["answer"] == "no").sum()),
                     "ids": ids})
    return pd.DataFrame(rows, columns=["category", "group", "n", "n_yes", "n_no", "ids"])


def mme_totals(df_metrics: pd.DataFrame) -> dict[str, Any]:
    """Perception / cognition totals of an `mme_metrics` table: sums over the subtasks present.

    A total is None when none of its subtasks is present; `n_*_subtasks` says how many were summed
    (10 and 4 for the full benchmark), `other_categories` lists categories that are not MME subtasks.
    A subtask whose score is NaN (no valid pair) adds nothing and is listed in `nan_subtasks`.
    """
    result: dict[str, Any] = {}
    kinds = df_metrics["category"].map(mme_kind)
    for kind in ("perception", "cognition"):
        scores = df_metrics.loc[kinds == kind, "score"]
        result[kind] = float(scores.sum()) if len(scores) else None
        result[f"n_{kind}_subtasks"] = int(len(scores))
    result["other_categories"] = df_metrics.loc[kinds == "other", "category"].astype(str).tolist()
    result["nan_subtasks"] = df_metrics.loc[df_metrics["score"].isna(), "category"].astype(str).tolist()
    return result


POPE_COLUMNS = ["category", "n", "n_correct", "accuracy", "precision", "recall", "f1", "yes_ratio",
                "tp", "fp", "tn", "fn", "n_other", "n_other_strict", "n_error"]


def pope_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per POPE split (`category`) plus the pooled row "all": accuracy, P/R/F1 (yes positive), yes_ratio."""
    return binary_metrics(df, ["category"])[POPE_COLUMNS]


def pope_mean_f1(table: pd.DataFrame) -> float:
    """Mean F1 over the splits of a `pope_metrics` table (LLaVA's headline POPE number).

    NaN when a split's F1 is undefined: a mean that silently drops a split is not LLaVA's number.
    """
    splits = table.loc[~table["category"].isin([OVERALL, MEAN]), "f1"]
    if splits.empty or splits.isna().any():
        return math.nan
    return float(splits.mean())
