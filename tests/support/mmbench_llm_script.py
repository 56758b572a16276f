"""For the MMBench LLM-extraction tests: an MMBench table in the official format with English and
Chinese questions (the Chinese matching prompt follows the question's script), circular copies,
answers can_infer cannot read, and a script of judge replies per matching prompt that walks
through every case of VLMEvalKit's extract_answer_from_item (read at once, re-asked, an API failure
message, whitespace, "Z", three unreadable replies and the fallback)."""

from __future__ import annotations

import pandas as pd

from support.mmbench_files import question_rows
from support.vlmevalkit import mmbench_eval as V

# Answers VLMEvalKit's can_infer cannot read ({w}: a wrong letter, {a}: the right one), and some it can.
UNREADABLE = ["I think it's the second one", "{a} {w}", "", "🙂 不知道", "It could be either", "答案是第二个选项",
              "Neither, really.", "{a} or {w}"]
READABLE = ["{a}", "{a}", "{w}", "The answer is {a}.", "Cannot determine the answer"]
# Judge replies per unreadable answer, in the order they are asked (VLMEvalKit asks at most 3 times).
REPLIES = [["{a}"], ["{w}"], ["I cannot decide", "{a}"], ["", "hmm", "{a}"], ["no idea", "???", "nothing"],
           ["Z"], ["Failed to obtain answer via API. ", "The answer is {a}"], ["  {a}  \n"],
           ["{a} {w}", "either", "选项不明确"], ["{w}", "{a}"]]


def table(n_questions: int = 40) -> pd.DataFrame:
    """question_rows' questions (2-4 options, circular copies), every other one asked in Chinese."""
    rows = question_rows(n_questions)
    chinese = rows["index"].map(lambda i: (i % 1_000_000) % 2 == 1)
    rows.loc[chinese, "question"] = rows.loc[chinese, "index"].map(lambda i: f"图中第 {i % 1_000_000} 题是什么")
    return rows


def answers(rows: pd.DataFrame) -> list[str]:
    """Mostly unreadable answers (every third readable), right or wrong letters where they are letters."""
    out = []
    for n, row in enumerate(rows.to_dict("records")):
        right, wrong = row["answer"], _wrong(row)
        pool = READABLE if n % 3 == 0 else UNREADABLE
        out.append(pool[(n // 3) % len(pool)].format(a=right, w=wrong))
    return out


def _wrong(row: dict) -> str:
    letters = [c for c in "ABCD" if isinstance(row.get(c), str)]
    return letters[(letters.index(row["answer"]) + 1) % len(letters)]


def official_prompt(row: dict, prediction: str) -> str:
    """The matching prompt VLMEvalKit's extract_answer_from_item builds for the row (its own code)."""
    choices = V.build_choices(row)
    option_str = V.build_option_str(choices)
    build = V.build_prompt_cn if V.cn_string(row["question"]) else V.build_prompt
    return build(row["question"], option_str, prediction)


def reply_script(rows: pd.DataFrame, preds: list[str]) -> dict[str, list[str]]:
    """Matching prompt -> the judge's replies to its 1st, 2nd, 3rd ask."""
    script = {}
    for n, (row, pred) in enumerate(zip(rows.to_dict("records"), preds)):
        prompt = official_prompt(row, pred)
        assert prompt not in script, "two rows with one prompt would share replies"
        script[prompt] = [r.format(a=row["answer"], w=_wrong(row)) for r in REPLIES[n % len(REPLIES)]]
    return script


class ScriptedJudge:
    """VLMEvalKit's judge interface (model.generate(prompt) -> str), answering from the script:
    the k-th ask of a prompt gets its k-th reply. Records every prompt."""

    def __init__(self, script: dict[str, list[str]]):
        self.script, self.prompts = script, []

    def generate(self, prompt: str) -> str:
        self.prompts.append(prompt)
        return self.script[prompt][self.prompts.count(prompt) - 1]
