"""The paper table: rows = checkpoints (and the decoding / ablation settings that differ), columns
= each benchmark's headline in a published table's order and rounding, published rows beside.

`python -m evalkit.report table RUNS... [--table NAME] [--published ROW,...] [--format md,csv,latex,html]`

Columns come from a published table (evalkit/report/published/*.yaml, `--table`, or the suite the
runs were made by: config.yaml's suite.name) or, for a suite with no published table, from the runs:
one column per benchmark setting (dataset.name and the dataset keys that differ), its primary
headline. A cell is "–" where nothing was run, "*" marks a partial run (limit, errors, unjudged
items: the notes under the table say which), "submitted" a submission-only benchmark with its
upload file. A Δ row under each run row gives run − published, and where the published
checkpoint was also run here (`runs_as`), the paired bootstrap interval of run − that local run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any, Optional, Sequence

import yaml

from evalkit.benchmark import Headline
from evalkit.report.compare import compare_runs
from evalkit.report.html import board_anchor, page
from evalkit.report.discover import RULE_KEY, ReportError, Run, canonical, label_keys, short_names, varying_keys

PUBLISHED_DIR = Path(__file__).resolve().parent / "published"
FORMATS = ("md", "csv", "latex", "html")
DASH = "–"
# Keys that never name a row: the column's own settings, how much was run (a partial mark instead),
# the judge of the judged columns (the other columns have none).
_NOT_ROW_KEYS = ("dataset.", "judge.", "source.")


@dataclass(frozen=True)
class Column:
    name: str
    dataset: Any = None  # a run's dataset.name, or a list of them (a yaml option named for the column, the base one)
    where: dict = field(default_factory=dict)  # dataset settings that pick this column's runs
    metric: Optional[str] = None
    category: Optional[str] = None  # read `metric` (a rate) from metrics.csv's row of this category (POPE's splits)
    digits: int = 1
    submission: bool = False  # scored by an evaluation server: the run holds the upload file only
    unavailable: Optional[str] = None  # why evalkit cannot fill it

    def matches(self, run: Run) -> bool:
        names = [self.dataset] if isinstance(self.dataset, str) else list(self.dataset or [])
        if run.dataset not in names:
            return False
        settings = run.config.get("dataset") or {}
        return all(canonical(settings.get(k)) == canonical(v) for k, v in self.where.items())


@dataclass(frozen=True)
class PublishedRow:
    model: str
    values: dict
    source: str
    table: Optional[str] = None
    runs_as: tuple = ()


@dataclass
class Cell:
    text: str
    value: Optional[float] = None
    run: Optional[Run] = None
    note: Optional[str] = None


@dataclass
class PaperTable:
    title: str
    columns: list[Column]
    rows: list[tuple[str, str, list[Cell]]]  # (label, kind: run | published | delta, cells)
    notes: list[str]
    sources: list[str]


# ------------------------------------------------------------------------------------- published

def load_published(files: Sequence[Path] = ()) -> tuple[dict[str, dict], dict[str, PublishedRow]]:
    """Tables and rows of the shipped published files (and `files`); a row names its source."""
    tables: dict[str, dict] = {}
    rows: dict[str, PublishedRow] = {}
    for path in [*sorted(PUBLISHED_DIR.glob("*.yaml")), *map(Path, files)]:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ReportError(f"{path}: cannot read the published table ({str(exc).splitlines()[0]})") from None
        for name, spec in (data.get("tables") or {}).items():
            columns = [Column(**{k: v for k, v in c.items()}) for c in spec.get("columns") or []]
            tables[name] = {"title": spec.get("title", name), "columns": columns}
        for i, row in enumerate(data.get("rows") or []):
            if not row.get("source"):
                raise ReportError(f"{path}: row {i + 1} ({row.get('model')}): every published row needs its source")
            rows[row["model"]] = PublishedRow(model=row["model"], values=dict(row.get("values") or {}),
                                              source=row["source"], table=row.get("table"),
                                              runs_as=tuple(row.get("runs_as") or ()))
    return tables, rows


def suite_of(runs: Sequence[Run]) -> Optional[str]:
    names = {str((run.config.get("suite") or {}).get("name")) for run in runs} - {"None"}
    return names.pop() if len(names) == 1 else None


# ------------------------------------------------------------------------------------------ columns

def run_columns(runs: Sequence[Run]) -> list[Column]:
    """One column per benchmark setting among the runs, its primary headline; in the runs' order."""
    by_dataset: dict[str, list[Run]] = {}
    for run in runs:
        by_dataset.setdefault(run.dataset, []).append(run)
    columns: list[Column] = []
    for dataset, group in by_dataset.items():
        keys = [k for k in varying_keys(group) if k.startswith("dataset.")]
        seen: dict[str, Column] = {}
        for run in group:
            settings = run.config.get("dataset") or {}
            where = {k.split(".", 1)[1]: settings.get(k.split(".", 1)[1]) for k in keys}
            text = ", ".join(f"{k}={_plain(v)}" for k, v in where.items())
            name = f"{dataset} {text}" if text else dataset
            if name not in seen:
                seen[name] = Column(name=name, dataset=dataset, where=where, metric=_primary(run), digits=1)
        columns += list(seen.values())
    return columns


