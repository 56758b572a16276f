"""Predictions in, scores out: re-parse, score each task as its benchmark declares, and write
metrics.csv / summary.json.

Scoring reads only predictions (`predictions.jsonl`, PredictionRow columns) and the benchmark's
declaration (evalkit.benchmark): generate once, score many. Re-parsing from the stored `text` every
time makes a rescore with another rule (`strict`) exactly as valid as the run's own scoring, and it
means a stale `parsed` column can never leak in.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pandas as pd

from evalkit.benchmark import Benchmark, Task
from evalkit.errors import EvalkitError
from evalkit.fileio import write_json_atomic
from evalkit.outputs import read_predictions  # noqa: F401  (the scorer's input; callers import it from here too)
from evalkit.scoring import metrics as M
from evalkit.scoring.score_metrics import mean_stderr
from evalkit.tasks.judged import JudgedTask
from evalkit.tasks.yesno import calibration_scores, pooled_headline, yesno_tasks

log = logging.getLogger("evalkit")

POOLED_NOTE = "errors counted as wrong; rates are fractions in [0, 1]"


@dataclass(frozen=True)
class Scores:
    metrics: pd.DataFrame  # tidy table (task, category, the tasks' columns), written as metrics.csv
    headline: dict[str, Any]  # JSON-able headline numbers, merged into summary.json["metrics"]
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)  # per-task display tables
    frame: pd.DataFrame = field(default_factory=pd.DataFrame)  # the re-parsed rows
    formats: dict[str, str] = field(default_factory=dict)  # column / headline -> format, from the tasks
    shown: dict[str, tuple[str, ...]] = field(default_factory=dict)  # table -> columns printed

    def format(self) -> str:
        """A readable text report: one table per task, then the headline numbers."""
        blocks = [f"== {name} ==\n{_display(table, self.formats, self.shown.get(name))}"
                  for name, table in self.tables.items()]
        lines = [f"{key}: {_fmt_value(key, value, self.formats)}" for key, value in self.headline.items()]
        return "\n\n".join(blocks + ["\n".join(lines)])


def _prepare_rows(df: pd.DataFrame, benchmark: type[Benchmark]) -> pd.DataFrame:
    missing = [c for c in ("id", "answer") if c not in df.columns]
    if "text" not in df.columns and "prediction" not in df.columns:
        missing.append("text (or prediction)")
    if missing:
        raise ValueError(f"predictions lack column(s) {missing}; got {list(df.columns)}")
    frame = df.copy()
    if "text" not in frame.columns:  # imported rows may only have the raw prediction
        frame["text"] = frame["prediction"]
    frame["text"] = frame["text"].astype(object).map(lambda t: t.strip() if isinstance(t, str) else "")
    default_task = benchmark.tasks[0].name
    for column, default in (("task", default_task), ("category", ""), ("group", ""), ("error", None)):
        if column not in frame.columns:
            frame[column] = default
    frame["task"] = frame["task"].astype(object).where(frame["task"].notna(), default_task)
    known = [t.name for t in benchmark.tasks]
    unknown = sorted(set(frame["task"]) - set(known))
    if unknown:
        raise ValueError(f"unknown task(s) {unknown} in predictions; {benchmark.__name__} scores {tuple(known)}")
    # Each task reads its own ground truth (yes/no: case-insensitive); nothing else is normalised.
    for task in benchmark.tasks:
        mine = frame["task"] == task.name
        if mine.any():
            frame.loc[mine, "answer"] = frame.loc[mine, "answer"].astype(object).map(
                lambda a: task.truth("" if a is None or a != a else str(a)))
    return frame


def annotate(frame: pd.DataFrame, benchmark: type[Benchmark], rules: dict[str, str]) -> pd.DataFrame:
    """Every row parsed and scored by its task (`parsed`, `score`, `correct`): the one place where
    answers are read and compared, for the run's rows, rescoring and every report."""
    is_error = M.error_mask(frame)
    parts = []
    for task in benchmark.tasks:
        mine = frame["task"] == task.name
        if mine.any():
            parts.append(task.annotate(frame[mine].copy(), rules[task.name], is_error[mine]))
    return pd.concat(parts).reindex(frame.index) if parts else frame


def annotate_rows(rows: list[dict], benchmark: type[Benchmark], rule: Optional[str]) -> list[dict]:
    """Prediction rows as generated, with `parsed` and `correct` from `annotate` (the runner's rows
    carry them so predictions.jsonl reads on its own; rescoring recomputes them)."""
    if not rows:
        return rows
    frame = _prepare_rows(pd.DataFrame(rows), benchmark)
    tasks = [t for t in benchmark.tasks if (frame["task"] == t.name).any()]
    frame = annotate(frame, benchmark, {t.name: t.rule(rule) for t in tasks})
    out = []
    for row, parsed, correct in zip(rows, frame["parsed"], frame["correct"]):
        out.append({**row, "parsed": parsed if isinstance(parsed, str) else None, "correct": bool(correct)})
    return out


