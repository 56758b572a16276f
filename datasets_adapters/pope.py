"""POPE (Li et al.): "Is there a <object> in the image?" over 500 images per dataset, 3000 questions
per split (random / popular / adversarial negatives), 1500 yes / 1500 no.

Sources: the official question files (`coco_pope_<split>.json` as JSON lines; A-OKVQA / GQA
`<source>_pope_seem_<split>.json` as JSON arrays; records `question_id, image, text, label`) with an
`image_dir`, or the HF dataset `lmms-lab/POPE` (COCO only; hub id or a local copy: `save_to_disk`
folder, parquet file/folder, hub cache folder; columns `id, question_id, question, answer,
image_source, image, category`). question_id restarts per split, so item ids are `<split>-<question_id>`.
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

import pandas as pd

from datasets_adapters.file_rows import read_records
from datasets_adapters.hub import drop_duplicates, filter_rows, hf_tables, image_ref
from evalkit.benchmark import OVERALL, Benchmark, Headline, ImportRules, TaskResult
from evalkit.config import DatasetConfig
from evalkit.errors import DatasetError, check_choice
from evalkit.scoring import metrics as M
from evalkit.tasks.yesno import YesNoTask
from evalkit.types import Item

log = logging.getLogger(__name__)

SPLITS = ("random", "popular", "adversarial")
POPE_SOURCES = ("coco", "aokvqa", "gqa")
FORMATS = ("auto", "hf", "files")


@dataclass
class POPEDatasetConfig(DatasetConfig):
    _target_: str = "datasets_adapters.pope.POPEDataset"
    name: str = "pope"
    # Hub id or a local copy of it, or a folder of official question files (coco_pope_<split>.json,
    # <source>_pope_seem_<split>.json) / one such file.
    path: str = "lmms-lab/POPE"
    format: str = "auto"  # auto | hf | files
    source: str = "coco"  # coco | aokvqa | gqa (lmms-lab/POPE holds coco only)
    splits: List[str] = field(default_factory=lambda: list(SPLITS))  # in this order, repeats dropped
    image_dir: Optional[str] = None  # folder of the images named in question files (format=files)

    def __post_init__(self):
        check_choice("dataset.format", self.format, FORMATS)
        check_choice("dataset.source", self.source, POPE_SOURCES)
        self.splits = check_choice("dataset.splits", self.splits, SPLITS, many=True)


FILE_KEYS = ("question_id", "image", "text", "label")
HF_COLUMNS = ("id", "question_id", "question", "answer", "image_source", "image", "category")
# Where the official repository keeps each source's files (relative to its output/ folder).
_SUBDIRS = {"coco": ("coco",), "aokvqa": ("seem/aokvqa", "aokvqa"), "gqa": ("seem/gqa", "gqa")}


def file_names(source: str, split: str) -> list[str]:
    """Accepted names of a split's question file, the official one first."""
    stem = f"coco_pope_{split}" if source == "coco" else f"{source}_pope_seem_{split}"
    names = [f"{stem}.json", f"{stem}.jsonl"]
    return names if source == "coco" else names + [f"{source}_pope_{split}.json", f"{source}_pope_{split}.jsonl"]


MEAN = "mean"  # label of the mean-over-splits row
# LLaVA's POPE question file numbers the splits from 1, 10000001 and 20000001 (adversarial,
# random, popular); within a split its id minus the offset is the POPE file's question_id.
LLAVA_ID_STRIDE = 10_000_000
POPE_COLUMNS = ["category", "n", "n_correct", "accuracy", "accuracy_stderr", "precision", "recall", "f1", "yes_ratio",
                "tp", "fp", "tn", "fn", "n_other", "n_other_strict", "n_error"]


def pope_metrics(df: pd.DataFrame) -> pd.DataFrame:
    """Per POPE split (`category`) plus the pooled row "all": accuracy, P/R/F1 (yes positive), yes_ratio."""
    return M.binary_metrics(df, ["category"])[POPE_COLUMNS]


def pope_mean_f1(table: pd.DataFrame) -> float:
    """Mean F1 over the splits of a `pope_metrics` table (LLaVA's headline POPE number).

    NaN when a split's F1 is undefined: a mean that silently drops a split is not LLaVA's number.
    """
    splits = table.loc[~table["category"].isin([OVERALL, MEAN]), "f1"]
    if splits.empty or splits.isna().any():
        return math.nan
    return float(splits.mean())


def mean_row(table: pd.DataFrame) -> dict[str, Any]:
    """Mean of the rates over POPE splits (LLaVA reports mean F1), counts summed."""
    splits = table[table["category"] != OVERALL]
    row: dict[str, Any] = {"category": MEAN}
    for column in M.RATE_COLUMNS:
        values = splits[column]
        row[column] = math.nan if values.empty or values.isna().any() else float(values.mean())
    row["f1"] = pope_mean_f1(table)
    # The standard error of a mean of independent splits' accuracies.
    errors = splits["accuracy_stderr"] if "accuracy_stderr" in splits else pd.Series(dtype=float)
    row["accuracy_stderr"] = (math.nan if errors.empty or errors.isna().any()
                              else float(math.sqrt((errors ** 2).sum()) / len(errors)))
    for column in M.COUNT_COLUMNS:
        row[column] = int(splits[column].sum())
    return row


