"""Rescore without a model: `python -m evalkit.score`.

    python -m evalkit.score RUN_DIR [--rule official|strict|mme|pope|...] [--judge NAME]
        re-parse RUN_DIR/predictions.jsonl, print the tables, rewrite metrics.csv and
        summary.json["metrics"] (predictions.jsonl itself is never modified). Judged benchmarks
        read the cached judgments of judge NAME (default: the judge summary.json names, i.e. the
        last `python -m evalkit.judge`); no judge is called.

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
import sys
from pathlib import Path
from typing import Optional, Sequence

from evalkit.benchmark import benchmark_named, benchmark_of_run
from evalkit.errors import EvalkitError
from evalkit.fileio import write_json_atomic, write_jsonl_atomic
from evalkit.scoring.importers import import_predictions
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
                             "(yes/no tasks: mme, pope, strict)")
    parser.add_argument("--benchmark", metavar="NAME",
                        help="import FILE as predictions on this benchmark (mme, pope, yesno, ... or module.Class)")
    parser.add_argument("--questions", type=Path, action="append", default=[],
                        help="question/label file joined by id with LLaVA answer files (repeatable)")
    parser.add_argument("--annotations", type=Path,
                        help="ground-truth file (or folder) the benchmark's own result format is joined with "
                             "(amber: annotations.json)")
    parser.add_argument("--set", dest="settings", metavar="KEY=VALUE", action="append", default=[],
                        help="a setting of the benchmark's own import (amber: spacy_pipeline=NAME_OR_PATH); repeatable")
    parser.add_argument("--judge", metavar="NAME",
                        help="judged benchmarks: whose cached judgments to score with (judgments-NAME.jsonl)")
    parser.add_argument("--out", type=Path, help="output directory for --benchmark (default FILE's dir/<stem>_scores)")
    return parser


def rescore_run(path: Path, rule: Optional[str], judge: Optional[str] = None) -> tuple[Path, Scores]:
    """Rescore a run directory (or its predictions.jsonl) in place."""
    if path.is_file() and path.name == PREDICTIONS:
        path = path.parent
    if not path.is_dir():
        hint = "; to import another tool's file pass --benchmark NAME (mme, pope, yesno, ...)" if path.is_file() else ""
        raise EvalkitError(f"{path}: not a run directory{hint}")
    predictions = path / PREDICTIONS
    if not predictions.is_file():
        raise EvalkitError(f"{path}: no {PREDICTIONS} (is this a run directory?)")
    from evalkit.judge.stage import scoring_judge

    scores = score_predictions(read_predictions(predictions), benchmark_of_run(path), rule=rule,
                               judgments=scoring_judge(path, judge))
    write_scores(path, scores)
    return path, scores


def score_file(path: Path, benchmark: str, questions: Sequence[Path], out: Optional[Path],
               rule: Optional[str], annotations: Optional[Path] = None,
               settings: Sequence[str] = ()) -> tuple[Path, Scores]:
    """Import another tool's predictions, score them and write a run directory."""
    cls = benchmark_named(benchmark)
    pairs = [s.split("=", 1) for s in settings]
    if any(len(p) != 2 or not p[0] for p in pairs):
        raise EvalkitError(f"--set {list(settings)}: each must be KEY=VALUE")
    frame, fmt = import_predictions(path, cls, questions, annotations, dict(pairs))
    scores = score_predictions(frame, cls, rule=rule)
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
    try:
        if args.benchmark:
            out, scores = score_file(args.path, args.benchmark, args.questions, args.out, rule, args.annotations,
                                     args.settings)
        else:
            if args.questions or args.out or args.annotations or args.settings:
                raise EvalkitError("--questions, --annotations, --set and --out need --benchmark (they apply to "
                                   "imported files)")
            out, scores = rescore_run(args.path, rule, args.judge)
    except (EvalkitError, ValueError, OSError) as exc:
        print(f"evalkit.score: error: {exc}", file=sys.stderr)
        return 2
    print(scores.format())
    print(f"\nwrote {out / 'metrics.csv'} and {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
