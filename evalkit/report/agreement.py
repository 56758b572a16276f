"""Agreement between judges: pure functions over two rating vectors of the same answers.

- `spearman`: Pearson correlation of average ranks (ties share their mean rank).
- `kendall_tau_b`: Kendall's tau-b (ties in either judge corrected), by pairs: O(n^2), fine for the
  60-300 items of a judged benchmark.
- `cohen_kappa`: unweighted Cohen's kappa over the benchmark's rating buckets.
- the mean difference B - A with a paired bootstrap interval (evalkit.scoring.stats).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from evalkit.scoring.stats import Delta, accuracy_stat, paired_bootstrap


def spearman(a: Sequence[float], b: Sequence[float]) -> float:
    ra, rb = pd.Series(a, dtype=float).rank(), pd.Series(b, dtype=float).rank()
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall_tau_b(a: Sequence[float], b: Sequence[float]) -> float:
    x, y = np.asarray(a, float), np.asarray(b, float)
    dx = np.sign(x[:, None] - x[None, :])
    dy = np.sign(y[:, None] - y[None, :])
    upper = np.triu_indices(len(x), k=1)
    concordance = float((dx * dy)[upper].sum())
    tied_x, tied_y = float((dx[upper] != 0).sum()), float((dy[upper] != 0).sum())
    if tied_x == 0 or tied_y == 0:
        return math.nan
    return concordance / math.sqrt(tied_x * tied_y)


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    a, b = list(a), list(b)
    if not a:
        return math.nan
    observed = sum(x == y for x, y in zip(a, b)) / len(a)
    labels = set(a) | set(b)
    expected = sum((a.count(k) / len(a)) * (b.count(k) / len(b)) for k in labels)
    return math.nan if expected == 1 else (observed - expected) / (1 - expected)


def mean_difference(a: Sequence[float], b: Sequence[float], n_boot: int = 2000, seed: int = 0,
                    confidence: float = 0.95) -> Delta:
    """mean(B) - mean(A) with a percentile interval from resampling items (the same draws for both)."""
    return paired_bootstrap(accuracy_stat, np.asarray(a, float).reshape(-1, 1), np.asarray(b, float).reshape(-1, 1),
                            n_boot=n_boot, seed=seed, confidence=confidence)
