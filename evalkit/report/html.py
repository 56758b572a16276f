"""report.html: one self-contained page (inline CSS, inline SVG, a few lines of inline JS to sort
tables); it loads nothing from anywhere, so it opens offline and can be mailed as one file."""

from __future__ import annotations

import math
import re
from datetime import datetime
from html import escape
from typing import Any, Optional, Sequence

import pandas as pd

from evalkit.report import svg
from evalkit.report.captions import caption_sections
from evalkit.report.compare import Comparison, fmt_delta, fmt_stat
from evalkit.report.discover import Run
from evalkit.report.leaderboard import display_board, format_value, formats_of, mixed_judges, tag_of

MAX_FLIPS_SHOWN = 500  # per comparison in the page; the CSV has them all

CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1400px;padding:0 16px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}p.note{color:#555;font-size:13px;margin:4px 0}
table{border-collapse:collapse;font-size:12px;margin:6px 0 14px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;white-space:nowrap}
th{background:#f3f5f8;cursor:pointer;user-select:none;position:sticky;top:0}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
td.t,th.t{text-align:left}td.wrap{white-space:normal;max-width:420px;text-align:left}
tr:hover td{background:#fffbe6}.scroll{overflow-x:auto}
.sw{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px;vertical-align:middle}
.charts{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.legend{font-size:12px;columns:2 340px;margin:6px 0}.legend div{margin:2px 0}
.fixed{color:#1a7f37}.broken{color:#c62828}details{margin:6px 0}summary{cursor:pointer}
"""

# Click a header to sort by it (numbers as numbers; '-' last); click again to reverse.
JS = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
    var asc=!th.classList.contains('asc');
    t.querySelectorAll('th').forEach(function(h){h.classList.remove('asc','desc')});
    th.classList.add(asc?'asc':'desc');
    var key=function(r){var c=r.cells[i],s=c.dataset.v!==undefined?c.dataset.v:c.textContent.trim();
      return /^[+-]?(\\d+\\.?\\d*|\\.\\d+)(e[+-]?\\d+)?%?$/i.test(s)?parseFloat(s):(s==='-'?null:s)};
    var rows=Array.from(t.tBodies[0].rows);
    rows.sort(function(a,b){var x=key(a),y=key(b);if(x===null)return 1;if(y===null)return -1;
      var r=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y),undefined,{numeric:true});
      return asc?r:-r});
    rows.forEach(function(r){t.tBodies[0].appendChild(r)});
  })});
});
"""


def page(title: str, body: Sequence[str]) -> str:
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<style>{CSS}</style></head><body>\n' + "\n".join(body) + f"\n<script>{JS}</script></body></html>\n")


def table(frame: pd.DataFrame, index: bool = False, swatches: Optional[dict[str, str]] = None,
          text_columns: Sequence[str] = (), wrap_columns: Sequence[str] = ()) -> str:
    """A sortable table of already formatted cells; `swatches` colours the `run` cells."""
    if index:
        frame = frame.reset_index()
    head = "".join(f'<th class="t">{escape(str(c))}</th>' if c in text_columns or c in wrap_columns or c in ("run", "#")
                   else f"<th>{escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for record in frame.astype(object).itertuples(index=False):
        cells = []
        for column, value in zip(frame.columns, record):
            text = "-" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
            if column in ("run", "#") and swatches and text in swatches:
                cells.append(f'<td class="t"><span class="sw" style="background:{swatches[text]}"></span>'
                             f"{escape(text)}</td>")
            elif column in wrap_columns:
                cells.append(f'<td class="wrap">{escape(text)}</td>')
            elif column == "change":
                cells.append(f'<td class="t {escape(text)}">{escape(text)}</td>')
            else:
                cells.append(f'<td class="{"t" if column in text_columns else ""}">{escape(text)}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>'
            + "".join(rows) + "</tbody></table></div>")


def legend(runs: Sequence[Run], colours: dict[str, str]) -> str:
    return '<div class="legend">' + "".join(
        f'<div><span class="sw" style="background:{colours[r.label]}"></span><b>{i + 1}</b> {escape(r.label)}</div>'
        for i, r in enumerate(runs)) + "</div>"


def _fmt(column: str, formats: dict[str, str]) -> Any:
    points = formats.get(column) == "points"
    return (lambda v: f"{v:.0f}") if points else (lambda v: f"{100 * v:.0f}%")


def _y_max(frame: pd.DataFrame, value: str, formats: dict[str, str]) -> float:
    """Rates on [0, 1]; points up to the largest value shown (a benchmark's own scale)."""
    if formats.get(value) != "points":
        return 1.0
    values = [v for v in map(_float, frame.to_numpy().ravel()) if math.isfinite(v)]
    return max(values + [1.0])


# ------------------------------------------------------------------------------------------ report

def render_report(runs: Sequence[Run], keys: Sequence[str], board: pd.DataFrame,
                  categories: list[tuple[str, str, str, pd.DataFrame]], pivots: list[tuple[str, str, pd.DataFrame]],
                  comparisons: dict[str, Optional[Comparison]], baseline: Optional[Run] = None) -> str:
    colours = {run.label: svg.colour(i) for i, run in enumerate(runs)}
    tags = {run.label: str(i + 1) for i, run in enumerate(runs)}
    formats = formats_of(runs)
    body = [f"<h1>evalkit report: {len(runs)} run(s)</h1>",
            f'<p class="note">Generated {datetime.now():%Y-%m-%d %H:%M}. Runs are named by the config values that '
            f"differ between them ({escape(', '.join(keys)) or 'none differ'}). Rates in %, scores in their "
            "benchmark's points; "
            "errors count as wrong. Click a column header to sort.</p>", legend(runs, colours),
            "<h2>Leaderboard</h2>"]
    if baseline is not None:
        body.append(f'<p class="note">Baseline: <b>{escape(baseline.label)}</b>. Δ = run − baseline over shared '
                    "items (percentage points, or the benchmark's points) with a 95% paired bootstrap interval; "
                    "p = McNemar exact "
                    "test on the items only one of the two got right.</p>")
    for dataset, sub in board.groupby("dataset", sort=True):
        base = baseline.label if baseline else None
        shown = display_board(sub.dropna(axis=1, how="all"), tags, base, keys, formats)
        swatches = {tag_of(tags, label, base): colours[label] for label in tags}
        body += [f"<h3>{escape(dataset)}</h3>", table(shown, swatches=swatches, text_columns=keys)]
    body += [f'<p class="note"><b>Not comparable:</b> {escape(w)}</p>' for w in mixed_judges(runs)]

    body.append("<h2>Hallucination view: yes-ratio against accuracy</h2>"
                '<p class="note">A model that answers yes too often hallucinates objects. On balanced benchmarks '
                "(one yes and one no question per object or image) the true yes-ratio is 50% (dashed line): good runs "
                "sit high and near it.</p>")
    charts = []
    for dataset, sub in board.groupby("dataset", sort=True):
        if "yes_ratio" not in sub or "accuracy" not in sub:
            continue
        points = [(r["run"], tags[r["run"]], colours[r["run"]], r["yes_ratio"], r["accuracy"])
                  for r in sub.to_dict("records")]
        charts.append(f"<div><h3>{escape(dataset)}</h3>"
                      + svg.scatter(points, "yes-ratio", "accuracy", _fmt("accuracy", formats), x_line=0.5) + "</div>")
    body.append(f'<div class="charts">{"".join(charts)}</div>')

    body.append("<h2>Per category</h2>")
    charts = []
    for dataset, task, value, frame in categories:
        y_max = _y_max(frame, value, formats)
        series = [(run, colours.get(run, "#ccc"), [_float(v) for v in frame.loc[run]]) for run in frame.index]
        charts.append(f"<div><h3>{escape(dataset)} · {escape(task)} · {escape(value)}</h3>"
                      + svg.bar_chart([str(c) for c in frame.columns], series, y_max, _fmt(value, formats), value)
                      + "<details><summary>table</summary>"
                      + table(frame.map(lambda v, c=value: format_value(c, v, formats)), index=True, swatches=colours)
                      + "</details></div>")
    body.append(f'<div class="charts">{"".join(charts)}</div>')

    body += caption_sections(runs)  # runs with caption tasks: a few captions, hallucinations marked

    if pivots:
        body.append("<h2>Ablations</h2>")
    for dataset, metric, pivot in pivots:
        body += [f"<h3>{escape(dataset)} · {escape(metric)}</h3>", heat_map(pivot, metric, formats)]

    if baseline is not None:
        body.append("<h2>Paired comparisons with the baseline</h2>")
        body += comparison_sections([(run, comparisons.get(run.label)) for run in runs if run is not baseline],
                                    baseline)
    return page("evalkit report", body)


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def heat_map(pivot: pd.DataFrame, metric: str, formats: dict[str, str]) -> str:
    """The pivot as a table whose cells are shaded from the lowest (white) to the highest (blue)."""
    values = [v for v in pivot.to_numpy().ravel() if math.isfinite(_float(v))]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    names = list(pivot.index.names)
    head = "".join(f'<th class="t">{escape(str(n))}</th>' for n in names)
    column_name = pivot.columns.name or ""
    head += "".join(f"<th>{escape(f'{column_name}={c}' if column_name else str(c))}</th>" for c in pivot.columns)
    rows = []
    for index, record in zip(pivot.index, pivot.to_numpy()):
        index = index if isinstance(index, tuple) else (index,)
        cells = "".join(f'<td class="t">{escape(str(i))}</td>' for i in index)
        for v in record:
            v = _float(v)
            cells += (f'<td style="background:{svg.heat_colour(v, lo, hi)};color:{svg.text_colour(v, lo, hi)}">'
                      f"{escape(format_value(metric, v, formats))}</td>")
        rows.append(f"<tr>{cells}</tr>")
    return (f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
            "</tbody></table></div>")


def comparison_table(comparison: Comparison) -> str:
    kinds = {name: comparison.formats.get(name, "percent") for name in comparison.deltas}
    rows = [{"metric": name, "A": fmt_stat(d.a, kinds[name]), "B": fmt_stat(d.b, kinds[name]),
             "B − A": fmt_delta(d.delta, kinds[name]),
             f"{100 * d.confidence:.0f}% CI": f"[{fmt_delta(d.low, kinds[name])}, {fmt_delta(d.high, kinds[name])}]",
             "units": d.n_units} for name, d in comparison.deltas.items()]
    return table(pd.DataFrame(rows), text_columns=["metric"])


def flips_section(comparison: Comparison, csv_name: str) -> str:
    flips = comparison.flips
    shown = flips.head(MAX_FLIPS_SHOWN)
    more = f", first {MAX_FLIPS_SHOWN} shown" if len(flips) > MAX_FLIPS_SHOWN else ""
    return (f"<details><summary>{len(flips)} flipped item(s): {comparison.only_b_right} fixed, "
            f"{comparison.only_a_right} broken ({escape(csv_name)}{more})</summary>"
            + table(shown, text_columns=["id", "task", "category", "answer", "parsed_a", "parsed_b", "text_a",
                                         "text_b"], wrap_columns=["question"]) + "</details>")


def comparison_sections(pairs: Sequence[tuple[Run, Optional[Comparison]]], baseline: Run) -> list[str]:
    body = []
    for run, comparison in pairs:
        body.append(f"<h3>{escape(run.label)} <small>vs baseline</small></h3>")
        if comparison is None:
            body.append('<p class="note">Not comparable with the baseline (no shared items).</p>')
            continue
        body += [_pair_note(comparison), comparison_table(comparison),
                 flips_section(comparison, f"flips/{flips_file(run.label)}")]
    return body


def _pair_note(c: Comparison) -> str:
    left_out = f"; {c.n_only_a} only in A and {c.n_only_b} only in B left out" if c.n_only_a or c.n_only_b else ""
    return (f'<p class="note">A = {escape(c.a)}, B = {escape(c.b)}. {c.n_paired} paired items{left_out}. '
            f"McNemar exact p = <b>{c.p_mcnemar:.3g}</b> (only A right: {c.only_a_right}, only B right: "
            f"{c.only_b_right}). Δ in percentage points (scores in points: their benchmark's own).</p>")


def render_comparison(a: Run, b: Run, comparison: Comparison, differences: list[tuple[str, str, str]]) -> str:
    body = ["<h1>evalkit paired comparison</h1>",
            f'<p class="note">A: <b>{escape(comparison.a)}</b> ({escape(str(a.path))})<br>'
            f"B: <b>{escape(comparison.b)}</b> ({escape(str(b.path))})</p>", "<h2>Config differences</h2>",
            table(pd.DataFrame(differences, columns=["key", "A", "B"]), text_columns=["key", "A", "B"])
            if differences else '<p class="note">The configs do not differ.</p>',
            "<h2>Statistics</h2>", _pair_note(comparison), comparison_table(comparison),
            "<h2>Flipped items</h2>", flips_section(comparison, "flips.csv").replace("<details>", "<details open>")]
    return page("evalkit comparison", body)


def flips_file(label: str) -> str:
    """flips/<this>.csv of a run compared with the baseline, named after its label."""
    slug = re.sub(r"[^A-Za-z0-9.=-]+", "_", label).strip("_")[:100]
    return f"{slug or 'run'}.csv"
