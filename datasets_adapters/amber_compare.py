"""Paired statistics of two AMBER runs for `report compare`: a paired bootstrap over items of the
discriminative accuracy and F1 ("No" positive), of CHAIR / Cover / Hal / Cog over the captions, and
of the AMBER score; McNemar on the discriminative items comes from `report compare` itself (caption
rows have no correctness).

Resamples are drawn within the two kinds of item (strata), so every resample has as many questions
and captions as the run, and the AMBER score of a resample is defined. The statistics are the
official formulas (the counters' 0.001 start values included) without the 0.1 rounding, so a point
estimate can differ from the official, rounded number in its last digit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from datasets_adapters.amber_metrics import CAPTION_COUNTS, GENERATIVE
from evalkit.scoring import stats as S

EPS = 0.001  # metrics.txt's start value of every denominator
# Feature columns (per item, one run): the discriminative counters, then the caption counters.
ANSWER_FEATURES = ("is_answer", "correct", "ans_no_score", "ans_no_num", "no_score", "no_num")
FEATURES = (*ANSWER_FEATURES, "is_caption", *CAPTION_COUNTS)
_AT = {name: i for i, name in enumerate(FEATURES)}


def features(joined: pd.DataFrame, side: str) -> np.ndarray:
    """n_items x FEATURES of run `side` ("a" or "b") over the paired rows."""
    caption = (joined["category"] == GENERATIVE).to_numpy()
    answer = ~caption
    parsed = joined[f"parsed_{side}"].to_numpy()
    truth_yes = joined["answer"].to_numpy() == "yes"
    said_no, said_yes = parsed == "no", parsed == "yes"
    columns = [answer, answer & ((truth_yes & said_yes) | (~truth_yes & said_no)), answer & said_no & ~truth_yes,
               answer & said_no, answer & ~truth_yes & said_no, answer & ~truth_yes, caption]
    for name in CAPTION_COUNTS:
        column = f"{name}_{side}"
        values = joined[column] if column in joined.columns else pd.Series(0, index=joined.index)
        columns.append(pd.to_numeric(values, errors="coerce").fillna(0).to_numpy(float) * caption)
    return np.column_stack(columns).astype(float)


def _ratio(W: np.ndarray, X: np.ndarray, num: str, den: str) -> np.ndarray:
    return (W @ X[:, _AT[num]]) / (W @ X[:, _AT[den]] + EPS) * 100


def accuracy_stat(W, X):
    return _ratio(W, X, "correct", "is_answer")


def f1_stat(W, X):
    precision, recall = _ratio(W, X, "ans_no_score", "ans_no_num") / 100, _ratio(W, X, "no_score", "no_num") / 100
    return 2 * precision * recall / (precision + recall + 0.0001) * 100


def chair_stat(W, X):
    return _ratio(W, X, "chair_score", "chair_num")


def cover_stat(W, X):
    return _ratio(W, X, "safe_cover_score", "safe_cover_num")


def hal_stat(W, X):
    return 100 - _ratio(W, X, "non_hallu_score", "is_caption")


def cog_stat(W, X):
    return _ratio(W, X, "hallu_cover_score", "hallu_cover_num")


def score_stat(W, X):
    return 100 * 0.5 * (1 - chair_stat(W, X) / 100 + f1_stat(W, X) / 100)


def amber_deltas(joined: pd.DataFrame, boot: dict) -> dict:
    """Delta name (the headline names) -> stats.Delta, for the kinds of item both runs have."""
    caption = (joined["category"] == GENERATIVE).to_numpy()
    a, b = features(joined, "a"), features(joined, "b")
    stats = {}
    if (~caption).any():
        stats.update(amber_accuracy=accuracy_stat, amber_f1=f1_stat)
    if caption.any():
        stats.update(amber_chair=chair_stat, amber_cover=cover_stat, amber_hal=hal_stat, amber_cog=cog_stat)
    if caption.any() and (~caption).any():
        stats["amber_score"] = score_stat
    return {name: S.paired_bootstrap(stat, a, b, strata=caption.astype(int), **boot) for name, stat in stats.items()}
