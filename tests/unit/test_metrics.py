"""Metrics on small hand-computed frames, including the degenerate ones official scorers crash on."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from datasets_adapters.mme_metrics import mme_bad_groups, mme_metrics, mme_subtask, mme_totals
from datasets_adapters.pope import pope_mean_f1, pope_metrics
from evalkit.scoring.metrics import binary_metrics


def frame(rows: list[tuple], task: str = "yesno") -> pd.DataFrame:
    """rows: (id, category, group, answer, parsed, error); strict mirrors parsed."""
    df = pd.DataFrame(rows, columns=["id", "category", "group", "answer", "parsed", "error"])
    df["task"] = task
    df["strict"] = df["parsed"]
    return df


# id, category, group, answer, parsed, error
MIXED = frame([
    ("a1", "A", "", "yes", "yes", None),  # tp
    ("a2", "A", "", "yes", "no", None),  # fn
    ("a3", "A", "", "yes", "other", None),  # fn (a missed positive), other
    ("a4", "A", "", "no", "no", None),  # tn
    ("b1", "B", "", "no", "yes", None),  # fp
    ("b2", "B", "", "no", "other", None),  # other, in no cell
    ("b3", "B", "", "yes", None, "RuntimeError: boom"),  # error -> other -> fn
    ("b4", "B", "", "no", "yes", "RuntimeError: boom"),  # error wins over a stale parsed value
])


def test_binary_overall_hand_computed() -> None:
    row = binary_metrics(MIXED).iloc[0]
    assert (row["n"], row["n_correct"]) == (8, 2)
    assert (row["tp"], row["fp"], row["tn"], row["fn"]) == (1, 1, 1, 3)
    assert row["accuracy"] == pytest.approx(0.25)
    assert row["precision"] == pytest.approx(0.5)
    assert row["recall"] == pytest.approx(0.25)
    assert row["f1"] == pytest.approx(1 / 3)
    assert row["yes_ratio"] == pytest.approx(2 / 8)  # share of predictions parsed yes; errors are not yes
    assert (row["n_other"], row["n_other_strict"], row["n_error"]) == (2, 2, 2)


def test_binary_by_category_with_overall_row() -> None:
    table = binary_metrics(MIXED, ["category"]).set_index("category")
    assert list(table.index) == ["A", "B", "all"]
    a, b = table.loc["A"], table.loc["B"]
    assert (a["n"], a["n_correct"], a["precision"], a["recall"]) == (4, 2, 1.0, pytest.approx(1 / 3))
    assert a["f1"] == pytest.approx(0.5)
    assert (b["n_correct"], b["precision"], b["recall"], b["f1"]) == (0, 0.0, 0.0, 0.0)
    assert table.loc["all", "n"] == 8 and table.loc["all", "accuracy"] == pytest.approx(0.25)


def test_strict_column_counts_unreadable_separately() -> None:
    df = MIXED.copy()
    df["strict"] = ["yes", "other", "other", "no", "other", "other", None, None]
    row = binary_metrics(df).iloc[0]
    assert row["n_other"] == 2 and row["n_other_strict"] == 4


@pytest.mark.parametrize(
    "answers,parsed,expect",
    [
        # all predictions yes: precision = share of yes truths, recall 1
        (["yes", "no", "yes", "no"], ["yes"] * 4, {"precision": 0.5, "recall": 1.0, "yes_ratio": 1.0}),
        # no yes prediction: precision and F1 undefined (NaN), no crash
        (["yes", "no", "yes", "no"], ["no"] * 4, {"precision": math.nan, "f1": math.nan, "recall": 0.0,
                                                   "yes_ratio": 0.0, "accuracy": 0.5}),
        # nothing parseable: always wrong
        (["yes", "no", "yes", "no"], ["other"] * 4, {"accuracy": 0.0, "precision": math.nan, "f1": math.nan,
                                                      "n_other": 4}),
        # no yes ground truth: recall undefined
        (["no", "no"], ["no", "no"], {"accuracy": 1.0, "recall": math.nan, "f1": math.nan}),
    ],
    ids=["all-yes", "all-no", "all-unparseable", "no-positives"],
)
def test_binary_degenerate(answers: list[str], parsed: list[str], expect: dict) -> None:
    df = frame([(f"q{i}", "c", "", a, p, None) for i, (a, p) in enumerate(zip(answers, parsed))])
    row = binary_metrics(df, ["category"]).iloc[0]
    for key, value in expect.items():
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(row[key]), key
        else:
            assert row[key] == pytest.approx(value), key


def test_empty_frame_does_not_crash() -> None:
    row = binary_metrics(frame([])).iloc[0]
    assert row["n"] == 0 and math.isnan(row["accuracy"])


def test_bad_answer_is_rejected() -> None:
    with pytest.raises(ValueError, match="q0"):
        binary_metrics(frame([("q0", "c", "", "maybe", "yes", None)]))


# -------------------------------------------------------------------------------------------- MME

def mme_rows() -> list[tuple]:
    rows = [
        ("e1y", "existence", "img1", "yes", "yes", None), ("e1n", "existence", "img1", "no", "no", None),
        ("e2y", "existence", "img2", "yes", "yes", None), ("e2n", "existence", "img2", "no", "yes", None),
        ("e3y", "existence", "img3", "yes", "yes", None), ("e3n", "existence", "img3", "no", "no", None),
    ]
    order = [3, 0, 5, 2, 4, 1]  # shuffled: pairs are found by group, not by adjacent lines
    return [rows[i] for i in order]


def test_mme_acc_plus_pairs_by_group_in_any_order() -> None:
    row = mme_metrics(frame(mme_rows(), "mme")).iloc[0]
    assert row["accuracy"] == pytest.approx(5 / 6)
    assert row["acc_plus"] == pytest.approx(2 / 3)
    assert row["score"] == pytest.approx(100 * 5 / 6 + 100 * 2 / 3)
    assert (row["n_groups"], row["n_bad_groups"], row["kind"]) == (3, 0, "perception")


def test_mme_bad_groups_are_excluded_and_listed() -> None:
    rows = mme_rows() + [("e4y", "existence", "img4", "yes", "yes", None),  # a lone question
                         ("e5a", "existence", "img5", "yes", "yes", None),  # two yes questions
                         ("e5b", "existence", "img5", "yes", "yes", None)]
    df = frame(rows, "mme")
    row = mme_metrics(df).iloc[0]
    assert row["accuracy"] == pytest.approx(8 / 9)
    assert row["acc_plus"] == pytest.approx(2 / 3)
    assert row["n_bad_groups"] == 2
    bad = mme_bad_groups(df)
    assert list(bad["group"]) == ["img4", "img5"]
    assert bad.set_index("group").loc["img5", "ids"] == ["e5a", "e5b"]


def test_mme_all_other_scores_zero() -> None:
    rows = [(i, "count", g, a, "other", None) for i, g, a in [("1", "g1", "yes"), ("2", "g1", "no")]]
    row = mme_metrics(frame(rows, "mme")).iloc[0]
    assert (row["accuracy"], row["acc_plus"], row["score"], row["n_other"]) == (0.0, 0.0, 0.0, 2)


def test_mme_errors_break_pairs() -> None:
    rows = [("1", "color", "g", "yes", "yes", None), ("2", "color", "g", "no", "no", "OSError: bad image")]
    row = mme_metrics(frame(rows, "mme")).iloc[0]
    assert (row["accuracy"], row["acc_plus"], row["n_error"]) == (0.5, 0.0, 1)


def test_mme_totals_sum_present_subtasks_and_name_variants() -> None:
    rows = []
    for category in ("existence", "OCR", "commonsense_reasoning", "code_reasoning", "my_custom"):
        rows += [(f"{category}y", category, "g", "yes", "yes", None), (f"{category}n", category, "g", "no", "no", None)]
    table = mme_metrics(frame(rows, "mme"))
    assert list(table["category"]) == ["existence", "OCR", "commonsense_reasoning", "code_reasoning", "my_custom"]
    totals = mme_totals(table)
    assert totals["perception"] == pytest.approx(400.0) and totals["n_perception_subtasks"] == 2
    assert totals["cognition"] == pytest.approx(400.0) and totals["n_cognition_subtasks"] == 2
    assert totals["other_categories"] == ["my_custom"]


def test_mme_totals_none_when_absent() -> None:
    rows = [("1", "color", "g", "yes", "yes", None), ("2", "color", "g", "no", "yes", None)]
    totals = mme_totals(mme_metrics(frame(rows, "mme")))
    assert totals["perception"] == pytest.approx(100 * 0.5 + 0.0) and totals["cognition"] is None


@pytest.mark.parametrize("name,official", [
    ("OCR", "OCR"), ("ocr", "OCR"), ("Commonsense Reasoning", "commonsense_reasoning"),
    ("numerical_calculation", "numerical_calculation"), ("text-translation", "text_translation"),
    ("code_reasoning", "code_reasoning"), ("artwork", "artwork"), ("celebrity", "celebrity"),
    ("colour", "color"), ("poster", "posters"), ("shapes", None),
])
def test_mme_subtask_names(name: str, official: str | None) -> None:
    assert mme_subtask(name) == official


# ------------------------------------------------------------------------------------------- POPE

def test_pope_per_split_pooled_and_mean_f1() -> None:
    rows = [
        ("r1", "random", "", "yes", "yes", None), ("r2", "random", "", "no", "no", None),
        ("r3", "random", "", "yes", "no", None), ("r4", "random", "", "no", "no", None),
        ("p1", "popular", "", "yes", "yes", None), ("p2", "popular", "", "no", "yes", None),
        ("p3", "popular", "", "yes", "yes", None), ("p4", "popular", "", "no", "no", None),
    ]
    table = pope_metrics(frame(rows, "pope")).set_index("category")
    assert list(table.index) == ["popular", "random", "all"]
    assert table.loc["random", "f1"] == pytest.approx(2 / 3)  # P 1, R 1/2
    assert table.loc["popular", "f1"] == pytest.approx(0.8)  # P 2/3, R 1
    assert table.loc["random", "yes_ratio"] == pytest.approx(0.25)
    assert table.loc["all", "f1"] == pytest.approx(2 * 0.75 * 0.75 / 1.5)  # pooled: P 3/4, R 3/4
    assert pope_mean_f1(table.reset_index()) == pytest.approx((2 / 3 + 0.8) / 2)
    assert "n_other_strict" in table.columns


def test_pope_mean_f1_nan_when_a_split_has_no_yes() -> None:
    rows = [("r1", "random", "", "yes", "no", None), ("p1", "popular", "", "yes", "yes", None)]
    table = pope_metrics(frame(rows, "pope"))
    assert math.isnan(table.set_index("category").loc["random", "precision"])
    assert math.isnan(pope_mean_f1(table))
