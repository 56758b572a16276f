"""The shapes short-answer task (dataset.tasks=[short]): questions whose answers the scene fixes,
LLaVA's short-answer prompt, alternative answers ("2" / "two") both right, the default set unchanged."""

from __future__ import annotations

import pandas as pd
import pytest

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import ShapesDataset
from datasets_adapters.shapes_scene import COLORS, NUMBERS, PLURALS, SHAPES
from datasets_adapters.shapes_short import SHORT
from evalkit.benchmark import Benchmark
from evalkit.scoring.scorer import score_predictions


@pytest.fixture(scope="module")
def items():
    return ShapesDataset(n_images=24, tasks=["short"]).load()


def test_items_are_the_questions_the_scene_answers(items):
    assert len({i.id for i in items}) == len(items) and all(i.id.startswith("short-") for i in items)
    assert {i.category for i in items} == {"color", "shape", "count"}
    assert all(i.task == "short" and i.prompt_question == i.question + LLAVA_SHORT_ANSWER for i in items)
    assert LLAVA_SHORT_ANSWER == "\nAnswer the question using a single word or phrase."
    for item in items:
        answers = item.meta["answers"]
        assert item.answer == answers[0]
        if item.category == "count":
            n = int(answers[0])
            assert answers == [str(n), NUMBERS[n]] and n >= 1
        elif item.category == "color":
            assert answers[0] in COLORS and len(answers) == 1
        else:
            assert answers[0] in SHAPES and len(answers) == 1
    per_image = pd.Series([i.group for i in items]).value_counts()
    assert per_image.max() <= 3 and len(per_image) == 24  # at most one question of each kind per image


def test_answers_follow_the_scene():
    """Every question's answer is read off the scene's objects, asked only where it is unambiguous."""
    dataset = ShapesDataset(n_images=12, tasks=["short"])
    by_image = {f"eval{k:04d}": scene for k, scene in enumerate(dataset.scenes())}
    for item in dataset.load():
        objects = by_image[item.group].objects
        if item.category == "color":
            shape = item.question.split()[-1].rstrip("?")
            (match,) = [o for o in objects if o.shape == shape]
            assert item.meta["answers"] == [match.color]
        elif item.category == "shape":
            color = item.question.split()[-1].rstrip("?")
            (match,) = [o for o in objects if o.color == color]
            assert item.meta["answers"] == [match.shape]
        else:
            plural = item.question.split()[2]
            n = sum(1 for o in objects if PLURALS[o.shape] == plural)
            assert n >= 1 and item.meta["answers"] == [str(n), NUMBERS[n]]


def test_adding_the_task_changes_no_default_item():
    default = ShapesDataset(n_images=6).load()
    both = ShapesDataset(n_images=6, tasks=["mme", "pope", "short"]).load()
    assert [(i.id, i.question, i.answer) for i in both if i.task != "short"] == [(i.id, i.question, i.answer) for i in default]
    assert ShapesDataset().settings.tasks == ["mme", "pope"]


class Shapes(Benchmark):
    tasks = (SHORT,)


@pytest.mark.parametrize("text,answers,score", [
    ("2", ["2", "two"], 1.0), ("two", ["2", "two"], 1.0), ("Two.", ["2", "two"], 1.0), ("2 ", ["2", "two"], 1.0),
    ("three", ["2", "two"], 0.0), ("", ["2", "two"], 0.0), ("Red", ["red"], 1.0), ("a circle", ["circle"], 1.0),
    ("red circle", ["red"], 0.0),
])
def test_any_acceptable_answer_is_right(text, answers, score):
    rows = pd.DataFrame([{"id": "q", "task": "short", "question": "?", "answer": answers[0], "category": "count",
                          "text": text, "meta": {"answers": answers}}])
    frame = score_predictions(rows, Shapes).frame
    assert frame["score"].tolist() == [score]
    assert frame["correct"].tolist() == [score == 1.0]


def test_headline_is_the_mean_score_with_its_stderr():
    rows = pd.DataFrame([{"id": f"q{k}", "task": "short", "question": "?", "answer": "2", "category": c,
                          "text": t, "meta": {"answers": ["2", "two"]}}
                         for k, (c, t) in enumerate([("count", "two"), ("count", "2"), ("count", "4"), ("shape", "x")])])
    result = score_predictions(rows, Shapes)
    assert result.headline["short_accuracy"] == pytest.approx(0.5)
    assert result.headline["short_accuracy_stderr"] > 0


def test_yes_no_and_multiple_choice_accuracies_keep_their_own_names():
    """A run of shapes' yes/no and multiple-choice tasks reports both accuracies (`accuracy`, pooled
    over the yes/no questions, and `choice_accuracy`), and a benchmark whose tasks report the same
    headline name is refused instead of one number silently replacing the other."""
    from evalkit.tasks.choice import CHOICE as GENERIC_CHOICE
    from evalkit.tasks.yesno import YesNoTask

    rows = pd.DataFrame([
        {"id": "y1", "task": "pope", "question": "?", "answer": "yes", "category": "random", "text": "Yes"},
        {"id": "y2", "task": "pope", "question": "?", "answer": "no", "category": "random", "text": "Yes"},
        {"id": "c1", "task": "choice", "question": "?", "answer": "B", "category": "color", "text": "A",
         "meta": {"options": {"A": "red", "B": "blue"}}}])
    headline = score_predictions(rows, ShapesDataset).headline
    assert headline["accuracy"] == pytest.approx(0.5) and headline["choice_accuracy"] == 0.0

    class Clashing(Benchmark):
        tasks = (YesNoTask(), GENERIC_CHOICE)

    clash = rows.assign(task=["yesno", "yesno", "choice"])
    with pytest.raises(Exception, match=r"task 'choice' reports headline\(s\) \['accuracy', 'accuracy_stderr'\]"):
        score_predictions(clash, Clashing)
