"""Paired statistics of the multiple-choice benchmarks for `report compare`: the difference in
accuracy (mean per-item score) with a paired bootstrap interval, over items, or over the units a
benchmark scores as one (MMBench's circular copies: a question is right when all its copies are)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def accuracy_delta(joined: pd.DataFrame, boot: dict):
    """B's accuracy minus A's over the paired rows (correct_a / correct_b)."""
    from evalkit.report import stats as S

    ok_a, ok_b = joined["correct_a"].to_numpy(bool), joined["correct_b"].to_numpy(bool)
    return S.paired_bootstrap(S.accuracy_stat, S.accuracy_features(ok_a), S.accuracy_features(ok_b), **boot)


def all_correct_delta(joined: pd.DataFrame, unit: str, boot: dict):
    """The same over units (`unit` column): a unit is right when every one of its rows is."""
    from evalkit.report import stats as S

    per_unit = joined.groupby(unit)[["correct_a", "correct_b"]].all()
    return S.paired_bootstrap(S.accuracy_stat, S.accuracy_features(per_unit["correct_a"].to_numpy(bool)),
                              S.accuracy_features(per_unit["correct_b"].to_numpy(bool)), **boot)


def first_copy(joined: pd.DataFrame) -> pd.DataFrame:
    """MMBench's first copies: the rows whose id is their circular group."""
    return joined[np.asarray(joined["id"].astype(str) == joined["group"].astype(str))]
