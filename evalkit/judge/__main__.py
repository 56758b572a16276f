"""Judge a finished run: `python -m evalkit.judge RUN_DIR judge=openai|hf [judge.KEY=VALUE ...]`.

    python -m evalkit.judge results/mmvet/llava15/run1 judge=openai judge.model=gpt-4o-2024-08-06
    python -m evalkit.judge RUN_DIR judge=openai judge.base_url=http://127.0.0.1:8000/v1 \
        judge.model=Qwen/Qwen2.5-72B-Instruct judge.name=qwen72b      # a second judge, written beside the first
    python -m evalkit.judge RUN_DIR judge=hf judge.path=/models/judge-llm

Sends only the requests not yet answered in RUN_DIR/judgments-<name>.jsonl (a killed run resumes
where it stopped), then rescores the run with this judge's ratings and records the judge in
summary.json. Bad input prints one line and exits 2.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Optional, Sequence

from omegaconf import OmegaConf

from evalkit.errors import EvalkitError
from evalkit.judge.config import KINDS, validate_judge
from evalkit.judge.stage import judge_run, record_judge

USAGE = "usage: python -m evalkit.judge RUN_DIR judge=openai|hf [judge.KEY=VALUE ...]"


def parse_overrides(args: Sequence[str]):
    """`judge=KIND` and `judge.KEY=VALUE` (values read as YAML, as Hydra does) -> a typed judge config."""
    kind, dotlist = None, []
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise EvalkitError(f"{arg!r}: expected judge=KIND or judge.KEY=VALUE\n{USAGE}")
        if key == "judge":
            kind = value
        elif key.startswith("judge."):
            dotlist.append(f"{key[len('judge.'):]}={value}")
        else:
            raise EvalkitError(f"{arg!r}: only judge=... and judge.KEY=... apply here\n{USAGE}")
    if kind not in KINDS:
        raise EvalkitError(f"choose the judge: judge={' or judge='.join(KINDS)}\n{USAGE}")
    node = OmegaConf.from_dotlist(dotlist)
    node.kind = kind
    return validate_judge(node)


def main(argv: Optional[Sequence[str]] = None) -> int:
    from evalkit.score import rescore_run

    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_dir = Path(argv[0])
    try:
        if not (run_dir / "predictions.jsonl").is_file():
            raise EvalkitError(f"{run_dir}: no predictions.jsonl (is this a finished run directory?)")
        cfg = parse_overrides(argv[1:])
        store = judge_run(run_dir, cfg)
        record_judge(run_dir, store)
        _, scores = rescore_run(run_dir, None, judge=store.name)
    except (EvalkitError, ValueError, OSError) as exc:
        print(f"evalkit.judge: error: {exc}", file=sys.stderr)
        return 2
    print(scores.format())
    print(f"\njudge {store.name}: {store.path}; wrote {run_dir / 'metrics.csv'} and {run_dir / 'summary.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
