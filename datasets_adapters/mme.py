"""MME (Fu et al.): 14 subtasks, 2 yes/no questions per image (one yes, one no), scored per subtask as
acc + acc+ (both questions of an image right).

Sources: the HF dataset `lmms-lab/MME` (hub id, or a local copy: `save_to_disk` folder, parquet
file/folder, hub cache folder) and the official `MME_Benchmark_release_version/` folder
(`<subtask>/<name>.txt` beside each image, or `<subtask>/images/` + `<subtask>/questions_answers_YN/`).
Both give the same items: id `<subtask>/<image>#<k>`, group `<subtask>/<image>` (the HF question_id).
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional

import pandas as pd

from datasets_adapters.hub import drop_duplicates, filter_rows, hf_tables, image_ref
from datasets_adapters.mme_metrics import (MME_COGNITION, MME_PERCEPTION, mme_subtask, mme_total_stat, mme_units,
                                           score_mme)
from evalkit.benchmark import OVERALL, Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.tasks.yesno import BINARY_FORMATS, YesNoTask
from evalkit.types import Item

log = logging.getLogger(__name__)

SOURCES = ("auto", "hf", "folder")
PROMPT_STYLES = ("llava", "original")


@dataclass
class MMEDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.mme.MMEDataset"
    name: str = "mme"
    # Hub id, a local copy of it (save_to_disk folder, parquet file/folder, hub cache folder), or
    # the official MME_Benchmark_release_version/ folder.
    path: str = "lmms-lab/MME"
    source: str = "auto"  # auto | hf | folder
    categories: List[str] = field(default_factory=list)  # MME subtasks to keep; empty = all 14
    prompt_style: str = "llava"  # llava: drop " Please answer yes or no." | original: question verbatim

    def __post_init__(self):
        check_choice("dataset.source", self.source, SOURCES)
        check_choice("dataset.prompt_style", self.prompt_style, PROMPT_STYLES)


HF_COLUMNS = ("question_id", "image", "question", "answer", "category")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp")
RELEASE_DIRS = ("MME_Benchmark_release_version", "MME_Benchmark")
# LLaVA drops MME's instruction and asks for a short answer instead; 7 questions have two spaces.
_PLEASE = re.compile(r"\s*Please answer yes or no\.\s*$")


def llava_question(question: str) -> str:
    """The question without its trailing "Please answer yes or no." (one or two spaces before it)."""
    return _PLEASE.sub("", question)


class MMETask(YesNoTask):
    """MME's scoring: its own parse rule (calculation.py), acc and acc+ per subtask, score =
    100 acc + 100 acc+, and the perception (10 subtasks) / cognition (4) totals."""

    name = "mme"
    official_rule = "mme"
    headline = (Headline("mme_perception", format="points"), Headline("mme_cognition", format="points"))
    columns = ("n", "n_correct", "accuracy", "acc_plus", "score", "precision", "recall", "f1", "yes_ratio", "tp", "fp",
               "tn", "fn", "n_other", "n_other_strict", "n_error", "n_groups", "n_bad_groups")
    formats = {**BINARY_FORMATS, "acc_plus": "percent", "score": "points", "n_groups": "count",
               "n_bad_groups": "count"}
    shown = ("category", "n", "accuracy", "acc_plus", "score", "precision", "recall", "f1", "yes_ratio", "n_other",
             "n_other_strict", "n_error", "n_bad_groups")
    category_values = ("score", "accuracy")
    summary_rows = frozenset({OVERALL, "perception", "cognition"})
    note = "MME scores in MME points"
    imports = ImportRules(category="MME subtask", group_is_question_id=True, number_repeated_ids=True,
                          # lmms-lab/MME's question_id is the image path, shared by its 2 questions
                          lmms_eval_group=lambda doc: doc.get("question_id", ""))

    def known_category(self, category: str) -> bool:
        return mme_subtask(category) is not None

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table, tidy, totals = score_mme(rows)  # the tidy rows: subtasks, then the totals
        headline = {
            "mme_perception": totals["perception"], "mme_cognition": totals["cognition"],
            "mme_n_perception_subtasks": totals["n_perception_subtasks"],
            "mme_n_cognition_subtasks": totals["n_cognition_subtasks"],
            "mme_n_bad_groups": int(table["n_bad_groups"].sum()),
        }
        if totals["other_categories"]:
            headline["mme_other_categories"] = totals["other_categories"]
        return TaskResult(tidy, headline)

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Perception / cognition totals resampled by image (acc+ pairs stay whole), within subtask."""
        from evalkit.scoring.stats import paired_bootstrap

        subtask = joined["category"].map(lambda c: mme_subtask(c) or str(c))
        units_a = mme_units(subtask, joined["group"], joined["answer"], joined["correct_a"].to_numpy(bool))
        units_b = mme_units(subtask, joined["group"], joined["answer"], joined["correct_b"].to_numpy(bool))
        deltas = {}
        for name, kind in (("mme_perception", MME_PERCEPTION), ("mme_cognition", MME_COGNITION)):
            if set(kind) & set(units_a.subtasks):
                deltas[name] = paired_bootstrap(mme_total_stat(units_a, kind), units_a.features, units_b.features,
                                                strata=units_a.subtask, **boot)
        return deltas


MME = MMETask()


