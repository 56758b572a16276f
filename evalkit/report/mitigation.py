"""`python -m evalkit.report mitigation`: each hallucination-mitigation run beside the baselines
that can explain its gain away (arXiv 2504.10020: much of VCD's POPE gain vanishes against greedy
decoding or the plausibility mask alone, and it moves the yes-ratio).

Runs are grouped into arms: the same described config but the seed (a sampled arm holds one run
per seed). An arm is a mitigation arm when its decoding class names controls
(`DecodingMethod.controls`: e.g. greedy, the same sampler without contrast, the mask alone at the
same beta); each control is the arm over the same model, dataset and items whose decoding has the
control's values. Seeds pair with the same seed of a sampled control, or with the one run of a
deterministic one. Per pair, the paired statistics are `report compare`'s (evalkit.report.compare:
the tasks' own `paired_deltas` and, for yes/no benchmarks, pooled accuracy and F1, McNemar's exact
test), so a benchmark's own metrics (caption CHAIR numbers included) come with it; yes/no
benchmarks also get the yes-ratio shift, the no->yes / yes->no flips and the accuracy change on
ground-truth-yes vs ground-truth-no items. Nothing here names a benchmark or a decoder.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.report.compare import compare_runs, fmt_delta, fmt_stat, paired_frame
from evalkit.report.discover import ReportError, Run, label_keys, short_names
from evalkit.tasks.yesno import yesno_tasks
from evalkit.settings import method_of, upgrade


@dataclass
class Arm:
    label: str
    context: tuple  # model, dataset, rule and item set: what a control must share
    decoding: dict
    runs: dict[int, Run] = field(default_factory=dict)  # seed -> run

    @property
    def samples(self) -> bool:
        cls = method_of(self.decoding)
        return cls is None or cls.samples

    @property
    def first(self) -> Run:
        return self.runs[min(self.runs)]


def _same(a: Any, b: Any) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=0, abs_tol=1e-12)
    except (TypeError, ValueError):
        return str(a) == str(b)


def arms_of(runs: Sequence[Run]) -> list[Arm]:
    arms: dict[tuple, Arm] = {}
    for run in runs:
        flat = {k: v for k, v in run.flat.items() if k != "seed"}
        context = tuple(sorted((k, v) for k, v in flat.items() if not k.startswith("decoding.")))
        context += (("items", frozenset(run.scores.frame["id"].astype(str))),)
        key = tuple(sorted(flat.items())) + context[-1:]
        if key not in arms:
            arms[key] = Arm("", context, dict(upgrade(run.config).get("decoding") or {}))
        arms[key].runs.setdefault(int(run.config.get("seed", 0) or 0), run)
    _label(list(arms.values()))
    return list(arms.values())


def _label(arms: Sequence[Arm]) -> None:
    """An arm is named by its decoding name, plus the settings that differ among the arms of that
    name (another model, beta, temperature, ...)."""
    by_name: dict[str, list[Arm]] = {}
    for arm in arms:
        by_name.setdefault(str(arm.decoding.get("name", "?")), []).append(arm)
    for name, group in by_name.items():
        flats = [{k: v for k, v in a.first.flat.items() if k not in ("seed", "decoding.name")} for a in group]
        keys = sorted({k for f in flats for k in f if len({g.get(k) for g in flats}) > 1})
        keys = label_keys([a.first for a in group], keys)  # model.path follows model.name
        names = {k: ("model" if k == "model.name" else short) for k, short in short_names(keys).items()}
        for arm, flat in zip(group, flats):
            arm.label = ", ".join([name] + [f"{names[k]}={flat.get(k, '—')}" for k in keys])


def wanted_controls(arm: Arm) -> dict[str, dict]:
    cls = method_of(arm.decoding)
    return cls.controls(arm.decoding) if cls is not None else {}


def controls_of(arm: Arm, arms: Sequence[Arm]) -> list[tuple[str, Arm]]:
    wanted = wanted_controls(arm)
    found = []
    for role, spec in wanted.items():
        for other in arms:
            if other is not arm and other.context == arm.context and all(
                    _same(other.decoding.get(k), v) for k, v in spec.items()):
                found.append((role, other))
                break
    return found


def seed_pairs(arm: Arm, control: Arm) -> list[tuple[int, Run, Run]]:
    if not control.samples:
        return [(seed, control.first, run) for seed, run in sorted(arm.runs.items())]
    return [(seed, control.runs[seed], run) for seed, run in sorted(arm.runs.items()) if seed in control.runs]


def yesno_shift(base: Run, run: Run, tasks: Optional[set] = None) -> dict:
    """Yes-ratio and flips from the control's answers to the mitigation's, and accuracy changes
    on the items whose ground truth is yes / no; over the items of `tasks` (names; None: all), so
    a run that mixes yes/no probes with captions (shapes pope + describe) gets its probes' shift."""
    joined, _, _ = paired_frame(base, run)
    if tasks is not None:
        joined = joined[joined["task"].isin(tasks)]
    yes_a, yes_b = joined["parsed_a"] == "yes", joined["parsed_b"] == "yes"
    truth = joined["answer"] == "yes"
    ok_a, ok_b = joined["correct_a"].astype(bool), joined["correct_b"].astype(bool)
    return {"yes_ratio_base": yes_a.mean(), "yes_ratio": yes_b.mean(), "yes_ratio_shift": yes_b.mean() - yes_a.mean(),
            "no_to_yes": int((~yes_a & yes_b).sum()), "yes_to_no": int((yes_a & ~yes_b).sum()),
            "d_acc_truth_yes": ok_b[truth].mean() - ok_a[truth].mean() if truth.any() else math.nan,
            "d_acc_truth_no": ok_b[~truth].mean() - ok_a[~truth].mean() if (~truth).any() else math.nan}


