"""Paired comparison of two runs, matched by item id: deltas with bootstrap intervals, McNemar's
exact test and the items whose correctness flipped.

Both runs are re-scored from predictions.jsonl under their own parse rule (the numbers of their
metrics.csv); errors count as wrong, as everywhere in evalkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.scoring import stats as S
from evalkit.report.discover import ReportError, Run
from evalkit.tasks.yesno import pooled_deltas, yesno_tasks

FLIP_COLUMNS = ["id", "task", "category", "question", "answer", "parsed_a", "parsed_b", "text_a", "text_b", "change"]
_ITEM_COLUMNS = ["id", "task", "category", "group", "question", "answer"]


@dataclass(frozen=True)
class Comparison:
    a: str  # labels
    b: str
    n_paired: int
    n_only_a: int  # ids in A and not in B (dropped with --intersect)
    n_only_b: int
    only_a_right: int  # McNemar's discordant cells
    only_b_right: int
    p_mcnemar: float
    deltas: dict[str, S.Delta] = field(default_factory=dict)  # pooled accuracy, f1, then the tasks' own
    flips: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=FLIP_COLUMNS))
    formats: dict[str, str] = field(default_factory=dict)  # delta name -> format (percent, points)
    n_binary: Optional[int] = None  # paired rows with 0/1 scores (McNemar's); None: not counted

    def as_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "n_paired": self.n_paired, "n_only_a": self.n_only_a,
                "n_only_b": self.n_only_b, "only_a_right": self.only_a_right, "only_b_right": self.only_b_right,
                "p_mcnemar": self.p_mcnemar, "n_flips": int(len(self.flips)),
                "deltas": {k: d.as_dict() for k, d in self.deltas.items()}}

    def format(self) -> str:
        lines = [f"A: {self.a}", f"B: {self.b}", f"{self.n_paired} paired items"
                 + (f" ({self.n_only_a} only in A and {self.n_only_b} only in B left out)"
                    if self.n_only_a or self.n_only_b else "")]
        for name, d in self.deltas.items():
            kind = self.formats.get(name, "percent")
            lines.append(f"{name:<15} A {fmt_stat(d.a, kind):>8}  B {fmt_stat(d.b, kind):>8}  "
                         f"B-A {fmt_delta(d.delta, kind):>8}  {100 * d.confidence:.0f}% CI "
                         f"[{fmt_delta(d.low, kind)}, {fmt_delta(d.high, kind)}]")
        if self.n_binary != 0:  # soft scores (VQA accuracy) and ratings have no McNemar
            lines.append(f"McNemar exact p = {self.p_mcnemar:.4g} (only A right: {self.only_a_right}, "
                         f"only B right: {self.only_b_right})")
        return "\n".join(lines)


def fmt_stat(value: float, kind: str = "percent") -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{100 * value:.2f}%" if kind == "percent" else f"{value:.2f}"


def fmt_delta(value: float, kind: str = "percent") -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{100 * value:+.2f}" if kind == "percent" else f"{value:+.2f}"  # percentage points, or points


def paired_frame(a: Run, b: Run, intersect: bool = False) -> tuple[pd.DataFrame, int, int]:
    """Rows of A joined to B's answers by id (A's order), and the counts of ids only in A / only in B.

    Different item sets are refused unless `intersect`; the same id with another ground truth is
    always refused (the runs are not over the same data).
    """
    fa, fb = a.scores.frame.copy(), b.scores.frame.copy()
    for frame in (fa, fb):
        frame["id"] = frame["id"].astype(str)
        if "question" not in frame.columns:
            frame["question"] = ""
    ids_a, ids_b = set(fa["id"]), set(fb["id"])
    only_a, only_b = sorted(ids_a - ids_b), sorted(ids_b - ids_a)
    if (only_a or only_b) and not intersect:
        raise ReportError(
            f"the runs cover different items: {len(only_a)} id(s) of A are missing from B (e.g. {only_a[:5]}), "
            f"{len(only_b)} id(s) of B are missing from A (e.g. {only_b[:5]}); {len(ids_a & ids_b)} are shared. "
            f"Pass --intersect to compare the shared items only.\n  A: {a.path}\n  B: {b.path}")
    if not ids_a & ids_b:
        raise ReportError(f"the runs share no item id\n  A: {a.path}\n  B: {b.path}")
    # Columns some tasks' paired statistics read (their per-item counts), carried for both runs.
    extra = list(dict.fromkeys(c for t in a.benchmark.tasks for c in t.paired_columns if c in fa and c in fb))
    for frame in (fa, fb):
        if "score" not in frame.columns:
            frame["score"] = np.nan
    keep = ["id", "parsed", "text", "correct", "score", "answer", *extra]
    joined = fa[_ITEM_COLUMNS + ["parsed", "text", "correct", "score", *extra]].merge(
        fb[keep], on="id", how="inner", suffixes=("_a", "_b"))
    joined = joined.rename(columns={"answer_a": "answer"})
    mismatch = joined.loc[joined["answer"] != joined["answer_b"], "id"].tolist()
    if mismatch:
        raise ReportError(f"{len(mismatch)} shared id(s) have different ground truth in the two runs "
                          f"(e.g. {mismatch[:5]}): they are not runs over the same data\n  A: {a.path}\n  B: {b.path}")
    return joined.drop(columns=["answer_b"]), len(only_a), len(only_b)


def compare_runs(a: Run, b: Run, intersect: bool = False, n_boot: int = 2000, seed: int = 0,
                 confidence: float = 0.95) -> Comparison:
    joined, n_only_a, n_only_b = paired_frame(a, b, intersect)
    # A's benchmark decides the statistics (the same ground truth per id is checked above).
    benchmark = a.benchmark
    present = [task for task in benchmark.tasks if (joined["task"] == task.name).any()]
    # McNemar and the flips: rows of tasks with 0/1 scores whose correctness both runs define
    # (open-ended rows such as AMBER's captions leave it empty; soft VQA scores and ratings are not 0/1).
    binary = joined["task"].isin([t.name for t in present if t.binary])
    judged = _judged(joined) & binary
    ok_a, ok_b = joined.loc[judged, "correct_a"].to_numpy(bool), joined.loc[judged, "correct_b"].to_numpy(bool)
    only_a_right, only_b_right = S.discordant(ok_a, ok_b)
    boot = dict(n_boot=n_boot, seed=seed, confidence=confidence)
    yes_names = [task.name for task in yesno_tasks(present)]
    deltas = pooled_deltas(joined[joined["task"].isin(yes_names)], boot) if yes_names else {}
    for task in present:
        if task.name not in yes_names:
            deltas.update(score_delta(task, joined[joined["task"] == task.name], boot, taken=deltas))
        deltas.update(task.paired_deltas(joined[joined["task"] == task.name], boot))
    formats = {h.name: h.format for h in benchmark.headlines()}
    formats.setdefault("f1", "percent")
    return Comparison(a=a.label or str(a.path), b=b.label or str(b.path), n_paired=len(joined),
                      n_only_a=n_only_a, n_only_b=n_only_b, only_a_right=only_a_right, only_b_right=only_b_right,
                      p_mcnemar=S.mcnemar_exact(only_a_right, only_b_right), deltas=deltas,
                      flips=flipped_items(joined[judged]), formats=formats, n_binary=int(judged.sum()))


def score_delta(task, rows: pd.DataFrame, boot: dict, taken: Sequence[str] = ()) -> dict:
    """The mean per-item score of B minus A over the task's paired rows, bootstrapped: what every
    task gets without paired statistics of its own (accuracy of choices, VQA accuracy, ratings)."""
    rows = rows[rows["score_a"].notna() & rows["score_b"].notna()]
    if rows.empty:
        return {}
    name = task.score_name if task.score_name not in taken else f"{task.name}_{task.score_name}"
    features = [rows[f"score_{side}"].to_numpy(float)[:, None] for side in ("a", "b")]
    return {name: S.paired_bootstrap(S.accuracy_stat, *features, **boot)}


def _judged(joined: pd.DataFrame) -> pd.Series:
    """Rows whose correctness both runs define (a task leaves `correct` empty for open-ended answers)."""
    return joined["correct_a"].notna() & joined["correct_b"].notna()


def flipped_items(joined: pd.DataFrame) -> pd.DataFrame:
    """Items right in one run and wrong in the other, in A's order: 'fixed' = B right, 'broken' = A right."""
    flipped = joined[joined["correct_a"].astype(bool) != joined["correct_b"].astype(bool)].copy()
    flipped["change"] = np.where(flipped["correct_b"], "fixed", "broken")
    return flipped[FLIP_COLUMNS].reset_index(drop=True)


def delta_names(comparisons: Sequence[Comparison]) -> list[str]:
    """The delta names of these comparisons, in order of first appearance."""
    return list(dict.fromkeys(name for c in comparisons for name in c.deltas))


def baseline_columns(comparison: Optional[Comparison], names: Sequence[str] = ()) -> dict:
    """Flat leaderboard columns of a comparison against the baseline (empty values when None):
    the same columns for every row, for the delta `names` of all comparisons in the board."""
    row: dict = {"vs_base_n_paired": None, "vs_base_p_mcnemar": None, "vs_base_only_base_right": None,
                 "vs_base_only_run_right": None}
    for name in names:
        row.update({f"vs_base_d_{name}": None, f"vs_base_d_{name}_low": None, f"vs_base_d_{name}_high": None})
    if comparison is None:
        return row
    row.update(vs_base_n_paired=comparison.n_paired, vs_base_p_mcnemar=comparison.p_mcnemar,
               vs_base_only_base_right=comparison.only_a_right, vs_base_only_run_right=comparison.only_b_right)
    for name, d in comparison.deltas.items():
        row.update({f"vs_base_d_{name}": d.delta, f"vs_base_d_{name}_low": d.low, f"vs_base_d_{name}_high": d.high})
    return row
