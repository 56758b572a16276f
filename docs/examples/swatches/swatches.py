"""A multiple-choice benchmark defined outside evalkit (docs/extending.md, example 4): "What colour
is the swatch?" with three lettered options.

It uses the core multiple-choice task as it is (`evalkit.tasks.choice.CHOICE`): items carry their
options in `meta["options"]`, the prompt is LLaVA's (`choice_prompt`), the parse rule (`letter`)
sees the item's options, accuracy comes with its standard error, and `decoding=choice_logits`
scores the letters in one forward pass. No `annotate`, no metrics of its own.
"""

from __future__ import annotations

import random

from PIL import Image

from evalkit.benchmark import Benchmark
from evalkit.tasks.choice import CHOICE, LETTERS, choice_prompt
from evalkit.types import Item

COLOURS = {"red": (220, 45, 45), "green": (50, 170, 70), "blue": (50, 90, 225), "yellow": (235, 210, 45)}


class SwatchesBenchmark(Benchmark):
    tasks = (CHOICE,)

    def __init__(self, n_images: int, seed: int):
        self.n_images, self.seed = n_images, seed

    def load(self) -> list[Item]:
        rng = random.Random(self.seed)
        items = []
        for i in range(self.n_images):
            names = rng.sample(sorted(COLOURS), 3)  # three options; the first drawn is painted
            painted = names[0]
            rng.shuffle(names)
            options = dict(zip(LETTERS, names))
            letter = next(k for k, v in options.items() if v == painted)
            question = "What colour is the swatch?"
            items.append(Item(id=f"swatch-{i}", image=Image.new("RGB", (64, 48), COLOURS[painted]),
                              question=question, answer=letter, task=CHOICE.name, category=painted,
                              prompt_question=choice_prompt(question, options), meta={"options": options}))
        return items
