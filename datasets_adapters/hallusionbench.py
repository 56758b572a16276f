"""HallusionBench (Guan et al., CVPR 2024): 1,129 yes/no questions on 346 figures, Visual Dependent
(VD: no answer without the figure) and Visual Supplement (VS: answerable from knowledge; asked
without the figure, with it, and with an edited one that contradicts common knowledge).

Source: the official `HallusionBench.json` (category, subcategory, visual_input 0 = no image /
1 = original / 2 = edited, set_id, figure_id, question_id, question, gt_answer "1"/"0", filename)
and its images folder (`filename` relative to `image_dir`, by default the json's folder, as in the
official repository). Item ids are the official key category_subcategory_set_figure_question.

Prompt: the official evaluation asks each question as released (`generate_answer(filename,
question)`, a free answer judged by GPT-4), so `question_suffix` is empty by default.

Judge: the official one is GPT-4; evalkit replaces it with a deterministic rule (`judge`: yes /
no by the words "yes" and "no", else uncertain), says so in every summary, and computes every
official statistic from the resulting codes (`hallusionbench_metrics`). Numbers are therefore
comparable between evalkit runs, not with GPT-4-judged leaderboard entries.

Text-only questions (the 178 with visual_input 0, all VS figure_id 0): evalkit's LLaVA wrapper
always sends one image, so a model run cannot ask them; they become error rows whose error names
why (counted wrong, code 0). `dataset.questions=image` runs the 951 image questions instead (the
VS failure analysis then needs the missing originals and is NaN). Rescoring an official result
file (`python -m evalkit.score --benchmark hallusionbench RESULT.json`) covers all 1,129.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from datasets_adapters import hallusionbench_gpt as gpt
from datasets_adapters.hallusionbench_metrics import (KEYS, RATES, COLUMNS, codes, hallusionbench_table, judge,
                                                      paired_accuracies, unit_keys)
from evalkit.benchmark import OVERALL, Benchmark, Headline, ImportRules, Task, TaskResult, text_rule
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.tasks.judged import JudgedTask
from evalkit.types import Item

QUESTIONS = ("all", "image")
RECORD_KEYS = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "question",
               "gt_answer")
RESULT_FORMAT = "hallusionbench_result"  # the official result file: question rows + model_prediction
# What a text-only item's image reference says when the runner tries to open it (the error row).
NO_IMAGE = ("<no image: HallusionBench text-only question (visual_input=0); the LLaVA wrapper sends one image "
            "per prompt, so it cannot be asked; dataset.questions=image runs the image questions only>")


@dataclass
class HallusionBenchConfig(DatasetConfig):
    _target_: str = "datasets_adapters.hallusionbench.HallusionBenchDataset"
    name: str = "hallusionbench"
    path: str = "HallusionBench/HallusionBench.json"  # the official question file
    image_dir: Optional[str] = None  # folder `filename` is relative to (default: path's folder)
    questions: str = "all"  # all (1,129, the official leaderboard) | image (951, visual_input 1/2)
    question_suffix: str = ""  # the official evaluation asks the question as released

    def __post_init__(self):
        check_choice("dataset.questions", self.questions, QUESTIONS)


def item_id(record: dict) -> str:
    """The official key of a question (get_eval_all's name): unique over the benchmark."""
    return "_".join(str(record[k]) for k in ("category", "subcategory", "set_id", "figure_id", "question_id"))


def _answer(value: Any) -> Optional[str]:
    return {"1": "yes", "0": "no"}.get(str(value).strip())


def _meta(record: dict) -> dict[str, str]:
    # gt_answer_details: the reference the official GPT judge reads (judge=...)
    return {**{k: str(record[k]) for k in KEYS}, "gt_answer_details": str(record.get("gt_answer_details") or "")}


def read_questions(path: Path | str) -> list[dict]:
    path = Path(path).expanduser()
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"dataset.path={path}: cannot read HallusionBench.json ({type(exc).__name__}: {exc})")
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise DatasetError(f"dataset.path={path}: expected a JSON array of question objects")
    for i, r in enumerate(records):
        missing = [k for k in RECORD_KEYS if k not in r]
        if missing:
            raise DatasetError(f"{path}[{i}]: missing key(s) {', '.join(missing)}")
        if _answer(r["gt_answer"]) is None:
            raise DatasetError(f"{path}[{i}]: gt_answer {r['gt_answer']!r} is not '1' or '0'")
    return records


