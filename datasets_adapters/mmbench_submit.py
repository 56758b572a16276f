"""The MMBench upload file (dev or test split), as LLaVA's scripts/convert_mmbench_for_submission.py
writes it (haotian-liu/LLaVA c121f04): the TSV without its hint, category, source, image, comment
and l2-category columns, a `prediction` column inserted as the 7th column holding each row's
answer text (empty where none), written with openpyxl, no index column.

    python -m datasets_adapters.mmbench_submit RUN_DIR --tsv MMBench_TEST_EN.tsv --out answers.xlsx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pandas as pd

from datasets_adapters.mmbench import read_tsv
from evalkit.errors import EvalkitError
from evalkit.outputs import read_predictions

DROPPED = ["hint", "category", "source", "image", "comment", "l2-category"]


def submission_frame(tsv: pd.DataFrame, texts: Mapping[int, str]) -> pd.DataFrame:
    """The upload table: `texts` maps a TSV index to the model's (stripped) answer text."""
    out = tsv.drop(columns=DROPPED)
    out.insert(6, "prediction", None)
    for index, text in texts.items():
        out.loc[tsv["index"] == index, "prediction"] = text
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets_adapters.mmbench_submit", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="an evalkit run directory of dataset=mmbench (predictions.jsonl)")
    parser.add_argument("--tsv", type=Path, required=True, help="the official TSV the run answered")
    parser.add_argument("--out", type=Path, required=True, help="the .xlsx to write")
    args = parser.parse_args(argv)
    try:
        rows = read_predictions(args.run_dir / "predictions.jsonl")
        errors = rows[rows["error"].notna()] if "error" in rows else rows.iloc[:0]
        if len(errors):
            raise EvalkitError(f"{args.run_dir}: {len(errors)} item(s) have errors (e.g. {errors['id'].iloc[0]}); "
                               "rerun them before submitting")
        texts = {int(i): t for i, t in zip(rows["id"], rows["text"])}
        frame = submission_frame(read_tsv(args.tsv), texts)
        missing = frame["prediction"].isna().sum()
        if missing:
            raise EvalkitError(f"{args.run_dir}: {missing} TSV row(s) have no prediction (a run with limit=?)")
        frame.to_excel(args.out, index=False, engine="openpyxl")
    except (EvalkitError, ValueError, OSError, KeyError) as exc:
        print(f"mmbench_submit: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out} ({len(frame)} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
