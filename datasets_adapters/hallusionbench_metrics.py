"""HallusionBench statistics as the official `utils.py` / `evaluation.py` compute them, as pure
functions over a DataFrame of correctness codes.

The official scorer asks GPT-4 for a code per answer (1 agrees with the reference, 0 contradicts
it, 2 uncertain) and whether an answer agrees with the answer to the same question on the
original figure ("same"); every number follows from those codes. evalkit derives the codes with a
deterministic rule instead (`judge`, `codes`) and then computes the official numbers from them:

- `correct` (the official `assign_correctness`): code 1, and on VS questions without a figure
  (figure_id 0) code 2 as well: not knowing without the supplement is no hallucination.
- aAcc: mean `correct` per question; easy / hard aAcc: the question pairs (category, subcategory,
  set_id, question_id) over the rows without or with the original figure (visual_input 0 / 1) /
  with an edited one (visual_input 2), a pair correct when all its rows are (the current official
  split; an earlier utils.py split by figure_id 0); qAcc: the same over all rows of a pair; fAcc and the consistency split: per figure (category,
  subcategory, set_id, figure_id; VS figure_id 0 is no figure) all correct / none / some.
- yes/no bias (`yes_ratio_stats`): pct diff = mean(correct == gt) - mean(gt), the official proxy of
  "said yes" minus the yes share of the truth; FP ratio = share of gt "no" among the wrong rows.
- LH / VI / Mixed: each row's failure class from its code, its original's code and "same"
  (`get_eval_pair_all`), shares of the per-row counters that evaluation.py prints (LH_cg...).

Rates are fractions (evalkit's "percent" format shows them x100, as the official tables do);
an undefined rate (no rows, no wrong rows) is NaN, never 0.
"""

from __future__ import annotations

import math
import re
from typing import Any, Optional

import pandas as pd

KEYS = ("category", "subcategory", "set_id", "figure_id", "question_id", "visual_input")
PAIR = ["category", "subcategory", "set_id", "question_id"]
FIGURE = ["category", "subcategory", "set_id", "figure_id"]
UNCERTAIN = "uncertain"

COLUMNS = ("n", "aacc", "easy_aacc", "hard_aacc", "qacc", "facc", "fig_inconsistent", "fig_wrong", "fig_score",
           "yes_pct_diff", "fp_ratio", "lh", "vi", "mixed", "n_lh", "n_vi", "n_mixed", "n_pairs", "n_figures",
           "n_uncertain", "n_error")
RATES = ("aacc", "easy_aacc", "hard_aacc", "qacc", "facc", "fig_inconsistent", "fig_wrong", "yes_pct_diff",
         "fp_ratio", "lh", "vi", "mixed")

_WORD = re.compile(r"[a-z]+")


def judge(text: Any) -> str:
    """yes if the word "yes" occurs and "no" does not, no in the opposite case, else uncertain
    (words: runs of letters of the lowercased text, so "Not" is no "no" and "Yes," is "yes")."""
    words = set(_WORD.findall(text.lower())) if isinstance(text, str) else set()
    if "yes" in words and "no" not in words:
        return "yes"
    if "no" in words and "yes" not in words:
        return "no"
    return UNCERTAIN


