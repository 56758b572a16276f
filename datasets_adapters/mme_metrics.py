"""MME's metrics, pure functions over the predictions DataFrame (columns as in
evalkit.scoring.metrics): acc, acc+ and the score per subtask, the perception / cognition totals,
and the image units `report compare` resamples for paired intervals on those totals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.scoring.stats import Stat
from evalkit.scoring.metrics import OVERALL, binary_metrics, counts, grouped, prepare, ratio

MME_PERCEPTION = ("existence", "count", "position", "color", "posters", "celebrity", "scene", "landmark",
                  "artwork", "OCR")
MME_COGNITION = ("commonsense_reasoning", "numerical_calculation", "text_translation", "code_reasoning")

# Spellings seen in the wild (official folder names, lmms-lab/MME `category`, papers' tables) ->
# the official subtask name. Keys are lower-cased with spaces/hyphens as underscores.
_MME_ALIASES = {
    **{name.lower(): name for name in MME_PERCEPTION + MME_COGNITION},
    "colour": "color", "poster": "posters", "celebrities": "celebrity", "landmarks": "landmark",
    "artworks": "artwork", "scenes": "scene", "counting": "count",
    "commonsense": "commonsense_reasoning", "common_sense_reasoning": "commonsense_reasoning",
    "numerical": "numerical_calculation", "numeric_calculation": "numerical_calculation",
    "translation": "text_translation", "code": "code_reasoning",
}

def mme_subtask(category: str) -> Optional[str]:
    """The official MME subtask a category name denotes, or None when it is not one."""
    key = str(category).strip().lower().replace(" ", "_").replace("-", "_")
    return _MME_ALIASES.get(key)


def mme_kind(category: str) -> str:
    """"perception", "cognition" or "other" (not an official MME subtask)."""
    name = mme_subtask(category)
    if name in MME_PERCEPTION:
        return "perception"
    if name in MME_COGNITION:
        return "cognition"
    return "other"


def mme_score(n, n_correct, n_pairs, n_both):
    """A subtask's MME score, 100 acc + 100 acc+ (the official calculation.py), from its counts:
    items, items right, valid image pairs, pairs with both answers right. Scalars (the table) or
    arrays (the bootstrap's resamples, evaluated the same way); NaN without a valid pair."""
    n, n_correct, n_pairs, n_both = (np.asarray(v, float) for v in (n, n_correct, n_pairs, n_both))
    with np.errstate(invalid="ignore", divide="ignore"):
        score = 100 * (n_correct / n) + 100 * (n_both / n_pairs)
    return float(score) if score.ndim == 0 else score


def _mme_order(category: str) -> tuple[int, str]:
    official = MME_PERCEPTION + MME_COGNITION
    name = mme_subtask(category)
    return (official.index(name) if name else len(official), str(category))


def mme_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per MME subtask (`category`): acc, acc+ (pairs by `group` = image), score = 100 acc + 100 acc+.

    acc+ is computed over groups with exactly one yes and one no question; other groups are counted
    in `n_bad_groups` (list them with `mme_bad_groups`) and left out of acc+ rather than guessed.
    A subtask with no valid pair has acc+ and score NaN. Rows follow the official subtask order.
    """
    prepared = prepare(df)
    rows = []
    for keys, sub in grouped(prepared, ["category"]):
        tally = counts(sub)
        units = mme_units(sub["category"], sub["group"], sub["answer"], sub["_correct"].to_numpy(bool))
        valid, both = int(units.features[:, 2].sum()), int(units.features[:, 3].sum())
        bad, acc_plus = len(units.subtask) - valid, ratio(both, valid)
        rows.append({
            "category": keys["category"],
            "kind": mme_kind(keys["category"]),
            "n": tally["n"],
            "n_correct": tally["n_correct"],
            "accuracy": tally["accuracy"],
            "acc_plus": acc_plus,
            "score": mme_score(tally["n"], tally["n_correct"], valid, both),
            "n_groups": valid,
            "n_bad_groups": bad,
            **{k: tally[k] for k in ("yes_ratio", "precision", "recall", "f1", "tp", "fp", "tn", "fn",
                                      "n_other", "n_other_strict", "n_error")},
        })
    columns = ["category", "kind", "n", "n_correct", "accuracy", "acc_plus", "score", "n_groups", "n_bad_groups",
               "yes_ratio", "precision", "recall", "f1", "tp", "fp", "tn", "fn", "n_other", "n_other_strict",
               "n_error"]
    table = pd.DataFrame(rows, columns=columns)
    order = sorted(range(len(table)), key=lambda i: _mme_order(table["category"].iloc[i]))
    return table.iloc[order].reset_index(drop=True)


def mme_bad_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Groups (images) that acc+ cannot use: not exactly one yes and one no question."""
    prepared = prepare(df)
    rows = []
    for (category, group), sub in prepared.groupby(["category", "group"], sort=True):
        if len(sub) == 2 and sorted(sub["answer"]) == ["no", "yes"]:
            continue
        ids = sub["id"].astype(str).tolist() if "id" in sub.columns else [str(i) for i in sub.index]
        rows.append({"category": category, "group": group, "n": len(sub),
                     "n_yes": int((sub["answer"] == "yes").sum()), "n_no": int((sub["answer"] == "no").sum()),
                     "ids": ids})
    return pd.DataFrame(rows, columns=["category", "group", "n", "n_yes", "n_no", "ids"])


def mme_totals(df_metrics: pd.DataFrame) -> dict[str, Any]:
    """Perception / cognition totals of an `mme_metrics` table: sums over the subtasks present.

    A total is None when none of its subtasks is present; `n_*_subtasks` says how many were summed
    (10 and 4 for the full benchmark), `other_categories` lists categories that are not MME subtasks.
    A subtask whose score is NaN (no valid pair) adds nothing and is listed in `nan_subtasks`.
    """
    result: dict[str, Any] = {}
    kinds = df_metrics["category"].map(mme_kind)
    for kind in ("perception", "cognition"):
        scores = df_metrics.loc[kinds == kind, "score"]
        result[kind] = float(scores.sum()) if len(scores) else None
        result[f"n_{kind}_subtasks"] = int(len(scores))
    result["other_categories"] = df_metrics.loc[kinds == "other", "category"].astype(str).tolist()
    result["nan_subtasks"] = df_metrics.loc[df_metrics["score"].isna(), "category"].astype(str).tolist()
    return result


def score_mme(sub: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """MME table, its tidy rows (subtasks, then perception / cognition / all), and the totals."""
    table = mme_metrics(sub)
    totals = mme_totals(table)
    pooled = binary_metrics(sub.assign(kind=sub["category"].map(mme_kind)), ["kind"])
    # Pooled rows per kind carry the kind's total score; the unofficial "other" kind is not a total.
    pooled = pooled[pooled["kind"] != "other"].rename(columns={"kind": "category"})
    pooled = pooled.sort_values("category", key=lambda c: c.map({"perception": 0, "cognition": 1, OVERALL: 2}))
    pooled["score"] = pooled["category"].map({k: totals[k] for k in ("perception", "cognition")})
    pooled["n_bad_groups"] = pooled["category"].map(
        lambda c: int(table.loc[table["kind"] == c, "n_bad_groups"].sum()) if c != OVERALL
        else int(table["n_bad_groups"].sum()))
    rows = pd.concat([table.drop(columns=["kind"]), pooled], ignore_index=True)
    return table, rows, totals


@dataclass(frozen=True)
class MMEUnits:
    """MME items folded into images (groups): one row per (subtask, group).

    features: [n_items, n_correct, is_valid_pair, both_correct] per group, the inputs of acc and
    acc+ (a valid pair has exactly one yes and one no question): `mme_metrics` counts a run's pairs
    with them, `mme_total_stat` resamples them.
    """

    subtask: np.ndarray  # int index into `subtasks`, per unit
    subtasks: tuple[str, ...]
    features: np.ndarray


def mme_units(subtask: Sequence[str], group: Sequence[str], answer: Sequence[str],
              correct: np.ndarray) -> MMEUnits:
    """Fold item rows of one run into MME image units, sorted by (subtask, group): two runs over
    the same items (same subtask/group/answer columns) get the same units in the same order."""
    frame = pd.DataFrame({"subtask": list(map(str, subtask)), "group": list(map(str, group)),
                          "yes": np.asarray(answer) == "yes", "ok": np.asarray(correct, bool)})
    units = frame.groupby(["subtask", "group"], sort=True).agg(
        n=("ok", "size"), n_correct=("ok", "sum"), n_yes=("yes", "sum"), all_ok=("ok", "all"))
    valid = (units["n"] == 2) & (units["n_yes"] == 1)
    features = np.column_stack([units["n"], units["n_correct"], valid, valid & units["all_ok"]]).astype(float)
    names = tuple(sorted(frame["subtask"].unique()))
    owner = units.index.get_level_values("subtask").map({s: i for i, s in enumerate(names)}).to_numpy(int)
    return MMEUnits(owner, names, features.reshape(-1, 4))


def mme_total_stat(units: MMEUnits, include: Sequence[str]) -> Stat:
    """Sum over the `include`d subtasks of 100 acc + 100 acc+; a subtask without a valid pair adds
    nothing (as mme_totals above). NaN when no included subtask is present."""
    chosen = [i for i, name in enumerate(units.subtasks) if name in set(include)]
    S = np.zeros((len(units.subtask), len(units.subtasks)))
    S[np.arange(len(units.subtask)), units.subtask] = 1.0

    def stat(W: np.ndarray, X: np.ndarray) -> np.ndarray:
        if not chosen:
            return np.full(W.shape[0], np.nan)
        n, ok, valid, both = ((W * X[:, j]) @ S for j in range(4))  # per resample and subtask
        return np.nansum(mme_score(n, ok, valid, both)[:, chosen], axis=1)

    return stat