def _lmms_eval_group(doc: dict) -> str:
    """The COCO image of an lmms-eval POPE doc; `image` itself is usually dropped from logs (not JSON)."""
    image = doc.get("image")
    return doc.get("image_source") or (image if isinstance(image, str) else "")


class POPETask(YesNoTask):
    """POPE's scoring: LLaVA's eval_pope.py rule, metrics per split with yes as the positive class,
    and the mean F1 over the splits that LLaVA reports beside the pooled F1."""

    name = "pope"
    official_rule = "pope"
    headline = (Headline("pope_mean_f1"), Headline("pope_pooled_f1"))
    category_values = ("f1", "yes_ratio")
    summary_rows = frozenset({OVERALL, MEAN})
    imports = ImportRules(category="POPE split (or a split in the file name)",
                          categories_in_file_names=("adversarial", "popular", "random"),
                          lmms_eval_group=_lmms_eval_group, id_stride=LLAVA_ID_STRIDE)

    def known_category(self, category: str) -> bool:
        return category in SPLITS

    def metrics(self, rows: pd.DataFrame) -> TaskResult:
        table = pope_metrics(rows)
        mean = mean_row(table)
        table = pd.concat([table, pd.DataFrame([mean])], ignore_index=True)
        pooled = float(table.loc[table["category"] == OVERALL, "f1"].iloc[0])
        return TaskResult(table, {"pope_mean_f1": mean["f1"], "pope_pooled_f1": pooled})

    def paired_deltas(self, joined: pd.DataFrame, boot: dict) -> dict:
        """Mean F1 over splits, resampled within split."""
        from evalkit.scoring import stats as S
        from evalkit.tasks.yesno import yes_features

        splits = pd.factorize(joined["category"].astype(str), sort=True)[0]
        return {"pope_mean_f1": S.paired_bootstrap(S.mean_f1_stat(splits), yes_features(joined, "a"),
                                                   yes_features(joined, "b"), strata=splits, **boot)}


POPE = POPETask()


