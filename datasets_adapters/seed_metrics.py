"""SEED-Bench's scoring as LLaVA's `scripts/convert_seed_for_submission.py` (haotian-liu/LLaVA
c121f04) does it (pure functions; tests/integration/test_seed_parity.py runs that script): an answer is
right only when the model's text (stripped, as LLaVA saves it) equals the answer letter, nothing
parsed ("A." and "(A)" are wrong); accuracy per question type (SEED-Bench.json's
`question_type` names, by `question_type_id`) and over all questions of the data type (the
published SEED column is the image questions: "image accuracy"). A question without an answer
counts as wrong."""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

TOTAL = "Total"


def exact_text(text: Any, item: Any = None) -> str:
    """The official rule reads nothing out of the text: the parse is the text itself."""
    return text if isinstance(text, str) else ""


def seed_table(rows: pd.DataFrame, type_names: Mapping[int, str]) -> pd.DataFrame:
    """Per question type (in type-id order, as the script prints them) then the total.
    `rows`: one per question with `question_type_id` and `correct` (bool)."""
    table = []
    for type_id in sorted(set(rows["question_type_id"])):
        part = rows[rows["question_type_id"] == type_id]
        table.append({"category": type_names.get(type_id, str(type_id)), "n": len(part),
                      "n_correct": int(part["correct"].sum()), "accuracy": float(part["correct"].mean())})
    table.append({"category": TOTAL, "n": len(rows), "n_correct": int(rows["correct"].sum()),
                  "accuracy": float(rows["correct"].mean()) if len(rows) else float("nan")})
    return pd.DataFrame(table)