def _plain(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)


def _primary(run: Run) -> Optional[str]:
    headline = run.headline
    for name in run.benchmark.primary():
        if isinstance(headline.get(name), (int, float)):
            return name
    return None


def _headline(run: Run, metric: str) -> Optional[Headline]:
    return next((h for h in run.benchmark.headlines() if h.name == metric), None)


# ---------------------------------------------------------------------------------------------- rows

def row_keys(runs: Sequence[Run]) -> list[str]:
    """Keys that tell rows apart: those differing between runs of the same benchmark setting. A key
    that changes only with the column (a captioning benchmark's max_new_tokens) is the column's."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(canonical(run.config.get("dataset") or {}), []).append(run)
    within = {k for group in groups.values() if len(group) > 1 for k in varying_keys(group)}
    keys = [k for k in varying_keys(runs) if k in within and not k.startswith(_NOT_ROW_KEYS)
            and k not in ("limit", RULE_KEY)]
    keys = label_keys(runs, keys)
    return ["model.name"] + [k for k in keys if k != "model.name"]


def row_label(run: Run, keys: Sequence[str]) -> str:
    names = short_names(keys)
    parts = [run.flat.get("model.name", run.config.get("source", {}).get("model", "?"))]
    parts += [f"{names[k]}={run.flat.get(k, DASH)}" for k in keys if k != "model.name"]
    return ", ".join(str(p) for p in parts)


def run_cell(run: Run, column: Column) -> Cell:
    value = _category_value(run, column) if column.category else run.headline.get(column.metric) if column.metric else None
    if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        if column.submission:
            uploads = sorted(run.path.glob("*upload*.json"))
            if uploads:
                return Cell(f"submitted ({uploads[0].name})", run=run, note=f"upload file {uploads[0]}")
            return Cell("to submit", run=run, note=f"write the upload: python -m evalkit.score {run.path} "
                                                   f"--submission {run.path}/upload.json")
        return Cell(DASH, run=run, note=f"{column.metric or 'no headline'} missing (unjudged or unscored)")
    headline = None if column.category else _headline(run, column.metric)
    shown = 100 * value if headline is None or headline.format == "percent" else value
    partial = _partial(run)
    text = f"{shown:.{column.digits}f}" + ("*" if partial else "")
    return Cell(text, value=shown, run=run, note=partial)


def _category_value(run: Run, column: Column) -> Optional[float]:
    table = run.category_metrics
    if column.metric not in table.columns:
        return None
    rows = table[table["category"].astype(str) == str(column.category)]
    return float(rows[column.metric].iloc[0]) if len(rows) == 1 else None


def _partial(run: Run) -> Optional[str]:
    """Why a run's number is not over the whole benchmark (None: it is)."""
    reasons = []
    limit = run.config.get("limit")
    if limit is not None:
        reasons.append(f"limit={limit}")
    summary = run.summary
    if summary.get("n_errors"):
        reasons.append(f"{summary['n_errors']} generation errors (scored wrong)")
    unjudged = (summary.get("metrics") or {}).get("n_unjudged")
    if unjudged:
        reasons.append(f"{unjudged} unjudged")
    shards = run.config.get("shard") or {}
    if int(shards.get("count", 1) or 1) > 1 and not (run.path / "summary.json").is_file():
        reasons.append("shards missing")
    return "; ".join(reasons) or None


