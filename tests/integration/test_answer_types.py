"""The answer-type core: parse rules that see the item, per-item scores, no hidden normalisation,
the warning when nothing matches, standard errors, and option scoring in one forward pass."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from evalkit.benchmark import Benchmark, Headline, ItemView, Task, TaskResult
from evalkit.scoring.score_metrics import mean_stderr, score_table
from evalkit.scoring.scorer import score_predictions
from evalkit.tasks.choice import CHOICE, ChoiceTask, choice_prompt, option_calibration, read_letter, read_lenient

OPTIONS = {"A": "a cat", "B": "dog", "C": "两只猫"}
ITEM = ItemView(id="q1", question="What is it?", answer="B", meta={"options": OPTIONS})


@pytest.mark.parametrize("text, letter, lenient", [
    ("B", "B", "B"), ("B. dog", "B", "B"), ("(B)", "B", "B"), ("B)", "B", "B"), ("B: dog", "B", "B"),
    ("b", "", ""), ("", "", ""), ("E", "", ""), ("dog", "", "B"), ("The answer is (C).", "", "C"),
    ("A cat", "", "A"), ("两只猫", "", "C"), ("A or B", "", ""),
])
def test_choice_rules(text, letter, lenient):
    assert read_letter(text, ITEM) == letter
    assert read_lenient(text, ITEM) == lenient


def test_choice_prompt_is_llavas():
    assert choice_prompt("What?", {"A": "x", "B": "y"}, hint="Look.") == (
        "Look.\nWhat?\nA. x\nB. y\nAnswer with the option's letter from the given choices directly.")


class Letters(Benchmark):
    tasks = (CHOICE,)


def rows(answers, texts, **extra):
    return pd.DataFrame([{"id": f"q{i}", "task": "choice", "question": "?", "answer": a, "category": "c",
                          "text": t, "meta": {"options": OPTIONS}, **extra} for i, (a, t) in enumerate(zip(answers, texts))])


def test_letters_are_compared_as_written_and_scored_per_item():
    """The old scorer lowercased every ground truth: a parser returning "A" scored 0% silently."""
    scores = score_predictions(rows(["A", "B", "C", "B"], ["A", "B. dog", "b", ""]), Letters)
    frame = scores.frame
    assert frame["score"].tolist() == [1.0, 1.0, 0.0, 0.0]
    assert frame["correct"].tolist() == [True, True, False, False]
    assert scores.headline["accuracy"] == 0.5
    assert scores.headline["accuracy_stderr"] == pytest.approx(mean_stderr([1, 1, 0, 0])[1])
    overall = scores.metrics[scores.metrics["category"] == "all"].iloc[0]
    assert (overall["n_unread"], overall["n"]) == (2, 4)
    assert "warnings" not in scores.headline


class Lowercase(Task):
    """A task whose rule returns another form than its ground truths: the trap the warning names."""

    name = "lower"
    rules = {"upper": lambda text, item: text.upper()}
    official_rule = "upper"
    headline = (Headline("accuracy"),)

    def metrics(self, rows):
        return TaskResult(score_table(rows), {"accuracy": float(rows["score"].mean())})


class LowerBench(Benchmark):
    tasks = (Lowercase(),)


def test_a_warning_names_the_likely_cause_when_nothing_matches(caplog):
    frame = pd.DataFrame([{"id": str(i), "task": "lower", "answer": a, "text": a} for i, a in enumerate("abc")])
    scores = score_predictions(frame, LowerBench)
    assert scores.headline["accuracy"] == 0.0
    (warning,) = scores.headline["warnings"]
    assert "none of the 3 parsed answers matches" in warning and "'A'" in warning and "'a'" in warning
    assert "none of the 3 parsed answers" in caplog.text


def test_yes_no_truths_are_read_case_insensitively_by_their_task():
    from datasets_adapters.yesno_files import YesNoFileDataset

    frame = pd.DataFrame([{"id": "1", "task": "yesno", "answer": "Yes", "text": "yes"},
                          {"id": "2", "task": "yesno", "answer": " no", "text": "Yes"}])
    scores = score_predictions(frame, YesNoFileDataset)
    assert scores.frame["score"].tolist() == [1.0, 0.0]


def test_error_rows_score_zero_and_are_not_parsed():
    frame = rows(["A", "B"], ["A", "B"])
    frame["error"] = [None, "RuntimeError: boom"]
    scores = score_predictions(frame, Letters)
    assert scores.frame["parsed"].tolist() == ["A", None]
    assert scores.frame["score"].tolist() == [1.0, 0.0]


def test_mean_stderr_is_lm_eval_harness():
    values = [1, 0, 1, 1, 0]
    mean, stderr = mean_stderr(values)
    assert mean == 0.6
    assert stderr == pytest.approx(math.sqrt(sum((v - 0.6) ** 2 for v in values) / 4) / math.sqrt(5))
    assert math.isnan(mean_stderr([1])[1]) and math.isnan(mean_stderr([])[0])


def test_option_calibration():
    frame = pd.DataFrame({"answer": ["A", "B"], "option_probs": [{"A": 0.9, "B": 0.1}, {"A": 0.6, "B": 0.4}]})
    out = option_calibration(frame)
    assert out["n_probs"] == 2
    assert out["brier"] == pytest.approx(((0.1 ** 2 + 0.1 ** 2) + (0.6 ** 2 + 0.6 ** 2)) / 2)
    assert out["ece"] == pytest.approx(0.5 * abs(0.9 - 1) + 0.5 * abs(0.6 - 0))


def test_choice_task_refuses_an_answer_outside_its_options():
    from evalkit.types import Item

    with pytest.raises(ValueError, match="not one of its option letters"):
        ChoiceTask().check_item(Item(id="x", image=None, question="?", answer="D", meta={"options": OPTIONS}))


# ----------------------------------------------------------------------------- the model side

def test_two_options_are_bit_identical_to_p_yes():
    """yesno_logits is choice scoring's two-option case: the same numbers as the p_yes formula."""
    from evalkit.models.choices import option_probs, option_scores
    from evalkit.models.yesno import p_yes_from_logits

    logits = torch.randn(5, 40, generator=torch.Generator().manual_seed(0))
    yes, no = [3, 7], [11]
    old = torch.sigmoid(torch.logsumexp(logits[:, yes], -1) - torch.logsumexp(logits[:, no], -1)).tolist()
    assert p_yes_from_logits(logits, yes, no) == old
    four = option_probs(option_scores(logits, [[1], [2], [3, 4], [5]]))
    assert torch.allclose(four.sum(-1), torch.ones(5))


