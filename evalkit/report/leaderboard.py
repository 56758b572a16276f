"""Tables over many runs: the leaderboard, per-category tables and ablation pivots (DataFrames),
and their CSV / Markdown files. Numbers come from each run's summary.json and metrics.csv; which
numbers, which way is better and how they print, each run's benchmark declares (evalkit.benchmark).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from evalkit.benchmark import OVERALL, Headline, Task
from evalkit.report.compare import Comparison, baseline_columns, delta_names
from evalkit.report.discover import Run, describe_runs, label_keys, varying_keys
from evalkit.scoring.calibration import frame_auroc

COUNTS = ["n_items", "n_errors", "n_missing", "items_per_s"]  # n_missing: a partial run (evalkit.scoring.coverage)
_COUNT_HEADLINES = {name: Headline(name, "lower", "count") for name in ("n_items", "n_errors")}


def headlines(runs: Sequence[Run]) -> list[Headline]:
    """The headline numbers of the runs' benchmarks, in display order (first appearance)."""
    seen: dict[str, Headline] = {}
    for benchmark in dict.fromkeys(run.benchmark for run in runs):
        for h in benchmark.headlines():
            seen.setdefault(h.name, h)
    return list(seen.values())


def tasks_of(runs: Sequence[Run]) -> dict[str, Task]:
    """Task name -> task, over the runs' benchmarks (a shared task is one object)."""
    return {task.name: task for benchmark in dict.fromkeys(run.benchmark for run in runs) for task in benchmark.tasks}


def formats_of(runs: Sequence[Run]) -> dict[str, str]:
    """Column / headline name -> format (percent, points, count, probability) for printing."""
    formats = {k: v for task in tasks_of(runs).values() for k, v in task.formats.items()}
    formats.update({h.name: h.format for h in headlines(runs)})
    return formats


def leaderboard(runs: Sequence[Run], keys: Sequence[str], metric: Optional[str] = None,
                comparisons: Optional[dict[str, Optional[Comparison]]] = None) -> pd.DataFrame:
    """One row per run: label, dataset, differing config values, headline metrics, counts, and
    (with `comparisons`, keyed by label) the comparison to the baseline. Sorted by dataset, then by
    `metric` (default: each dataset's headline metric), best first (yes-ratio: nearest 50%)."""
    rows = []
    heads = headlines(runs)
    names = delta_names([c for c in (comparisons or {}).values() if c is not None])
    for run in runs:
        head = run.headline
        row: dict[str, Any] = {"run": run.label, "dataset": run.dataset}
        row.update({key: run.flat.get(key, "—") for key in keys})
        if "judge" in head:  # judged benchmarks: whose ratings the numbers are (see mixed_judges)
            row["judge"] = head["judge"] or "(not judged)"
        row.update({h.name: _number(head.get(h.name)) for h in heads})
        row["n_items"] = _number(run.summary.get("n_items", head.get("n_items")))
        row["n_errors"] = _number(run.summary.get("n_errors", head.get("n_errors")))
        row["n_missing"] = _number(head.get("n_missing")) if head.get("partial") else None  # only partial runs
        row["items_per_s"] = _number(run.summary.get("items_per_s"))
        if comparisons is not None:
            row.update(baseline_columns(comparisons.get(run.label), names))
        row["path"] = str(run.path)
        rows.append(row)
    board = pd.DataFrame(rows)
    board = board.loc[:, board.notna().any()]  # metrics no run has (another benchmark's headline)
    primary = {run.dataset: run.benchmark.primary() for run in runs}
    sort_by = {d: metric or default_metric(sub.to_dict("records"), primary[d]) for d, sub in board.groupby("dataset")}
    specs = {**_COUNT_HEADLINES, **{h.name: h for h in heads}}
    board["_sort"] = [_sort_key(row, sort_by[row["dataset"]], specs) for row in board.to_dict("records")]
    board = board.sort_values(["dataset", "_sort"], kind="stable", na_position="last")
    return board.drop(columns="_sort").reset_index(drop=True)


def mixed_judges(runs: Sequence[Run]) -> list[str]:
    """One warning per benchmark whose runs were judged by different judges: their numbers are
    ranked side by side only with this said (a judge's scale is part of the number)."""
    by_dataset: dict[str, set] = {}
    for run in runs:
        if "judge" in run.headline:
            by_dataset.setdefault(run.dataset, set()).add(run.headline["judge"] or "(not judged)")
    return [f"{dataset}: runs judged by different judges ({', '.join(sorted(judges))}); their numbers are not "
            "comparable across judges (python -m evalkit.report judges measures the difference)"
            for dataset, judges in sorted(by_dataset.items()) if len(judges) > 1]


