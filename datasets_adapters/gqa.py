"""GQA (Hudson & Manning) testdev-balanced: compositional questions about Visual Genome images, one answer.

Sources in LLaVA's `playground/data/eval/gqa` layout: `data/testdev_balanced_questions.json` (GQA's
questions with answers and types; required), `llava_gqa_testdev_balanced.jsonl` (LLaVA's prompts;
optional, else the question and LLaVA's suffix) and `data/images/`; or lmms-lab/GQA through
`datasets` (`dataset.path=lmms-lab/GQA`: its `testdev_balanced_instructions` and
`testdev_balanced_images` configs joined by imageId; a local copy works too).

Scored as LLaVA's pipeline: scripts/convert_gqa_for_eval.py (trailing "." stripped, lower-cased), then
GQA's eval.py: exact match over the balanced questions, split into binary / open (open: structural
type "query") and per structural and semantic type. Validity, plausibility, consistency and
grounding need the scene graphs and choices that testdev lacks; the distribution score is left out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from datasets_adapters.hub import hf_tables, image_ref as encoded_image
from datasets_adapters.vqa_common import (answer_import, check_images, import_rows, is_hub_source, read_answers,
                                          read_json, read_records, require, unique_ids)
from evalkit.benchmark import Benchmark, ImportRules
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError
from evalkit.tasks.short_answer import ShortAnswerTask
from evalkit.types import Item

log = logging.getLogger(__name__)

LLAVA_FILE = "llava_gqa_testdev_balanced.jsonl"


@dataclass
class GQADatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.gqa.GQADataset"
    name: str = "gqa"
    path: str = "playground/data/eval/gqa"  # LLaVA's folder, or lmms-lab/GQA (hub id or a local copy)
    tier: str = "testdev_balanced"  # GQA's file prefix: <tier>_questions.json
    questions: Optional[str] = None  # GQA's questions json; default: <path>/data/<tier>_questions.json
    prompts: Optional[str] = None  # LLaVA's prompt file; default: <path>/llava_gqa_<tier>.jsonl if there
    image_dir: Optional[str] = None  # default: <path>/data/images



def load_questions(path: Path) -> dict[str, dict]:
    data = read_json(path)
    if not isinstance(data, dict) or not data:
        raise DatasetError(f"{path}: not a GQA questions json (an object of question id -> question)")
    for qid, q in data.items():
        if not isinstance(q, dict):
            raise DatasetError(f"{path}[{qid}]: expected a question object")
        require(f"{path}[{qid}]", q, ("question", "answer", "imageId", "types", "isBalanced"), "GQA question")
        if not isinstance(q["types"], dict) or "structural" not in q["types"] or "semantic" not in q["types"]:
            raise DatasetError(f"{path}[{qid}]: 'types' needs 'structural' and 'semantic'")
    return data


def answer_type(question: dict) -> str:
    """eval.py: "open" if the structural type is query, else "binary"."""
    return "open" if question["types"]["structural"] == "query" else "binary"


def item_of(qid: str, q: dict, prompt: str, image: str, image_dir: Optional[Path]) -> Item:
    return Item(id=str(qid), image=str(image_dir / image) if image_dir else image, question=q["question"],
                answer=str(q["answer"]), category=answer_type(q), group=str(q["imageId"]), task="gqa",
                prompt_question=prompt,
                meta={"question_id": str(qid), "image": image, "answers": [str(q["answer"])],
                      "structural": q["types"]["structural"], "semantic": q["types"]["semantic"]})


def balanced_items(questions: dict[str, dict], prompts: Optional[list[tuple[str, dict]]], image_dir: Optional[Path],
                   suffix: str, where: str) -> list[Item]:
    """Items of eval.py's scored questions (isBalanced), with LLaVA's prompts when given."""
    if prompts is None:
        return [item_of(qid, q, q["question"] + suffix, f"{q['imageId']}.jpg", image_dir)
                for qid, q in questions.items() if q["isBalanced"]]
    items, skipped = [], 0
    for origin, r in prompts:
        require(origin, r, ("question_id", "image", "text"), "LLaVA question")
        q = questions.get(str(r["question_id"]))
        if q is None:
            raise DatasetError(f"{origin}: question_id {r['question_id']!r} is not in the GQA questions file")
        if not q["isBalanced"]:
            skipped += 1
            continue
        items.append(item_of(str(r["question_id"]), q, str(r["text"]), str(r["image"]), image_dir))
    if skipped:
        log.warning("%s: %d question(s) are not balanced; GQA's eval.py does not score them, left out", where, skipped)
    return items


def _own_rows(records, questions, path, annotations=None):
    if annotations is not None or len(questions) != 1:
        raise DatasetError(f"{path}: GQA answers are scored against --questions <tier>_questions.json alone "
                           "(GQA's questions json holds the answers)")
    answers, _ = read_answers(records, path)
    table = load_questions(Path(questions[0]))
    items = balanced_items(table, None, None, "", str(questions[0]))
    balanced = {i.id for i in items}
    extra = {q: a for q, a in answers.items() if str(q) in table and str(q) not in balanced}
    answers = {q: a for q, a in answers.items() if q not in extra}  # eval.py ignores unbalanced questions
    return import_rows(items, answers, path)


GQA = ShortAnswerTask("gqa", scoring="exact", official_rule="gqa", rules=("gqa", "raw"), category="answer_type",
                      breakdowns=("structural", "semantic"),
                      note="gqa: exact match as GQA's eval.py after LLaVA's convert_gqa_for_eval.py",
                      imports=ImportRules(own_format="gqa answers (LLaVA jsonl, GQA predictions, lmms-eval samples)",
                                          own_rows=answer_import(_own_rows)))


class GQADataset(Benchmark):
    schema = GQADatasetConfig
    tasks = (GQA,)

    def __init__(self, **settings):
        super().__init__(**settings)  # the schema's keys become attributes; files are found here
        path, tier, questions, prompts, image_dir = self.path, self.tier, self.questions, self.prompts, self.image_dir
        self.path = Path(path).expanduser()
        self.hub = questions is None and prompts is None and is_hub_source(path)
        if self.hub:
            self.hub_path = path
            return
        self.questions = Path(questions).expanduser() if questions else self.path / "data" / f"{tier}_questions.json"
        if not self.questions.is_file():
            raise DatasetError(f"dataset.questions: no such file {self.questions} (GQA's {tier}_questions.json)")
        default_prompts = self.path / f"llava_gqa_{tier}.jsonl"
        self.prompts = Path(prompts).expanduser() if prompts else (default_prompts if default_prompts.is_file()
                                                                   else None)
        if self.prompts is not None and not self.prompts.is_file():
            raise DatasetError(f"dataset.prompts={prompts}: no such file")
        self.image_dir = Path(image_dir).expanduser() if image_dir else self.path / "data" / "images"
        if not self.image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder (GQA's images)")

    def load(self) -> list[Item]:
        if self.hub:
            return self._hub_items()
        table = load_questions(self.questions)
        prompts = read_records(self.prompts) if self.prompts else None
        items = balanced_items(table, prompts, self.image_dir, self.question_suffix, str(self.prompts or self.questions))
        check_images(self.image_dir, [i.meta["image"] for i in items], str(self.questions))
        return unique_ids(items, str(self.questions))

    def _hub_items(self) -> list[Item]:
        """lmms-lab/GQA: the `<tier>_instructions` config (GQA's question fields, `id`) and the
        `<tier>_images` config (id, image), joined by imageId; split `testdev`."""
        tables = []
        if Path(self.hub_path).expanduser().exists():  # a local copy holds both configs' files
            tables = [t for _, t in hf_tables(self.hub_path, hub_split="testdev", repo_hint="GQA")]
        else:
            for config in (f"{self.tier}_instructions", f"{self.tier}_images"):
                tables += [t for _, t in hf_tables(self.hub_path, "testdev", "GQA", hub_config=config)]
        questions = [r for t in tables if "question" in t.column_names for r in t.to_pylist()]
        images = {r["id"]: r["image"] for t in tables if "question" not in t.column_names
                  and {"id", "image"} <= set(t.column_names) for r in t.to_pylist()}
        if not questions or not images:
            raise DatasetError(f"dataset.path={self.hub_path}: needs lmms-lab/GQA's {self.tier}_instructions and "
                               f"{self.tier}_images tables; found {'questions' if questions else 'no questions'}, "
                               f"{'images' if images else 'no images'}")
        table = {str(r["id"]): r for r in questions}
        missing = sorted({r["imageId"] for r in questions if r["imageId"] not in images})
        if missing:
            raise DatasetError(f"dataset.path={self.hub_path}: {len(missing)} imageId(s) have no image, e.g. {missing[:3]}")
        for qid, q in table.items():
            require(f"{self.hub_path}[{qid}]", q, ("question", "answer", "imageId", "types", "isBalanced"), "GQA question")
        items = balanced_items(table, None, None, self.question_suffix, self.hub_path)
        return unique_ids([Item(**{**i.__dict__, "image": encoded_image(images[table[i.id]["imageId"]])})
                           for i in items], self.hub_path)