# ------------------------------------------------------------------------------------ importing

def result_rows(records: Sequence[dict], questions: Sequence[Path | str], path: Path | str,
                annotations: Optional[Path | str] = None) -> Optional[list[dict]]:
    """Rows of the official result format (question rows plus `model_prediction`), or None for
    another format. The ground truth is the rows' gt_answer; a file without it (the official
    HallusionBench_result_sample.json) is joined by the official key with HallusionBench.json
    given as --questions, else the default dataset.path."""
    from evalkit.scoring.importers import PredictionImportError

    columns = set().union(*(r.keys() for r in records))
    if "model_prediction" not in columns or not {"category", "subcategory", "figure_id"} <= columns:
        return None
    truth: dict[str, Any] = {}
    if any("gt_answer" not in r for r in records):
        sources = list(questions) or [HallusionBenchConfig.path]
        for source in sources:
            if not Path(source).expanduser().is_file():
                raise PredictionImportError(
                    f"{path}: rows lack gt_answer; pass the official HallusionBench.json with --questions "
                    f"(not found: {source})")
            truth.update({item_id(q): q["gt_answer"] for q in read_questions(source)})
    rows = []
    for i, r in enumerate(records):
        missing = [k for k in KEYS if k not in r]
        if missing:
            raise PredictionImportError(f"{path}[{i}]: missing key(s) {', '.join(missing)}")
        uid = item_id(r)
        if "gt_answer" not in r and uid not in truth:
            raise PredictionImportError(f"{path}[{i}]: question {uid} is not in the --questions file")
        rows.append({"id": uid, "task": HALLUSIONBENCH.name, "question": str(r.get("question") or ""),
                     "answer": _answer(r.get("gt_answer", truth.get(uid))), "category": str(r["category"]),
                     "group": "_".join(str(r[k]) for k in ("category", "subcategory", "set_id", "figure_id")),
                     "prediction": r.get("model_prediction"), "meta": _meta(r)})
    return rows


# ----------------------------------------------------------------------------------------- task