def _number(value: Any) -> float:
    return math.nan if value is None or isinstance(value, (str, list, dict)) else float(value)


def _sort_key(row: dict, metric: Optional[str], specs: Mapping[str, Headline]) -> float:
    """Smaller is better, in the metric's declared direction (a number a benchmark does not
    declare, such as --metric auroc, counts as higher-is-better)."""
    if not metric:
        return math.nan
    return specs.get(metric, Headline(metric)).sort_key(row.get(metric))


def default_metric(rows: Sequence[dict], candidates: Sequence[str]) -> Optional[str]:
    """The first of the benchmark's primary metrics that every row has."""
    for name in candidates:
        if rows and all(row.get(name) is not None and not _isnan(row.get(name)) for row in rows):
            return name
    return None


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


# ----------------------------------------------------------------------------------- per category

def category_long(runs: Sequence[Run]) -> pd.DataFrame:
    """Every run's metrics.csv stacked, with `run` and `dataset` columns in front."""
    frames = [run.category_metrics.assign(run=run.label, dataset=run.dataset) for run in runs]
    long = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    front = ["run", "dataset", "task", "category"]
    return long[front + [c for c in long.columns if c not in front]]


def category_tables(long: pd.DataFrame, tasks: Mapping[str, Task]) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(dataset, task, value column, table) with runs as rows and categories as columns, for the
    columns each task shows per category; its summary rows (all, mean, perception/cognition
    totals) are left out: they are in the leaderboard."""
    tables = []
    for (dataset, name), sub in long.groupby(["dataset", "task"], sort=True):
        task = tasks.get(name, Task())
        sub = sub[~sub["category"].astype(str).isin(task.summary_rows)]
        if sub.empty:
            continue
        order = list(dict.fromkeys(sub["category"].astype(str)))
        runs = list(dict.fromkeys(sub["run"]))
        for value in task.category_values:
            table = sub.pivot_table(index="run", columns="category", values=value, aggfunc="first", dropna=False)
            tables.append((dataset, name, value, table.reindex(index=runs, columns=order)))
    return tables


# ------------------------------------------------------------------------------------------ pivots

def ablation_pivots(runs: Sequence[Run], metric: Optional[str] = None) -> list[tuple[str, str, pd.DataFrame]]:
    """Per dataset: (dataset, metric, pivot) with the config keys that differ within the dataset as
    axes. The key with the fewest values makes the columns, all others the rows; a cell is the
    mean over runs with those values (repeated configs), NaN where no run has them."""
    out = []
    for dataset in sorted({run.dataset for run in runs}):
        group = [run for run in runs if run.dataset == dataset]
        keys = label_keys(group, varying_keys(group))
        chosen = metric or default_metric([run.headline for run in group], group[0].benchmark.primary())
        if not keys or not chosen:
            continue
        frame = pd.DataFrame([{**{k: run.flat.get(k, "—") for k in keys}, chosen: _number(run.headline.get(chosen))}
                              for run in group])
        if frame[chosen].isna().all():  # --metric of another benchmark
            continue
        if len(keys) == 1:
            pivot = frame.groupby(keys[0], sort=False)[[chosen]].mean()
        else:
            column = min(reversed(keys), key=lambda k: frame[k].nunique())
            rows = [k for k in keys if k != column]
            pivot = frame.pivot_table(index=rows, columns=column, values=chosen, aggfunc="mean", sort=False)
        out.append((dataset, chosen, pivot))
    return out


# ------------------------------------------------------------------------------------------ format

def format_value(column: str, value: Any, formats: Mapping[str, str] = {}) -> str:
    """In the column's declared format (`formats`, from the benchmarks): rates as percentages,
    points as points, counts as integers, probabilities to 3 decimals; deltas signed; '-' if missing."""
    if value is None or _isnan(value):
        return "-"
    if isinstance(value, str):
        return value
    if column.endswith("p_mcnemar"):
        return f"{value:.3g}"
    base = column.removeprefix("vs_base_d_")
    kind = formats.get(base, formats.get(column))
    if kind == "count" or column in _COUNT_HEADLINES or column.startswith(("vs_base_n", "vs_base_only")):
        return f"{int(value)}"
    if column == "items_per_s":
        return f"{value:.2f}"
    if kind == "probability" or column == "auroc":  # a probability, as the scorer prints it
        return f"{value:.3f}"
    points = kind == "points"
    if column.startswith("vs_base_d_"):
        return f"{value:+.2f}" if points else f"{100 * value:+.2f}"
    return f"{value:.2f}" if points else f"{100 * value:.2f}"


def display_board(board: pd.DataFrame, tags: Optional[dict[str, str]] = None, baseline: Optional[str] = None,
                  keys: Sequence[str] = (), formats: Mapping[str, str] = {}) -> pd.DataFrame:
    """The leaderboard of one dataset as strings, baseline intervals folded into one 'CI' column per
    metric. Config columns other than the label `keys` are left out (they are in the CSV); metric
    columns are those `formats` (formats_of) names. With `tags`
    (label -> run number) a '#' column comes first, and replaces the labels when keys are shown."""
    fixed = {"run", "dataset", "path", *formats, *COUNTS}
    config_columns = [c for c in board.columns if c not in fixed and not c.startswith("vs_base_")]
    shown = board.drop(columns=["path", "dataset", *(c for c in config_columns if c not in keys)]).copy()
    if tags is not None:
        shown.insert(0, "#", [tag_of(tags, label, baseline) for label in shown["run"]])
        if any(key in shown.columns for key in keys):
            shown = shown.drop(columns=["run"])
    for column in list(shown.columns):
        if column.endswith("_low") and column[:-4] in shown.columns:
            base = column[:-4]
            ci = [f"[{format_value(base, lo, formats)}, {format_value(base, hi, formats)}]" if not _isnan(lo) else "-"
                  for lo, hi in zip(shown[column], shown[base + "_high"])]
            shown.insert(shown.columns.get_loc(base) + 1, base + " CI", ci)
            shown = shown.drop(columns=[column, base + "_high"])
    for column in shown.columns:
        if not column.endswith(" CI"):
            shown[column] = [format_value(column, v, formats) for v in shown[column]]
    return shown.rename(columns=lambda c: c.replace("vs_base_d_", "Δ ").replace("vs_base_", "base: "))


def tag_of(tags: dict[str, str], label: str, baseline: Optional[str]) -> str:
    return tags[label] + (" (base)" if label == baseline else "")


def markdown_table(frame: pd.DataFrame, index: bool = False) -> str:
    if index:
        frame = frame.reset_index()
    header = [str(c) for c in frame.columns]
    cells = [[_md(v) for v in row] for row in frame.astype(object).itertuples(index=False)]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def _md(value: Any) -> str:
    return ("-" if value is None or _isnan(value) else str(value)).replace("|", "\\|").replace("\n", " ")


def _formatted(frame: pd.DataFrame, column: str, formats: Mapping[str, str]) -> pd.DataFrame:
    return frame.map(lambda v: format_value(column, v, formats))


def slice_long(runs: Sequence[Run], meta_keys: Sequence[str]) -> pd.DataFrame:
    """Accuracy, yes-ratio and AUROC of `p_yes` per run, task and value of an item meta field (`--by
    small`, `--by aspect`, `--by n_objects`): the slices a benchmark's categories do not show. Items
    without the field are left out; errors count as wrong, as everywhere.
    AUROC is the threshold-free reading: accuracy on a slice of present objects is recall, which a
    model buys by saying yes more often. A slice holding one answer only (POPE `probe=small`: all
    yes) is ranked against the other answer's items of the whole task (there: the absent objects).
    NaN without p_yes (greedy runs record it for yes/no answers)."""
    rows = []
    for run in runs:
        frame = run.scores.frame
        by_task = dict(tuple(frame.groupby("task", sort=False)))
        meta = frame["meta"] if "meta" in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        for key in meta_keys:
            values = meta.map(lambda m: m.get(key) if isinstance(m, dict) else None)
            sub = frame.assign(value=values.astype(object))[values.notna()]
            for (task, value), group in sub.groupby(["task", "value"], sort=True):
                rows.append({"run": run.label, "dataset": run.dataset, "task": task, "by": key, "value": str(value),
                             "n": len(group), "accuracy": float(group["correct"].mean()),
                             "yes_ratio": float((group["parsed"] == "yes").mean()),
                             "auroc": _slice_auroc(group, by_task[task])})
    return pd.DataFrame(rows, columns=["run", "dataset", "task", "by", "value", "n", "accuracy", "yes_ratio", "auroc"])


def _slice_auroc(group: pd.DataFrame, task_items: pd.DataFrame) -> float:
    if "p_yes" not in group.columns:
        return math.nan
    answers = set(group["answer"])
    if len(answers) == 1:  # one answer only: against the other answer's items of the task
        group = pd.concat([group, task_items[~task_items["answer"].isin(answers)]])
    return frame_auroc(group)


def slice_tables(long: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(title, value, runs x "task by=value" table) per dataset, meta field and value (accuracy, and
    AUROC where the runs recorded p_yes)."""
    tables = []
    for (dataset, key), sub in long.groupby(["dataset", "by"], sort=True):
        # One column per slice, whatever the runs' item counts; n in the label when the runs agree on it.
        slice_ = sub["task"] + " " + key + "=" + sub["value"]
        n = sub.groupby(slice_)["n"].agg(lambda x: str(x.iloc[0]) if x.nunique() == 1 else f"{x.min()}-{x.max()}")
        pivot = sub.assign(column=slice_ + " (n=" + slice_.map(n) + ")")
        for value in ("accuracy", "auroc"):
            if pivot[value].isna().all():  # no run recorded p_yes
                continue
            table = pivot.pivot_table(index="run", columns="column", values=value, sort=False, dropna=False)
            table.index.name = "run"
            tables.append((f"{dataset} · {value} by {key}", value, table))
    return tables


