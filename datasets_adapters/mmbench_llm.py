"""MMBench's optional LLM choice extraction (`dataset=mmbench judge=...`), as VLMEvalKit does it at
commit e8e78f05 (`vlmeval/dataset/utils/multiple_choice.py`: `extract_answer_from_item`,
`build_prompt` / `build_prompt_cn`, `build_choices`, `build_option_str`; the judge as
`vlmeval/api/gpt.py` OpenAIWrapper sends it: temperature 0, max_tokens 2048).

An answer can_infer reads is never sent. For one it cannot read, the judge gets the official
matching prompt (the Chinese one when the question has a CJK character, VLMEvalKit's cn_string):
the question, "There are several options:" with one "A. text" line per option, the model's answer.
The judge's reply (stripped, as the wrapper strips it) is read with can_infer; an unreadable reply
is asked again with the same prompt, up to 3 requests in all (VLMEvalKit's retry = 3). After 3
unreadable replies VLMEvalKit picks `rd.choice(options + ["Z"])` with Python's unseeded global
random module (and logs "Failed to predict, thus randomly generate one."); evalkit makes the same
uniform pick reproducible: `random.Random("mmbench-fallback:<index>")`, so rescoring gives the same
number, and the summary counts these answers (`mmbench_fallback_decided`).

Which answers are sent: CircularEval (VLMEvalKit's eval_circular_group) asks the judge only for a
question none of whose readable copies is wrong, and vanilla (first copies) for each unreadable
first copy. evalkit asks for every unreadable copy of such a question at once (VLMEvalKit asks them
in turn and stops at the first one the judge decides wrongly: the question's hit is the same).
"""

from __future__ import annotations

import random
import re
from typing import Any, Mapping, Optional, Sequence

import pandas as pd

from datasets_adapters import mmbench_metrics as M
from evalkit.scoring.metrics import error_mask
from evalkit.tasks.judged import Ask, Rating

RETRIES = 3  # extract_answer_from_item: retry = 3
TEMPERATURE = 0.0  # OpenAIWrapper's default temperature (build_judge passes none)
MAX_TOKENS = 2048  # OpenAIWrapper's default max_tokens
API_FAILURE = "Failed to obtain answer via API"  # a reply VLMEvalKit counts as a failed try, unread

PROMPT_EN = (
    'You are an AI assistant who will help me to match '
    'an answer with several options of a single-choice question. '
    'You are provided with a question, several options, and an answer, '
    'and you need to find which option is most similar to the answer. '
    'If the meaning of all options are significantly different from the answer, output Z. '
    'Your should output a single uppercase character in A, B, C, D (if they are valid options), and Z. \n'
    'Example 1: \n'
    'Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n'
    'Answer: a cute teddy bear\nYour output: A\n'
    'Example 2: \n'
    'Question: What is the main object in image?\nOptions: A. teddy bear B. rabbit C. cat D. dog\n'
    'Answer: Spider\nYour output: Z\n'
    'Example 3: \n'
    'Question: {}?\nOptions: {}\nAnswer: {}\nYour output: '
)
PROMPT_CN = (
    '你是一个帮助我匹配答案与单选题中多个选项的 AI 助手。'
    '你会被提供：一个问题，多个选项，一个答案。你的任务是找到与答案意义最相近的选项。'
    '如果所有选项的意义都与答案显著不同，则输出 Z。'
    '你应该输出一个单个的大写字母，例如 A, B, C, D（如果它们是有效选项），或 Z。'
    '例 1:'
    '问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 一只可爱的泰迪熊\n输出: A\n'
    '例 2: \n'
    '问题: 图中最主要的物体是什么?\n选项: A. 泰迪熊 B. 兔子 C. 猫 D. 狗\n答案: 蜘蛛\n输出: Z\n'
    '例 3: \n'
    '问题: {}?\n选项: {}\n答案: {}\n输出: '
)
TEMPLATE = PROMPT_EN + "\n" + PROMPT_CN  # the prompt version recorded with the judge
_CJK = re.compile("[\u4e00-\u9fff]")


