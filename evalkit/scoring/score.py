"""Predictions in, scores out: re-parse, dispatch per task, and write metrics.csv / summary.json.

Scoring reads only predictions (`predictions.jsonl`, PredictionRow columns): generate once, score
many. Re-parsing from the stored `text` every time makes a rescore with another rule (`strict`)
exactly as valid as the run's own scoring, and it means a stale `parsed` column can never leak in.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from evalkit.fileio import read_jsonl, write_json_atomic
from evalkit.scoring import metrics as M
from evalkit.scoring.calibration import agreement, calibration_metrics
from evalkit.scoring.parse import DEFAULT_RULE, parse_answer, rule_for_task

TASK_ORDER = ("yesno", "mme", "pope")
NOTE = "errors counted as wrong; rates are fractions in [0, 1]; MME scores in MME points"

# metrics.csv: one row per (task, category), incl. overall rows; NaN where a metric does not apply.
TIDY_COLUMNS = ["task", "category", "n", "n_correct", "accuracy", "acc_plus", "score", "precision", "recall",
                "f1", "yes_ratio", "tp", "fp", "tn", "fn", "n_other", "n_other_strict", "n_error", "n_groups",
                "n_bad_groups"]


@dataclass(frozen=True)
class Scores:
    metrics: pd.DataFrame  # tidy table, TIDY_COLUMNS, written as metrics.csv
    headline: dict[str, Any]  # JSON-able headline numbers, merged into summary.json["metrics"]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # per-task display tables
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # the re-parsed rows

    def format(self) -> str:
        """A readable text report: one table per task, then the headline numbers."""
        blocks = [f"== {task} ==\n{_display(table)}" for task, table in self.tables.items()]
        lines = [f"{key}: {_fmt_value(key, value)}" for key, value in self.headline.items()]
        return "\n\n".join(blocks + ["\n".join(lines)])


def _prepare_rows(df: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("id", "answer") if c not in df.columns]
    if "text" not in df.columns and "prediction" not in df.columns:
        missing.append("text (or prediction)")
    if missing:
        raise ValueError(f"predictions lack column(s) {missing}; got {list(df.columns)}")
    frame = df.copy()
    if "text" not in frame.columns:  # imported rows may only have the raw prediction
        frame["text"] = frame["prediction"]
    frame["text"] = frame["text"].astype(object).map(lambda t: t.strip() if isinstance(t, str) else "")
    frame["answer"] = frame["answer"].astype(object).map(lambda a: str(a).strip().lower())
    for column, default in (("task", "yesno"), ("category", ""), ("group", ""), ("error", None)):
        if column not in frame.columns:
            frame[column] = default
    frame["task"] = frame["task"].astype(object).where(frame["task"].notna(), "yesno")
    unknown = sorted(set(frame["task"]) - set(DEFAULT_RULE))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown} in predictions; expected {tuple(DEFAULT_RULE)}")
    return frame


def score_predictions(df: pd.DataFrame, rule: Optional[str] = None) -> Scores:
    """Re-parse `text` under `rule` (None: each task's official rule) and score every task present."""
    frame = _prepare_rows(df)
    rules = {task: rule_for_task(task, rule) for task in frame["task"].unique()}
    is_error = M.error_mask(frame)
    parsed = [parse_answer(t, rules[task]) for t, task in zip(frame["text"], frame["task"])]
    strict = [parse_answer(t, "strict") for t in frame["text"]]
    frame["parsed"] = pd.Series(parsed, index=frame.index, dtype=object).where(~is_error, None)
    frame["strict"] = pd.Series(strict, index=frame.index, dtype=object).where(~is_error, None)
    frame["correct"] = (frame["parsed"] == frame["answer"]) & ~is_error

    tidy: list[pd.DataFrame] = []
    tables: dict[str, pd.DataFrame] = {}
    overall = M.binary_metrics(frame).iloc[0] if len(frame) else None
    headline: dict[str, Any] = {
        "rule": "official" if rule is None else rule,
        "rules": {task: rules[task] for task in TASK_ORDER if task in rules},
        "n_items": int(len(frame)),
        "n_errors": int(is_error.sum()),
        "n_other": int(overall["n_other"]) if overall is not None else 0,
        "n_other_strict": int(overall["n_other_strict"]) if overall is not None else 0,
        "accuracy": float(overall["accuracy"]) if overall is not None else math.nan,
        "yes_ratio": float(overall["yes_ratio"]) if overall is not None else math.nan,
    }
    for task in TASK_ORDER:
        sub = frame[frame["task"] == task]
        if sub.empty:
            continue
        if task == "yesno":
            table = M.binary_metrics(sub, ["category"])
            tidy.append(table)
        elif task == "mme":
            mme_table, table, totals = _score_mme(sub)  # display the tidy rows: subtasks + totals
            tidy.append(table)
            headline.update({
                "mme_perception": totals["perception"], "mme_cognition": totals["cognition"],
                "mme_n_perception_subtasks": totals["n_perception_subtasks"],
                "mme_n_cognition_subtasks": totals["n_cognition_subtasks"],
                "mme_n_bad_groups": int(mme_table["n_bad_groups"].sum()),
            })
            if totals["other_categories"]:
                headline["mme_other_categories"] = totals["other_categories"]
        else:
            table = M.pope_metrics(sub)
            mean_row = _mean_row(table)
            table = pd.concat([table, pd.DataFrame([mean_row])], ignore_index=True)
            tidy.append(table)
            headline["pope_mean_f1"] = mean_row["f1"]
            headline["pope_pooled_f1"] = float(table.loc[table["category"] == M.OVERALL, "f1"].iloc[0])
        tables[task] = table
        tidy[-1] = tidy[-1].assign(task=task)
    calibration = _score_calibration(frame)
    if calibration is not None:
        tables["calibration"] = calibration
        overall_cal = calibration[calibration["category"] == M.OVERALL].iloc[0]
        headline.update({"auroc": overall_cal["auroc"], "ece": overall_cal["ece"],
                         **{f"p_yes_{k}": v for k, v in agreement(frame).items() if k in ("agreement", "n_clean")}})
    headline = {k: v for k, v in headline.items() if v is not None}  # only the numbers that apply
    headline["note"] = NOTE
    metrics = pd.concat(tidy, ignore_index=True) if tidy else pd.DataFrame()
    metrics = metrics.reindex(columns=TIDY_COLUMNS)
    return Scores(metrics=metrics, headline=to_jsonable(headline), tables=tables, frame=frame)


def _score_calibration(frame: pd.DataFrame) -> Optional[pd.DataFrame]:
    """AUROC / ECE / Brier of p_yes per (task, category), when the run recorded p_yes (logit mode,
    or greedy's first step): whether the model's confidence separates yes from no at all."""
    if "p_yes" not in frame.columns or frame["p_yes"].notna().sum() == 0:
        return None
    valid = frame[frame["p_yes"].notna()]
    return calibration_metrics(valid, by=["category"])


def _score_mme(sub: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """MME table, its tidy rows (subtasks, then perception / cognition / all), and the totals."""
    table = M.mme_metrics(sub)
    totals = M.mme_totals(table)
    pooled = M.binary_metrics(sub.assign(kind=sub["category"].map(M.mme_kind)), ["kind"])
    # Pooled rows per kind carry the kind's total score; the unofficial "other" kind is not a total.
    pooled = pooled[pooled["kind"] != "other"].rename(columns={"kind": "category"})
    pooled = pooled.sort_values("category", key=lambda c: c.map({"perception": 0, "cognition": 1, M.OVERALL: 2}))
    pooled["score"] = pooled["category"].map({k: totals[k] for k in ("perception", "cognition")})
    pooled["n_bad_groups"] = pooled["category"].map(
        lambda c: int(table.loc[table["kind"] == c, "n_bad_groups"].sum()) if c != M.OVERALL
        else int(table["n_bad_groups"].sum()))
    rows = pd.concat([table.drop(columns=["kind"]), pooled], ignore_index=True)
    return table, rows, totals


def _mean_row(table: pd.DataFrame) -> dict[str, Any]:
    """Mean of the rates over POPE splits (LLaVA reports mean F1), counts summed."""
    splits = table[table["category"] != M.OVERALL]
    row: dict[str, Any] = {"category": M.MEAN}
    for column in M.RATE_COLUMNS:
        values = splits[column]
        row[column] = math.nan if values.empty or values.isna().any() else float(values.mean())
    row["f1"] = M.pope_mean_f1(table)
    for column in M.COUNT_COLUMNS:
        row[column] = int(splits[column].sum())
    return row


# ---------------------------------------------------------------------------------------------- I/O

def read_predictions(path: Path | str) -> pd.DataFrame:
    """Read predictions.jsonl. A torn last line (a kill mid-write) is skipped with a warning; a bad
    line elsewhere, a missing `id` or a duplicate id is a ValueError naming the file."""
    path = Path(path)
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path}: no predictions")
    frame = pd.DataFrame(rows)
    if "id" not in frame.columns:
        raise ValueError(f"{path}: rows have no 'id' column; got {list(frame.columns)}")
    ids = frame["id"].astype(str)
    dups = ids[ids.duplicated()].unique().tolist()
    if dups:
        raise ValueError(f"{path}: {len(dups)} duplicate id(s), e.g. {dups[:10]}")
    return frame


def write_scores(run_dir: Path | str, scores: Scores) -> None:
    """Write `metrics.csv` (+ `calibration.csv` when p_yes was recorded) and merge `headline` into
    `summary.json["metrics"]` (other keys kept)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    scores.metrics.to_csv(run_dir / "metrics.csv", index=False)
    if "calibration" in scores.tables:
        scores.tables["calibration"].to_csv(run_dir / "calibration.csv", index=False)
    summary_path = run_dir / "summary.json"
    summary: dict[str, Any] = {}
    if summary_path.exists():
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    summary["metrics"] = scores.headline
    write_json_atomic(summary_path, summary, ensure_ascii=False)  # a reader never sees half a summary


def to_jsonable(value: Any) -> Any:
    """NaN -> None and numpy scalars -> Python, so json.dumps writes strict JSON."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


# ------------------------------------------------------------------------------------------ display

_PERCENT = set(M.RATE_COLUMNS) | {"acc_plus"}
_PROBABILITY = ("auroc", "ece", "brier", "mean_p_yes")  # calibration columns, shown to 3 decimals
_SHOWN = ["category", "n", "accuracy", "acc_plus", "score", "precision", "recall", "f1", "yes_ratio", "n_other",
          "n_other_strict", "n_error", "n_bad_groups", *_PROBABILITY]


def _display(table: pd.DataFrame) -> str:
    shown = table[[c for c in _SHOWN if c in table.columns]].copy()
    for column in shown.columns:
        if column in _PERCENT:
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{100 * v:.2f}")
        elif column in _PROBABILITY:
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.3f}")
        elif column == "score":
            shown[column] = shown[column].map(lambda v: "-" if pd.isna(v) else f"{v:.2f}")
    return shown.to_string(index=False)


def _fmt_value(key: str, value: Any) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, float):
        is_rate = key in ("accuracy", "yes_ratio") or key.endswith("f1")
        return f"{100 * value:.2f}%" if is_rate else f"{value:.2f}"
    return str(value)