def write_tables(out: Path, runs: Sequence[str], keys: Sequence[str], board: pd.DataFrame, long: pd.DataFrame,
                 categories: list[tuple[str, str, str, pd.DataFrame]], pivots: list[tuple[str, str, pd.DataFrame]],
                 baseline: Optional[Run] = None, slices: Optional[pd.DataFrame] = None,
                 formats: Mapping[str, str] = {}) -> list[Path]:
    """leaderboard.csv (raw numbers), categories.csv (every metrics.csv row), pivot_<dataset>.csv
    and leaderboard.md (all of it, formatted). `runs`: the run labels, numbered in this order."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "leaderboard.csv", out / "categories.csv"]
    board.to_csv(written[0], index=False)
    long.to_csv(written[1], index=False)
    md = ["# Leaderboard", "", "Rates in %, scores in their benchmark's points; runs named by the config values "
          "that differ.", ""]
    if baseline is not None:
        md += [f"Baseline: **{baseline.label}** (`{baseline.path}`); Δ = run − baseline over shared items, "
               "95% paired bootstrap CI, McNemar exact p.", ""]
    tags = {label: str(i + 1) for i, label in enumerate(runs)}
    md += [f"{tags[label]}. {label}" for label in runs] + [""]
    for dataset, sub in board.groupby("dataset", sort=True):
        shown = display_board(sub.dropna(axis=1, how="all"), tags, baseline.label if baseline else None, keys, formats)
        md += [f"## {dataset}", "", markdown_table(shown), ""]
        judges = sorted(sub["judge"].dropna().unique()) if "judge" in sub.columns else []
        if len(judges) > 1:  # a judge's scale is part of its numbers
            md += [f"**Not comparable:** judged by different judges ({', '.join(judges)}); "
                   "`python -m evalkit.report judges` measures how they differ.", ""]
    md += ["# Per category", ""]
    for dataset, task, value, table in categories:
        shown = _formatted(table, value, formats)
        md += [f"## {dataset} · {task} · {value}", "", markdown_table(shown, index=True), ""]
    if pivots:
        md += ["# Ablations", ""]
    for dataset, metric, pivot in pivots:
        path = out / f"pivot_{_slug(dataset)}.csv"
        pivot.to_csv(path)
        written.append(path)
        name = pivot.columns.name
        shown = _formatted(pivot, metric, formats).rename(columns=lambda c: f"{name}={c}" if name else c)
        md += [f"## {dataset} · {metric}", "", markdown_table(shown, index=True), ""]
    if slices is not None and not slices.empty:
        written.append(out / "slices.csv")
        slices.to_csv(written[-1], index=False)
        md += ["# Slices", ""]
        for title, value, table in slice_tables(slices):
            md += [f"## {title}", "", markdown_table(_formatted(table, value, formats), index=True), ""]
    (out / "leaderboard.md").write_text("\n".join(md), encoding="utf-8")
    return written + [out / "leaderboard.md"]


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in text)


__all__ = ["ablation_pivots", "category_long", "category_tables", "describe_runs", "display_board", "formats_of",
           "headlines", "leaderboard", "markdown_table", "slice_long", "slice_tables", "tasks_of", "write_tables"]
