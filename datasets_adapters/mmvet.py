"""MM-Vet (Yu et al., ICML 2024): 218 open questions on 200 images, each needing one or more of six
capabilities (rec, ocr, know, gen, spat, math), graded 0.0-1.0 by an LLM against the ground truth.

Source: the official `mm-vet.json` ({"v1_0": {imagename, capability, question, answer}, ...}) and
`images/`, as unzipped from mm-vet.zip (`dataset.path=DIR`). The model is asked the question as
released (LLaVA's llava-mm-vet.jsonl; `llava.eval.model_vqa`, up to 1024 new tokens).

Grader: `mm-vet_evaluator.py` (yuweihao/MM-Vet) exactly: its few-shot prompt + "question | ground
truth | prediction | " at temperature 0.0 and max_tokens 3; a grade is the reply's first
space-separated piece as a float in [0, 1]; an unreadable grade is re-asked with "Predict the
correctness of the answer (digit): " appended, at temperatures 0.0, 0.5, 1.0, 1.5, 2.0, and after
that sixth request the grade is 0.0 (a parse failure). `judge.runs` grading runs (its num_run; 5 in
the paper) give per-capability and total scores (x100, mean over runs) and the std of the totals
over runs, as its cap-score table reports them.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import numpy as np
import pandas as pd

from evalkit.benchmark import Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.judged import UNJUDGED_NOTE, Ask, JudgedTask, Rating, imported_rows, judged_counts
from evalkit.types import Item

TOTAL = "total"
MAX_REQUESTS = 6  # the first grade and five re-asks; the sixth reply is never read (grade 0.0)
RETRY_SUFFIX = "\nPredict the correctness of the answer (digit): "
PROMPT = """Compare the ground truth and prediction from AI models, to give a correctness score for the prediction. <AND> in the ground truth means it is totally right only when all elements in the ground truth are present in the prediction, and <OR> means it is totally right when any one element in the ground truth is present in the prediction. The correctness score is 0.0 (totally wrong), 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, or 1.0 (totally right). Just complete the last space of the correctness score.

Question | Ground truth | Prediction | Correctness
--- | --- | --- | ---
What is x in the equation? | -1 <AND> -5 | x = 3 | 0.0
What is x in the equation? | -1 <AND> -5 | x = -1 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -5 or 5 | 0.5
What is x in the equation? | -1 <AND> -5 | x = -1 or x = -5 | 1.0
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme talks about Iceland and Greenland. It's pointing out that despite their names, Iceland is not very icy and Greenland isn't very green. | 0.4
Can you explain this meme? | This meme is poking fun at the fact that the names of the countries Iceland and Greenland are misleading. Despite its name, Iceland is known for its beautiful green landscapes, while Greenland is mostly covered in ice and snow. The meme is saying that the person has trust issues because the names of these countries do not accurately represent their landscapes. | The meme is using humor to point out the misleading nature of Iceland's and Greenland's names. Iceland, despite its name, has lush green landscapes while Greenland is mostly covered in ice and snow. The text 'This is why I have trust issues' is a playful way to suggest that these contradictions can lead to distrust or confusion. The humor in this meme is derived from the unexpected contrast between the names of the countries and their actual physical characteristics. | 1.0
"""


def grade_question(question: str, answer: str, prediction: str) -> str:
    """The user message of mm-vet_evaluator.py (without the re-ask suffix)."""
    return PROMPT + "\n" + " | ".join([question, answer.replace("<AND>", " <AND> ").replace("<OR>", " <OR> "),
                                       prediction, ""])


def read_grade(content: str) -> Optional[float]:
    """The evaluator's grade: the first space-separated piece as a float in [0, 1]; None otherwise."""
    try:
        score = float(content.split(" ")[0].strip())
    except ValueError:
        return None
    if score > 1.0 or score < 0.0:
        return None
    return score


def answer_rows(records: Sequence[dict], questions: Sequence[Any], path: Any) -> Optional[list[dict]]:
    """LLaVA's MM-Vet answer file (model_vqa's question_id / text lines; convert_mmvet_for_eval.py
    names them v1_<question_id>) joined with mm-vet.json given as --questions (the file or its
    folder); None for another format."""
    if not all("question_id" in r and "text" in r for r in records):
        return None
    if not questions:
        raise DatasetError(f"{path}: LLaVA answers need --questions <mm-vet.json or its folder>")
    source = Path(questions[0])
    items = MMVetDataset(path=str(source if source.is_dir() else source.parent)).load()
    return imported_rows(items, {f"v1_{r['question_id']}": r["text"] for r in records}, path)


