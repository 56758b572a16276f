"""HallusionBench's official GPT evaluation, for `dataset=hallusionbench judge=...`.

tianyi-lab/HallusionBench `utils.py` asks the judge two things per answer, and every official
number follows from the two codes (hallusionbench_metrics):
- `evaluate_by_chatgpt`: is the answer correct against the reference (`gt_answer_details`)? code 0
  when the reply contains "incorrect", else 1 when it contains "correct", else 2 (unclear);
- `check_same_by_chatgpt`: is the answer consistent with the answer to the same question on the
  original figure (figure_id 0)? same 1 when the reply contains "same", else 0.
Both are one user message each, model default temperature (none sent), as there. evalkit asks them
only for answers that exist: an error row (a text-only question the LLaVA wrapper cannot ask) is
code 0 as in the deterministic path, and an answer whose original is an error row is not "same".
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from datasets_adapters.hallusionbench_metrics import KEYS, PAIR, UNCERTAIN
from evalkit.tasks.judged import Ask, Rating

CORRECTNESS = ('Imagine you are an intelligent teacher. Thoroughly read the question, reference answer and the '
               'prediction answer to ensure a clear understanding of the information provided. Assess the correctness '
               'of the predictions. If the prediction answer does not conflict with the reference answer, please '
               'generate “correct”. If the prediction answer conflict with the reference answer, please generate '
               '“incorrect”. If the prediction answer is unclear about the answer, please generate "unclear". \n\n '
               'Question:')
SAME = ('Imagine you are an intelligent teacher. Thoroughly read the two responses to two different questions. Assess '
        'the consistency of the information provided within those two responses. You do not know the specific '
        'questions, but you can asssess the consistency among the two responses by checking for logical conflicts if '
        'both responses are correct. If response1 does not conflict with response2, please generate “same”. '
        'Otherwise, generate "different". \n\n response1:')
TEMPLATE = CORRECTNESS + "\n" + SAME


def pair_key(meta: Mapping[str, Any]) -> str:
    return "_".join(str(meta.get(k, "")) for k in PAIR)


def originals(rows: pd.DataFrame) -> dict[str, dict]:
    """Per row id: the answer to the same question on the original figure (check_same's response2),
    when that row exists and has an answer."""
    metas = [m if isinstance(m, Mapping) else {} for m in rows["meta"]]
    answers = {pair_key(m): (text, error) for m, text, error in zip(metas, rows["text"], rows["error"])
               if str(m.get("figure_id")) == "0"}
    out = {}
    for row_id, meta in zip(rows["id"], metas):
        found = answers.get(pair_key(meta))
        if found is not None and not found[1]:
            out[str(row_id)] = {"original_answer": found[0]}
    return out


def next_ask(row: Mapping[str, Any], replies: Sequence[str], temperature: Optional[float]) -> Optional[Ask]:
    meta = row["meta"]
    if not replies:
        text = (CORRECTNESS + str(meta.get("question", row["question"])) + '\nReference answer: '
                + str(meta.get("gt_answer_details", "")) + '\nPrediction answer:' + row["text"] + '\nOutput:')
    elif len(replies) == 1 and "original_answer" in (row.get("judge_context") or {}):
        text = SAME + row["text"] + '\nresponse2: ' + row["judge_context"]["original_answer"] + '\nOutput:'
    else:
        return None
    return Ask(messages=({"role": "user", "content": text},), temperature=temperature)


def rate(replies: Sequence[str]) -> Rating:
    """The code (0 incorrect, 1 correct, 2 unclear) and `same`, read as utils.py reads them."""
    reply = replies[0].lower()
    code = 0 if "incorrect" in reply else 1 if "correct" in reply else 2
    same = None
    if len(replies) > 1:
        same = 1 if "same" in replies[1].lower() else 0
    readable = "correct" in reply or "unclear" in reply
    return Rating(value=float(code), parsed=readable, extra={"same": same})


def gpt_codes(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns hallusionbench_metrics reads (as `codes` gives them), from the judge's replies."""
    meta = [m if isinstance(m, Mapping) else {} for m in rows["meta"]]
    out = pd.DataFrame({k: [str(m.get(k, "")) for m in meta] for k in KEYS}, index=rows.index)
    out["gt"] = (rows["answer"] == "yes").astype(int)
    error = rows["error"].map(bool)
    ratings = [r[0] if isinstance(r, list) and r else None for r in rows["judge_ratings"]]
    extras = [e[0] if isinstance(e, list) and e else {} for e in rows["judge_extra"]]
    out["code"] = [0 if err or value is None else int(value) for value, err in zip(ratings, error)]
    out["parsed"] = [None if err else UNCERTAIN if code == 2 else "judged" for code, err in zip(out["code"], error)]
    pairs = out[PAIR].agg("_".join, axis=1)
    has_original = pairs.isin(set(pairs[out["figure_id"] == "0"]))
    out["same"] = [float(e.get("same") or 0) if has else math.nan for e, has in zip(extras, has_original)]
    no_figure = (out["category"] == "VS") & (out["figure_id"] == "0")
    out["correct"] = ((out["code"] == 1) | (no_figure & (out["code"] == 2))).astype(int)
    return out