def codes(rows: pd.DataFrame) -> pd.DataFrame:
    """The official columns from annotated rows (`meta` with the question's ids, `answer`,
    `parsed`, `error`): the ids as strings, gt (1 yes / 0 no), code, same, correct.

    An error row (no answer: e.g. a question without image that the model could not be asked) is
    code 0, counted wrong like every evalkit error row; being uncertain would count it correct on
    VS figure_id 0. `same` is NaN where the pair's figure_id 0 row is absent."""
    meta = rows["meta"] if "meta" in rows.columns else pd.Series([{}] * len(rows), index=rows.index)
    out = pd.DataFrame({k: [str((m or {}).get(k, "")) for m in meta] for k in KEYS}, index=rows.index)
    out["gt"] = (rows["answer"] == "yes").astype(int)
    parsed = rows["parsed"]
    readable = parsed.isin(["yes", "no"])
    code = pd.Series(2, index=rows.index)
    code[readable & (parsed == rows["answer"])] = 1
    code[readable & (parsed != rows["answer"])] = 0
    code[parsed.isna()] = 0
    out["code"] = code.astype(int)
    out["parsed"] = parsed
    pair = out[PAIR].agg("_".join, axis=1)
    original = dict(zip(pair[out["figure_id"] == "0"], parsed[out["figure_id"] == "0"]))
    orig = pair.map(original)
    same = (readable & orig.isin(["yes", "no"]) & (parsed == orig)).astype(float)
    out["same"] = same.where(pair.isin(original.keys()))
    no_figure = (out["category"] == "VS") & (out["figure_id"] == "0")
    out["correct"] = ((out["code"] == 1) | (no_figure & (out["code"] == 2))).astype(int)
    return out


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _all_correct(frame: pd.DataFrame, by: list[str]) -> tuple[float, int]:
    """Share of groups whose rows are all correct, and the number of groups."""
    if frame.empty:
        return math.nan, 0
    groups = frame.groupby(by, sort=False)["correct"].agg(["sum", "count"])
    return _ratio((groups["sum"] == groups["count"]).sum(), len(groups)), len(groups)


def _analysis(r: dict, orig_c: Optional[int]) -> tuple[int, int]:
    """(LH, VI) of one row, the branches of the official get_eval_pair_all."""
    c, vd = r["code"], r["category"] == "VD"
    if r["figure_id"] == "0":
        if vd:
            return (0, 1) if c in (0, 2) else (0, 0)
        return (1, 0) if c == 0 else (0, 0)
    same = r["same"] == 1
    if vd:
        if orig_c == 1 and c == 0:
            return (1, 1) if same else (0, 1)
        return (0, 1) if c in (0, 2) else (0, 0)
    if orig_c == 0:
        if c == 0:
            return (1, 0) if same else (1, 1)
        return (1, 1) if c == 2 else (0, 0)
    if orig_c == 2:
        return (0, 1) if c in (0, 2) else (0, 0)
    if c == 2:
        return (0, 1)
    if c == 0:
        if r["visual_input"] == "1":
            return (0, 1)
        if r["visual_input"] == "2":
            return (1, 0) if same else (0, 1)
    return (0, 0)


def failure_counts(frame: pd.DataFrame) -> tuple[float, float, float]:
    """(LH, VI, Mixed) row counters; NaN when an edited-figure row's original is absent (the image
    questions only, a partial run): the class of such a row is undefined."""
    pair = frame[PAIR].agg("_".join, axis=1) if len(frame) else pd.Series(dtype=object)
    fig0 = frame["figure_id"] == "0"
    orig = dict(zip(pair[fig0], frame.loc[fig0, "code"]))
    if not pair[~fig0].isin(orig.keys()).all():
        return math.nan, math.nan, math.nan
    lh = vi = mixed = 0
    for key, r in zip(pair, frame.to_dict("records")):
        a = _analysis(r, orig.get(key))
        if a[0] and a[1]:
            mixed += 1
        elif a[0]:
            lh += 1
        elif a[1]:
            vi += 1
    return lh, vi, mixed


