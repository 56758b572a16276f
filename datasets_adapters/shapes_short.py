"""The shapes short-answer task (opt-in: `dataset.tasks=[short]`): colour, shape and count questions
answered with a word, LLaVA's VQA prompt ("... Answer the question using a single word or phrase.").

Per image, up to one question of each kind, asked only where the answer is unambiguous (the same
choice of question as the multiple-choice task makes, drawn from its own stream):
- colour: "What colour is the <shape>?" about a shape present exactly once -> ["red"];
- shape: "Which shape is <colour>?" about a colour present exactly once -> ["circle"];
- count: "How many <shapes> are there?" about a shape present in the image -> ["2", "two"].

`meta["answers"]` holds every acceptable answer. They are alternatives, not ten human answers, so
VQA's leave-one-out accuracy (min(matches / 3, 1)) does not apply: with ["2", "two"] it could never
reach 1. `SHORT` scores 1 when the reply, processed as vqaEval.py processes answers (lower case,
punctuation, number words to digits, articles dropped), equals one of the processed answers, else 0:
"2", "two", "Two." and "2 " are all right for a count of two.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Iterator

from datasets_adapters.shapes_scene import NUMBERS, PLURALS, Scene
from evalkit.benchmark import ItemView
from evalkit.scoring.vqa_answers import vqa_eval_answer
from evalkit.tasks.short_answer import ShortAnswerTask, human_answers

KINDS = ("color", "shape", "count")


def color_question(shape: str) -> str:
    return f"What colour is the {shape}?"


def shape_question(color: str) -> str:
    return f"Which shape is {color}?"


def count_question(shape: str) -> str:
    return f"How many {PLURALS[shape]} are there?"


def count_answers(n: int) -> list[str]:
    return [str(n), NUMBERS[n]]


def all_short_questions(scene: Scene) -> list[tuple[str, str, list[str]]]:
    """Every unambiguous (kind, question, acceptable answers) about `scene`: the colour of each
    shape present once, the shape of each colour present once, the count of each present shape
    (the training set asks all of them; the evaluation set one of each kind)."""
    shapes = Counter(o.shape for o in scene.objects)
    colors = Counter(o.color for o in scene.objects)
    out = [("color", color_question(s), [next(o.color for o in scene.objects if o.shape == s)])
           for s in sorted(shapes) if shapes[s] == 1]
    out += [("shape", shape_question(c), [next(o.shape for o in scene.objects if o.color == c)])
            for c in sorted(colors) if colors[c] == 1]
    out += [("count", count_question(s), count_answers(shapes[s])) for s in sorted(shapes)]
    return out


def short_questions(scene: Scene) -> Iterator[tuple[str, str, list[str]]]:
    """The evaluation set's questions about `scene`: up to one of each kind, drawn at random."""
    rng = random.Random(f"{scene.key}/short")
    every = all_short_questions(scene)
    for kind in KINDS:
        of_kind = [q for q in every if q[0] == kind]
        if of_kind:
            yield rng.choice(of_kind)


class AnyAnswerTask(ShortAnswerTask):
    """Short answers with alternative acceptable answers: 1 if the processed reply is one of them."""

    binary = True  # scores are 0 or 1: paired comparisons use McNemar, as for yes/no and letters

    def score(self, parsed: str, item: ItemView) -> float:
        answers = human_answers(item)
        if not answers:
            return float("nan")
        return 1.0 if vqa_eval_answer(parsed) in {vqa_eval_answer(a) for a in answers} else 0.0


SHORT = AnyAnswerTask(
    "short", scoring="vqa_or_match", official_rule="raw", headline="short_accuracy",
    note="short: 1 if the reply, processed as vqaEval.py processes answers (number words to digits, "
         "articles and punctuation dropped), equals one of the item's acceptable answers, else 0")
