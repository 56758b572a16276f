"""Object HalBench's scoring: CHAIR over answers as RLHF-V's keyword path computes it
(`eval/eval_gpt_obj_halbench.py` without --use_gpt, then `summarize_gpt_obj_halbench_review.py`),
or, once a judge has judged the run (judge=..., python -m evalkit.judge), its --use_gpt path: the
judge extracts each answer's objects (object_halbench_gpt) and the same totals are computed over them.

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

Error rows are left out of the totals and counted in `n_error`, as in chair_coco. Judged, an answer
still waiting for its reply, or whose extraction failed, leaves every number out (counted).
"""

from __future__ import annotations

import math
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL, Headline, ImportRules, TaskResult
from evalkit.scoring.chair import CaptionScore, ChairVocabulary, score_caption
from evalkit.tasks.caption import SEPARATOR, ChairTask, answer_objects, category_parts
from evalkit.tasks.judged import JudgedTask
from datasets_adapters import object_halbench_gpt as GPT

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


class ObjectHalBenchTask(ChairTask, JudgedTask):
    """CHAIR with RLHF-V's vocabulary and totals; headlines objhal_response_hall (primary),
    objhal_object_hall, objhal_recall, objhal_response_correct, objhal_object_correct, objhal_len.
    The mentions come from the keyword path, or from the judge's extraction once the run is judged."""

    columns = COLUMNS
    formats = {**{c: "percent" for c in ("response_hall", "object_hall", "response_correct", "object_correct",
                                         "recall", "chair_s")},
               "len": "points", **{c: "count" for c in ("n", "coco_sentences", "coco_words", "gt_words",
                                                        "n_mentions", "n_hallucinated", "n_error")}}
    category_values = ("response_hall", "object_hall", "recall")
    binary = True  # 1: an answer without a hallucinated object, judged or not
    score_name = "accuracy"
    judge_optional = True  # the keyword path is a number of its own: suites run it without a judge
    judge_temperature = GPT.TEMPERATURE
    judge_max_tokens = GPT.MAX_TOKENS
    judge_template = GPT.PROMPT_TEMPLATE
    paired_columns = ("chair_score",)  # report compare reads the scores annotate made (judged or not)

    def __init__(self, name: str, vocabulary: ChairVocabulary, imports: ImportRules = ImportRules()):
        super().__init__(name, vocabulary, prefix="objhal", imports=imports)  # its parse rule: self.mentions
        self.headline = (Headline("objhal_response_hall", direction="lower"),
                         Headline("objhal_object_hall", direction="lower"), Headline("objhal_recall"),
                         Headline("objhal_response_correct"), Headline("objhal_object_correct"),
                         # Length has no better direction; it sorts as higher, like chair_len.
                         Headline("objhal_len", format="points"))
        self.note = (f"{name}: Object HalBench as RLHF-V's eval_gpt_obj_halbench.py (objhal_extraction says which "
                     f"path: keyword, or --use_gpt once judged): Response Hall = CHAIRs_refine, Object Hall = CHAIRi "
                     f"(lower is better); error rows left out")

    def mentions(self, text: str) -> str:
        return SEPARATOR.join(self.vocabulary.caption_words(clean_answer(text)).nodes)

    def caption_score(self, text: str, answer: Any) -> CaptionScore:
        return score_caption(self.vocabulary, clean_answer(text), answer_objects(answer))

    # ------------------------------------------------------------------- the judge (--use_gpt path)
    def next_ask(self, row, replies, base_temperature):
        return GPT.next_ask(row, clean_answer(row["text"]), replies, base_temperature)

    def rate(self, row, replies):
        return GPT.rate(row, clean_answer(row["text"]), replies)

    def check_judge_ready(self, metas) -> None:
        for name in sorted({str(m.get("spacy_model") or GPT.SPACY_MODEL) for m in metas} or {GPT.SPACY_MODEL}):
            GPT.check_spacy(name)

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        """The keyword path's scores, replaced by the --use_gpt path's where the run is judged
        (`judged`: the extraction read; `awaiting`: no reply cached yet; `extraction_failed`)."""
        rows = super().annotate(rows, rule, is_error)
        rows["objhal_words"] = pd.Series([None if err else word_count(clean_answer(t))
                                          for t, err in zip(rows["text"], is_error)], index=rows.index, dtype=object)
        rows["judged"], rows["awaiting"], rows["extraction_failed"] = False, False, False
        rows["extraction_judge"] = None
        if not _judged(rows):
            return rows
        rows["extraction_judge"] = rows["judge"]
        for index, row, error in zip(rows.index, rows.to_dict("records"), is_error):
            ratings, extras = row["judge_ratings"], row["judge_extra"]
            if error:
                continue
            if not isinstance(ratings, list) or not ratings or ratings[0] is None:
                rows.at[index, "awaiting"] = True
                continue
            objects = GPT.extraction(extras[0])
            if objects is None:
                rows.at[index, "extraction_failed"] = True
                continue
            meta = row["meta"] if isinstance(row["meta"], dict) else {}
            nlp = GPT.pipeline(str(meta.get("spacy_model") or GPT.SPACY_MODEL))
            score = GPT.objects_score(self.vocabulary, GPT.refined_objects(objects, nlp, self.vocabulary),
                                      answer_objects(row["answer"]))
            rows.at[index, "chair_score"] = score
            rows.at[index, "parsed"] = SEPARATOR.join(score.mentioned)
            rows.at[index, "correct"] = not score.is_hallucinated
            rows.at[index, "score"] = float(not score.is_hallucinated)
            rows.at[index, "judged"] = True
        return rows

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        label = _extraction(rows)
        if label.get("n_unjudged") or label.get("objhal_extraction_failures"):  # no number from partial data
            return TaskResult(pd.DataFrame([{"category": OVERALL, "n": len(rows)}], columns=["category", *COLUMNS]),
                              label)
        table = pd.DataFrame([self._objhal_row(name, part) for name, part in category_parts(rows)],
                             columns=["category", *COLUMNS])
        overall = table.iloc[0]
        names = ("response_hall", "object_hall", "recall", "response_correct", "object_correct", "len")
        return TaskResult(table, {**{f"objhal_{k}": (None if math.isnan(overall[k]) else float(overall[k]))
                                     for k in names}, **label})

    @staticmethod
    def _objhal_row(category: str, rows: pd.DataFrame) -> dict:
        kept = [(s, w) for s, w in zip(rows["chair_score"], rows["objhal_words"]) if s is not None]
        scores = [s for s, _ in kept]
        return {"category": category, "n": len(scores), **objhal_totals(scores, [w for _, w in kept]),
                "n_mentions": sum(len(s.mentioned) for s in scores),
                "n_hallucinated": sum(len(s.hallucinated) for s in scores),
                "n_error": int(rows["chair_score"].isna().sum())}

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Response Hall, Object Hall and Recall, B - A, bootstrapped over answers, from each run's
        own scores (keyword or judged; an error row counts as an empty answer)."""
        from evalkit.scoring import stats as S
        from evalkit.tasks.caption import _ratio_stat

        self.check_ready()
        feats = {}
        for side in ("a", "b"):
            made = joined[f"chair_score_{side}"] if f"chair_score_{side}" in joined else [None] * len(joined)
            feats[side] = np.array([_features(s if isinstance(s, CaptionScore) else self.caption_score(t, a))
                                    for s, t, a in zip(made, joined[f"text_{side}"], joined["answer"])])
        pairs = {"response_hall": (0, 1), "object_hall": (2, 3), "recall": (4, 5)}
        return {f"objhal_{name}": S.paired_bootstrap(_ratio_stat(num, den), feats["a"], feats["b"], **boot)
                for name, (num, den) in pairs.items()}


def _judged(rows: pd.DataFrame) -> bool:
    return "judge" in rows.columns and rows["judge"].notna().any() and "judge_ratings" in rows.columns


def _extraction(rows: pd.DataFrame) -> dict:
    """Which path made the mentions and, judged, the judge's requests, failures and waiting answers."""
    judge = rows["extraction_judge"].iloc[0] if len(rows) else None
    if not isinstance(judge, str):
        return {"objhal_extraction": "keyword (RLHF-V's eval_gpt_obj_halbench.py without --use_gpt; judge=... "
                                     "runs its GPT object extraction)"}
    extras = [e[0] for e, ok in zip(rows["judge_extra"], rows["judged"] | rows["extraction_failed"])
              if ok and isinstance(e, list) and e]
    names = sorted({str((m if isinstance(m, dict) else {}).get("spacy_model") or GPT.SPACY_MODEL)
                    for m in rows["meta"]})
    spacy = ", ".join(GPT.pipeline_label(n) for n in names) if rows["judged"].any() else ", ".join(names)
    out = {"objhal_extraction": f"{judge} object extraction + spaCy {spacy} (RLHF-V's --use_gpt path)",
           "objhal_judge_requests": int(sum(int(e.get("requests", 0)) for e in extras)),
           "objhal_short_answers": int(sum(1 for e in extras if e.get("requests") == 0)),
           "objhal_extraction_failures": int(rows["extraction_failed"].sum())}
    if rows["awaiting"].any():
        out["n_unjudged"] = int(rows["awaiting"].sum())
    return out


def _features(score: CaptionScore) -> list[float]:
    return [float(score.is_hallucinated), float(bool(score.mentioned)), len(score.hallucinated),
            len(score.mentioned), len(score.recalled), len(score.ground_truth)]