class MMVetTask(JudgedTask):
    name = "mmvet"
    rules = {"judge": lambda text, *_: text}
    official_rule = "judge"
    judge_temperature = 0.0
    judge_max_tokens = 3
    judge_template = PROMPT + RETRY_SUFFIX
    max_new_tokens = 1024
    headline = (Headline("mmvet_total", format="points"), Headline("mmvet_total_std", direction="lower", format="points"))
    columns = ("n", "score", "n_unjudged", "n_parse_failures", "n_regraded", "n_error")
    formats = {"score": "points", "n": "count", "n_unjudged": "count", "n_parse_failures": "count",
               "n_regraded": "count", "n_error": "count"}
    category_values = ("score",)
    imports = ImportRules(own_format="llava_mmvet_answers", own_rows=answer_rows)
    note = ("MM-Vet: scores x100 per capability (an item counts for each of its capabilities) and total, mean over "
            "judge.runs grading runs, std over runs, as mm-vet_evaluator.py; a grade unreadable after its five "
            "re-asks is 0.0 (n_parse_failures); " + UNJUDGED_NOTE)

    def next_ask(self, row: Mapping[str, Any], replies: Sequence[str], base_temperature: Optional[float]
                 ) -> Optional[Ask]:
        if replies and (read_grade(replies[-1]) is not None or len(replies) >= MAX_REQUESTS):
            return None
        meta = row["meta"]
        question = grade_question(meta["question"], meta["answer"], row["text"])
        base = base_temperature or 0.0
        temperature = base if len(replies) <= 1 else base + 0.5 * (len(replies) - 1)
        if replies:
            question += RETRY_SUFFIX
        return Ask(messages=({"role": "user", "content": question},), temperature=temperature,
                   max_tokens=self.judge_max_tokens)

    def rate(self, row: Mapping[str, Any], replies: Sequence[str]) -> Rating:
        for n, reply in enumerate(replies[:MAX_REQUESTS - 1], start=1):
            grade = read_grade(reply)
            if grade is not None:
                return Rating(value=grade, extra={"requests": n})
        return Rating(value=0.0, parsed=False, extra={"requests": len(replies)})

    def bucket(self, value: float) -> str:
        """Wrong (0.0), partly right, right (1.0): the grades the evaluator's examples use."""
        return "wrong" if value <= 0.0 else "right" if value >= 1.0 else "partial"

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        counts = judged_counts(rows)
        capabilities = [list(c) for c in rows["meta"].map(lambda m: m.get("capability", []))]
        order = [c for c, _ in Counter(c for caps in capabilities for c in set(caps)).most_common()]
        regraded = rows["judge_extra"].map(lambda runs: sum(1 for e in runs if e.get("requests", 1) > 1))
        complete = counts["n_unjudged"] == 0 and len(rows) > 0
        ratings = [list(r) for r in rows["judge_ratings"]]
        table, headline = [], {}
        for name in [*order, TOTAL]:
            mine = np.array([name == TOTAL or name in caps for caps in capabilities])
            value = None
            if complete:
                value = float(round((run_sums(ratings, mine) / mine.sum() * 100).mean(), 1))
            table.append({"category": name, "n": int(mine.sum()), "score": value,
                          "n_unjudged": int((~rows["judged"][mine]).sum()),
                          "n_parse_failures": int(rows["n_parse_failures"][mine].sum()),
                          "n_regraded": int(regraded[mine].sum()), "n_error": counts["n_error"] if name == TOTAL else None})
        if complete:
            totals = run_sums(ratings, np.ones(len(rows), dtype=bool)) / len(rows) * 100
            headline = {"mmvet_total": table[-1]["score"], "mmvet_total_std": float(round(totals.std(), 1)),
                        "mmvet_runs": [float(x) for x in np.round(totals, 1)]}  # the evaluator's `runs` column
        headline.update(n_unjudged=counts["n_unjudged"], mmvet_parse_failures=counts["n_parse_failures"])
        return TaskResult(pd.DataFrame(table), headline)


def run_sums(ratings: Sequence[Sequence[float]], mine: np.ndarray) -> np.ndarray:
    """Per grading run, the sum of the selected items' grades, added one by one in item order as the
    evaluator does (a pairwise or compensated sum can differ in the last bit, and so after rounding)."""
    sums = [0.0] * len(ratings[0])
    for grades, selected in zip(ratings, mine):
        if selected:
            for run, grade in enumerate(grades):
                sums[run] += grade
    return np.array(sums)


@dataclass
class MMVetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mmvet.MMVetDataset"
    name: str = "mmvet"
    path: str = "mm-vet"  # the unzipped mm-vet.zip: mm-vet.json and images/
    question_suffix: str = ""  # LLaVA asks the question as released


class MMVetDataset(Benchmark):
    tasks = (MMVetTask(),)
    schema = MMVetConfig

    @property
    def root(self) -> Path:
        return Path(self.settings.path)

    def load(self) -> list[Item]:
        path = self.root / "mm-vet.json"
        if not path.is_file():
            raise DatasetError(f"mmvet: {path} not found (dataset.path must hold mm-vet.json and images/)")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise DatasetError(f"mmvet: {path}: not valid JSON ({exc})") from None
        items = []
        for key, record in data.items():
            missing = [k for k in ("imagename", "capability", "question", "answer") if k not in record]
            if missing:
                raise DatasetError(f"mmvet: {path}: item {key!r} lacks {missing}")
            items.append(Item(id=key, image=str(self.root / "images" / record["imagename"]), question=record["question"],
                              answer=record["answer"], category=",".join(record["capability"]), task=MMVetTask.name,
                              prompt_question=record["question"] + self.settings.question_suffix,
                              meta={"capability": list(record["capability"]), "question": record["question"],
                                    "answer": record["answer"]}))
        return items