def build_table(runs: Sequence[Run], table: Optional[str] = None, published: Sequence[str] = (),
                published_files: Sequence[Path] = (), n_boot: int = 2000, seed: int = 0,
                confidence: float = 0.95) -> PaperTable:
    tables, rows = load_published(published_files)
    table = table or suite_of(runs)
    if table is not None and table in tables:
        title, columns = tables[table]["title"], list(tables[table]["columns"])
    else:
        title, columns = (f"suite {table}" if table else "runs"), run_columns(runs)
    unknown = [p for p in published if p not in rows]
    if unknown:
        raise ReportError(f"--published {', '.join(unknown)}: not a published row; known: {', '.join(rows)}")
    chosen = [rows[p] for p in published]

    keys = row_keys(runs)
    grouped: dict[str, list[Run]] = {}
    for run in runs:
        grouped.setdefault(row_label(run, keys), []).append(run)
    notes: list[str] = []
    out_rows: list[tuple[str, str, list[Cell]]] = []
    for label, group in grouped.items():
        cells = []
        for column in columns:
            if column.unavailable:
                cells.append(Cell(DASH))
                continue
            matching = [run for run in group if column.matches(run)]
            if len(matching) > 1:
                notes.append(f"{label} × {column.name}: {len(matching)} runs; the last ({matching[-1].path}) is shown")
            cell = run_cell(matching[-1], column) if matching else Cell(DASH)
            cells.append(cell)
        notes += _cell_notes(label, columns, cells)
        out_rows.append((label, "run", cells))
        reference = _reference_of(group, chosen)
        if reference is not None:
            local = _local_runs(runs, reference, group)
            out_rows.append((f"Δ vs {reference.model}", "delta",
                             [_delta(c, col, reference, local, n_boot, seed, confidence) for c, col in zip(cells, columns)]))
    for row in chosen:
        cells = [Cell(f"{row.values[c.name]:.{c.digits}f}" if isinstance(row.values.get(c.name), (int, float))
                      else DASH, value=row.values.get(c.name)) for c in columns]
        out_rows.append((f"{row.model} (published)", "published", cells))
    notes += [f"{c.name}: not run ({c.unavailable})" for c in columns if c.unavailable]
    outside = sorted({run.dataset for run in runs if not any(c.matches(run) for c in columns)})
    if outside:
        notes.append(f"runs of {', '.join(outside)}: no column of this table (--table to choose another)")
    sources = [f"{row.model}: {row.source}" for row in chosen]
    return PaperTable(title, columns, out_rows, notes, sources)


def _cell_notes(label: str, columns: Sequence[Column], cells: Sequence[Cell]) -> list[str]:
    """What the marks of one row mean; one line for the row when every marked cell has the same reason."""
    noted = [(column, cell) for column, cell in zip(columns, cells) if cell.note and cell.text != DASH]
    partial = [(column, cell) for column, cell in noted if cell.text.endswith("*")]
    lines = []
    if partial and len(partial) == len(noted) == sum(c.text != DASH for c in cells) \
            and len({cell.note for _c, cell in partial}) == 1:
        lines.append(f"* partial: {label}, every column: {partial[0][1].note}")
    else:
        lines += [f"* partial: {label} × {column.name}: {cell.note}" for column, cell in partial]
    lines += [f"{label} × {column.name}: {cell.note}" for column, cell in noted if not cell.text.endswith("*")]
    return lines


def _reference_of(group: Sequence[Run], chosen: Sequence[PublishedRow]) -> Optional[PublishedRow]:
    """The published row a run row is compared with: the one that is its checkpoint, else the first."""
    names = {run.flat.get("model.name") for run in group}
    for row in chosen:
        if names & set(row.runs_as):
            return row
    return chosen[0] if chosen else None


def _local_runs(runs: Sequence[Run], reference: PublishedRow, group: Sequence[Run]) -> list[Run]:
    """Runs here of the published checkpoint (not the row itself): the other side of the paired CI."""
    return [run for run in runs if run.flat.get("model.name") in reference.runs_as and run not in group]


