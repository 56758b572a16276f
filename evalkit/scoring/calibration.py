"""Metrics that p_yes makes possible: pure functions over a predictions DataFrame, no I/O.

Input columns: `answer` (ground truth yes/no), `p_yes` (P(yes | yes or no) at the answer position,
from decoding=yesno_logits or greedy's first step; None/NaN where absent, e.g. error rows),
`parsed` (yes/no/other from the text under the run's rule), and optionally `category` / `id`.

Rows without p_yes are left out of every p_yes metric and counted in `n_missing_p_yes`, never
imputed. Undefined values (AUROC with one class present, anything over zero rows) are NaN.

- auroc: P(p_yes of a random yes item > p_yes of a random no item), ties count one half
  (the Mann-Whitney statistic, computed from average ranks).
- ece: expected calibration error with `n_bins` equal-width bins over [0, 1]:
  sum over bins of (bin share) * |mean p_yes - share of yes answers in the bin|.
- brier: mean squared difference between p_yes and the 0/1 truth.
- threshold_sweep: accuracy / precision / recall / F1 / yes_ratio when "yes" means p_yes >= t.
- agreement: how often the text answer (parsed yes/no) equals the p_yes decision at 0.5, over rows
  whose text parsed to yes or no; `n_text_other` counts the rest.
"""

from __future__ import annotations

import math
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.scoring.metrics import OVERALL

CALIBRATION_COLUMNS = ["n", "n_missing_p_yes", "auroc", "ece", "brier", "mean_p_yes", "yes_share"]


def _valid(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("answer", "p_yes") if c not in df.columns]
    if missing:
        raise ValueError(f"calibration metrics need columns {missing}; got {list(df.columns)}")
    p = pd.to_numeric(df["p_yes"], errors="coerce")
    return df.assign(_p=p, _y=(df["answer"] == "yes").astype(float))[p.notna()]


def auroc(p_yes: Sequence[float], truth_yes: Sequence[bool]) -> float:
    p, y = np.asarray(p_yes, dtype=float), np.asarray(truth_yes, dtype=bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    ranks = pd.Series(p).rank(method="average").to_numpy()
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def frame_auroc(df: pd.DataFrame) -> float:
    """`auroc` over a predictions frame (answer, p_yes), rows without a numeric p_yes left out."""
    valid = _valid(df)
    return auroc(valid["_p"], valid["_y"].astype(bool))


def expected_calibration_error(p_yes: Sequence[float], truth_yes: Sequence[bool], n_bins: int = 10) -> float:
    p, y = np.asarray(p_yes, dtype=float), np.asarray(truth_yes, dtype=float)
    if len(p) == 0:
        return math.nan
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)  # p = 1.0 belongs to the last bin
    total = 0.0
    for b in np.unique(bins):
        inside = bins == b
        total += inside.mean() * abs(p[inside].mean() - y[inside].mean())
    return float(total)


def reliability_table(df: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width bin: n, mean p_yes, share of yes answers (the reliability diagram)."""
    valid = _valid(df)
    bins = np.minimum((valid["_p"].to_numpy() * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        inside = valid[bins == b]
        rows.append({"bin_low": b / n_bins, "bin_high": (b + 1) / n_bins, "n": len(inside),
                     "mean_p_yes": float(inside["_p"].mean()) if len(inside) else math.nan,
                     "yes_share": float(inside["_y"].mean()) if len(inside) else math.nan})
    return pd.DataFrame(rows)


def _calibration_row(sub: pd.DataFrame, n_bins: int) -> dict:
    valid = _valid(sub)
    p, y = valid["_p"].to_numpy(), valid["_y"].to_numpy()
    return {
        "n": len(valid),
        "n_missing_p_yes": len(sub) - len(valid),
        "auroc": auroc(p, y.astype(bool)),
        "ece": expected_calibration_error(p, y, n_bins),
        "brier": float(((p - y) ** 2).mean()) if len(p) else math.nan,
        "mean_p_yes": float(p.mean()) if len(p) else math.nan,
        "yes_share": float(y.mean()) if len(y) else math.nan,
    }


def calibration_metrics(df: pd.DataFrame, by: Optional[list[str]] = None, n_bins: int = 10) -> pd.DataFrame:
    """AUROC, ECE, Brier per value of `by` plus an overall row labelled "all" (like binary_metrics)."""
    _valid(df)  # column check, even for an empty frame
    if not by:
        return pd.DataFrame([_calibration_row(df, n_bins)], columns=CALIBRATION_COLUMNS)
    rows = [{**dict(zip(by, keys if isinstance(keys, tuple) else (keys,))), **_calibration_row(sub, n_bins)}
            for keys, sub in df.groupby(list(by), sort=True, dropna=False)]
    rows.append({**{c: OVERALL for c in by}, **_calibration_row(df, n_bins)})
    return pd.DataFrame(rows, columns=[*by, *CALIBRATION_COLUMNS])


def threshold_sweep(df: pd.DataFrame, thresholds: Optional[Sequence[float]] = None) -> pd.DataFrame:
    """One row per threshold t ("yes" when p_yes >= t): accuracy, precision, recall, F1, yes_ratio.
    Default thresholds 0.00, 0.05, ..., 1.00. Precision / F1 are NaN when nothing is called yes."""
    valid = _valid(df)
    p, y = valid["_p"].to_numpy(), valid["_y"].to_numpy().astype(bool)
    thresholds = np.round(np.linspace(0, 1, 21), 2) if thresholds is None else thresholds
    rows = []
    for t in thresholds:
        pred = p >= t
        tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
        fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
        precision = tp / (tp + fp) if tp + fp else math.nan
        recall = tp / (tp + fn) if tp + fn else math.nan
        f1 = math.nan if math.isnan(precision) or math.isnan(recall) else (
            0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
        rows.append({"threshold": float(t), "n": len(p), "accuracy": (tp + tn) / len(p) if len(p) else math.nan,
                     "precision": precision, "recall": recall, "f1": f1,
                     "yes_ratio": float(pred.mean()) if len(p) else math.nan})
    return pd.DataFrame(rows)


def agreement(df: pd.DataFrame, threshold: float = 0.5) -> dict:
    """Text answer vs p_yes decision on the same rows (e.g. greedy text with its first-step p_yes,
    or greedy `parsed` joined by id to a logit run's p_yes: see `join_runs`)."""
    if "parsed" not in df.columns:
        raise ValueError(f"agreement needs a 'parsed' column; got {list(df.columns)}")
    valid = _valid(df)
    clean = valid[valid["parsed"].isin(["yes", "no"])]
    decided = np.where(clean["_p"] >= threshold, "yes", "no")
    same = int((clean["parsed"].to_numpy() == decided).sum())
    return {"n": len(valid), "n_clean": len(clean), "n_text_other": len(valid) - len(clean),
            "n_agree": same, "agreement": same / len(clean) if len(clean) else math.nan}


def join_runs(text_run: pd.DataFrame, logit_run: pd.DataFrame) -> pd.DataFrame:
    """Rows of `text_run` (its `parsed`, `answer`, `category`) with `p_yes` taken from `logit_run`,
    joined by `id`, never by position."""
    for name, frame in (("text_run", text_run), ("logit_run", logit_run)):
        if "id" not in frame.columns:
            raise ValueError(f"{name} needs an 'id' column to join on")
    right = logit_run[["id", "p_yes"]].rename(columns={"p_yes": "_p_logit"})
    joined = text_run.drop(columns=["p_yes"], errors="ignore").merge(right, on="id", how="inner", validate="one_to_one")
    return joined.rename(columns={"_p_logit": "p_yes"})