def subset_stats(frame: pd.DataFrame) -> dict[str, Any]:
    """Every official number of one subset of `codes` rows (all, a category, a subcategory)."""
    fig0 = frame["figure_id"] == "0"
    edited = frame["visual_input"] == "2"
    easy, _ = _all_correct(frame[~edited], PAIR)
    hard, _ = _all_correct(frame[edited], PAIR)
    qacc, n_pairs = _all_correct(frame, PAIR)
    figures = frame[~((frame["category"] == "VS") & fig0)]
    n_fig = 0
    facc = inconsistent = wrong = score = math.nan
    if not figures.empty:
        g = figures.groupby(FIGURE, sort=False)["correct"].agg(["sum", "count"])
        n_fig = len(g)
        facc = _ratio((g["sum"] == g["count"]).sum(), n_fig)
        wrong = _ratio(((g["sum"] == 0) & (g["sum"] != g["count"])).sum(), n_fig)
        inconsistent = _ratio(((g["sum"] > 0) & (g["sum"] != g["count"])).sum(), n_fig)
        score = float((g["sum"] / g["count"]).mean())
    bad = frame[frame["correct"] == 0]
    yes_pred = (frame["correct"] == frame["gt"]).mean() if len(frame) else math.nan
    lh, vi, mixed = failure_counts(frame)
    failed = lh + vi + mixed
    return {
        "n": int(len(frame)), "aacc": float(frame["correct"].mean()) if len(frame) else math.nan,
        "easy_aacc": easy, "hard_aacc": hard, "qacc": qacc, "facc": facc, "fig_inconsistent": inconsistent,
        "fig_wrong": wrong, "fig_score": score,
        "yes_pct_diff": float(yes_pred - frame["gt"].mean()) if len(frame) else math.nan,
        "fp_ratio": _ratio((bad["gt"] == 0).sum(), len(bad)),
        "lh": _ratio(lh, failed), "vi": _ratio(vi, failed), "mixed": _ratio(mixed, failed),
        "n_lh": lh, "n_vi": vi, "n_mixed": mixed, "n_pairs": n_pairs, "n_figures": n_fig,
        "n_uncertain": int((frame["parsed"] == UNCERTAIN).sum()), "n_error": int(frame["parsed"].isna().sum()),
    }


def hallusionbench_table(frame: pd.DataFrame, overall: str = "all") -> pd.DataFrame:
    """Rows: `overall`, each category (VD, VS), each category/subcategory (VD/illusion ...)."""
    rows = [{"category": overall, **subset_stats(frame)}]
    for category, part in frame.groupby("category", sort=True):
        rows.append({"category": category, **subset_stats(part)})
    for (category, sub), part in frame.groupby(["category", "subcategory"], sort=True):
        rows.append({"category": f"{category}/{sub}", **subset_stats(part)})
    return pd.DataFrame(rows, columns=["category", *COLUMNS])


# ------------------------------------------------------------------------ paired (report compare)

def unit_keys(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Per `codes` row: its question pair (the unit of qAcc) and its figure (the unit of fAcc; None
    for VS figure_id 0, which is no figure)."""
    pair = frame[PAIR].agg("_".join, axis=1) if len(frame) else pd.Series(dtype=object, index=frame.index)
    figure = frame[FIGURE].agg("_".join, axis=1) if len(frame) else pd.Series(dtype=object, index=frame.index)
    no_figure = (frame["category"] == "VS") & (frame["figure_id"] == "0")
    return pair, figure.astype(object).where(~no_figure, None)


def paired_accuracies(joined: pd.DataFrame, boot: dict) -> dict:
    """aAcc over questions, qAcc over question pairs and fAcc over figures of run B minus run A, each
    a paired bootstrap over its own unit (a pair or figure is right when all its rows are)."""
    from evalkit.scoring import stats as S

    ok = pd.DataFrame({"a": joined["correct_a"].astype(bool), "b": joined["correct_b"].astype(bool)})
    out = {"hallusionbench_aacc": S.paired_bootstrap(S.accuracy_stat, ok[["a"]].to_numpy(float),
                                                     ok[["b"]].to_numpy(float), **boot)}
    for name, key in (("hallusionbench_qacc", "pair_key_a"), ("hallusionbench_facc", "figure_key_a")):
        if key not in joined.columns or joined[key].isna().all():
            continue
        units = ok.assign(unit=joined[key])[joined[key].notna()].groupby("unit", sort=False)[["a", "b"]].all()
        out[name] = S.paired_bootstrap(S.accuracy_stat, units[["a"]].to_numpy(float), units[["b"]].to_numpy(float),
                                       **boot)
    return out