@dataclass
class MitigationReport:
    arms: pd.DataFrame  # one row per arm and headline metric: mean, sd, n seeds
    pairs: pd.DataFrame  # one row per mitigation arm, control, seed pair and paired statistic
    shifts: pd.DataFrame  # yes/no benchmarks: one row per mitigation arm, control and seed pair
    formats: dict[str, str]
    directions: dict[str, str]
    missing: list[str] = field(default_factory=list)  # controls a mitigation arm names but no run matches


def mitigation_report(runs: Sequence[Run], n_boot: int = 2000, seed: int = 0,
                      confidence: float = 0.95) -> MitigationReport:
    arms = arms_of(runs)
    formats: dict[str, str] = {}
    directions: dict[str, str] = {}
    arm_rows = []
    for arm in arms:
        for headline in arm.first.benchmark.headlines():
            values = [run.headline.get(headline.name) for run in arm.runs.values()]
            values = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
            if not values:
                continue
            formats[headline.name] = headline.format
            directions[headline.name] = headline.direction if headline.direction != "target" else \
                f"nearest {headline.target:g}"
            arm_rows.append({"arm": arm.label, "metric": headline.name, "mean": float(np.mean(values)),
                             "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0, "n_seeds": len(values)})
    pair_rows, shift_rows = [], []
    mitigations = [(arm, controls_of(arm, arms)) for arm in arms]
    mitigations = [(arm, found) for arm, found in mitigations if found]
    missing = [f"{arm.label}: no {role} control among the runs (a run with decoding {spec})"
               for arm, found in mitigations for role, spec in wanted_controls(arm).items()
               if role not in {r for r, _ in found}]
    if not mitigations:
        raise ReportError("no mitigation run with a matched baseline among the runs: a run of a method that names "
                          "controls (e.g. decoding=vcd) needs greedy / sample / apc_sample runs over the same model, "
                          "dataset and items")
    for arm, found in mitigations:
        for role, control in found:
            for s, base, run in seed_pairs(arm, control):
                c = compare_runs(base, run, n_boot=n_boot, seed=seed, confidence=confidence)
                # Every task has paired statistics: its own, or the mean per-item score (compare_runs).
                for name, d in c.deltas.items():
                    formats.setdefault(name, c.formats.get(name, "percent"))
                    pair_rows.append({"arm": arm.label, "control": role, "control_arm": control.label, "seed": s,
                                      "statistic": name, "base": d.a, "value": d.b, "delta": d.delta, "low": d.low,
                                      "high": d.high, "p_mcnemar": c.p_mcnemar, "n_paired": c.n_paired})
                tasks = [t for t in run.benchmark.tasks if (run.scores.frame["task"] == t.name).any()]
                if yesno_tasks(tasks):
                    shift_rows.append({"arm": arm.label, "control": role, "control_arm": control.label, "seed": s,
                                       **yesno_shift(base, run, {t.name for t in yesno_tasks(tasks)})})
    return MitigationReport(pd.DataFrame(arm_rows), pd.DataFrame(pair_rows), pd.DataFrame(shift_rows), formats,
                            directions, missing)


# ------------------------------------------------------------------------------------------ output

def _cell(value: Any, kind: str, delta: bool = False) -> str:
    return fmt_delta(value, kind) if delta else fmt_stat(value, kind)


def summary_tables(report: MitigationReport) -> dict[str, pd.DataFrame]:
    """The printed tables: metric means per arm; differences to each control; yes/no shifts."""
    out: dict[str, pd.DataFrame] = {}
    if not report.arms.empty:
        arms = report.arms.copy()
        arms["value"] = [f"{_cell(m, report.formats[k])} ± {_cell(sd, report.formats[k], True).lstrip('+')}"
                         for m, sd, k in zip(arms["mean"], arms["sd"], arms["metric"])]
        table = arms.pivot_table(index="arm", columns="metric", values="value", aggfunc="first", sort=False)
        table.columns = [f"{c} ({report.directions.get(c, 'higher')})" for c in table.columns]
        seeds = arms.groupby("arm", sort=False)["n_seeds"].max()
        out["arms"] = table.assign(seeds=seeds).reset_index()
    rows = []
    for (arm, role, control, stat), g in report.pairs.groupby(["arm", "control", "control_arm", "statistic"],
                                                              sort=False):
        kind = report.formats.get(stat, "percent")
        per_seed = "; ".join(f"s{s}: {_cell(d, kind, True)} [{_cell(lo, kind, True)}, {_cell(hi, kind, True)}] "
                             f"p={p:.3g}" for s, d, lo, hi, p in zip(g["seed"], g["delta"], g["low"], g["high"],
                                                                       g["p_mcnemar"]))
        rows.append({"run": arm, "vs": f"{role}: {control}", "statistic": stat,
                     "run mean": _cell(g["value"].mean(), kind), "control mean": _cell(g["base"].mean(), kind),
                     "Δ mean": _cell(g["delta"].mean(), kind, True),
                     "Δ sd over seeds": _cell(g["delta"].std(ddof=1) if len(g) > 1 else 0.0, kind, True).lstrip("+"),
                     "per seed: Δ [CI], McNemar p": per_seed})
    out["deltas"] = pd.DataFrame(rows)
    if not report.shifts.empty:
        shifts = report.shifts.groupby(["arm", "control", "control_arm"], sort=False).mean(numeric_only=True)
        shifts = shifts.drop(columns=["seed"]).reset_index()
        out["yes_no"] = pd.DataFrame({
            "run": shifts["arm"], "vs": shifts["control"] + ": " + shifts["control_arm"],
            "yes-ratio control → run": [f"{100 * a:.1f}% → {100 * b:.1f}%" for a, b in
                                        zip(shifts["yes_ratio_base"], shifts["yes_ratio"])],
            "shift": [fmt_delta(v) for v in shifts["yes_ratio_shift"]],
            "no→yes": [f"{v:.1f}" for v in shifts["no_to_yes"]], "yes→no": [f"{v:.1f}" for v in shifts["yes_to_no"]],
            "Δacc truth=yes": [fmt_delta(v) for v in shifts["d_acc_truth_yes"]],
            "Δacc truth=no": [fmt_delta(v) for v in shifts["d_acc_truth_no"]]})
    return out


TITLES = {"arms": "Headline metrics per arm (mean ± sd over seeds)",
          "deltas": "Differences to each matched control (run − control; paired bootstrap CI, McNemar exact p)",
          "yes_no": "Yes/no shift (mean over seed pairs; flips are item counts)"}


def markdown(frame: pd.DataFrame) -> str:
    cells = frame.astype(str).replace({"nan": "-"})
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(v.replace("|", "\\|") for v in row) + " |" for row in cells.itertuples(index=False)]
    return "\n".join(lines)


def render_markdown(tables: dict[str, pd.DataFrame]) -> str:
    return "\n\n".join(f"**{TITLES[name]}**\n\n{markdown(t)}" for name, t in tables.items() if not t.empty) + "\n"


def write_report(report: MitigationReport, out: Path) -> list[Path]:
    from html import escape

    from evalkit.report import html

    out.mkdir(parents=True, exist_ok=True)
    tables = summary_tables(report)
    written = [out / "mitigation_pairs.csv", out / "mitigation_arms.csv", out / "mitigation.md", out / "report.html"]
    report.pairs.to_csv(written[0], index=False)
    report.arms.to_csv(written[1], index=False)
    if not report.shifts.empty:
        written.append(out / "mitigation_yes_no.csv")
        report.shifts.to_csv(written[-1], index=False)
    notes = "".join(f"\n- {note}" for note in report.missing)
    written[2].write_text(render_markdown(tables) + (f"\nControls not found:{notes}\n" if notes else ""),
                          encoding="utf-8")
    body = ["<h1>Mitigation runs and their matched baselines</h1>"]
    for name, table in tables.items():
        if not table.empty:
            body += [f"<h2>{escape(TITLES[name])}</h2>", html.table(table, text_columns=("run", "vs", "arm"))]
    written[3].write_text(html.page("evalkit mitigation report", body), encoding="utf-8")
    return written


def run_mitigation(paths: Sequence[Path], out: Path, n_boot: int, seed: int, confidence: float,
                   echo: Optional[callable] = print) -> list[Path]:
    from evalkit.report.discover import load_runs

    report = mitigation_report(load_runs(paths), n_boot=n_boot, seed=seed, confidence=confidence)
    written = write_report(report, out)
    for note in report.missing:
        print(f"evalkit.report mitigation: {note}", file=sys.stderr)
    if echo is not None:
        echo(render_markdown(summary_tables(report)))
    return written
