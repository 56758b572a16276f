"""Paired statistics for two runs over the same items: pure functions over numpy arrays, no I/O.

- `mcnemar_exact(b, c)`: McNemar's exact test, i.e. a two-sided binomial test of the discordant
  pairs (b = only A right, c = only B right) against p = 1/2.
- `paired_bootstrap(stat, a, b, ...)`: resample units (items, or MME images within their subtask)
  with replacement, apply the *same* resample to both runs, and take percentile intervals of
  stat(B) - stat(A). Seeded, so a report is reproducible.

Statistics are written over bootstrap weights: `stat(W, X)` gets W (n_resamples x n_units, how
often each unit was drawn; a row of ones is the original sample) and X (n_units x k features of
one run) and returns one value per row of W. Accuracy, F1 and MME totals are then matrix products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pandas as pd

Stat = Callable[[np.ndarray, np.ndarray], np.ndarray]
CHUNK = 250  # resamples drawn at once (memory: CHUNK x n_units weights); fixed, so results are too


# ------------------------------------------------------------------------------------------ McNemar

def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: P(|X - n/2| >= |b - n/2|), X ~ Binomial(n = b + c, 1/2).

    Computed as min(1, 2 * P(X <= min(b, c))) with exact integer arithmetic (no overflow for
    large n); 1.0 when there is no discordant pair.
    """
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    term, tail = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        tail += term
    return min(1.0, 2 * tail / 2**n)  # int / int is correctly rounded in Python, even for huge n


def discordant(correct_a: np.ndarray, correct_b: np.ndarray) -> tuple[int, int]:
    """(b, c): items only A got right, items only B got right."""
    a, b = np.asarray(correct_a, bool), np.asarray(correct_b, bool)
    return int((a & ~b).sum()), int((~a & b).sum())


# -------------------------------------------------------------------------------------- statistics

def accuracy_features(correct: np.ndarray) -> np.ndarray:
    return np.asarray(correct, float).reshape(-1, 1)


def accuracy_stat(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Share correct. X: [correct]."""
    return (W @ X[:, 0]) / W.sum(axis=1)


def f1_features(pred_yes: np.ndarray, truth_yes: np.ndarray) -> np.ndarray:
    """[tp, fp, fn] indicators with yes as the positive class ("other"/errors are not yes)."""
    p, t = np.asarray(pred_yes, bool), np.asarray(truth_yes, bool)
    return np.column_stack([p & t, p & ~t, ~p & t]).astype(float)


def yes_f1(tp, fp, fn):
    """F1 of the yes class from its counts, as POPE's evaluation computes it (precision = tp / (tp +
    fp), recall = tp / (tp + fn), 2pr / (p + r)); 0 when both are 0, NaN where either is undefined.
    Scalars give a float (the tables' F1), arrays an array (the bootstrap's resamples)."""
    tp, fp, fn = (np.asarray(v, float) for v in (tp, fp, fn))
    with np.errstate(invalid="ignore", divide="ignore"):
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        f1 = np.where(precision + recall == 0, 0.0, 2 * precision * recall / (precision + recall))
    f1 = np.where((tp + fp == 0) | (tp + fn == 0), np.nan, f1)
    return float(f1) if f1.ndim == 0 else f1


def f1_stat(W: np.ndarray, X: np.ndarray) -> np.ndarray:
    """F1 of the yes class per resample (`yes_f1`). X: f1_features."""
    tp, fp, fn = (W @ X).T
    return yes_f1(tp, fp, fn)


def mean_f1_stat(split: np.ndarray) -> Stat:
    """Mean over splits of each split's F1 (LLaVA's POPE number); NaN when one split's F1 is
    undefined (as the POPE task's mean F1). `split`: int index per item."""
    split = np.asarray(split, int)
    onehot = np.zeros((len(split), split.max() + 1 if len(split) else 0))
    onehot[np.arange(len(split)), split] = 1.0

    def stat(W: np.ndarray, X: np.ndarray) -> np.ndarray:
        tp, fp, fn = ((W * X[:, j]) @ onehot for j in range(3))  # per resample and split
        return yes_f1(tp, fp, fn).mean(axis=1)

    return stat


@dataclass(frozen=True)
class Delta:
    """stat(B) - stat(A) with a percentile bootstrap interval."""

    a: float
    b: float
    delta: float
    low: float
    high: float
    confidence: float
    n_boot: int
    n_units: int

    def as_dict(self) -> dict:
        return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.__dict__.items()}


def resample_weights(n_units: int, n_boot: int, seed: int, strata: Optional[np.ndarray] = None):
    """Yield weight matrices (<= CHUNK x n_units) summing to n_boot rows: how often each unit was
    drawn in each resample. With `strata`, units are drawn within their stratum (sizes kept)."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(n_units)] if strata is None else [np.flatnonzero(strata == s) for s in np.unique(strata)]
    done = 0
    while done < n_boot:
        m = min(CHUNK, n_boot - done)
        offsets = (np.arange(m) * n_units)[:, None]  # row r's units live at r * n_units + unit
        counts = np.zeros(m * n_units)
        for members in groups:
            drawn = members[rng.integers(0, len(members), size=(m, len(members)))]
            counts += np.bincount((drawn + offsets).ravel(), minlength=m * n_units)
        done += m
        yield counts.reshape(m, n_units)


def paired_bootstrap(stat: Stat, a: np.ndarray, b: np.ndarray, n_boot: int = 2000, seed: int = 0,
                     confidence: float = 0.95, strata: Optional[np.ndarray] = None) -> Delta:
    """Percentile interval of stat(B) - stat(A); both runs see the same resamples (paired).

    `a` and `b` are the runs' features over the same units in the same order (n_units x k).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"paired runs need the same units: {a.shape[0]} vs {b.shape[0]}")
    if a.shape[0] == 0:
        raise ValueError("no paired units to compare")
    ones = np.ones((1, a.shape[0]))
    point_a, point_b = float(stat(ones, a)[0]), float(stat(ones, b)[0])
    deltas = np.concatenate([stat(W, b) - stat(W, a) for W in resample_weights(a.shape[0], n_boot, seed, strata)])
    tail = 100 * (1 - confidence) / 2
    finite = deltas[np.isfinite(deltas)]
    low, high = (np.percentile(finite, [tail, 100 - tail]) if finite.size else (math.nan, math.nan))
    return Delta(a=point_a, b=point_b, delta=point_b - point_a, low=float(low), high=float(high),
                 confidence=confidence, n_boot=n_boot, n_units=int(a.shape[0]))
