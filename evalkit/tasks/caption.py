"""The caption task: one open-ended caption per image, scored with CHAIR (evalkit/scoring/chair.py).

A caption item's ground truth (`Item.answer`) is its image's ground-truth objects, node words
joined by ", " (sorted; "" for none), so predictions.jsonl carries it, a rescore needs no
annotation files, and `report compare` refuses runs whose ground truth differs. Each row's
`parsed` is the object mentions found in the caption (node words, caption order) and its
`meta["chair"]` lists mentioned, hallucinated, ground-truth and recalled objects.

Error rows (an item that could not be run) are left out of CHAIR's counts (OPERA has no such
rows; counting them as empty captions would lower CHAIR) and counted in `n_error`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL, CaptionMarks, Headline, ImportRules, Task, TaskResult, text_rule
from evalkit.scoring.chair import CaptionScore, ChairVocabulary, chair_totals, check_nltk, score_caption

SEPARATOR = ", "
CAPTION_TOKENS = 512  # generation length of caption tasks unless decoding.max_new_tokens is set
COLUMNS = ("n", "chair_s", "chair_i", "recall", "len", "n_mentions", "n_hallucinated", "n_error")


def objects_answer(objects) -> str:
    """Ground-truth objects as an Item.answer."""
    return SEPARATOR.join(sorted(set(objects)))


def answer_objects(answer: Any) -> list[str]:
    text = str(answer or "").strip()
    return [o for o in text.split(SEPARATOR) if o] if text else []


def category_parts(rows: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The rows a caption table has one line for: all of them, then each category when there are
    several (CHAIR's numbers are ratios of sums, so each line is computed from its rows)."""
    parts = [(OVERALL, rows)]
    categories = sorted(set(rows["category"].astype(str)) - {""})
    if len(categories) > 1:
        parts += [(c, rows[rows["category"].astype(str) == c]) for c in categories]
    return parts


class ChairTask(Task):
    """CHAIR over captions with one vocabulary; headline names are `prefix`_s, _i, _recall, _len."""

    official_rule = "chair"
    answers = None  # any ground-truth object list
    columns = COLUMNS
    formats = {"chair_s": "percent", "chair_i": "percent", "recall": "percent", "len": "points",
               "n": "count", "n_mentions": "count", "n_hallucinated": "count", "n_error": "count"}
    category_values = ("chair_s", "chair_i", "recall")
    max_new_tokens = CAPTION_TOKENS

    def __init__(self, name: str, vocabulary: ChairVocabulary, prefix: str, note: str = "",
                 imports: ImportRules = ImportRules()):
        self.name, self.vocabulary, self.prefix = name, vocabulary, prefix
        self.rules = {"chair": text_rule(self.mentions)}
        self.headline = (Headline(f"{prefix}_s", direction="lower"), Headline(f"{prefix}_i", direction="lower"),
                         Headline(f"{prefix}_recall"),
                         # Len has no better direction; "target" 0 would mislead, so it sorts as higher.
                         Headline(f"{prefix}_len", format="points"))
        self.note = note or (f"{name}: CHAIR as OPERA's chair.py (CHAIR_s, CHAIR_i lower is better; Len = mean "
                             f"words per caption, OPERA's Len x100); error rows left out of CHAIR")
        self.imports = imports

    # ------------------------------------------------------------------------------- per caption
    def check_ready(self) -> None:
        check_nltk(tagger=self.vocabulary.pos_tagged)

    def mentions(self, text: str) -> str:
        """The parse rule: the caption's object mentions (node words, in order)."""
        return SEPARATOR.join(self.vocabulary.caption_words(text).nodes) if text else ""

    def caption_score(self, text: str, answer: Any) -> CaptionScore:
        return score_caption(self.vocabulary, text or "", answer_objects(answer))

    def details(self, text: str, answer: Any) -> dict:
        """What a prediction row lists beside the caption (its meta["chair"])."""
        return {"chair": self.caption_score(text, answer).to_json()}

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        self.check_ready()
        scores = [None if err else self.caption_score(t, a) for t, a, err in zip(rows["text"], rows["answer"], is_error)]
        rows["parsed"] = pd.Series([None if s is None else SEPARATOR.join(s.mentioned) for s in scores],
                                   index=rows.index, dtype=object)
        rows["correct"] = pd.Series([s is not None and not s.is_hallucinated for s in scores], index=rows.index)
        rows["score"] = rows["correct"].astype(float)  # 1: a caption without a hallucinated object
        rows["chair_score"] = pd.Series(scores, index=rows.index, dtype=object)
        return rows

    # ---------------------------------------------------------------------------------- metrics
    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = pd.DataFrame([self._row(name, part) for name, part in category_parts(rows)], columns=["category", *COLUMNS])
        overall = table.iloc[0]
        headline = {f"{self.prefix}_s": overall["chair_s"], f"{self.prefix}_i": overall["chair_i"],
                    f"{self.prefix}_recall": overall["recall"], f"{self.prefix}_len": overall["len"]}
        return TaskResult(table, {k: (None if isinstance(v, float) and math.isnan(v) else float(v))
                                  for k, v in headline.items()})

    @staticmethod
    def _row(category: str, rows: pd.DataFrame) -> dict:
        scores = [s for s in rows["chair_score"] if s is not None]
        totals = chair_totals(scores)
        return {"category": category, "n": len(scores), **totals,
                "n_mentions": sum(len(s.mentioned) for s in scores),
                "n_hallucinated": sum(len(s.hallucinated) for s in scores),
                "n_error": int(rows["chair_score"].isna().sum())}

    def caption_marks(self, rows: pd.DataFrame) -> list[CaptionMarks]:
        if "chair_score" not in rows:
            return []
        return [CaptionMarks(str(r["id"]), str(r["text"]), tuple(w for w, _ in r["chair_score"].hallucinated),
                             tuple(r["chair_score"].ground_truth))
                for r in rows.to_dict("records") if r["chair_score"] is not None]

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """CHAIR_s, CHAIR_i and Recall, B - A, bootstrapped over images (one caption per image)."""
        from evalkit.scoring import stats as S

        self.check_ready()
        feats = {side: np.array([_features(self.caption_score(t, a)) for t, a in zip(joined[f"text_{side}"], joined["answer"])])
                 for side in ("a", "b")}
        out = {}
        for name, (num, den) in {"s": (0, None), "i": (1, 2), "recall": (3, 4)}.items():
            out[f"{self.prefix}_{name}"] = S.paired_bootstrap(_ratio_stat(num, den), feats["a"], feats["b"], **boot)
        return out


