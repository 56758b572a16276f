"""The SEED-Bench upload file, as LLaVA's scripts/convert_seed_for_submission.py writes it
(haotian-liu/LLaVA c121f04): one JSON line {"question_id", "prediction"} per question of
SEED-Bench.json, in its order, the prediction being the model's answer text as it stands.

    python -m datasets_adapters.seed_submit RUN_DIR --questions SEED-Bench.json --out upload.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

from datasets_adapters.seed_bench import read_seed_json
from evalkit.errors import EvalkitError
from evalkit.outputs import read_predictions


def upload_lines(questions: Sequence[dict], texts: Mapping[str, str]) -> list[str]:
    """One line per question; every question must have an answer (LLaVA's script stops otherwise)."""
    missing = [q["question_id"] for q in questions if str(q["question_id"]) not in texts]
    if missing:
        raise EvalkitError(f"{len(missing)} question(s) have no answer, e.g. {missing[:5]} (the upload needs all; "
                           "run dataset.data_types=[image,video] for the whole file)")
    return [json.dumps({"question_id": q["question_id"], "prediction": texts[str(q["question_id"])]})
            for q in questions]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets_adapters.seed_submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="an evalkit run directory of dataset=seed_bench")
    parser.add_argument("--questions", type=Path, required=True, help="SEED-Bench.json")
    parser.add_argument("--out", type=Path, required=True, help="the .jsonl to write")
    args = parser.parse_args(argv)
    try:
        rows = read_predictions(args.run_dir / "predictions.jsonl")
        questions, _ = read_seed_json(args.questions)
        lines = upload_lines(questions, {str(i): t for i, t in zip(rows["id"], rows["text"])})
        args.out.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    except (EvalkitError, ValueError, OSError) as exc:
        print(f"seed_submit: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(lines)} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
