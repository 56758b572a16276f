"""Rescore without a model: `python -m evalkit.score`.

    python -m evalkit.score RUN_DIR [--rule official|strict|mme|pope|...] [--out DIR] [--trust MODULE] [--judge NAME]
        re-parse RUN_DIR/predictions.jsonl and print the tables. With the official rules it rewrites
        metrics.csv and summary.json["metrics"] (predictions.jsonl itself is never modified); another
        rule writes beside the run's official numbers, to --out (default the sibling RUN_DIR_<rule>),
        and --out takes any rule. The rows are checked against the benchmark's items, built from
        the run's config.yaml: an id it does not have is refused, missing items are counted
        (n_missing) and the numbers marked partial (evalkit.scoring.coverage). Only evalkit's own
        benchmarks, or modules named with --trust, are imported from a run directory (evalkit.trust).
        Judged benchmarks read the cached judgments of judge NAME (--judge; default: the judge
        summary.json names, i.e. the last `python -m evalkit.judge`); no judge is called.

    python -m evalkit.score --benchmark NAME FILE [--questions Q ...] [--annotations A] [--set K=V]
                            [--out DIR] [--rule ...]
        import another tool's predictions (simple rows with question_id/answer/prediction, LLaVA
        answer files joined by id with --questions, lmms-eval sample logs, evalkit predictions),
        score them with the benchmark NAME (an option of conf/dataset: mme, pope, yesno, ...; or
        module.Class of your own benchmark; --annotations / --set reach a benchmark's own result
        format, e.g. AMBER's responses with its annotations.json) and write DIR (default FILE's folder/<stem>_scores) as a run directory:
        predictions.jsonl, metrics.csv, summary.json. DIR can be rescored later like any run.

Bad input prints one line naming the file and what is missing, and exits 2.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit import trust
from evalkit.registry import benchmark_named, benchmark_of_run
from evalkit.errors import EvalkitError
from evalkit.scoring import coverage
from evalkit.fileio import write_json_atomic, write_jsonl_atomic
from evalkit.scoring.importers import import_predictions
from evalkit.scoring.parse import RULES
from evalkit.scoring.scorer import Scores, read_predictions, score_predictions, to_jsonable, write_scores
from evalkit.types import PredictionRow

PREDICTIONS = "predictions.jsonl"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m evalkit.score",
                                     description="Rescore predictions (no model is loaded).")
    parser.add_argument("path", type=Path,
                        help="a run directory holding predictions.jsonl, or with --benchmark a prediction file")
    parser.add_argument("--rule", default="official",
                        help="parse rule: official (each task's own), or one rule for all that its tasks know "
                             f"(yes/no tasks: {', '.join(RULES)})")
    parser.add_argument("--benchmark", metavar="NAME",
                        help="import FILE as predictions on this benchmark (mme, pope, yesno, ... or module.Class)")
    parser.add_argument("--questions", type=Path, action="append", default=[],
                        help="question/label file joined by id with LLaVA answer files (repeatable)")
    parser.add_argument("--annotations", "--answers", dest="annotations", type=Path,
                        help="ground-truth file (or folder) the benchmark's own result format is joined with "
                             "(amber: annotations.json; mmmu: answer_dict_val.json)")
    parser.add_argument("--set", dest="settings", metavar="KEY=VALUE", action="append", default=[],
                        help="a setting of the benchmark's own import (amber: spacy_pipeline=NAME_OR_PATH); repeatable")
    parser.add_argument("--out", type=Path, help="output directory (--benchmark: default FILE's dir/<stem>_scores; "
                                                  "a run directory rescored with another rule: RUN_DIR_<rule>)")
    parser.add_argument("--trust", action="append", default=[], metavar="MODULE_OR_DIR",
                        help="a module of yours (or your config folder) a run directory's config may import")
    parser.add_argument("--judge", metavar="NAME",
                        help="judged benchmarks: whose cached judgments to score with (judgments-NAME.jsonl)")
    parser.add_argument("--submission", type=Path, metavar="PATH",
                        help="also write the evaluation server's upload file (vqav2, vizwiz) to PATH")
    return parser


def write_submission(benchmark, scores: Scores, questions: Sequence[Path], path: Path) -> int:
    """The benchmark's upload file, as json.dump writes it (the official scripts' bytes)."""
    task = benchmark.tasks[0]
    if not hasattr(task, "submission"):
        raise EvalkitError(f"{benchmark.__name__} has no submission file format; it is scored locally")
    records = task.submission(scores.frame[scores.frame["task"] == task.name], questions)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records), encoding="utf-8")
    return len(records)


def rescore_run(path: Path, rule: Optional[str], out: Optional[Path] = None,
                judge: Optional[str] = None) -> tuple[Path, Scores]:
    """Rescore a run directory (or its predictions.jsonl): in place with the official rules, else
    into `out` (default the sibling RUN_DIR_<rule>), so the run's official numbers stay. Judged
    tasks read judge `judge`'s cached replies (default: the run's judge)."""
    if path.is_file() and path.name == PREDICTIONS:
        path = path.parent
    if not path.is_dir():
        hint = "; to import another tool's file pass --benchmark NAME (mme, pope, yesno, ...)" if path.is_file() else ""
        raise EvalkitError(f"{path}: not a run directory{hint}")
    predictions = path / PREDICTIONS
    if not predictions.is_file():
        raise EvalkitError(f"{path}: no {PREDICTIONS} (is this a run directory?)")
    benchmark = benchmark_of_run(path)
    frame = read_predictions(predictions)
    items = coverage.run_items(path)
    checked = coverage.check_against_items(frame, items, predictions) if items is not None else None
    from evalkit.judge.stage import scoring_judge

    judgments = scoring_judge(path, judge)
    scores = coverage.mark(score_predictions(frame, benchmark, rule=rule, judgments=judgments), checked)
    if out is None and rule is not None:
        out = path.parent / f"{path.name}_{rule}"
    if out is None or out.resolve() == path.resolve():
        write_scores(path, scores)
        return path, scores
    out.mkdir(parents=True, exist_ok=True)
    for name in (PREDICTIONS, "config.yaml"):  # a run directory of its own: reports and rescoring read it
        if (path / name).is_file():
            shutil.copyfile(path / name, out / name)
    summary_path = path / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.is_file() else {}
    summary["rescored_from"] = {"run_dir": str(path), "rule": "official" if rule is None else rule}
    write_json_atomic(out / "summary.json", summary)
    if judgments is not None:  # the judge's replies go with the rows they judged
        shutil.copyfile(judgments.path, out / judgments.path.name)
    write_scores(out, scores)
    return out, scores


def score_file(path: Path, benchmark: str, questions: Sequence[Path], out: Optional[Path],
               rule: Optional[str], annotations: Optional[Path] = None,
               settings: Sequence[str] = ()) -> tuple[Path, Scores]:
    """Import another tool's predictions, score them and write a run directory."""
    cls = benchmark_named(benchmark)
    pairs = [s.split("=", 1) for s in settings]
    if any(len(p) != 2 or not p[0] for p in pairs):
        raise EvalkitError(f"--set {list(settings)}: each must be KEY=VALUE")
    frame, fmt = import_predictions(path, cls, questions, annotations, dict(pairs))
    if fmt not in ("evalkit",) and cls.tasks:
        coverage.check_categories(frame, cls.tasks[0], path)  # a POPE file scored as MME is refused
    checked = coverage.missing_labels(frame, questions, cls.tasks[0]) if fmt == "llava_answers" else None
    scores = coverage.mark(score_predictions(frame, cls, rule=rule), checked)
    out = out if out is not None else path.parent / f"{path.stem}_scores"
    out.mkdir(parents=True, exist_ok=True)
    columns = [c for c in PredictionRow.__dataclass_fields__ if c in scores.frame.columns]
    rows = to_jsonable(scores.frame[columns].to_dict("records"))
    write_jsonl_atomic(out / PREDICTIONS, rows)
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    summary["source"] = {"file": str(path), "format": fmt, "benchmark": benchmark,
                         "questions": [str(q) for q in questions]}
    if annotations or settings:
        summary["source"].update(annotations=str(annotations) if annotations else None, settings=list(settings))
    write_json_atomic(summary_path, summary)
    write_scores(out, scores)
    return out, scores


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    rule = None if args.rule == "official" else args.rule
    trust.trust(args.trust)
    try:
        if args.benchmark:
            out, scores = score_file(args.path, args.benchmark, args.questions, args.out, rule, args.annotations,
                                     args.settings)
            benchmark = benchmark_named(args.benchmark)
        else:
            if (args.questions and not args.submission) or args.annotations or args.settings:
                raise EvalkitError("--questions, --annotations and --set need --benchmark (they apply to "
                                   "imported files); --questions also applies to --submission")
            out, scores = rescore_run(args.path, rule, args.out, args.judge)
            benchmark = benchmark_of_run(args.path.parent if args.path.is_file() else args.path)
        uploaded = write_submission(benchmark, scores, args.questions, args.submission) if args.submission else None
    except (EvalkitError, ValueError, OSError) as exc:
        print(f"evalkit.score: error: {exc}", file=sys.stderr)
        return 2
    partial = coverage.partial_line(scores.headline)
    if partial:
        print(partial, file=sys.stderr)
    print((f"{partial}\n\n" if partial else "") + scores.format())
    print(f"\nwrote {out / 'metrics.csv'} and {out / 'summary.json'}")
    if uploaded is not None:
        print(f"wrote {args.submission} ({uploaded} answers) for the evaluation server")
    return 0


if __name__ == "__main__":
    sys.exit(main())
