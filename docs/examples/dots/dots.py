"""A benchmark defined outside evalkit (docs/extending.md, example 1): "How many dots are there?"

Items are drawn here (k red dots on a white canvas, k = 1..5, fixed by the seed), the answer is the
number, the parse rule reads the first number in the reply (digits or a word), and the task's own
metrics are exact-match accuracy and the mean absolute error of the count. Nothing in evalkit
names this module: `conf/dataset/dots.yaml` points at `DotsBenchmark` and `hydra.searchpath`
points Hydra at that folder.
"""

from __future__ import annotations

import random
import re

import pandas as pd
from PIL import Image, ImageDraw

from evalkit.benchmark import OVERALL, Benchmark, Headline, Task, TaskResult
from evalkit.types import Item

WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}


def first_number(text: str, item) -> str:
    """The first number in the reply, as digits ("There are three." -> "3"); "" when none. A rule
    sees the item too (its options, its answers, in `item.meta`); counting needs only the text."""
    match = re.search(r"\d+|\b(" + "|".join(WORDS) + r")\b", text.lower())
    if match is None:
        return ""
    return match.group(0) if match.group(0).isdigit() else str(WORDS[match.group(0)])


class CountTask(Task):
    name = "count"
    rules = {"first_number": first_number}
    official_rule = "first_number"
    columns = ("n", "accuracy", "mae", "n_unread", "n_error")
    formats = {"accuracy": "percent", "mae": "points", "n": "count", "n_unread": "count", "n_error": "count"}
    headline = (Headline("count_accuracy"), Headline("count_mae", direction="lower", format="points"))
    category_values = ("accuracy", "mae")

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        """Pure function of the annotated rows (`parsed`, `correct`, `answer`, `error`)."""
        table = pd.DataFrame([_row(category, sub) for category, sub in rows.groupby("category")]
                             + [_row(OVERALL, rows)])
        overall = table.iloc[-1]
        return TaskResult(table, {"count_accuracy": float(overall["accuracy"]), "count_mae": float(overall["mae"])})


def _row(category: str, rows: pd.DataFrame) -> dict:
    read = pd.to_numeric(rows["parsed"], errors="coerce")  # unread answers and errors are NaN
    truth = pd.to_numeric(rows["answer"])
    return {"category": category, "n": len(rows), "accuracy": float(rows["correct"].mean()),
            "mae": float((read - truth).abs().mean()), "n_unread": int(read.isna().sum()),
            "n_error": int(rows["error"].notna().sum())}


COUNT = CountTask()


class DotsBenchmark(Benchmark):
    tasks = (COUNT,)

    def __init__(self, n_images: int, seed: int, question_suffix: str):
        self.n_images, self.seed, self.question_suffix = n_images, seed, question_suffix

    def load(self) -> list[Item]:
        rng = random.Random(self.seed)
        items = []
        for i in range(self.n_images):
            k = rng.randint(1, 5)
            image = Image.new("RGB", (224, 224), "white")
            draw = ImageDraw.Draw(image)
            for _ in range(k):
                x, y = rng.randint(20, 200), rng.randint(20, 200)
                draw.ellipse((x - 12, y - 12, x + 12, y + 12), fill="red")
            question = "How many dots are there?"
            items.append(Item(id=f"dots-{i}", image=image, question=question, answer=str(k), task="count",
                              category="few" if k <= 2 else "many", prompt_question=question + self.question_suffix))
        return items
