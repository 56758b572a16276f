"""The shapes multiple-choice task (opt-in: `dataset.tasks=[choice]`): colour, shape and count
questions with four lettered options, scored by the generic `ChoiceTask` (evalkit/tasks/choice.py).

Per image, up to one question of each kind, asked only where the answer is unambiguous:
- colour: "What colour is the <shape>?" about a shape present exactly once;
- shape: "Which shape is <colour>?" about a colour present exactly once;
- count: "How many <shapes> are there?" about a shape present in the image (options are numbers).
The three wrong options are drawn from the other values; the right one's letter cycles A, B, C, D
over the set's questions (letters balanced: a model that always says "A" scores 25%).
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Iterator

from datasets_adapters.shapes_scene import COLORS, NUMBERS, PLURALS, SHAPES, Scene
from evalkit.tasks.choice import LETTERS

KINDS = ("color", "shape", "count")
N_OPTIONS = 4


def choice_questions(scene: Scene) -> Iterator[tuple[str, str, list[str], str]]:
    """(kind, question, option values, right value) for each unambiguous question about `scene`."""
    rng = random.Random(f"{scene.key}/choice")
    shapes = Counter(o.shape for o in scene.objects)
    colors = Counter(o.color for o in scene.objects)
    once = sorted(s for s, n in shapes.items() if n == 1)
    if once:
        shape = rng.choice(once)
        color = next(o.color for o in scene.objects if o.shape == shape)
        yield "color", f"What colour is the {shape}?", _options(color, list(COLORS), rng), color
    single = sorted(c for c, n in colors.items() if n == 1)
    if single:
        color = rng.choice(single)
        shape = next(o.shape for o in scene.objects if o.color == color)
        yield "shape", f"Which shape is {color}?", _options(shape, list(SHAPES), rng), shape
    if shapes:
        shape = rng.choice(sorted(shapes))
        count = NUMBERS[shapes[shape]]
        yield "count", f"How many {PLURALS[shape]} are there?", _options(count, list(NUMBERS[1:6]), rng), count


def _options(right: str, values: list[str], rng: random.Random) -> list[str]:
    wrong = rng.sample([v for v in values if v != right], N_OPTIONS - 1)
    return [right, *wrong]  # the right one first; `lettered` places it


def lettered(values: list[str], right: str, position: int) -> tuple[dict[str, str], str]:
    """Options with the right value at letter `position` (the others keep their drawn order)."""
    others = [v for v in values if v != right]
    ordered = others[:position] + [right] + others[position:]
    options = dict(zip(LETTERS, ordered))
    return options, LETTERS[position]


