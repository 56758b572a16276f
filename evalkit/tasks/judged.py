"""The judged answer type: an answer is scored by a judge (an LLM, official prompt) whose rating is
the item's score (`binary = False`: ratings are not 0/1).

A judged task declares its judge conversation with no judge at hand:
- `next_ask(row, replies, base_temperature)`: the next request of one item's conversation with the
  judge, given the replies so far (None: the conversation is over). Most benchmarks ask once;
  MM-Vet re-asks with a changed prompt and a higher temperature when a grade is unreadable.
- `rate(row, replies)`: the official parse of the replies into a `Rating` (the value after the
  official fallback, and whether the official parser could read the reply).

Judgments are never made here: `evalkit.judge` sends the requests and caches every reply in the run
directory; the scorer joins the cached replies onto the prediction rows (evalkit.judge.store.join),
so these columns exist when `annotate` runs: `judge_ratings` (one value per grading run, None when
unjudged), `judge_parsed` (per run: did the official parser read it), `judge_extra` (per run).
A row that the judge has not rated (no judgments yet, or a generation error) has no score, and a
headline over partial data is None (the table says how many are unjudged).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from evalkit.benchmark import Task

UNJUDGED_NOTE = "judged items only; a number over partially judged rows is left out (n_unjudged)"


@dataclass(frozen=True)
class Ask:
    """One request of a judge conversation, as the official script builds it."""

    messages: tuple[dict, ...]
    temperature: Optional[float]  # None: not sent (the server's default), as the official script does
    max_tokens: Optional[int] = None
    top_p: Optional[float] = None  # None: not sent
    # Other body keys the official client sends (RLHF-V's Chat: presence_penalty, frequency_penalty),
    # as sorted (key, value) pairs; none for most benchmarks, so their requests (and cache keys) are unchanged.
    extra: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Rating:
    value: float  # the item's score for this grading run, after the official fallback
    parsed: bool = True  # False: the official parser could not read the reply (fallback used)
    extra: Mapping[str, Any] = field(default_factory=dict)  # e.g. the reference answer's score


class JudgedTask(Task):
    binary = False
    score_name = "rating"
    judge_temperature: Optional[float] = None  # the official request's temperature (None: not sent)
    judge_max_tokens: Optional[int] = None  # the official request's max_tokens (None: not sent)
    judge_template: str = ""  # the official prompt text; its hash is the prompt version
    # True: the benchmark's official number needs no judge and a judge only refines it (MMBench's
    # LLM choice extraction): a suite runs it without asking for a judge and without applying one.
    judge_optional: bool = False

    @classmethod
    def prompt_version(cls) -> str:
        return hashlib.sha256(cls.judge_template.encode("utf-8")).hexdigest()[:12]

    def next_ask(self, row: Mapping[str, Any], replies: Sequence[str], base_temperature: Optional[float]
                 ) -> Optional[Ask]:
        raise NotImplementedError

    def rate(self, row: Mapping[str, Any], replies: Sequence[str]) -> Rating:
        raise NotImplementedError

    def check_judge_ready(self, metas: Sequence[Mapping[str, Any]]) -> None:
        """Before any request is sent (and, in a run, before any model loads): what scoring this
        task's judged answers needs besides the judge (Object HalBench: a spaCy pipeline), given
        its items' meta; raise an EvalkitError naming the fix."""

    def judge_context(self, rows: pd.DataFrame) -> Mapping[str, Mapping[str, Any]]:
        """What a row's requests need from other rows (HallusionBench compares an answer with the
        answer on the original figure), by row id; it reaches `next_ask` as row["judge_context"]."""
        return {}

    # -------------------------------------------------------------------------------- scoring

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        """`score` = the mean rating over grading runs (NaN when unjudged); `parsed` = the text judged."""
        if "judge_ratings" not in rows.columns:
            rows["judge_ratings"] = [[None]] * len(rows)
            rows["judge_parsed"] = [[None]] * len(rows)
            rows["judge_extra"] = [[{}]] * len(rows)
        ratings = [_values(r) for r in rows["judge_ratings"]]
        rows["judged"] = [bool(r) and all(v is not None for v in r) for r in ratings]
        rows["judged"] = rows["judged"] & ~is_error
        # The mean over grading runs; a generation error scores 0 (as in every task), an unjudged answer NaN.
        rows["score"] = [float(sum(r) / len(r)) if ok else 0.0 if error else math.nan
                         for r, ok, error in zip(ratings, rows["judged"], is_error)]
        rows["n_parse_failures"] = [sum(1 for p in _values(ps) if p is False) for ps in rows["judge_parsed"]]
        rows["parsed"] = rows["text"].where(~is_error, None)
        rows["correct"] = [self.is_good(s) and ok for s, ok in zip(rows["score"], rows["judged"])]
        return rows

    def bucket(self, value: float) -> str:
        """The rating bucket Cohen's kappa counts agreement in (default: the rating itself)."""
        return f"{value:g}"

    def is_good(self, score: float) -> bool:
        """What `correct` means for a rating (reports that count items); benchmarks refine it."""
        return bool(score == score and score > 0)


def _values(cell: Any) -> list:
    if cell is None or (isinstance(cell, float) and math.isnan(cell)):
        return []
    return list(cell)


def judged_counts(rows: pd.DataFrame) -> dict[str, int]:
    """n, n_unjudged (errors included), n_error and n_parse_failures of annotated judged rows."""
    is_error = rows["error"].map(lambda e: bool(e)) if "error" in rows.columns else pd.Series(False, index=rows.index)
    return {"n": int(len(rows)), "n_unjudged": int((~rows["judged"]).sum()), "n_error": int(is_error.sum()),
            "n_parse_failures": int(rows["n_parse_failures"].sum())}


def imported_rows(items: Sequence[Any], answers: Mapping[str, Any], source: Any) -> list[dict]:
    """Minimal prediction rows (evalkit.scoring.importers) of a judged benchmark's items answered by
    another tool: every answer must name an item; items without an answer are left out."""
    by_id = {item.id: item for item in items}
    unknown = [i for i in answers if i not in by_id]
    if unknown:
        raise ValueError(f"{source}: {len(unknown)} answer(s) name no item of the questions, e.g. {unknown[:5]}")
    return [{"id": item.id, "task": item.task, "question": item.question, "answer": item.answer,
             "category": item.category, "group": item.group, "prediction": answers[item.id], "meta": dict(item.meta)}
            for item in items if item.id in answers]