class POPEDataset(Benchmark):
    schema = POPEDatasetConfig  # its settings: POPEDataset(path=..., splits=[...]) or the yaml's keys
    tasks = (POPE,)

    def load(self) -> list[Item]:
        fmt = self.format
        if fmt == "auto":
            fmt = "files" if _has_question_files(Path(self.path).expanduser()) else "hf"
        rows = self._file_rows() if fmt == "files" else self._hf_rows()
        items = [self._item(row) for row in rows]
        counts = Counter(item.id for item in items)
        duplicated = [i for i, n in counts.items() if n > 1]
        if duplicated:
            raise DatasetError(f"dataset.path={self.path}: question ids repeat within a split: {duplicated[:5]}")
        return items

    def _item(self, row: dict) -> Item:
        split, question_id = row["split"], str(row["question_id"])
        answer = str(row["label"]).strip().lower()
        if answer not in ("yes", "no"):
            raise DatasetError(f"{row['origin']}: question_id {question_id}: label {row['label']!r} is not yes/no")
        text = str(row["text"])
        meta = {"question_id": row["question_id"], "image": row["image_name"], "source": self.source}
        if row.get("hf_id") is not None:
            meta["hf_id"] = row["hf_id"]
        return Item(
            id=f"{split}-{question_id}",
            image=row["image"],
            question=text,
            answer=answer,
            category=split,
            group=row["image_name"],
            task="pope",
            prompt_question=text + self.question_suffix,
            meta=meta,
        )

    # -- official question files --------------------------------------------------------------
    def _file_rows(self) -> list[dict]:
        image_dir = self._image_dir()
        rows: list[dict] = []
        for split, path in self._question_files():
            for origin, record in read_records(path, expected=f"an object with {', '.join(FILE_KEYS)}"):
                missing = [k for k in FILE_KEYS if k not in record]
                if missing:
                    raise DatasetError(
                        f"{origin}: missing key(s) {', '.join(missing)}; POPE records have {', '.join(FILE_KEYS)}"
                    )
                name = str(record["image"])
                rows.append({
                    "split": split, "question_id": record["question_id"], "text": record["text"],
                    "label": record["label"], "image_name": name, "image": str(image_dir / name), "origin": origin,
                })
        self._check_images(image_dir, sorted({r["image_name"] for r in rows}))
        return rows

    def _image_dir(self) -> Path:
        if not self.image_dir:
            hint = "COCO val2014" if self.source == "coco" else f"{self.source.upper()}"
            raise DatasetError(
                f"dataset.image_dir is required with POPE question files: the folder of the {hint} images "
                "the files name (e.g. dataset.image_dir=/data/coco/val2014)"
            )
        image_dir = Path(self.image_dir).expanduser()
        if not image_dir.is_dir():
            raise DatasetError(f"dataset.image_dir={self.image_dir}: no such folder")
        return image_dir

    def _question_files(self) -> list[tuple[str, Path]]:
        path = Path(self.path).expanduser()
        if path.is_file():
            split = next((s for s in SPLITS if s in path.name), None)
            if split is None and len(self.splits) == 1:
                split = self.splits[0]
            if split is not None and split not in self.splits:
                raise DatasetError(f"dataset.path={self.path} holds split {split}, not dataset.splits={self.splits}")
            if split is None:
                raise DatasetError(
                    f"dataset.path={self.path}: cannot tell the split from the file name; name it "
                    f"{file_names(self.source, 'random')[0]}-style, or set dataset.splits to one split"
                )
            return [(split, path)]
        if not path.is_dir():
            raise DatasetError(f"dataset.path={self.path}: no such file or folder of POPE question files")
        folders = [path] + [path / sub for sub in _SUBDIRS[self.source]] + [
            path / "output" / sub for sub in _SUBDIRS[self.source]
        ]
        found = []
        for split in self.splits:
            names = file_names(self.source, split)
            match = next((f / n for f in folders for n in names if (f / n).is_file()), None)
            if match is None:
                present = sorted(p.name for p in path.rglob("*pope*.json*"))
                raise DatasetError(
                    f"dataset.path={self.path}: no question file for source={self.source} split={split} "
                    f"(looked for {names[0]}); found: {', '.join(present[:12]) or 'no *pope*.json files'}"
                )
            found.append((split, match))
        return found

    def _check_images(self, image_dir: Path, names: list[str]) -> None:
        missing = [n for n in names if not (image_dir / n).is_file()]
        if missing and len(missing) == len(names):
            present = sorted(p.name for p in image_dir.iterdir())[:5]
            raise DatasetError(
                f"dataset.image_dir={self.image_dir}: none of the {len(names)} images the question files name "
                f"is there (e.g. {missing[0]}); the folder holds {', '.join(present) or 'nothing'}"
            )
        if missing:
            log.warning(
                "POPE: %d of %d images are missing from %s (e.g. %s); their questions will be error rows",
                len(missing), len(names), image_dir, ", ".join(missing[:3]),
            )

    # -- HF dataset (lmms-lab/POPE) and local copies ------------------------------------------
    def _hf_rows(self) -> list[dict]:
        if self.source != "coco":
            raise DatasetError(
                f"dataset.source={self.source}: {POPEDatasetConfig.path} holds the COCO questions only; for A-OKVQA/GQA use "
                "dataset.format=files with the official question files and dataset.image_dir"
            )
        tables = hf_tables(self.path, hub_split="test", repo_hint="POPE")
        rows: list[dict] = []
        for label, table in tables:
            missing = [c for c in ("question_id", "question", "answer", "image") if c not in table.column_names]
            if missing:
                raise DatasetError(
                    f"{label}: missing column(s) {', '.join(missing)} for POPE; found {', '.join(table.column_names)}"
                )
            if "category" in table.column_names:
                rows += [dict(r, origin=label) for r in filter_rows(table, "category", set(self.splits), HF_COLUMNS)]
                continue
            split = next((s for s in SPLITS if s in label), None)  # a split's own file, e.g. Full/random
            if split is None:
                raise DatasetError(f"{label}: no 'category' column and no split in the file name")
            if split in self.splits:
                rows += [dict(r, origin=label, category=split) for r in filter_rows(table, "", None, HF_COLUMNS)]
        rows = drop_duplicates(rows, ("category", "question_id", "question", "answer"), self.path)
        present = {str(r["category"]) for r in rows}
        absent = [s for s in self.splits if s not in present]
        if absent:
            raise DatasetError(f"dataset.path={self.path}: no rows of split(s) {', '.join(absent)} in this copy")
        return [
            {
                "split": str(r["category"]), "question_id": r["question_id"], "text": r["question"],
                "label": r["answer"], "image": image_ref(r["image"]), "origin": r["origin"],
                "image_name": str(r.get("image_source") or _stored_name(r["image"])), "hf_id": r.get("id"),
            }
            for r in sorted(rows, key=lambda r: self.splits.index(str(r["category"])))
        ]


def _stored_name(image) -> str:
    """The file name `datasets` kept with an encoded image, when a copy lacks image_source."""
    return Path(image.get("path") or "").name if isinstance(image, dict) else ""


def _has_question_files(path: Path) -> bool:
    if path.is_file():
        return path.suffix in (".json", ".jsonl")
    return path.is_dir() and any(p.suffix in (".json", ".jsonl") for p in path.rglob("*pope*.json*"))
