"""Rescoring checks the rows against the benchmark before it counts them.

When the benchmark's items are known (a run directory's config.yaml builds them; an imported
LLaVA answer file is joined with the `--questions` label files), a row whose id the benchmark does
not have, or whose task / category / ground truth differs from the item's, is refused: it would be
counted. Items without a row are counted (`n_missing`) and the headline is marked `partial`, in
the printed table, summary.json and the report, so half a run never scores as a whole one. An
imported file whose categories the benchmark's first task does not know (a POPE file scored as
MME) is refused.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from evalkit.benchmark import Task
from evalkit.errors import EvalkitError
from evalkit.types import Item

log = logging.getLogger(__name__)


class CoverageError(EvalkitError):
    pass


def _few(values: Sequence[Any], n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in list(values)[:n])
    return shown + (", ..." if len(values) > n else "")


def check_against_items(frame: pd.DataFrame, items: Sequence[Item], source: Path | str) -> dict:
    """Refuse rows the items do not have (or that disagree with them); the coverage counts."""
    by_id = {item.id: item for item in items}
    ids = frame["id"].astype(str)
    unknown = [i for i in ids if i not in by_id]
    if unknown:
        raise CoverageError(f"{source}: {len(unknown)} row id(s) are not items of the benchmark ({_few(unknown)}); "
                            "refusing to count them")
    disagree = []
    for row in frame.to_dict("records"):
        item = by_id[str(row["id"])]
        for column, expected in (("task", item.task), ("category", item.category),
                                 ("answer", item.answer)):
            value = row.get(column)
            if column not in frame.columns or value is None or not isinstance(expected, str):
                continue  # structured ground truths (captions' objects) are the benchmark's own
            if not _same(value, expected):
                disagree.append(f"{row['id']} {column} {value!r} (the benchmark's: {expected!r})")
    if disagree:
        raise CoverageError(f"{source}: {len(disagree)} row(s) differ from the benchmark's items: "
                            f"{'; '.join(disagree[:5])}{'; ...' if len(disagree) > 5 else ''}")
    n_missing = len(by_id) - len(set(ids))
    return {"n_expected": len(by_id), "n_missing": n_missing}


def _same(value: Any, expected: Any) -> bool:
    if isinstance(value, float) and pd.isna(value):
        value = ""
    return str(value).strip().lower() == str(expected if expected is not None else "").strip().lower()


def check_categories(frame: pd.DataFrame, task: Task, source: Path | str) -> None:
    """An imported file's categories must be ones the task knows (Task.known_category)."""
    if "category" not in frame.columns:
        return
    categories = sorted({str(c) for c in frame["category"].dropna() if str(c)})
    unknown = [c for c in categories if not task.known_category(c)]
    if unknown:
        raise CoverageError(f"{source}: categories {_few(unknown)} are not {task.name}'s; is this a file of "
                            "another benchmark? (--benchmark names the benchmark that made it)")


def missing_labels(frame: pd.DataFrame, questions: Sequence[Path | str], task: Task) -> dict:
    """For LLaVA answers joined with --questions label files: labelled questions without an answer."""
    from evalkit.scoring.importers import _load_questions

    _, labels = _load_questions(questions, task)
    answered = {(str(c), (m or {}).get("label_question_id")) for c, m in zip(frame["category"], frame["meta"])}
    missing = [key for key in labels if (str(key[0]), key[1]) not in answered]
    return {"n_expected": len(labels), "n_missing": len(missing)}


def mark(scores, coverage: Optional[dict]):
    """Scores with the coverage in its headline: n_missing, and partial where items are missing."""
    if not coverage:
        return scores
    headline = dict(scores.headline)
    headline["n_missing"] = int(coverage["n_missing"])
    headline["n_expected"] = int(coverage["n_expected"])
    headline["partial"] = coverage["n_missing"] > 0
    return replace(scores, headline=headline)


def partial_line(headline: dict) -> Optional[str]:
    """The warning printed above a partial score's table (None when the run is whole or unchecked)."""
    if not headline.get("partial"):
        return None
    return (f"PARTIAL: {headline['n_missing']} of {headline['n_expected']} items of the benchmark have no "
            "prediction; these numbers are not the benchmark's score")


def run_items(run_dir: Path) -> Optional[list[Item]]:
    """The items of a run directory's benchmark, built from its config.yaml (the dataset node and
    `limit`; imported code only as evalkit.trust allows). None, with a warning, when the data is not
    available here: the rows are then scored unchecked."""
    import yaml
    from omegaconf import OmegaConf

    from evalkit import trust

    config_path = Path(run_dir) / "config.yaml"
    if not config_path.is_file():
        return None
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    dataset = config.get("dataset") or {}
    if not dataset.get("_target_"):
        return None
    trust.check(dataset["_target_"], str(config_path))
    from evalkit.items import load_items

    try:
        return load_items(OmegaConf.create(dataset), config.get("limit"))
    except (EvalkitError, OSError, ValueError, NotImplementedError) as exc:
        log.warning("%s: cannot build the benchmark's items here (%s); the rows are scored unchecked",
                    config_path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return None