def test_choice_logits_scores_each_items_options(tiny_letters_checkpoint):
    """decoding=choice_logits on a tiny LLaVA-1.5 built from config: one forward pass per batch;
    the answer is the most probable letter among the item's own options, probabilities kept."""
    from datasets_adapters.shapes import ShapesDataset
    from evalkit.decoding.yesno_logits import ChoiceLogits
    from evalkit.models.llava import LlavaModel
    from evalkit.runner import iterate_predictions

    model = LlavaModel(name="t", path=str(tiny_letters_checkpoint), device="cpu", dtype="float32")
    items = ShapesDataset(n_images=2, tasks=["choice"]).load()
    choices = {item.id: CHOICE.choices(item) for item in items}
    out = [p for batch, _ in iterate_predictions(items, model, ChoiceLogits(), batch_size=4, choices=choices)
           for p in batch]
    assert len(out) == len(items) and not any(p.error for p in out)
    for p in out:
        assert set(p.option_probs) == set(choices[p.item_id])
        assert sum(p.option_probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert p.text == max(p.option_probs, key=p.option_probs.get)


def test_options_that_are_not_one_token_are_refused_before_any_batch(tiny_checkpoints):
    """A tiny tokenizer without letter tokens (the default of save_tiny, and of the checkpoints shipped
    before issue 27) spells "B" as "▁" + a byte: one position cannot score it."""
    from datasets_adapters.shapes import ShapesDataset
    from evalkit.decoding.yesno_logits import ChoiceLogits
    from evalkit.errors import ConfigError
    from evalkit.models.llava import LlavaModel
    from evalkit.runner import iterate_predictions

    model = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), device="cpu", dtype="float32")
    items = ShapesDataset(n_images=1, tasks=["choice"]).load()
    with pytest.raises(ConfigError, match="option 'B' is not one token"):
        next(iterate_predictions(items, model, ChoiceLogits(), 4, choices={i.id: CHOICE.choices(i) for i in items}))
