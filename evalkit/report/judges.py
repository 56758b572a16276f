"""`python -m evalkit.report judges RUN...`: how much two judges (or two grading runs of one judge)
agree on the same answers. Every pair of rating series over the same task and the same answers
(matched by item id, the model's text equal) gets Spearman and Kendall correlations, Cohen's kappa
on the benchmark's rating buckets, the mean difference B - A with a paired bootstrap interval, and
the items they disagree on most. Ratings come from the cached judgments: no judge is called."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import pandas as pd

from evalkit.registry import benchmark_of_run
from evalkit.judge.store import JudgmentStore, judge_names
from evalkit.report import agreement
from evalkit.report.discover import ReportError, find_run_dirs
from evalkit.scoring.scorer import read_predictions, score_predictions, to_jsonable
from evalkit.tasks.judged import JudgedTask

WORST = 10  # disagreements listed per pair


@dataclass
class Series:
    """One judge's ratings (or one grading run's) of one task's answers in one run."""

    label: str
    task: JudgedTask
    ratings: pd.Series  # by item id, judged items only
    texts: pd.Series  # the model's answer, by item id
    questions: pd.Series


def rating_series(run_dir: Path) -> list[Series]:
    benchmark = benchmark_of_run(run_dir)
    frame = read_predictions(run_dir / "predictions.jsonl")
    out = []
    for name in judge_names(run_dir):
        store = JudgmentStore.load(run_dir, name)
        scored = score_predictions(frame, benchmark, judgments=store).frame
        runs = int(store.header.get("runs", 1))
        for task in (t for t in benchmark.tasks if isinstance(t, JudgedTask)):
            rows = scored[(scored["task"] == task.name) & scored["judged"].astype(bool)].set_index("id")
            if rows.empty:
                continue
            series = [(f"{run_dir.name}:{name}", rows["score"])]
            if runs > 1:  # each grading run on its own too (MM-Vet's num_run)
                series += [(f"{run_dir.name}:{name}#run{k}", rows["judge_ratings"].map(lambda r, k=k: r[k]))
                           for k in range(runs)]
            out += [Series(label, task, values.astype(float), rows["text"], rows["question"]) for label, values in series]
    return out


def compare_series(a: Series, b: Series, n_boot: int, seed: int, confidence: float) -> dict | None:
    shared = [i for i in a.ratings.index if i in b.ratings.index and a.texts[i] == b.texts[i]]
    if a.task.name != b.task.name or len(shared) < 2:
        return None
    x, y = a.ratings[shared].to_numpy(), b.ratings[shared].to_numpy()
    delta = agreement.mean_difference(x, y, n_boot, seed, confidence)
    worst = (pd.DataFrame({"id": shared, "rating_a": x, "rating_b": y, "difference": y - x,
                           "question": [a.questions[i] for i in shared], "answer": [a.texts[i] for i in shared]})
             .assign(size=lambda d: d["difference"].abs()).sort_values(["size", "id"], ascending=[False, True])
             .head(WORST).drop(columns="size"))
    return {"task": a.task.name, "a": a.label, "b": b.label, "n": len(shared),
            "spearman": agreement.spearman(x, y), "kendall_tau_b": agreement.kendall_tau_b(x, y),
            "cohen_kappa": agreement.cohen_kappa([a.task.bucket(v) for v in x], [b.task.bucket(v) for v in y]),
            "mean_a": delta.a, "mean_b": delta.b, "mean_difference": delta.delta, "ci_low": delta.low,
            "ci_high": delta.high, "confidence": confidence, "disagreements": worst}


def comparable(a: str, b: str) -> bool:
    """Judges with judges (their mean over grading runs), grading runs with the other runs of their judge."""
    if ("#run" in a) != ("#run" in b):
        return False
    return "#run" not in a or a.split("#run")[0] == b.split("#run")[0]


def judge_agreement(paths: Sequence[Path], n_boot: int = 2000, seed: int = 0, confidence: float = 0.95) -> list[dict]:
    series = [s for run_dir in find_run_dirs(paths) for s in rating_series(run_dir)]
    if len(series) < 2:
        raise ReportError(f"{', '.join(map(str, paths))}: fewer than two judges (or grading runs) to compare; judge a "
                          "run again with python -m evalkit.judge RUN_DIR judge=... judge.name=OTHER")
    pairs = [compare_series(a, b, n_boot, seed, confidence) for a, b in itertools.combinations(series, 2)
             if comparable(a.label, b.label)]
    pairs = [p for p in pairs if p is not None]
    if not pairs:
        raise ReportError("no two judges rated the same answers (same item ids and model text)")
    return pairs


def summary_table(pairs: Sequence[dict]) -> pd.DataFrame:
    return pd.DataFrame([{k: v for k, v in p.items() if k != "disagreements"} for p in pairs])


def write_agreement(out: Path, pairs: Sequence[dict]) -> list[Path]:
    from evalkit.report.html import page, table

    out.mkdir(parents=True, exist_ok=True)
    summary = summary_table(pairs)
    summary.to_csv(out / "judges.csv", index=False)
    details = [{**{k: v for k, v in p.items() if k != "disagreements"},
                "disagreements": p["disagreements"].to_dict("records")} for p in pairs]
    (out / "judges.json").write_text(json.dumps(to_jsonable(details), indent=2, ensure_ascii=False) + "\n",
                                     encoding="utf-8")
    shown = summary.round(3)
    body = ["<h1>Judge agreement</h1>",
            "<p>Pairs of judges (or grading runs) over the same answers: rank correlations, Cohen's kappa on the "
            "benchmark's rating buckets, and the mean difference B &minus; A with a paired bootstrap interval.</p>",
            table(shown)]
    for p in pairs:
        body += [f"<h2>{p['task']}: {p['a']} vs {p['b']} &mdash; largest disagreements</h2>", table(p["disagreements"])]
    (out / "report.html").write_text(page("evalkit judge agreement", body), encoding="utf-8")
    return [out / "judges.csv", out / "judges.json", out / "report.html"]


def format_agreement(pairs: Sequence[dict]) -> str:
    lines = []
    for p in pairs:
        lines.append(f"{p['task']}: {p['a']} vs {p['b']} (n={p['n']}): Spearman {p['spearman']:.3f}, Kendall tau-b "
                     f"{p['kendall_tau_b']:.3f}, Cohen's kappa {p['cohen_kappa']:.3f}, mean {p['mean_a']:.3f} vs "
                     f"{p['mean_b']:.3f}, difference {p['mean_difference']:+.3f} "
                     f"[{p['ci_low']:+.3f}, {p['ci_high']:+.3f}] ({100 * p['confidence']:.0f}% CI)")
    return "\n".join(lines)