def _delta(cell: Cell, column: Column, reference: PublishedRow, local: Sequence[Run], n_boot: int, seed: int,
           confidence: float) -> Cell:
    published = reference.values.get(column.name)
    if cell.value is None or not isinstance(published, (int, float)):
        return Cell(DASH)
    text = f"{cell.value - published:+.{column.digits}f}"
    base = next((run for run in local if column.matches(run)), None)
    if base is not None and cell.run is not None and column.metric and not column.category:
        delta = compare_runs(base, cell.run, intersect=True, n_boot=n_boot, seed=seed,
                             confidence=confidence).deltas.get(column.metric)
        if delta is not None and all(math.isfinite(v) for v in (delta.low, delta.high)):
            headline = _headline(cell.run, column.metric)
            scale = 100 if headline is None or headline.format == "percent" else 1
            d = column.digits
            text += (f" (vs local run: {scale * delta.delta:+.{d}f} [{scale * delta.low:+.{d}f}, "
                     f"{scale * delta.high:+.{d}f}])")
    return Cell(text, value=cell.value - published)


# ------------------------------------------------------------------------------------------ writing

def render(table: PaperTable, fmt: str, links: bool = False) -> str:
    header = ["model", *[c.name for c in table.columns]]
    body = [[label, *[c.text for c in cells]] for label, _kind, cells in table.rows]
    if fmt == "md":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
        return "\n".join([f"**{table.title}**", "", *lines, "", *_footer(table)]) + "\n"
    if fmt == "csv":
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["kind", *header])
        writer.writerows([kind, *row] for (_l, kind, _c), row in zip(table.rows, body))
        return buffer.getvalue()
    if fmt == "latex":
        spec = "l" + "c" * len(table.columns)
        lines = [f"% {table.title}", f"\\begin{{tabular}}{{{spec}}}", "\\toprule",
                 " & ".join(map(_tex, header)) + " \\\\", "\\midrule"]
        for (_l, kind, _c), row in zip(table.rows, body):
            if kind == "published" and not lines[-1].startswith("\\midrule"):
                lines.append("\\midrule")
            lines.append(" & ".join(map(_tex, row)) + " \\\\")
        lines += ["\\bottomrule", "\\end{tabular}", *[f"% {line}" for line in _footer(table)]]
        return "\n".join(lines) + "\n"
    if fmt == "html":
        return html_table(table, links)
    raise ReportError(f"--format {fmt}: choose from {', '.join(FORMATS)}")


def html_table(table: PaperTable, links: bool = True) -> str:
    """The table as an HTML fragment; with `links`, each run cell links to its benchmark's
    leaderboard section of report.html (id board-<dataset>)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in ["model", *[c.name for c in table.columns]])
    rows = []
    for label, kind, cells in table.rows:
        tds = []
        for cell in cells:
            text = escape(cell.text)
            if links and cell.run is not None:
                text = f'<a href="#{board_anchor(cell.run.dataset)}" title="{escape(str(cell.run.path))}">{text}</a>'
            tds.append(f"<td>{text}</td>")
        rows.append(f'<tr class="{kind}"><td class="t">{escape(label)}</td>{"".join(tds)}</tr>')
    notes = "".join(f"<li>{escape(n)}</li>" for n in _footer(table))
    return (f"<h2>{escape(table.title)}</h2><div class=\"scroll\"><table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows) + f"</tbody></table></div><ul class=\"note\">{notes}</ul>")


def _footer(table: PaperTable) -> list[str]:
    lines = list(table.notes)
    if any(kind == "delta" for _l, kind, _c in table.rows):
        lines.append("Δ = run − published; (vs local run: d [low, high]) = run − this evalkit's run of the "
                     "published checkpoint over shared items, with its paired bootstrap interval")
    return lines + [f"source: {s}" for s in table.sources]


def _tex(text: str) -> str:
    for a, b in (("\\", "\\textbackslash{}"), ("&", "\\&"), ("%", "\\%"), ("_", "\\_"), ("#", "\\#"),
                 ("Δ", "$\\Delta$"), (DASH, "--")):
        text = text.replace(a, b)
    return text


def write_table(table: PaperTable, out: Path, formats: Sequence[str]) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in formats:
        path = out / ("table.tex" if fmt == "latex" else f"table.{fmt}")
        text = render(table, fmt, links=False)
        if fmt == "html":
            text = page(table.title, [text])
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