def _features(score: CaptionScore) -> list[float]:
    return [float(score.is_hallucinated), len(score.hallucinated), len(score.mentioned), len(score.recalled),
            len(score.ground_truth)]


def _ratio_stat(num: int, den: Optional[int]):
    """sum(num) / sum(den) over a resample (den None: per caption, i.e. / number drawn)."""
    def stat(W: np.ndarray, X: np.ndarray) -> np.ndarray:
        top = W @ X[:, num]
        bottom = W.sum(axis=1) if den is None else W @ X[:, den]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(bottom > 0, top / np.where(bottom > 0, bottom, 1), np.nan)
    return stat


def caption_rows(records: Sequence[Mapping], task: ChairTask, truth: Mapping[Any, Sequence[str]], path,
                 id_key: str = "image_id", caption_key: str = "caption") -> list[dict]:
    """Minimal import rows for {image_id, caption} records (OPERA's logs, lmms-eval's CHAIR
    outputs), with their ground truth from `truth` (image id -> objects); unknown ids fail."""
    from evalkit.scoring.importers import PredictionImportError

    rows, unknown = [], []
    for i, r in enumerate(records):
        if id_key not in r or caption_key not in r:
            raise PredictionImportError(f"{path}[{i}]: a caption row needs {id_key!r} and {caption_key!r}; "
                                        f"got {sorted(r)}")
        image_id = r[id_key]
        key = int(image_id) if str(image_id).isdigit() else image_id
        if key not in truth:
            unknown.append(image_id)
            continue
        answer = objects_answer(truth[key])
        caption = r[caption_key] if isinstance(r[caption_key], str) else None
        rows.append({"id": str(image_id), "task": task.name, "question": str(r.get("question") or ""),
                     "answer": answer, "category": str(r.get("category") or ""), "group": str(image_id),
                     "prediction": caption, "meta": {"image_id": image_id, **task.details(caption or "", answer)}})
    if unknown:
        raise PredictionImportError(f"{path}: {len(unknown)} image id(s) are not in the annotations, "
                                    f"e.g. {unknown[:5]}")
    return rows