class MMEDataset(Benchmark):
    schema = MMEDatasetConfig  # its settings: MMEDataset(path=..., categories=[...]) or the yaml's keys
    tasks = (MME,)

    def __init__(self, **settings):
        super().__init__(**settings)
        self.unpaired_groups: list[str] = []  # filled by load(): images without one yes + one no

    # -- load ---------------------------------------------------------------------------------
    def load(self) -> list[Item]:
        source = self.source
        local = Path(self.path).expanduser()
        if source == "auto":
            source = "folder" if local.is_dir() and release_root(local) is not None else "hf"
        rows = self._folder_rows(local) if source == "folder" else self._hf_rows()
        items = self._items(rows)
        self._check_pairs(items)
        return items

    def _select(self, available: Iterable[str], where: str) -> Optional[set[str]]:
        """The subtasks to keep (None = all), in the data's spelling; unknown ones raise."""
        if not self.categories:
            return None
        by_lower = {c.lower(): c for c in available}
        unknown = [c for c in self.categories if c.lower() not in by_lower]
        if unknown:
            raise DatasetError(
                f"dataset.categories: unknown MME subtask(s) {', '.join(map(repr, unknown))}; "
                f"{where} has: {', '.join(sorted(by_lower.values(), key=str.lower))}"
            )
        return {by_lower[c.lower()] for c in self.categories}

    def _hf_rows(self) -> list[dict]:
        tables = hf_tables(self.path, hub_split="test", repo_hint="MME")
        rows: list[dict] = []
        for label, table in tables:
            missing = [c for c in HF_COLUMNS if c not in table.column_names]
            if missing:
                raise DatasetError(
                    f"{label}: missing column(s) {', '.join(missing)} for MME; found {', '.join(table.column_names)}"
                )
        available = {str(c) for _, t in tables for c in t.column("category").to_pylist()}
        keep = self._select(available, self.path)
        for label, table in tables:
            rows += [dict(r, origin=label) for r in filter_rows(table, "category", keep, HF_COLUMNS)]
        rows = drop_duplicates(rows, ("question_id", "question", "answer"), self.path)
        for row in rows:
            row["image"] = image_ref(row["image"])
        return rows

    def _folder_rows(self, path: Path) -> list[dict]:
        root = release_root(path) if path.is_dir() else None
        if root is None:
            raise DatasetError(
                f"dataset.path={self.path}: not an MME release folder (expected <subtask>/ folders with "
                f"<image>.txt question files, or <subtask>/images/ + <subtask>/questions_answers_YN/)"
            )
        subtasks = {d.name: d for d in _subtask_dirs(root)}
        keep = self._select(subtasks, str(root))
        rows: list[dict] = []
        for name in sorted(subtasks, key=str.lower):
            if keep is None or name in keep:
                rows += _read_subtask(subtasks[name])
        return rows

    def _items(self, rows: list[dict]) -> list[Item]:
        items, counter = [], Counter()
        for row in rows:
            category, question_id, question = str(row["category"]), str(row["question_id"]), str(row["question"])
            answer = str(row["answer"]).strip().lower()
            if answer not in ("yes", "no"):
                raise DatasetError(
                    f"{row['origin']}: question_id {question_id}: answer {row['answer']!r} is not Yes/No"
                )
            group = question_id if question_id.startswith(f"{category}/") else f"{category}/{question_id}"
            k = counter[group]
            counter[group] += 1
            shown = llava_question(question) if self.prompt_style == "llava" else question
            items.append(
                Item(
                    id=f"{group}#{k}",
                    image=row["image"],
                    question=question,
                    answer=answer,
                    category=category,
                    group=group,
                    task="mme",
                    prompt_question=shown + self.question_suffix,
                    meta={"question_id": question_id},
                )
            )
        return items

    def _check_pairs(self, items: list[Item]) -> None:
        answers: dict[str, list[str]] = defaultdict(list)
        for item in items:
            answers[item.group].append(item.answer)
        self.unpaired_groups = [g for g, a in answers.items() if sorted(a) != ["no", "yes"]]
        if self.unpaired_groups:
            examples = "; ".join(f"{g}: {answers[g]}" for g in self.unpaired_groups[:5])
            log.warning(
                "MME: %d image(s) lack exactly one yes and one no question; acc+ leaves them out (%s)",
                len(self.unpaired_groups), examples,
            )


# -- official release folder ------------------------------------------------------------------
def _is_subtask_dir(path: Path) -> bool:
    return (path / "questions_answers_YN").is_dir() or any(path.glob("*.txt"))


def _subtask_dirs(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".") and _is_subtask_dir(d)]


def release_root(path: Path) -> Optional[Path]:
    """The folder whose children are the subtask folders: `path` itself, or a release folder below it."""
    if _subtask_dirs(path):
        return path
    for name in RELEASE_DIRS:
        if (path / name).is_dir():
            found = release_root(path / name)
            if found is not None:
                return found
    return None


def _read_subtask(folder: Path) -> list[dict]:
    if (folder / "questions_answers_YN").is_dir():
        text_dir, image_dir = folder / "questions_answers_YN", folder / "images"
    else:
        text_dir, image_dir = folder, folder
    listing = image_dir.glob("*") if image_dir.is_dir() else []
    images = {p.stem: p for p in listing if p.suffix.lower() in IMAGE_SUFFIXES}
    rows = []
    for text_file in sorted(text_dir.glob("*.txt")):
        image = images.get(text_file.stem)
        if image is None:
            raise DatasetError(f"{text_file}: no image named {text_file.stem}.<jpg|png|...> in {image_dir}")
        lines = text_file.read_text(encoding="utf-8", errors="replace").splitlines()
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DatasetError(f"{text_file}:{line_no}: expected 'question<TAB>answer', got {line!r}")
            question, answer = line.rsplit("\t", 1)
            rows.append({
                "question_id": f"{folder.name}/{image.name}",
                "image": str(image),
                "question": question.strip(),
                "answer": answer,
                "category": folder.name,
                "origin": f"{text_file}:{line_no}",
            })
    return rows


