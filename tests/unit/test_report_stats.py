"""evalkit.scoring.stats against independent computations: hand-worked binomial tails, scipy (when
installed), a normal approximation and a plain resampling loop, and evalkit.scoring's metrics."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from datasets_adapters.mme_metrics import mme_total_stat, mme_units
from evalkit.scoring import stats as S
from datasets_adapters.mme_metrics import mme_metrics, mme_totals
from datasets_adapters.pope import pope_mean_f1, pope_metrics
from evalkit.scoring.metrics import binary_metrics


def binomial_two_sided(b: int, c: int) -> float:
    """Exact two-sided binomial test at 1/2, from the definition (sum of P(X = k) no larger than P(X = b))."""
    n = b + c
    probs = [Fraction(math.comb(n, k), 2**n) for k in range(n + 1)]
    return float(min(1, sum(p for p in probs if p <= probs[b])))


@pytest.mark.parametrize("b, c, expected", [
    (0, 0, 1.0),  # no discordant pair
    (1, 0, 1.0),  # 2 * 1/2, capped
    (5, 1, 14 / 64),  # 2 * (C(6,0) + C(6,1)) / 2^6
    (1, 5, 14 / 64),  # symmetric
    (0, 10, 2 / 1024),
    (3, 3, 1.0),
    (2, 8, 2 * (1 + 10 + 45) / 1024),
])
def test_mcnemar_exact_hand_worked(b, c, expected):
    assert S.mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("b, c", [(7, 19), (30, 31), (120, 170), (400, 460), (4000, 4100), (1, 60)])
def test_mcnemar_exact_matches_definition(b, c):
    assert S.mcnemar_exact(b, c) == pytest.approx(binomial_two_sided(b, c), rel=1e-9)


@pytest.mark.parametrize("b, c", [(0, 3), (5, 1), (7, 19), (120, 170), (4000, 4100)])
def test_mcnemar_exact_matches_scipy(b, c):
    scipy_stats = pytest.importorskip("scipy.stats")
    assert S.mcnemar_exact(b, c) == pytest.approx(scipy_stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_mcnemar_rejects_negative_counts():
    with pytest.raises(ValueError):
        S.mcnemar_exact(-1, 3)


def test_discordant_counts():
    a = np.array([1, 1, 0, 0, 1], bool)
    b = np.array([1, 0, 1, 1, 0], bool)
    assert S.discordant(a, b) == (2, 2)


# --------------------------------------------------------------------------------------- bootstrap

def test_bootstrap_two_units_hand_worked():
    """Units (A, B) = (1, 1) and (0, 1): B - A over a resample of 2 is 0, 1/2 or 1 with probabilities
    1/4, 1/2, 1/4, so the 95% interval is [0, 1] and the point estimate 1/2."""
    a, b = S.accuracy_features([1, 0]), S.accuracy_features([1, 1])
    d = S.paired_bootstrap(S.accuracy_stat, a, b, n_boot=4000, seed=3)
    assert (d.a, d.b, d.delta) == (0.5, 1.0, 0.5)
    assert (d.low, d.high) == (0.0, 1.0)


def test_bootstrap_identical_runs_give_a_zero_interval():
    correct = np.random.default_rng(0).random(300) < 0.7
    d = S.paired_bootstrap(S.accuracy_stat, S.accuracy_features(correct), S.accuracy_features(correct), n_boot=200)
    assert (d.delta, d.low, d.high) == (0.0, 0.0, 0.0)


def test_bootstrap_is_seeded():
    rng = np.random.default_rng(1)
    a, b = S.accuracy_features(rng.random(500) < 0.7), S.accuracy_features(rng.random(500) < 0.75)
    first = S.paired_bootstrap(S.accuracy_stat, a, b, n_boot=600, seed=7)
    assert S.paired_bootstrap(S.accuracy_stat, a, b, n_boot=600, seed=7) == first
    assert S.paired_bootstrap(S.accuracy_stat, a, b, n_boot=600, seed=8) != first


def test_bootstrap_accuracy_matches_normal_approximation():
    """For a large sample the percentile interval of a paired mean difference is close to
    mean +- 1.96 * sd(differences) / sqrt(n)."""
    rng = np.random.default_rng(2)
    n = 4000
    ok_a = rng.random(n) < 0.78
    ok_b = np.where(rng.random(n) < 0.85, ok_a, ~ok_a) | (rng.random(n) < 0.05)
    d = S.paired_bootstrap(S.accuracy_stat, S.accuracy_features(ok_a), S.accuracy_features(ok_b), n_boot=4000)
    diff = ok_b.astype(float) - ok_a.astype(float)
    se = diff.std(ddof=1) / math.sqrt(n)
    assert d.delta == pytest.approx(diff.mean())
    assert d.low == pytest.approx(diff.mean() - 1.96 * se, abs=0.15 * se + 1 / n)
    assert d.high == pytest.approx(diff.mean() + 1.96 * se, abs=0.15 * se + 1 / n)


def test_bootstrap_f1_matches_a_plain_resampling_loop():
    """Same statistic computed item by item with np.random.choice: the spread of the two bootstrap
    distributions must agree (they use different random streams, so only approximately)."""
    rng = np.random.default_rng(4)
    n = 600
    truth = rng.random(n) < 0.5
    yes_a = np.where(rng.random(n) < 0.8, truth, ~truth)
    yes_b = np.where(rng.random(n) < 0.86, truth, ~truth)

    def f1(pred, t):
        tp, fp, fn = (pred & t).sum(), (pred & ~t).sum(), (~pred & t).sum()
        return 2 * tp / (2 * tp + fp + fn)

    loop_rng = np.random.default_rng(99)
    deltas = []
    for _ in range(2000):
        idx = loop_rng.integers(0, n, n)
        deltas.append(f1(yes_b[idx], truth[idx]) - f1(yes_a[idx], truth[idx]))
    low, high = np.percentile(deltas, [2.5, 97.5])
    d = S.paired_bootstrap(S.f1_stat, S.f1_features(yes_a, truth), S.f1_features(yes_b, truth), n_boot=2000)
    assert d.delta == pytest.approx(f1(yes_b, truth) - f1(yes_a, truth))
    width = high - low
    assert d.low == pytest.approx(low, abs=0.12 * width)
    assert d.high == pytest.approx(high, abs=0.12 * width)


def test_stratified_weights_keep_stratum_sizes():
    strata = np.array([0, 0, 0, 1, 1, 2])
    for W in S.resample_weights(6, 300, seed=0, strata=strata):
        assert (W[:, :3].sum(axis=1) == 3).all() and (W[:, 3:5].sum(axis=1) == 2).all() and (W[:, 5] == 1).all()


# ------------------------------------------------------------------------- statistics vs scoring

def _rows(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    answer = np.where(rng.random(n) < 0.5, "yes", "no")
    parsed = np.where(rng.random(n) < 0.75, answer, np.where(rng.random(n) < 0.8, "yes", "other"))
    return pd.DataFrame({"id": [f"q{i}" for i in range(n)], "answer": answer, "parsed": parsed,
                         "category": rng.choice(["random", "popular", "adversarial"], n)})


def test_f1_and_accuracy_at_the_sample_equal_scoring():
    frame = _rows(300, 5)
    ones = np.ones((1, len(frame)))
    expected = binary_metrics(frame).iloc[0]
    correct = (frame["parsed"] == frame["answer"]).to_numpy()
    f1 = S.f1_stat(ones, S.f1_features(frame["parsed"] == "yes", frame["answer"] == "yes"))[0]
    assert f1 == pytest.approx(expected["f1"])
    assert S.accuracy_stat(ones, S.accuracy_features(correct))[0] == pytest.approx(expected["accuracy"])


def test_f1_is_nan_without_yes_predictions():
    X = S.f1_features(np.zeros(4, bool), np.array([1, 0, 1, 0], bool))
    assert math.isnan(S.f1_stat(np.ones((1, 4)), X)[0])


def test_mean_f1_at_the_sample_equals_pope_mean_f1():
    frame = _rows(450, 6)
    splits = pd.factorize(frame["category"], sort=True)[0]
    X = S.f1_features(frame["parsed"] == "yes", frame["answer"] == "yes")
    value = S.mean_f1_stat(splits)(np.ones((1, len(frame))), X)[0]
    assert value == pytest.approx(pope_mean_f1(pope_metrics(frame)))


def test_mme_totals_at_the_sample_equal_scoring():
    """Two perception and one cognition subtask, a bad group (three questions) and a subtask
    without any valid pair: the stat must follow mme_metrics/mme_totals exactly."""
    rows = []
    rng = np.random.default_rng(8)
    for category, n_images in (("existence", 9), ("color", 7), ("code_reasoning", 5)):
        for g in range(n_images):
            for answer in ("yes", "no"):
                rows.append((category, f"{category}/{g}", answer))
    rows += [("color", "color/bad", "yes")] * 3
    rows += [("OCR", "ocr/0", "yes"), ("OCR", "ocr/1", "no")]  # no valid pair: score NaN, adds nothing
    frame = pd.DataFrame(rows, columns=["category", "group", "answer"])
    frame["id"] = [f"m{i}" for i in range(len(frame))]
    frame["parsed"] = np.where(rng.random(len(frame)) < 0.7, frame["answer"], "other")
    correct = (frame["parsed"] == frame["answer"]).to_numpy()
    totals = mme_totals(mme_metrics(frame))
    units = mme_units(frame["category"], frame["group"], frame["answer"], correct)
    ones = np.ones((1, len(units.subtask)))
    perception = mme_total_stat(units, ("existence", "color", "OCR"))(ones, units.features)[0]
    cognition = mme_total_stat(units, ("code_reasoning",))(ones, units.features)[0]
    assert perception == pytest.approx(totals["perception"])
    assert cognition == pytest.approx(totals["cognition"])
    assert math.isnan(mme_total_stat(units, ("scene",))(ones, units.features)[0])


def test_mme_bootstrap_interval_brackets_the_delta():
    rng = np.random.default_rng(9)
    category = np.repeat(["existence", "count"], 40)
    group = [f"{c}/{i // 2}" for i, c in enumerate(category)]
    answer = np.tile(["yes", "no"], 40)
    ok_a, ok_b = rng.random(80) < 0.7, rng.random(80) < 0.9
    ua, ub = (mme_units(category, group, answer, ok) for ok in (ok_a, ok_b))
    d = S.paired_bootstrap(mme_total_stat(ua, ("existence", "count")), ua.features, ub.features,
                           n_boot=500, strata=ua.subtask)
    assert d.n_units == 40
    assert d.low <= d.delta <= d.high
