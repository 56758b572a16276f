"""LLaVA-Bench-in-the-Wild (Liu et al., NeurIPS 2023): 60 open questions on 24 images, judged by an
LLM against a GPT-4 reference answer.

Source: LLaVA's `playground/data/eval/llava-bench-in-the-wild` folder: `questions.jsonl`
(question_id, image, text, category conv / detail / complex), `context.jsonl` (image, caption),
`answers_gpt4.jsonl` (the reference answers) and `images/`. The model is asked the question as
released (`llava.eval.model_vqa`, no suffix, up to 1024 new tokens).

Judge: the request exactly as `llava/eval/eval_gpt_review_bench.py` builds it (its system message,
`[Context]` = the captions, the reference as Assistant 1 and the model as Assistant 2, the
`llava_bench_<category>` rule of `llava/eval/table/rule.json`, temperature 0.2, max_tokens 1024),
its `parse_score` (first line "s1 s2"; anything else is [-1, -1], which the official summary
averages in: evalkit does the same and counts it as a parse failure), and the numbers as
`llava/eval/summarize_gpt_review.py` prints them: per category and all, the relative score
(model mean / reference mean x 100) and both means x 10, from means rounded to 3 decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import OVERALL, Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.fileio import read_jsonl
from evalkit.tasks.judged import UNJUDGED_NOTE, Ask, JudgedTask, Rating, imported_rows, judged_counts
from evalkit.types import Item

CATEGORIES = ("conv", "detail", "complex")
SYSTEM = "You are a helpful and precise assistant for checking the quality of the answer."
ROLE = "Assistant"
# rule.json's llava_bench_conv / _detail / _complex prompt (the three are the same text), verbatim.
RULE = ("We would like to request your feedback on the performance of two AI assistants in response to the user "
        "question displayed above. The user asks the question on observing an image. For your reference, the visual "
        "content in the image is represented with a few sentences describing the image. \nPlease rate the "
        "helpfulness, relevance, accuracy, level of details of their responses. Each assistant receives an overall "
        "score on a scale of 1 to 10, where a higher score indicates better overall performance.\nPlease first "
        "output a single line containing only two values indicating the scores for Assistant 1 and 2, respectively. "
        "The two scores are separated by a space.\nIn the subsequent line, please provide a comprehensive "
        "explanation of your evaluation, avoiding any potential bias and ensuring that the order in which the "
        "responses were presented does not affect your judgment.")
RULES = {f"llava_bench_{c}": {"role": ROLE, "prompt": RULE} for c in CATEGORIES}


def review_content(caption: str, question: str, reference: str, answer: str, role: str = ROLE,
                   prompt: str = RULE) -> str:
    """The user message of eval_gpt_review_bench.py, character for character."""
    return (f'[Context]\n{caption}\n\n'
            f'[Question]\n{question}\n\n'
            f'[{role} 1]\n{reference}\n\n[End of {role} 1]\n\n'
            f'[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n'
            f'[System]\n{prompt}\n\n')


def parse_score(review: str) -> list[float]:
    """eval_gpt_review_bench.py's parse_score: the first line's two numbers, else [-1, -1]."""
    try:
        score_pair = review.split('\n')[0]
        score_pair = score_pair.replace(',', ' ')
        sp = score_pair.split(' ')
        if len(sp) == 2:
            return [float(sp[0]), float(sp[1])]
        return [-1, -1]
    except Exception:
        return [-1, -1]


def summary_numbers(pairs: Sequence[Sequence[float]]) -> tuple[float, float, float]:
    """(relative, reference x 10, model x 10) as summarize_gpt_review.py prints them."""
    stats = [round(x, 3) for x in np.asarray(pairs).mean(0).tolist()]
    return round(stats[1] / stats[0] * 100, 1), round(stats[0] * 10, 1), round(stats[1] * 10, 1)


def answer_rows(records: Sequence[dict], questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """LLaVA's answer file (model_vqa's question_id / text lines) as rows, joined by question_id with
    the benchmark folder given as --questions; None for another format."""
    if not all("question_id" in r and "text" in r for r in records):
        return None
    if not questions:
        raise DatasetError(f"{path}: LLaVA answers need --questions <the llava-bench-in-the-wild folder>")
    folder = Path(questions[0])
    items = LlavaBenchDataset(path=str(folder if folder.is_dir() else folder.parent)).load()
    return imported_rows(items, {str(r["question_id"]): r["text"] for r in records}, path)


class LlavaBenchTask(JudgedTask):
    name = "llava_bench"
    rules = {"judge": lambda text, *_: text}
    official_rule = "judge"
    judge_temperature = 0.2
    judge_max_tokens = 1024
    judge_template = SYSTEM + "\n" + RULE
    max_new_tokens = 1024
    headline = (Headline("llava_bench_relative", format="points"),
                Headline("llava_bench_model", format="points"), Headline("llava_bench_reference", format="points"))
    columns = ("n", "relative_score", "reference_score", "model_score", "n_unjudged", "n_parse_failures", "n_error")
    formats = {"relative_score": "points", "reference_score": "points", "model_score": "points", "n": "count",
               "n_unjudged": "count", "n_parse_failures": "count", "n_error": "count"}
    category_values = ("relative_score",)
    imports = ImportRules(own_format="llava_answers_with_bench", own_rows=answer_rows)
    note = ("LLaVA-Bench: relative score = model mean / reference mean x 100 as summarize_gpt_review.py prints it; "
            "unparseable reviews count as [-1, -1] as there; " + UNJUDGED_NOTE)

    def next_ask(self, row: Mapping[str, Any], replies: Sequence[str], base_temperature: Optional[float]
                 ) -> Optional[Ask]:
        if replies:
            return None
        meta = row["meta"]
        content = review_content(meta["caption"], meta["question"], meta["reference"], row["text"])
        return Ask(messages=({"role": "system", "content": SYSTEM}, {"role": "user", "content": content}),
                   temperature=base_temperature, max_tokens=self.judge_max_tokens)

    def rate(self, row: Mapping[str, Any], replies: Sequence[str]) -> Rating:
        pair = parse_score(replies[0])
        return Rating(value=pair[1], parsed=pair != [-1, -1], extra={"reference_score": pair[0]})

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = []
        for category in [*[c for c in CATEGORIES if (rows["category"] == c).any()], OVERALL]:
            part = rows if category == OVERALL else rows[rows["category"] == category]
            counts = judged_counts(part)
            numbers: tuple = (None, None, None)
            if counts["n_unjudged"] == 0 and len(part):
                # (reference, model) per answer; with judge.runs > 1 both are means over the grading runs
                pairs = [[sum(e["reference_score"] for e in extras) / len(extras), score]
                         for extras, score in zip(part["judge_extra"], part["score"])]
                numbers = summary_numbers(pairs)
            table.append({"category": category, "n": counts["n"], "relative_score": numbers[0],
                          "reference_score": numbers[1], "model_score": numbers[2], "n_unjudged": counts["n_unjudged"],
                          "n_parse_failures": counts["n_parse_failures"], "n_error": counts["n_error"]})
        overall = table[-1]
        headline = {"llava_bench_relative": overall["relative_score"], "llava_bench_model": overall["model_score"],
                    "llava_bench_reference": overall["reference_score"],
                    "llava_bench_parse_failures": overall["n_parse_failures"], "n_unjudged": overall["n_unjudged"]}
        return TaskResult(pd.DataFrame(table), headline)


@dataclass
class LlavaBenchConfig(DatasetConfig):
    _target_: str = "datasets_adapters.llava_bench.LlavaBenchDataset"
    name: str = "llava_bench"
    path: str = "playground/data/eval/llava-bench-in-the-wild"  # holds questions / context / answers_gpt4 .jsonl
    question_suffix: str = ""  # model_vqa asks the question as released


class LlavaBenchDataset(Benchmark):
    tasks = (LlavaBenchTask(),)
    schema = LlavaBenchConfig

    @property
    def root(self) -> Path:
        return Path(self.settings.path)

    def _read(self, name: str) -> list[dict]:
        path = self.root / name
        if not path.is_file():
            raise DatasetError(f"llava_bench: {path} not found (dataset.path must hold questions.jsonl, "
                               "context.jsonl, answers_gpt4.jsonl and images/)")
        return read_jsonl(path, torn_tail="error")

    def load(self) -> list[Item]:
        questions, contexts, references = (self._read(n) for n in
                                           ("questions.jsonl", "context.jsonl", "answers_gpt4.jsonl"))
        captions = {c["image"]: c["caption"] for c in contexts}
        if len(references) != len(questions):
            raise DatasetError(f"llava_bench: {len(questions)} questions but {len(references)} reference answers")
        items = []
        for n, (question, reference) in enumerate(zip(questions, references), start=1):
            where = f"{self.root / 'questions.jsonl'}:{n}"
            # The official review pairs the files by line; a different question_id there would pair wrongly.
            if reference.get("question_id") != question.get("question_id"):
                raise DatasetError(f"{where}: question_id {question.get('question_id')} but answers_gpt4.jsonl line {n} "
                                   f"answers {reference.get('question_id')} (the official review pairs them by line)")
            if question.get("category") not in CATEGORIES:
                raise DatasetError(f"{where}: category {question.get('category')!r} has no rule; one of {CATEGORIES}")
            if question.get("image") not in captions:
                raise DatasetError(f"{where}: image {question.get('image')!r} has no caption in context.jsonl")
            caption = captions[question["image"]]
            caption = "\n".join(caption) if isinstance(caption, list) else caption
            items.append(Item(id=str(question["question_id"]), image=str(self.root / "images" / question["image"]),
                              question=question["text"], answer=reference["text"], category=question["category"],
                              task=LlavaBenchTask.name, prompt_question=question["text"] + self.settings.question_suffix,
                              meta={"caption": caption, "question": question["text"], "reference": reference["text"]}))
        return items
