"""ScienceQA's answer rule and accuracy tables, as the official scripts compute them (pure functions).

- The answer rule is LLaVA's `llava/eval/eval_science_qa.py` (haotian-liu/LLaVA c121f04): the text
  is an option letter A-E, or starts with "X. ", or holds exactly one match of
  `The answer is ([A-Z]).`; anything else is FAILED (wrong). A letter beyond the question's
  options (E on a 4-option question, or the regex's F-Z) is wrong too: `get_pred_idx` gives -1.
- LLaVA's headline "IMG-Accuracy" counts the questions whose answer prompt holds `<image>`;
  the breakdowns (NAT / SOC / LAN subjects, TXT / IMG / NO context, G1-6 / G7-12 grades) are
  ScienceQA's `tools/evaluate_acc.py` (lupantech/ScienceQA c215845) over the same per-question
  results. tests/unit/test_scienceqa_parity.py runs both scripts on files the test writes.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import pandas as pd

from evalkit.scoring.score_metrics import score_counts

LETTERS = ("A", "B", "C", "D", "E")  # eval_science_qa.py's --options default
_ANSWER_IS = re.compile(r"The answer is ([A-Z]).")  # the official pattern: "." matches any character
FAILED = ""  # the parse of a FAILED answer: unreadable, scored wrong

SUBJECTS = {"natural science": "NAT", "social science": "SOC", "language science": "LAN"}
GRADES_1_6 = tuple(f"grade{g}" for g in range(1, 7))
GRADES_7_12 = tuple(f"grade{g}" for g in range(7, 13))
# Rows of the breakdown table, in the order of ScienceQA's paper tables (evaluate_acc.py's keys).
BREAKDOWN = ("NAT", "SOC", "LAN", "TXT", "IMG", "NO", "G1-6", "G7-12")
ALL = "all"
IMG_HEADLINE = "LLaVA IMG"  # the published column: questions whose prompt has an image


def llava_letter(text: Any, item: Any = None) -> str:
    """eval_science_qa.py's parse of one answer text (as LLaVA saves it: stripped); "" for FAILED."""
    text = text if isinstance(text, str) else ""
    if text in LETTERS:
        return text
    if len(text) >= 3 and text[0] in LETTERS and text[1:3] == ". ":
        return text[0]
    found = _ANSWER_IS.findall(text)
    return found[0] if len(found) == 1 else FAILED


def context_facts(problem: Mapping[str, Any]) -> dict[str, Any]:
    """What the breakdowns need of a problems.json record (kept in each item's meta)."""
    return {"subject": problem.get("subject") or "", "grade": problem.get("grade") or "",
            "topic": problem.get("topic") or "", "has_text": bool(problem.get("hint")),
            "has_image": bool(problem.get("image"))}


def breakdown_masks(facts: pd.DataFrame) -> dict[str, pd.Series]:
    """Row masks of the breakdown categories over a frame with `context_facts` columns."""
    text, image = facts["has_text"].astype(bool), facts["has_image"].astype(bool)
    masks = {short: facts["subject"] == long for long, short in SUBJECTS.items()}
    masks.update({"TXT": text, "IMG": image, "NO": ~text & ~image,
                  "G1-6": facts["grade"].isin(GRADES_1_6), "G7-12": facts["grade"].isin(GRADES_7_12)})
    return masks


def scienceqa_table(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per category: all, LLaVA's IMG (prompt with an image), then ScienceQA's breakdowns;
    columns as evalkit's score tables (n, n_correct, accuracy = mean score, its stderr, ...).

    `rows`: one per question with `score`, `correct`, `parsed`, `is_multimodal` (LLaVA's test:
    `<image>` in the answer's prompt) and the `context_facts` columns.
    """
    everything = pd.Series(True, index=rows.index)
    masks = {ALL: everything, IMG_HEADLINE: rows["is_multimodal"].astype(bool), **breakdown_masks(rows)}
    return pd.DataFrame([{"category": name, **score_counts(rows[mask])} for name, mask in masks.items()])