def warn_if_nothing_matches(task: Task, rows: pd.DataFrame) -> Optional[str]:
    """A warning when answers were parsed but none scores above 0: almost always a parse rule whose
    output does not look like the ground truth ("A" against "a", option text against a letter).
    Rows without a score (NaN: a test split's questions, which have no answers here) are left out."""
    if isinstance(task, JudgedTask) and not task.judge_optional:  # `parsed`: the answer judged, score: its rating
        return None
    rows = rows[rows["score"].notna()]
    read = rows[rows["parsed"].map(lambda p: isinstance(p, str) and p != "")]
    if read.empty or (rows["score"] > 0).any():
        return None
    example = read.iloc[0]
    message = (f"task {task.name}: none of the {len(read)} parsed answers matches its ground truth (e.g. item "
               f"{example['id']!r}: parsed {example['parsed']!r}, answer {example['answer']!r}): either every answer "
               f"is wrong, or the parse rule returns answers in another form than the ground truth (case, letter "
               f"vs option text); compare a few parsed answers with their answers")
    log.warning("%s", message)
    return message


def score_predictions(df: pd.DataFrame, benchmark: type[Benchmark], rule: Optional[str] = None,
                      judgments: Optional[Any] = None) -> Scores:
    """Re-parse `text` under `rule` (None: each task's official rule) and score every task of
    `benchmark` present in the rows, in the benchmark's task order. Judged tasks read their ratings
    from `judgments` (an evalkit.judge.store.JudgmentStore of the run; None: unjudged), joined here
    and nowhere else; no judge is ever called while scoring."""
    frame = _prepare_rows(df, benchmark)
    present: list[Task] = [t for t in benchmark.tasks if (frame["task"] == t.name).any()]
    if any(isinstance(t, JudgedTask) for t in present):
        from evalkit.judge.store import join

        frame = join(frame, present, judgments)
    rules = {task.name: task.rule(rule) for task in present}
    is_error = M.error_mask(frame)
    frame = annotate(frame, benchmark, rules)
    warnings = [w for task in present if (w := warn_if_nothing_matches(task, frame[frame["task"] == task.name]))]

    # Pooled yes/no numbers over the yes/no tasks' rows only (a caption task may share the run).
    yes_names = [t.name for t in yesno_tasks(present)]
    yesno = bool(yes_names)
    yes_rows = frame[frame["task"].isin(yes_names)]
    headline: dict[str, Any] = {"rule": "official" if rule is None else rule, "rules": rules,
                                "n_items": int(len(frame)), "n_errors": int(is_error.sum())}
    if yesno:
        headline.update(pooled_headline(yes_rows))
        headline["accuracy_stderr"] = mean_stderr(yes_rows["score"])[1]
    if "judge" in frame.columns:
        headline["judge"] = judgments.name if judgments is not None else None
    tidy: list[pd.DataFrame] = []
    tables: dict[str, pd.DataFrame] = {}
    for task in present:
        result = task.metrics(frame[frame["task"] == task.name])
        tables[task.name] = result.table
        tidy.append(result.table.assign(task=task.name))
        clash = sorted(set(result.headline) & set(headline) - {"rule", "rules", "n_items", "n_errors"})
        if clash:  # one number would silently replace another in summary.json
            raise EvalkitError(f"{benchmark.__name__}: task {task.name!r} reports headline(s) {clash} that another "
                               "task (or the pooled yes/no numbers) already reports; give the task its own names")
        headline.update(result.headline)
    calibration = calibration_scores(yes_rows) if yesno else None
    if calibration is not None:
        tables["calibration"], extra = calibration
        headline.update(extra)
    headline = {k: v for k, v in headline.items() if v is not None}  # only the numbers that apply
    notes = [POOLED_NOTE] if yesno else []
    note = "; ".join(dict.fromkeys(notes + [t.note for t in present if t.note]))
    if note:
        headline["note"] = note
    if warnings:
        headline["warnings"] = warnings
    columns = ["task", "category", *dict.fromkeys(c for task in present for c in task.columns)]
    metrics = pd.concat(tidy, ignore_index=True) if tidy else pd.DataFrame()
    metrics = metrics.reindex(columns=columns)
    formats = {k: v for task in present for k, v in task.formats.items()}
    formats.update({h.name: h.format for h in benchmark.headlines()})
    shown = {task.name: task.shown for task in present if task.shown}
    return Scores(metrics=metrics, headline=to_jsonable(headline), tables=tables, frame=frame, formats=formats,
                  shown=shown)


# ---------------------------------------------------------------------------------------------- I/O

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

_PROBABILITY = ("auroc", "ece", "brier", "mean_p_yes")  # calibration columns, shown to 3 decimals


def _display(table: pd.DataFrame, formats: dict[str, str], shown: Optional[tuple[str, ...]] = None) -> str:
    columns = [c for c in shown if c in table.columns] if shown else list(table.columns)
    out = table[columns].copy()
    for column in out.columns:
        kind = formats.get(column, "probability" if column in _PROBABILITY else None)
        out[column] = out[column].map(lambda v, k=kind: _cell(v, k))
    return out.to_string(index=False)


def _cell(value: Any, kind: Optional[str]) -> Any:
    if kind in (None, "count") or isinstance(value, str):
        return value
    if pd.isna(value):
        return "-"
    if kind == "percent":
        return f"{100 * value:.2f}"
    return f"{value:.3f}" if kind == "probability" else f"{value:.2f}"


def _fmt_value(key: str, value: Any, formats: dict[str, str]) -> str:
    if value is None:
        return "undefined"
    if isinstance(value, float):
        return f"{100 * value:.2f}%" if formats.get(key) == "percent" else f"{value:.2f}"
    return str(value)
