"""An MMBench-style table made up for the parity tests: questions with 2-4 options, their
circular copies (index + k * 1,000,000, options rotated, answer letter rotated with them), the
official columns (index, question, hint, A-D, answer, category, l2-category, ...), and tricky
predictions per row."""

from __future__ import annotations

import pandas as pd

CATEGORIES = [("coarse_perception", "image_scene"), ("logic_reasoning", "future_prediction"),
              ("attribute_reasoning", "physical_property"), ("finegrained_perception (instance-level)", "ocr")]
PREDICTIONS = ["{a}", "{a}", "{a}. {t}", "({a})", "The answer is {a}.", "{l}", "", "{t}", "答案是{a}",
               "我选{a}", "A B", "Cannot determine the answer", "Z", "The correct answer is **{a}**", "{a}",
               "I think it is {a} because the picture shows a lot of things clearly", "{t}!", "{a}) {t}",
               "Option {a}", "a {t}"]


def question_rows(n_questions: int = 24, chinese: bool = False) -> pd.DataFrame:
    rows = []
    for q in range(n_questions):
        n_options = 2 + q % 3
        texts = [f"{'选项' if chinese else 'option'} {q}-{k}" for k in range(n_options)]
        answer = q % n_options
        category, l2 = CATEGORIES[q % len(CATEGORIES)]
        for copy in range(n_options if q % 5 else 1):  # every 5th question has no circular copies
            rotated = texts[copy:] + texts[:copy]
            row = {"index": q + copy * 1_000_000, "question": f"Question {q}?", "hint": None if q % 2 else f"Hint {q}",
                   "answer": "ABCD"[(answer - copy) % n_options], "category": category, "l2-category": l2,
                   "source": "made-up", "split": "dev", "comment": None, "image": "aGVsbG8="}
            row.update({"ABCD"[k]: rotated[k] if k < n_options else None for k in range(4)})
            rows.append(row)
    return pd.DataFrame(rows)


def predictions(table: pd.DataFrame) -> list[str]:
    """One answer text per row, cycling through PREDICTIONS; most are right, some wrong or odd."""
    out = []
    for n, row in enumerate(table.itertuples(index=False)):
        letters = [c for c in "ABCD" if isinstance(getattr(row, c), str)]
        letter = row.answer if n % 4 else letters[(letters.index(row.answer) + 1) % len(letters)]
        text = getattr(row, letter)
        out.append(PREDICTIONS[n % len(PREDICTIONS)].format(a=letter, t=text, l=letter.lower()))
    return out