class HallusionBenchTask(JudgedTask):
    """The official statistics from deterministic codes (see hallusionbench_metrics), or, once a
    judge has judged the run (judge=..., python -m evalkit.judge), from the official GPT
    evaluation's codes (hallusionbench_gpt)."""

    name = "hallusionbench"
    binary = True  # correct / wrong, judged or not
    score_name = "accuracy"
    judge_template = gpt.TEMPLATE
    rules = {"judge": text_rule(judge)}
    official_rule = "judge"
    answers = ("yes", "no")
    headline = (Headline("hallusionbench_aacc"), Headline("hallusionbench_qacc"), Headline("hallusionbench_facc"),
                Headline("hallusionbench_easy_aacc"), Headline("hallusionbench_hard_aacc"),
                Headline("hallusionbench_yes_pct_diff", direction="target", target=0.0),
                Headline("hallusionbench_fp_ratio", direction="target", target=0.5))
    columns = COLUMNS
    formats = {**{c: "percent" for c in RATES}, "fig_score": "probability",
               **{c: "count" for c in COLUMNS if c.startswith("n")}}
    shown = ("category", "n", "aacc", "easy_aacc", "hard_aacc", "qacc", "facc", "yes_pct_diff", "fp_ratio", "lh",
             "vi", "mixed", "n_uncertain", "n_error")
    category_values = ("aacc", "qacc", "facc")
    summary_rows = frozenset({OVERALL})
    note = ("HallusionBench judge: unless judged with judge=... (hallusionbench_judge names it), a deterministic rule "
            "(yes if the word yes and not no, no in the opposite case, else uncertain), not the official GPT-4 judge; 'same' = the answer equals the figure_id 0 answer; "
            "statistics as the official utils.py computes them from these codes; error rows count as wrong")
    imports = ImportRules(category="HallusionBench category (VD / VS)", own_format=RESULT_FORMAT,
                          own_rows=result_rows)

    paired_columns = ("pair_key", "figure_key")

    def next_ask(self, row, replies, base_temperature):
        return gpt.next_ask(row, replies, base_temperature)

    def rate(self, row, replies):
        return gpt.rate(replies)

    def judge_context(self, rows: pd.DataFrame):
        return gpt.originals(rows)

    def official_codes(self, rows: pd.DataFrame) -> pd.DataFrame:
        """The judge's codes when the run was judged, else the deterministic rule's."""
        return gpt.gpt_codes(rows) if _judged(rows) else codes(rows)

    def annotate(self, rows: pd.DataFrame, rule: str, is_error: pd.Series) -> pd.DataFrame:
        rows = Task.annotate(self, rows, rule, is_error)
        if _judged(rows):
            rows["judged"] = [bool(e) or (isinstance(r, list) and bool(r) and r[0] is not None)
                              for r, e in zip(rows["judge_ratings"], is_error)]
        official = self.official_codes(rows)
        rows["correct"] = official["correct"].astype(bool)  # the official assign_correctness
        rows["score"] = rows["correct"].astype(float)
        rows["pair_key"], rows["figure_key"] = unit_keys(official)  # the units of qAcc / fAcc (report compare)
        return rows

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        return paired_accuracies(joined, boot)

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        judged = _judged(rows)
        label = {"hallusionbench_judge": f"{rows['judge'].iloc[0]} (the official GPT evaluation prompt)" if judged
                 else "deterministic rule (not the official GPT-4 judge)"}
        if judged:  # replies with neither "correct" nor "unclear": code 2, as utils.py reads them
            label["hallusionbench_parse_failures"] = int(sum(1 for p in rows["judge_parsed"]
                                                             if isinstance(p, list) and p and p[0] is False))
        if judged and not rows["judged"].all():  # partly judged: no number from partial data
            missing = int((~rows["judged"]).sum())
            return TaskResult(pd.DataFrame([{"category": OVERALL, "n": len(rows)}]), {**label, "n_unjudged": missing})
        table = hallusionbench_table(self.official_codes(rows), OVERALL)
        overall = table.iloc[0]  # each headline number is the overall row's column of that name
        return TaskResult(table, {**{h.name: float(overall[h.name.removeprefix("hallusionbench_")])
                                     for h in self.headline}, **label})


def _judged(rows: pd.DataFrame) -> bool:
    return "judge" in rows.columns and rows["judge"].notna().any()


HALLUSIONBENCH = HallusionBenchTask()


class HallusionBenchDataset(Benchmark):
    schema = HallusionBenchConfig  # its settings: HallusionBenchDataset(path=..., ...) or the yaml's keys
    tasks = (HALLUSIONBENCH,)

    def __init__(self, **settings):
        super().__init__(**settings)
        self.path = Path(self.settings.path).expanduser()
        self.image_dir = Path(self.settings.image_dir).expanduser() if self.settings.image_dir else self.path.parent

    def load(self) -> list[Item]:
        if not self.path.is_file():
            raise DatasetError(f"dataset.path={self.path}: no such file (the official HallusionBench.json)")
        records = read_questions(self.path)
        if self.questions == "image":
            records = [r for r in records if str(r["visual_input"]) != "0"]
        items = [self._item(r) for r in records]
        named = [i.image for i in items if i.image != NO_IMAGE]
        if named and not any(Path(p).is_file() for p in named):
            raise DatasetError(f"dataset.image_dir={self.image_dir}: none of the {len(named)} images the questions "
                               f"name is there (e.g. {named[0]})")
        return items

    def _item(self, r: dict) -> Item:
        has_image = str(r["visual_input"]) != "0" and r.get("filename")
        image = str(self.image_dir / str(r["filename"]).removeprefix("./")) if has_image else NO_IMAGE
        return Item(id=item_id(r), image=image, question=str(r["question"]), answer=_answer(r["gt_answer"]),
                    category=str(r["category"]),
                    group="_".join(str(r[k]) for k in ("category", "subcategory", "set_id", "figure_id")),
                    task=HALLUSIONBENCH.name, prompt_question=str(r["question"]) + self.question_suffix,
                    meta={**_meta(r), "filename": r.get("filename")})
