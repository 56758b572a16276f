"""Frozen records that flow between stages: adapters yield `Item`s, the runner yields `Prediction`s.

Predictions on disk (`predictions.jsonl`) are the contract between generation and everything after
it (scoring, reports, resume): one JSON object per item, keyed by `id`, never by position. The row
layout is `PredictionRow` below; `evalkit.scoring` reads nothing else.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional, Union

# An image reference: a path on disk, raw encoded bytes (HF datasets, parquet), or a PIL image
# drawn in memory (synthetic benchmark). Loading happens in the runner, so a bad image becomes an
# error row instead of failing the adapter.
ImageRef = Union[str, Path, bytes, Any]


@dataclass(frozen=True)
class Item:
    id: str  # unique within the dataset (POPE ids are made unique across splits by the adapter)
    image: ImageRef
    question: str  # the benchmark's question as released (before prompt conventions)
    answer: str  # ground truth ("yes" / "no" for yes/no tasks; the task checks it)
    category: str = ""  # MME subtask, POPE split, or a free category
    group: str = ""  # items that share an image (MME acc+ pairs), "" when not grouped
    task: str = "yesno"  # which of its benchmark's tasks scores the item (evalkit.benchmark)
    prompt_question: Optional[str] = None  # question after the dataset's prompt convention
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text_for_prompt(self) -> str:
        return self.prompt_question if self.prompt_question is not None else self.question


@dataclass(frozen=True)
class Prediction:
    item_id: str
    raw_text: str  # exactly what the model generated (special tokens removed)
    text: str  # raw_text with surrounding whitespace stripped, as LLaVA saves it
    error: Optional[str] = None  # "ExceptionType: message" when the item could not be run
    p_yes: Optional[float] = None  # P(yes) at the answer position, when the decoding method gives it
    option_probs: Optional[Mapping[str, float]] = None  # P(option) per choice (decoding=choice_logits)
    batch_size: int = 1  # size of the batch this item ran in
    batch_time_s: float = 0.0  # wall time of that batch
    n_input_tokens: int = 0  # prompt length incl. image tokens, without padding


@dataclass(frozen=True)
class PredictionRow:
    """One line of predictions.jsonl: the item, what the model said, and how it parsed."""

    id: str
    task: str
    question: str
    answer: str
    category: str
    group: str
    prediction: str  # raw generated text
    text: str  # stripped text that the parser read
    parsed: Optional[str]  # yes / no / other under the run's parse rule; None for error rows
    correct: bool
    error: Optional[str]
    p_yes: Optional[float] = None
    batch_size: int = 1
    batch_time_s: float = 0.0
    n_input_tokens: int = 0
    prompt: Optional[str] = None  # the rendered prompt, kept for the first few items of a run
    meta: Mapping[str, Any] = field(default_factory=dict)
    option_probs: Optional[Mapping[str, float]] = None  # written only by choice decoders

    def to_json(self) -> dict:
        row = dataclasses.asdict(self)
        if row["option_probs"] is None:  # rows of generating decoders keep their layout
            del row["option_probs"]
        return row
