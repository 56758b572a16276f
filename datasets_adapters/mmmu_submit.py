"""The MMMU submission json, as the MMMU repo's run_llava.py writes it (MMMU-Benchmark/MMMU
bb0b95a: `out_samples[id] = pred_ans`): {question id: answer}, the multiple-choice answers parsed
by parse_multi_choice_response (with the scorer's seeded fallback in the official order; the repo's
own run draws it from whatever state Python's `random` has reached in that process), the open
answers as the model wrote them. For the test split (EvalAI) or validation.

    python -m datasets_adapters.mmmu_submit RUN_DIR --out llava_test.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional, Sequence

import pandas as pd

from datasets_adapters import mmmu_eval as E
from evalkit.errors import EvalkitError
from evalkit.outputs import read_predictions


def submission(rows: pd.DataFrame) -> dict[str, str]:
    """{id: answer} over the rows (evalkit predictions of dataset=mmmu), in the official order."""
    errors = rows[rows["error"].notna()] if "error" in rows else rows.iloc[:0]
    if len(errors):
        raise EvalkitError(f"{len(errors)} item(s) have errors (e.g. {errors['id'].iloc[0]}); rerun them first")
    parser = E.MultiChoiceParser()
    out = {}
    for row in sorted(rows.to_dict("records"), key=lambda r: E.official_order(r["id"])):
        raw = row.get("prediction")  # the response as generated, as run_llava.py parses it
        meta, text = row.get("meta") or {}, raw if isinstance(raw, str) else (row.get("text") or "")
        if meta.get("question_type") == E.MULTIPLE_CHOICE:
            out[row["id"]] = parser(text, meta["all_choices"], meta["options"])
        else:
            out[row["id"]] = text
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets_adapters.mmmu_submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="an evalkit run directory of dataset=mmmu")
    parser.add_argument("--out", type=Path, required=True, help="the .json to write")
    args = parser.parse_args(argv)
    try:
        answers = submission(read_predictions(args.run_dir / "predictions.jsonl"))
        args.out.write_text(json.dumps(answers, indent=4), encoding="utf-8")
    except (EvalkitError, ValueError, OSError, KeyError) as exc:
        print(f"mmmu_submit: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(answers)} answers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
