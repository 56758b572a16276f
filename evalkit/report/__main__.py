"""`python -m evalkit.report`: compare runs without loading a model.

    python -m evalkit.report PATH... [--out DIR] [--metric NAME] [--baseline RUN]
        PATHs are run directories, sweep folders or any parent folder (searched recursively).
        Writes DIR/leaderboard.csv, leaderboard.md, categories.csv, pivot_<dataset>.csv and
        report.html (default DIR: results/report); with --baseline also DIR/flips/<run>.csv; with
        --by KEY (an item meta field, e.g. small, probe, aspect, n_objects) also DIR/slices.csv:
        accuracy, yes-ratio and AUROC of p_yes per slice.

    python -m evalkit.report compare RUN_A RUN_B [--out DIR] [--intersect]
        Paired comparison matched by item id: deltas with paired bootstrap intervals, McNemar's
        exact test, flipped items. Writes DIR/comparison.json, flips.csv and report.html (default
        DIR: results/compare). Runs over different item sets are refused (exit 2) unless --intersect.

    python -m evalkit.report mitigation PATH... [--out DIR]
        Each mitigation run (a decoding method naming controls: vcd, icd, m3id, contrastive, ...)
        beside its matched baselines among the runs (greedy, the same sampler without contrast,
        the plausibility mask alone), sampled runs grouped over seeds (evalkit/report/mitigation.py,
        docs/mitigation.md). Writes DIR/mitigation.md, mitigation_*.csv and report.html (default
        DIR: results/mitigation) and prints the tables.

    python -m evalkit.report judges PATH... [--out DIR]
        Agreement of the judges (or grading runs) that judged the same answers in the runs under
        PATHs (evalkit/report/judges.py): Spearman, Kendall tau-b, Cohen's kappa on the rating
        buckets, mean difference with a paired bootstrap CI, the items they disagree on most.
        Writes DIR/judges.csv, judges.json and report.html (default DIR: results/judges).

    python -m evalkit.report table PATH... [--table NAME] [--published ROW,...] [--format md,csv,latex,html]
        The paper table (evalkit/report/table.py): rows = the runs' models (and the settings that differ),
        columns = a published table's benchmarks in its order and rounding (--table, default: the
        runs' suite) or one per benchmark run; --published adds LLaVA's published rows
        (evalkit/report/published/llava.yaml, with sources) and a Δ row per run. Prints the md table;
        writes DIR/table.<md|csv|tex|html> (default DIR: results/table).

Bad input prints one line naming the path and the problem, and exits 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.errors import EvalkitError
from evalkit.report import html
from evalkit.report.compare import Comparison, compare_runs
from evalkit.report.discover import ReportError, Run, describe_runs, is_run_dir, load_run, load_runs, varying_keys
from evalkit.report.leaderboard import (ablation_pivots, category_long, category_tables, formats_of, leaderboard,
                                        mixed_judges, slice_long, tasks_of, write_tables)
from evalkit.scoring.scorer import to_jsonable


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--confidence", type=float, default=0.95, help="interval level (default 0.95)")
    parser.add_argument("--trust", action="append", default=[], metavar="MODULE_OR_DIR",
                        help="a module of yours (or your config folder) the runs' configs may import (evalkit.trust)")


def report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evalkit.report",
                                     description="Leaderboard, per-category tables, ablation pivots and report.html "
                                                 "over run directories (or `compare RUN_A RUN_B`).")
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, sweep folders or parent folders")
    parser.add_argument("--out", type=Path, default=Path("results/report"), help="output folder")
    parser.add_argument("--metric", help="metric of the pivots and the sort order, a headline number such as "
                                         "accuracy, pope_mean_f1, mme_perception (default: each benchmark's own)")
    parser.add_argument("--baseline", help="run to compare every run with: a run directory, or a run's label or "
                                           "folder name among PATHs")
    parser.add_argument("--by", action="append", default=[], metavar="KEY",
                        help="also slice accuracy, yes-ratio and AUROC by this item meta field (repeatable), "
                             "e.g. --by small")
    _common(parser)
    return parser


def compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evalkit.report compare",
                                     description="Paired comparison of two runs matched by item id.")
    parser.add_argument("run_a", type=Path)
    parser.add_argument("run_b", type=Path)
    parser.add_argument("--out", type=Path, default=Path("results/compare"), help="output folder")
    parser.add_argument("--intersect", action="store_true", help="compare the shared items of different item sets")
    _common(parser)
    return parser


def runs_parser(command: str, description: str) -> argparse.ArgumentParser:
    """A subcommand over PATHS of runs writing into results/<command> (mitigation, judges, table)."""
    parser = argparse.ArgumentParser(prog=f"python -m evalkit.report {command}", description=description)
    parser.add_argument("paths", nargs="+", type=Path, help="run directories, sweep folders or parent folders")
    parser.add_argument("--out", type=Path, default=Path(f"results/{command}"), help="output folder")
    _common(parser)
    return parser


def mitigation_parser() -> argparse.ArgumentParser:
    return runs_parser("mitigation", "Mitigation runs beside their matched baselines, over seeds.")


def judges_parser() -> argparse.ArgumentParser:
    return runs_parser("judges", "Agreement between judges of the same answers.")


def table_parser() -> argparse.ArgumentParser:
    parser = runs_parser("table", "One table: checkpoints x benchmarks, published rows beside.")
    parser.add_argument("--table", help="a published table's columns (llava15_table, llava16_table, hallucination; "
                                        "default: the suite the runs were made by)")
    parser.add_argument("--published", default="", help="published rows to show, comma-separated "
                                                        "(e.g. llava-v1.5-7b,llava-v1.5-13b)")
    parser.add_argument("--published-file", action="append", default=[], type=Path, metavar="YAML",
                        help="a published-table file of yours (the format of evalkit/report/published/llava.yaml)")
    parser.add_argument("--format", default="md", help="comma-separated: md, csv, latex, html (default md)")
    return parser


def run_table(args: argparse.Namespace) -> list[Path]:
    from evalkit.report.table import FORMATS, build_table, render, write_table

    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ReportError(f"--format {args.format}: choose from {', '.join(FORMATS)}")
    published = [p.strip() for p in args.published.split(",") if p.strip()]
    table = build_table(load_runs(args.paths), args.table, published, args.published_file, n_boot=args.n_boot,
                        seed=args.seed, confidence=args.confidence)
    print(render(table, "md"))
    return write_table(table, args.out, formats)


def find_baseline(runs: list[Run], spec: str) -> Run:
    """A run directory (added to the runs when not among them), or a label / folder name of one."""
    path = Path(spec)
    if path.is_dir():
        if not is_run_dir(path):
            raise ReportError(f"--baseline {spec}: not a run directory (needs config.yaml and predictions.jsonl)")
        for run in runs:
            if run.path.resolve() == path.resolve():
                return run
        runs.append(load_run(path.resolve()))
        describe_runs(runs)
        return runs[-1]
    matches = [run for run in runs if spec in (run.label, run.name, str(run.path))]
    if len(matches) != 1:
        names = "; ".join(run.label for run in runs)
        what = "matches no run" if not matches else f"matches {len(matches)} runs"
        raise ReportError(f"--baseline {spec!r} {what}; give a run directory or one of: {names}")
    return matches[0]


def run_report(args: argparse.Namespace) -> list[Path]:
    runs = load_runs(args.paths)
    baseline = find_baseline(runs, args.baseline) if args.baseline else None
    if args.metric:
        known = sorted({k for run in runs for k, v in run.headline.items() if isinstance(v, (int, float))})
        if args.metric not in known:
            raise ReportError(f"--metric {args.metric}: no run has it; choose one of {', '.join(known)}")
    keys = describe_runs(runs)  # the keys in the labels; the leaderboard CSV has every differing key
    comparisons: dict[str, Optional[Comparison]] = {}
    if baseline is not None:
        for run in runs:
            if run is baseline:
                continue
            try:
                comparisons[run.label] = compare_runs(baseline, run, intersect=True, n_boot=args.n_boot,
                                                      seed=args.seed, confidence=args.confidence)
            except ReportError as exc:  # other data (another benchmark): no comparison, not a failure
                print(f"evalkit.report: {run.label}: not compared with the baseline: {str(exc).splitlines()[0]}",
                      file=sys.stderr)
                comparisons[run.label] = None
    board = leaderboard(runs, varying_keys(runs), args.metric, comparisons if baseline is not None else None)
    for warning in mixed_judges(runs):
        print(f"evalkit.report: warning: {warning}", file=sys.stderr)
    long = category_long(runs)
    categories = category_tables(long, tasks_of(runs))
    pivots = ablation_pivots(runs, args.metric)
    slices = slice_long(runs, args.by) if args.by else None
    if slices is not None and slices.empty:
        raise ReportError(f"--by {', '.join(args.by)}: no prediction has that meta field")
    written = write_tables(args.out, [run.label for run in runs], keys, board, long, categories, pivots, baseline,
                           slices, formats_of(runs))
    for stale in (args.out / "flips").glob("*.csv"):  # from an earlier report with another baseline
        stale.unlink()
    for label, comparison in comparisons.items():
        if comparison is not None:
            path = args.out / "flips" / html.flips_file(label)
            path.parent.mkdir(parents=True, exist_ok=True)
            comparison.flips.to_csv(path, index=False)
            written.append(path)
    report = args.out / "report.html"
    from evalkit.report.table import build_table, html_table

    paper = html_table(build_table(runs, n_boot=args.n_boot, seed=args.seed, confidence=args.confidence))
    report.write_text(html.render_report(runs, keys, board, categories, pivots, comparisons, baseline, paper),
                      encoding="utf-8")
    return written + [report]


def run_compare(args: argparse.Namespace) -> tuple[Comparison, list[Path]]:
    a, b = load_run(args.run_a), load_run(args.run_b)
    describe_runs([a, b])
    if a.label == b.label:
        a.label, b.label = f"A: {a.label}", f"B: {b.label}"
    comparison = compare_runs(a, b, intersect=args.intersect, n_boot=args.n_boot, seed=args.seed,
                              confidence=args.confidence)
    differences = [(k, a.flat.get(k, "—"), b.flat.get(k, "—")) for k in varying_keys([a, b])]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    info = {**comparison.as_dict(), "run_a": str(a.path), "run_b": str(b.path), "intersect": args.intersect,
            "seed": args.seed, "config_differences": [list(d) for d in differences]}
    (out / "comparison.json").write_text(json.dumps(to_jsonable(info), indent=2) + "\n", encoding="utf-8")
    comparison.flips.to_csv(out / "flips.csv", index=False)
    (out / "report.html").write_text(html.render_comparison(a, b, comparison, differences), encoding="utf-8")
    return comparison, [out / "comparison.json", out / "flips.csv", out / "report.html"]


def main(argv: Optional[Sequence[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in ("compare", "mitigation", "judges", "table") else None  # a folder so named: ./compare
    parsers = {"compare": compare_parser, "mitigation": mitigation_parser, "judges": judges_parser,
               "table": table_parser, None: report_parser}
    args = parsers[command]().parse_args(argv[1:] if command else argv)
    is_compare = command == "compare"
    from evalkit import trust

    trust.trust(getattr(args, "trust", []))
    try:
        if args.n_boot < 1 or not 0 < args.confidence < 1:
            raise ReportError("--n-boot must be >= 1 and --confidence in (0, 1)")
        if is_compare:
            comparison, written = run_compare(args)
            print(comparison.format())
        elif command == "mitigation":
            from evalkit.report.mitigation import run_mitigation

            written = run_mitigation(args.paths, args.out, args.n_boot, args.seed, args.confidence)
        elif command == "table":
            written = run_table(args)
        elif command == "judges":
            from evalkit.report.judges import format_agreement, judge_agreement, write_agreement

            pairs = judge_agreement(args.paths, args.n_boot, args.seed, args.confidence)
            print(format_agreement(pairs))
            written = write_agreement(args.out, pairs)
        else:
            written = run_report(args)
    except (EvalkitError, ValueError, OSError) as exc:
        print(f"evalkit.report: error: {exc}", file=sys.stderr)
        return 2
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
