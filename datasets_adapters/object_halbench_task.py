"""Object HalBench's scoring: CHAIR over answers as RLHF-V's keyword path computes it
(`eval/eval_gpt_obj_halbench.py` without --use_gpt, then `summarize_gpt_obj_halbench_review.py`).

Each answer is read as the official script reads it: "Assistant:" removed, then stripped. Its
object mentions come from evalkit's CHAIR engine with RLHF-V's vocabulary
(object_halbench_vocab: noun lemmas, no POS tagging). Per answer the official records the same
facts OPERA does (mentions, hallucinated mentions, ground truth, recalled classes); the totals
differ:

- Response Hall (CHAIRs_refine): hallucinated answers / answers with at least one COCO object
  mention (an answer naming no COCO object counts neither way); Response Correct = 1 - it.
- Object Hall (CHAIRi): hallucinated mentions / mentions (repeats counted); Object Correct = 1 - it.
- Object Recall: per answer, its distinct correctly named classes, summed / ground-truth objects summed.
- Average Length: mean of `len(answer.strip().split(" "))` (the cleaned answer, split on spaces).
- COCO Sent Number, COCO Word Number (the recalled classes summed), GT Word Number: counts.
Plain CHAIRs (hallucinated answers / all answers) is kept in the table as the script computes it.

Error rows are left out of the totals and counted in `n_error`, as in chair_coco.
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import Headline, ImportRules, TaskResult
from evalkit.scoring.chair import CaptionScore, ChairVocabulary, score_caption
from evalkit.tasks.caption import SEPARATOR, ChairTask, answer_objects, category_parts

COLUMNS = ("n", "response_hall", "object_hall", "response_correct", "object_correct", "recall", "len",
           "coco_sentences", "coco_words", "gt_words", "chair_s", "n_mentions", "n_hallucinated", "n_error")
# summarize_gpt_obj_halbench_review.py's printout: its label -> our metrics.csv column
PRINTED = (("Response Hall", "response_hall"), ("Object Hall", "object_hall"),
           ("Response Correct", "response_correct"), ("Object Correct", "object_correct"),
           ("Object Recall", "recall"), ("Average Length", "len"), ("COCO Sent Number", "coco_sentences"),
           ("COCO Word Number", "coco_words"), ("GT Word Number", "gt_words"))


def clean_answer(text: Optional[str]) -> str:
    """The official load_generated_captions: `text.replace("Assistant:", "").strip()`."""
    return (text or "").replace("Assistant:", "").strip()


def word_count(answer: str) -> int:
    """compute_chair's length: `len(cap.strip().split(" "))` (an empty answer counts 1)."""
    return len(answer.strip().split(" "))


def _ratio(top: float, bottom: float) -> float:
    return top / bottom if bottom else math.nan  # where the official script divides by zero


def response_hallucination(scores: Sequence[CaptionScore]) -> float:
    """CHAIRs_refine: hallucinated answers / answers that mention a COCO object."""
    return _ratio(sum(s.is_hallucinated for s in scores), sum(1 for s in scores if s.mentioned))


def object_hallucination(scores: Sequence[CaptionScore]) -> float:
    """CHAIRi: hallucinated mentions / mentions."""
    return _ratio(sum(len(s.hallucinated) for s in scores), sum(len(s.mentioned) for s in scores))


def object_recall(scores: Sequence[CaptionScore]) -> float:
    """obj_rec: distinct recalled classes per answer, summed / ground-truth objects summed."""
    return _ratio(sum(len(s.recalled) for s in scores), sum(len(s.ground_truth) for s in scores))


def response_chair_s(scores: Sequence[CaptionScore]) -> float:
    """CHAIRs: hallucinated answers / answers."""
    return _ratio(sum(s.is_hallucinated for s in scores), len(scores))


def average_length(word_counts: Sequence[int]) -> float:
    return _ratio(sum(word_counts), len(word_counts))


