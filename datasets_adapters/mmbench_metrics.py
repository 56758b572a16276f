"""MMBench's answer extraction and CircularEval, as VLMEvalKit computes them at commit e8e78f05
(open-compass/VLMEvalKit: `vlmeval/utils/matching_util.py` `can_infer`,
`vlmeval/dataset/utils/multiple_choice.py` `mcq_circular_eval` / `mcq_vanilla_eval` /
`report_acc`), with its exact-matching policy (no LLM judge: the judge issue adds that fallback).
Pure functions; tests/unit/test_mmbench_parity.py runs VLMEvalKit's code on the same rows.

- `can_infer` (heuristic matching): punctuation `.()[],:;!*#{}` turned to spaces; when exactly one
  option letter stands alone among the words, and it is one of the last five words, that letter;
  refusals ("Cannot determine the answer", ...) or a lone "Z" give "Z"; "answer is X" (A-D) gives
  X; otherwise the one option whose text (lowercased) is inside the lowercased answer, when the
  answer is at most twice as long as all option texts together; else unreadable ("").
- CircularEval: the TSV's circular copies of a question (the same `index` mod 1,000,000, options
  rotated) form one question, correct only when every copy's extracted letter is its answer.
  An unreadable copy fails the question (VLMEvalKit's exact matching: "Failed in Prefetch").
- Vanilla: the first copy only (index < 1,000,000), extracted letter equal to the answer.
- Tables as `report_acc`: Overall, then each l2-category, then each category (sorted; the six
  MMBench category names abbreviated as VLMEvalKit does: CP, FP-S, FP-C, LR, RR, AR).
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import pandas as pd

CIRCULAR_STRIDE = 1_000_000  # VLMEvalKit: g_index = index % 1e6
_PUNCTUATION = ".()[],:;!*#{}"
_REFUSALS = ("Sorry, I can't help with images of people yet.", "I can't process this file.",
             "I'm sorry, but without the image provided", "Cannot determine the answer")
_ANSWER_IS = re.compile(r"(?i)(?:correct\s+)?answer\s+is\s+\**([ABCD])\**")
MMB_ABBREVIATIONS = {
    "coarse_perception": "CP", "finegrained_perception (instance-level)": "FP-S",
    "finegrained_perception (cross-instance)": "FP-C", "logic_reasoning": "LR", "relation_reasoning": "RR",
    "attribute_reasoning": "AR",
}
UNREADABLE = ""


def option_letter(answer: str, options: Mapping[str, str]) -> str:
    """can_infer_option: a lone option letter near the end, a refusal ("Z"), or "answer is X"; "" if none."""
    if "Failed to obtain answer via API" in answer:
        return UNREADABLE
    if any(refusal in answer for refusal in _REFUSALS):
        return "Z"
    words = answer
    for mark in _PUNCTUATION:
        words = words.replace(mark, " ")
    splits = [w.strip() for w in words.split()]
    letters = [c for c in options if c in splits]
    if len(letters) == 1:
        # the first option (in option order) that stands among the last five words
        for letter in options:
            if letter in splits and splits.index(letter) > len(splits) - 5:
                return letter
    elif not letters and "Z" in splits:
        return "Z"
    match = _ANSWER_IS.search(answer)
    if match and match.group(1).upper() in options:
        return match.group(1).upper()
    return UNREADABLE


def option_text(answer: str, options: Mapping[str, str]) -> str:
    """can_infer_text: the only option whose lowercased text is inside the lowercased answer."""
    answer = answer.lower()
    if len(answer) > 2 * sum(len(str(v)) for v in options.values()):
        return UNREADABLE
    found = [k for k, v in options.items() if str(v).lower() in answer]
    return found[0] if len(found) == 1 else UNREADABLE


def can_infer(answer: Any, options: Mapping[str, str]) -> str:
    """VLMEvalKit's heuristic answer extraction: the letter, else the option's text; "" if neither."""
    answer = str(answer)
    return option_letter(answer, options) or option_text(answer, options)


def circular_index(index: int) -> int:
    """The question a circular copy belongs to (its first copy's index)."""
    return int(index % CIRCULAR_STRIDE)


def circular_hits(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per question (its first copy's row: index, category, l2-category) with `hit`: every
    copy's `parsed` equals its `answer`. `rows`: index, parsed, answer, category, l2-category."""
    rows = rows.assign(g_index=[circular_index(int(i)) for i in rows["index"]],
                       copy_hit=rows["parsed"].astype(str) == rows["answer"].astype(str))
    groups = rows.groupby("g_index")["copy_hit"].all()
    first = rows[rows["index"].astype(int) == rows["g_index"]].copy()
    first["hit"] = first["g_index"].map(groups).astype(bool)
    return first.sort_values("index").reset_index(drop=True)


def vanilla_hits(rows: pd.DataFrame) -> pd.DataFrame:
    """The first copies only, `hit` = their own parsed letter equals the answer."""
    first = rows[[int(i) == circular_index(int(i)) for i in rows["index"]]].copy()
    first["hit"] = first["parsed"].astype(str) == first["answer"].astype(str)
    return first.sort_values("index").reset_index(drop=True)


def report_acc(hits: pd.DataFrame) -> pd.DataFrame:
    """VLMEvalKit's report_acc: rows category (Overall, each l2-category, each category), n, accuracy."""
    table = [{"category": "Overall", "n": len(hits), "accuracy": float(hits["hit"].mean()) if len(hits) else float("nan")}]
    for group in ("l2-category", "category"):
        if group not in hits:
            continue
        for value in sorted(set(hits[group])):
            part = hits[hits[group] == value]
            table.append({"category": MMB_ABBREVIATIONS.get(value, value), "n": len(part),
                          "accuracy": float(part["hit"].mean())})
    return pd.DataFrame(table)