def option_lines(options: Mapping[str, str]) -> str:
    """build_option_str: the options block of the matching prompt."""
    return "There are several options: \n" + "".join(f"{letter}. {text}\n" for letter, text in options.items())


def matching_prompt(question: str, options: Mapping[str, str], answer: str) -> str:
    """build_prompt, or build_prompt_cn when the question has a CJK character (cn_string)."""
    template = PROMPT_CN if _CJK.search(question) else PROMPT_EN
    return template.format(question, option_lines(options), answer)


def read_reply(reply: str, options: Mapping[str, str]) -> str:
    """A judge reply read as extract_answer_from_item reads it: "" when unreadable."""
    reply = reply.strip()
    return "" if API_FAILURE in reply else M.can_infer(reply, options)


def fallback_letter(item_id: str, options: Mapping[str, str]) -> str:
    """VLMEvalKit's pick after 3 unreadable replies, rd.choice(options + ["Z"]), made reproducible:
    uniform over the same letters, seeded by the item (a string seed hashes with SHA-512, the same
    in every process)."""
    return random.Random(f"mmbench-fallback:{item_id}").choice([*options, "Z"])


def _options(row: Mapping[str, Any]) -> dict[str, str]:
    options = row["meta"]["options"]
    return {str(k): str(v) for k, v in options.items()}


def needs_judge(rows: pd.DataFrame) -> dict[str, dict]:
    """judge_context: per row id, {"ask": True} for the unreadable answers whose extraction can
    change a number: a first copy (vanilla), or any copy of a question none of whose copies is
    already wrong (a readable wrong letter, a refusal "Z", or a generation error)."""
    metas = [m if isinstance(m, Mapping) else {} for m in rows["meta"]]
    errors = error_mask(rows)
    letters = [("" if error or not isinstance(text, str) else M.can_infer(text, m.get("options") or {}))
               for text, m, error in zip(rows["text"], metas, errors)]
    failed = {str(group) for group, answer, letter, error in zip(rows["group"], rows["answer"], letters, errors)
              if error or (letter and letter != str(answer))}
    out = {}
    for row_id, group, answer, letter, error in zip(rows["id"], rows["group"], rows["answer"], letters, errors):
        first = str(row_id) == str(group)
        if not error and not letter and str(answer) != "" and (first or str(group) not in failed):
            out[str(row_id)] = {"ask": True}
    return out


def next_ask(row: Mapping[str, Any], replies: Sequence[str], temperature: Optional[float]) -> Optional[Ask]:
    """The next matching request for an unreadable answer (None: no request, or the conversation is
    over: a readable reply, or 3 requests made)."""
    if not (row.get("judge_context") or {}).get("ask") or len(replies) >= RETRIES:
        return None
    options = _options(row)
    if any(read_reply(reply, options) for reply in replies):
        return None
    text = matching_prompt(str(row["question"]), options, str(row["text"]))
    return Ask(messages=({"role": "user", "content": text},), temperature=temperature, max_tokens=MAX_TOKENS)


def rate(row: Mapping[str, Any], replies: Sequence[str]) -> Rating:
    """The letter the judge decided (extra: letter, by = "llm" | "fallback"; no replies: the answer
    was not sent, by = "heuristic") and its score against the answer."""
    options = _options(row)
    letter, by = "", "heuristic"
    if replies:
        letter = next((found for reply in replies if (found := read_reply(reply, options))), "")
        by = "llm"
        if not letter:
            letter, by = fallback_letter(str(row["id"]), options), "fallback"
    elif (row.get("judge_context") or {}).get("ask"):
        raise ValueError(f"item {row.get('id')!r}: rated before its first judge reply")
    return Rating(value=float(letter == str(row["answer"])), parsed=by != "fallback",
                  extra={"letter": letter, "by": by})
