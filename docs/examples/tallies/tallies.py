"""A short-answer benchmark defined outside evalkit (docs/extending.md, example 5): "How many
circles are there?" answered with a word or a number.

It uses the core short-answer task as it is (`evalkit.tasks.short_answer.ShortAnswerTask`): each
item's acceptable answers are in `meta["answers"]` ("2" and "two" are both right), the task reads
the reply with EvalAI's answer processor and scores it as the VQA API does where there are several
human answers. No `annotate`, no metrics of its own.
"""

from __future__ import annotations

import random

from PIL import Image, ImageDraw

from evalkit.benchmark import Benchmark
from evalkit.config import LLAVA_SHORT_ANSWER
from evalkit.tasks.short_answer import ShortAnswerTask
from evalkit.types import Item

WORDS = ("zero", "one", "two", "three", "four", "five")
TALLY = ShortAnswerTask("tally", scoring="vqa_or_match", official_rule="evalai")


class TalliesBenchmark(Benchmark):
    tasks = (TALLY,)

    def __init__(self, n_images: int, seed: int):
        self.n_images, self.seed = n_images, seed

    def load(self) -> list[Item]:
        rng = random.Random(self.seed)
        items = []
        for i in range(self.n_images):
            k = rng.randint(1, 4)
            image = Image.new("RGB", (96, 64), "white")
            draw = ImageDraw.Draw(image)
            for j in range(k):
                draw.ellipse((6 + 22 * j, 22, 24 + 22 * j, 40), fill="blue")
            question = "How many circles are there?"
            items.append(Item(id=f"tally-{i}", image=image, question=question, answer=str(k), task=TALLY.name,
                              category="few" if k <= 2 else "many", prompt_question=question + LLAVA_SHORT_ANSWER,
                              meta={"answers": [str(k), WORDS[k]]}))
        return items