def objhal_totals(scores: Sequence[CaptionScore], word_counts: Sequence[int]) -> dict[str, float]:
    """compute_chair's overall_metrics under our column names (fractions; NaN for its ZeroDivisionError)."""
    response, objects = response_hallucination(scores), object_hallucination(scores)
    return {"response_hall": response, "object_hall": objects, "response_correct": 1 - response,
            "object_correct": 1 - objects, "recall": object_recall(scores), "len": average_length(word_counts),
            "coco_sentences": sum(1 for s in scores if s.mentioned),
            "coco_words": sum(len(s.recalled) for s in scores),
            "gt_words": sum(len(s.ground_truth) for s in scores), "chair_s": response_chair_s(scores)}


class ObjectHalBenchTask(ChairTask):
    """CHAIR with RLHF-V's vocabulary and totals; headlines objhal_response_hall (primary),
    objhal_object_hall, objhal_recall, objhal_response_correct, objhal_object_correct, objhal_len."""

    columns = COLUMNS
    formats = {**{c: "percent" for c in ("response_hall", "object_hall", "response_correct", "object_correct",
                                         "recall", "chair_s")},
               "len": "points", **{c: "count" for c in ("n", "coco_sentences", "coco_words", "gt_words",
                                                        "n_mentions", "n_hallucinated", "n_error")}}
    category_values = ("response_hall", "object_hall", "recall")

    def __init__(self, name: str, vocabulary: ChairVocabulary, imports: ImportRules = ImportRules()):
        super().__init__(name, vocabulary, prefix="objhal", imports=imports)  # its parse rule: self.mentions
        self.headline = (Headline("objhal_response_hall", direction="lower"),
                         Headline("objhal_object_hall", direction="lower"), Headline("objhal_recall"),
                         Headline("objhal_response_correct"), Headline("objhal_object_correct"),
                         # Length has no better direction; it sorts as higher, like chair_len.
                         Headline("objhal_len", format="points"))
        self.note = (f"{name}: Object HalBench as RLHF-V's keyword evaluation (eval_gpt_obj_halbench.py without "
                     f"--use_gpt): Response Hall = CHAIRs_refine, Object Hall = CHAIRi (lower is better); "
                     f"error rows left out")

    def mentions(self, text: str) -> str:
        return SEPARATOR.join(self.vocabulary.caption_words(clean_answer(text)).nodes)

    def caption_score(self, text: str, answer: Any) -> CaptionScore:
        return score_caption(self.vocabulary, clean_answer(text), answer_objects(answer))

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        rows = super().annotate(rows, rule, is_error)
        rows["objhal_words"] = pd.Series([None if err else word_count(clean_answer(t))
                                          for t, err in zip(rows["text"], is_error)], index=rows.index, dtype=object)
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = pd.DataFrame([self._objhal_row(name, part) for name, part in category_parts(rows)],
                             columns=["category", *COLUMNS])
        overall = table.iloc[0]
        names = ("response_hall", "object_hall", "recall", "response_correct", "object_correct", "len")
        return TaskResult(table, {f"objhal_{k}": (None if math.isnan(overall[k]) else float(overall[k]))
                                  for k in names})

    @staticmethod
    def _objhal_row(category: str, rows: pd.DataFrame) -> dict:
        kept = [(s, w) for s, w in zip(rows["chair_score"], rows["objhal_words"]) if s is not None]
        scores = [s for s, _ in kept]
        return {"category": category, "n": len(scores), **objhal_totals(scores, [w for _, w in kept]),
                "n_mentions": sum(len(s.mentioned) for s in scores),
                "n_hallucinated": sum(len(s.hallucinated) for s in scores),
                "n_error": int(rows["chair_score"].isna().sum())}

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Response Hall, Object Hall and Recall, B - A, bootstrapped over answers."""
        from evalkit.scoring import stats as S
        from evalkit.tasks.caption import _ratio_stat

        self.check_ready()
        feats = {side: np.array([_features(self.caption_score(t, a))
                                 for t, a in zip(joined[f"text_{side}"], joined["answer"])]) for side in ("a", "b")}
        pairs = {"response_hall": (0, 1), "object_hall": (2, 3), "recall": (4, 5)}
        return {f"objhal_{name}": S.paired_bootstrap(_ratio_stat(num, den), feats["a"], feats["b"], **boot)
                for name, (num, den) in pairs.items()}


def _features(score: CaptionScore) -> list[float]:
    return [float(score.is_hallucinated), float(bool(score.mentioned)), len(score.hallucinated),
            len(score.mentioned), len(score.recalled), len(score.ground_truth)]
