"""Multiple choice: the answer type of ScienceQA, MMBench, SEED-Bench, MMMU and any option file.

An item's ground truth is an option letter (`answer`), its options are `meta["options"]`
({"A": "text", ...} in letter order) and its prompt is LLaVA's (`choice_prompt`): hint first when
present, the question, one `A. text` line per option, then the letter instruction. A benchmark
subclasses `ChoiceTask` to add its official parse rule (ScienceQA's "The answer is X.", MMBench's
option-text matching) and its own tables; the rules here are evalkit's generic ones:

- `letter` (the default of a free option file): the reply is a letter, or starts with one in the
  forms "A.", "A)", "(A)", "A:" followed by anything; the letter must be one of the item's options.
  Letters are compared as written: "b" is not "B" (LLaVA's scorers compare exactly, too).
- `lenient` (analysis only, never a default): `letter`, else a single option letter in a
  "(A)" / "A." / "A)" form anywhere, else the one option whose text the reply contains.

With `decoding=choice_logits` each row also holds `option_probs`, and the task reports
calibration over the option probabilities: ECE (10 equal-width bins of the top probability) and
the multi-class Brier score.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL, Headline, ItemView, Task, TaskResult
from evalkit.scoring.score_metrics import SCORE_COLUMNS, SCORE_FORMATS, score_table
from evalkit.types import Item

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
LETTER_INSTRUCTION = "Answer with the option's letter from the given choices directly."

_LEADING = re.compile(r"^\(?([A-Z])(?:[.):]|$)")
_ANYWHERE = re.compile(r"(?:\(([A-Z])\)|\b([A-Z])[.)](?:\s|$))")


def options_of(item: ItemView | Item) -> dict[str, str]:
    options = item.meta.get("options") if isinstance(item.meta, Mapping) else None
    return dict(options) if isinstance(options, Mapping) else {}


def choice_prompt(question: str, options: Mapping[str, str], hint: Optional[str] = None,
                  instruction: str = LETTER_INSTRUCTION) -> str:
    """LLaVA's multiple-choice prompt (model_vqa_mmbench.py, model_vqa_science.py's question files)."""
    text = f"{hint}\n{question}" if hint else question
    for letter, option in options.items():
        text += f"\n{letter}. {option}"
    return f"{text}\n{instruction}" if instruction else text


def read_letter(text: str, item: ItemView) -> str:
    """The `letter` rule (see the module docstring)."""
    options = options_of(item)
    if text in options:
        return text
    match = _LEADING.match(text)
    return match.group(1) if match and match.group(1) in options else ""


def read_lenient(text: str, item: ItemView) -> str:
    """The `lenient` rule: for analysis of how much a strict rule leaves unread."""
    found = read_letter(text, item)
    if found:
        return found
    options = options_of(item)
    letters = {a or b for a, b in _ANYWHERE.findall(text)} & set(options)
    if len(letters) == 1:
        return letters.pop()
    lowered = text.lower()
    named = [letter for letter, option in options.items() if str(option).strip() and str(option).lower() in lowered]
    return named[0] if len(named) == 1 else ""


CALIBRATION_COLUMNS = ("n_probs", "ece", "brier")


def option_calibration(rows: pd.DataFrame, n_bins: int = 10) -> dict[str, Any]:
    """ECE of the top option probability and the multi-class Brier score over rows with option_probs."""
    if "option_probs" not in rows.columns:
        return {"n_probs": 0, "ece": math.nan, "brier": math.nan}
    top, hit, brier = [], [], []
    for probs, answer in zip(rows["option_probs"], rows["answer"]):
        if not isinstance(probs, Mapping) or not probs:
            continue
        best = max(probs, key=probs.get)
        top.append(float(probs[best]))
        hit.append(float(best == answer))
        brier.append(sum((float(p) - float(k == answer)) ** 2 for k, p in probs.items()))
    if not top:
        return {"n_probs": 0, "ece": math.nan, "brier": math.nan}
    conf, acc = np.asarray(top), np.asarray(hit)
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    ece = sum(abs(conf[bins == b].mean() - acc[bins == b].mean()) * (bins == b).mean()
              for b in range(n_bins) if (bins == b).any())
    return {"n_probs": len(top), "ece": float(ece), "brier": float(np.mean(brier))}


class ChoiceTask(Task):
    """A free multiple-choice task: accuracy per category (with its standard error), calibration
    when the run scored the options. Benchmarks subclass it for their official rules and tables."""

    name = "choice"
    rules = {"letter": read_letter, "lenient": read_lenient}
    official_rule = "letter"
    headline = (Headline("accuracy"),)
    columns = (*SCORE_COLUMNS, *CALIBRATION_COLUMNS)
    formats = {**SCORE_FORMATS, "n_probs": "count", "ece": "probability", "brier": "probability"}
    shown = ("category", "n", "accuracy", "accuracy_stderr", "n_unread", "n_error")
    note = "multiple choice: a reply counts when its letter equals the answer's (exact, case-sensitive)"

    def __init__(self, headline: Optional[str] = None):
        # `headline` names the accuracy apart where the benchmark has yes/no tasks too, whose pooled
        # `accuracy` is already a headline (shapes: "choice_accuracy"); subclasses declare their own.
        if headline is not None:
            self.headline = (Headline(headline),)
            self.formats = {**type(self).formats, f"{headline}_stderr": "percent"}

    def check_item(self, item: Item) -> None:
        options = options_of(item)
        if len(options) < 2 or any(k not in LETTERS for k in options):
            raise ValueError(f"item {item.id!r}: a multiple-choice item needs meta['options'] = "
                             f"{{'A': text, 'B': text, ...}} (two or more), got {options!r}")
        if item.answer not in options:
            raise ValueError(f"item {item.id!r}: answer {item.answer!r} is not one of its option letters "
                             f"{list(options)}")

    def choices(self, item: Item) -> tuple[str, ...]:
        return tuple(options_of(item))

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = score_table(rows, ["category"])
        calibration = [option_calibration(rows[rows["category"] == c]) if c != OVERALL else option_calibration(rows)
                       for c in table["category"]]
        table = pd.concat([table, pd.DataFrame(calibration, index=table.index)], axis=1)
        overall = table[table["category"] == OVERALL].iloc[0]
        name = self.headline[0].name
        headline = {name: float(overall["accuracy"]), f"{name}_stderr": float(overall["accuracy_stderr"])}
        if overall["n_probs"]:
            headline.update(choice_ece=float(overall["ece"]), choice_brier=float(overall["brier"]))
        return TaskResult(table, headline)


CHOICE = ChoiceTask()
