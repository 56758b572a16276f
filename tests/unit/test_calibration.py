"""p_yes metrics: AUROC, ECE, Brier, threshold sweep, text/logit agreement — hand-computed cases,
degenerate inputs (one class, missing p_yes, nothing called yes) never crash."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evalkit.scoring.calibration import (
    agreement,
    auroc,
    calibration_metrics,
    expected_calibration_error,
    join_runs,
    reliability_table,
    threshold_sweep,
)


def frame(rows):
    return pd.DataFrame(rows, columns=["id", "answer", "p_yes", "parsed", "category"])


@pytest.mark.parametrize("p,y,expect", [
    ([0.9, 0.8, 0.2, 0.1], [1, 1, 0, 0], 1.0),
    ([0.1, 0.2, 0.8, 0.9], [1, 1, 0, 0], 0.0),
    ([0.5, 0.5, 0.5, 0.5], [1, 1, 0, 0], 0.5),  # ties count one half
    ([0.9, 0.3, 0.6, 0.1], [1, 1, 0, 0], 0.75),  # 3 of 4 (yes, no) pairs ordered right
    ([0.9, 0.8], [1, 1], math.nan),  # one class: undefined
])
def test_auroc(p, y, expect):
    got = auroc(p, [bool(v) for v in y])
    assert (math.isnan(got) and math.isnan(expect)) or got == pytest.approx(expect)


def test_ece_and_reliability():
    p = [0.05, 0.15, 0.95, 0.95]
    y = [0, 1, 1, 1]
    # bins: [0,.1): p .05 vs 0 -> .05; [.1,.2): p .15 vs 1 -> .85; [.9,1]: p .95 vs 1 -> .05 (x2 rows)
    assert expected_calibration_error(p, y) == pytest.approx((0.05 + 0.85 + 2 * 0.05) / 4)
    assert expected_calibration_error([1.0], [1]) == 0.0  # p = 1 falls in the last bin
    table = reliability_table(frame([("a", "no", 0.05, "no", ""), ("b", "yes", 1.0, "yes", "")]))
    assert table["n"].tolist() == [1] + [0] * 8 + [1]


def test_calibration_metrics_grouped_with_missing_p_yes():
    df = frame([
        ("1", "yes", 0.9, "yes", "random"), ("2", "no", 0.2, "no", "random"),
        ("3", "yes", 0.4, "no", "popular"), ("4", "no", 0.6, "yes", "popular"),
        ("5", "yes", None, None, "popular"),  # an error row: no p_yes
    ])
    table = calibration_metrics(df, by=["category"]).set_index("category")
    assert table.loc["random", "auroc"] == 1.0 and table.loc["popular", "auroc"] == 0.0
    assert table.loc["popular", "n"] == 2 and table.loc["popular", "n_missing_p_yes"] == 1
    assert table.loc["all", "n"] == 4 and table.loc["all", "auroc"] == pytest.approx(0.75)
    assert table.loc["random", "brier"] == pytest.approx((0.01 + 0.04) / 2)
    empty = calibration_metrics(df.iloc[:0])
    assert empty["n"].iloc[0] == 0 and math.isnan(empty["auroc"].iloc[0])


def test_threshold_sweep():
    df = frame([("1", "yes", 0.9, "", ""), ("2", "yes", 0.6, "", ""),
                ("3", "no", 0.4, "", ""), ("4", "no", 0.7, "", "")])
    sweep = threshold_sweep(df, [0.0, 0.5, 0.65, 1.0]).set_index("threshold")
    assert sweep.loc[0.0, "yes_ratio"] == 1.0 and sweep.loc[0.0, "accuracy"] == 0.5
    assert sweep.loc[0.5, "precision"] == pytest.approx(2 / 3) and sweep.loc[0.5, "recall"] == 1.0
    assert sweep.loc[0.65, "accuracy"] == 0.5 and sweep.loc[0.65, "f1"] == pytest.approx(0.5)
    assert math.isnan(sweep.loc[1.0, "precision"]) and sweep.loc[1.0, "yes_ratio"] == 0.0
    assert len(threshold_sweep(df)) == 21


def test_agreement_and_join_by_id():
    greedy = frame([("1", "yes", 0.8, "yes", ""), ("2", "no", 0.3, "yes", ""), ("3", "no", 0.1, "other", "")])
    assert agreement(greedy) == {"n": 3, "n_clean": 2, "n_text_other": 1, "n_agree": 1, "agreement": 0.5}
    logits = frame([("3", "no", 0.2, "no", ""), ("2", "no", 0.9, "yes", ""), ("1", "yes", 0.7, "yes", "")])
    joined = join_runs(greedy, logits).set_index("id")
    assert joined.loc["2", "p_yes"] == 0.9 and joined.loc["2", "parsed"] == "yes"  # by id, not by row
    assert agreement(joined.reset_index())["agreement"] == 1.0


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="p_yes"):
        calibration_metrics(pd.DataFrame({"answer": ["yes"]}))
