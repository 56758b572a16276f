"""MMBench parity: evalkit's answer extraction, CircularEval and vanilla tables against
VLMEvalKit's own code at e8e78f05 (tests/support/vlmevalkit/mmbench_eval.py, Apache-2.0:
can_infer, mcq_circular_eval, mcq_vanilla_eval, report_acc with the exact-matching policy), run
on the same made-up MMBench table with circular copies and tricky predictions, English and Chinese."""

from __future__ import annotations

import pandas as pd
import pytest

from datasets_adapters import mmbench_metrics as M
from support.mmbench_files import predictions, question_rows
from support.vlmevalkit import mmbench_eval as V


def official(meta: pd.DataFrame, preds: list[str], tmp_path) -> dict[str, pd.DataFrame]:
    data = meta.drop(columns=["answer"]).assign(prediction=preds)
    circular = V.mcq_circular_eval(None, data.copy(), meta, 1, str(tmp_path / "circ.pkl"), "MMBench_DEV_EN")
    first = data[data["index"] < 1_000_000]
    vanilla = V.mcq_vanilla_eval(None, first.copy(), meta, 1, str(tmp_path / "van.pkl"), "MMBench_DEV_EN")
    return {"circular": V.report_acc(circular), "vanilla": V.report_acc(vanilla)}


def ours(meta: pd.DataFrame, preds: list[str]) -> dict[str, pd.DataFrame]:
    rows = meta.assign(parsed=[M.can_infer(p, {c: r[c] for c in "ABCD" if isinstance(r[c], str)})
                               for p, (_, r) in zip(preds, meta.iterrows())])
    return {"circular": M.report_acc(M.circular_hits(rows)), "vanilla": M.report_acc(M.vanilla_hits(rows))}


def as_dict(acc: pd.DataFrame) -> dict:
    """report_acc's one-row frame (columns: split, Overall, groups) -> {name: accuracy}."""
    return {k: float(v) for k, v in acc.iloc[0].items() if k != "split"}


@pytest.mark.parametrize("chinese", [False, True])
def test_circular_and_vanilla_equal_vlmevalkit(chinese, tmp_path):
    meta = question_rows(chinese=chinese)
    preds = predictions(meta)
    theirs, mine = official(meta, preds, tmp_path), ours(meta, preds)
    for name in ("circular", "vanilla"):
        table = mine[name].set_index("category")["accuracy"].to_dict()
        assert table == pytest.approx(as_dict(theirs[name])), name
    assert 0 < mine["circular"]["accuracy"].iloc[0] < mine["vanilla"]["accuracy"].iloc[0] < 1


ANSWERS = ["A", "A. cat", "(A)", "The answer is B.", "b", "", "cat", "black cat", "答案是A", "猫", "A B", "Z",
           "Cannot determine the answer", "I choose C", "A dog and a cat sit there A", "the answer is d",
           "**B**", "B) dog", "Option: C", "It is a dog", "The correct answer is **C**, a black cat", "dog cat",
           "I think the answer is A but maybe B or C or D and then more words", "{A}", "nan"]


@pytest.mark.parametrize("answer", ANSWERS)
@pytest.mark.parametrize("options", [{"A": "cat", "B": "dog", "C": "black cat", "D": "bird"},
                                     {"A": "猫", "B": "狗"}, {"A": "cat", "B": "dog", "C": "cow"}])
def test_can_infer_table(answer, options):
    theirs = V.can_infer(answer, dict(options))
    assert M.can_infer(answer, options) == (theirs or "")
