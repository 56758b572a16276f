"""The run directory: what a run writes, and nothing else writes there.

    <run_dir>/config.yaml          fully resolved config
    <run_dir>/shards/rank<R>.jsonl predictions as generated (batch order), appended + flushed per batch
                                   (shard<I>of<N>-rank<R>.jsonl for one of N shard jobs: evalkit/shards.py)
    <run_dir>/predictions.jsonl    every item once, in dataset order (the contract for scoring)
    <run_dir>/metrics.csv          tidy metrics table (evalkit.scoring)
    <run_dir>/summary.json         headline numbers, counts, timing, versions
"""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional, Sequence

import pandas as pd

from evalkit.errors import EvalkitError
from evalkit.fileio import JsonlAppender, JsonlError, read_jsonl, write_json_atomic, write_jsonl_atomic
from evalkit.types import Item, Prediction, PredictionRow

SHARD_DIR = "shards"


def default_run_dir(results_root: str, dataset: str, model: str, run_name: Optional[str]) -> Path:
    return Path(results_root) / dataset / model / (run_name or datetime.now().strftime("%Y%m%d-%H%M%S"))


def to_row(item: Item, prediction: Prediction, prompt: Optional[str], details: Optional[dict] = None) -> PredictionRow:
    """The row of one prediction, not yet parsed (`evalkit.scoring.scorer.annotate_rows` reads and
    scores it, the same code rescoring runs); `details` (the task's, e.g. a caption's objects) join its meta."""
    return PredictionRow(
        id=item.id,
        task=item.task,
        question=item.question,
        answer=item.answer,
        category=item.category,
        group=item.group,
        prediction=prediction.raw_text,
        text=prediction.text,
        parsed=None,
        correct=False,
        error=prediction.error,
        p_yes=prediction.p_yes,
        option_probs=dict(prediction.option_probs) if prediction.option_probs is not None else None,
        batch_size=prediction.batch_size,
        batch_time_s=prediction.batch_time_s,
        n_input_tokens=prediction.n_input_tokens,
        prompt=prompt,
        meta=_jsonable({**item.meta, **(details or {})}),
    )


def _jsonable(meta) -> dict:
    return json.loads(json.dumps(dict(meta), default=str))


class DamagedShard(EvalkitError):
    """A shard file with a bad line other than a torn tail, or one that cannot be read."""


class ShardWriter:
    """Each rank appends its predictions to its own file, whole lines flushed per batch (a kill
    loses at most the batch in flight); a resumed run (any world size) appends to the file of its
    rank, after the torn last line of a kill mid-write is cut off (`fileio.JsonlAppender`)."""

    def __init__(self, run_dir: Path, rank: int = 0, prefix: str = ""):
        # prefix "shard<I>of<N>-": jobs of one sharded run never share a file.
        self.path = run_dir / SHARD_DIR / f"{prefix}rank{rank}.jsonl"
        self._appender = JsonlAppender(self.path)

    def write(self, rows: Iterable[dict]) -> None:
        """Rows as PredictionRow.to_json() gives them (then annotated by the scorer)."""
        self._appender.write(rows)

    def close(self) -> None:
        self._appender.close()


def shard_rows(run_dir: Path) -> list[dict]:
    rows = []
    for shard in sorted((run_dir / SHARD_DIR).glob("*.jsonl")):
        try:
            rows.extend(read_jsonl(shard))
        except JsonlError as exc:  # not a torn tail (that is dropped): a damaged file
            raise DamagedShard(f"{exc}; delete that line to resume (its item is generated again)") from None
        except OSError as exc:
            raise DamagedShard(f"cannot read {shard}: {exc.strerror or exc}") from None
    return rows


def completed_ids(run_dir: Path) -> set[str]:
    """Items already predicted by any earlier process of this run directory, whatever its rank."""
    return {row["id"] for row in shard_rows(run_dir)} if (run_dir / SHARD_DIR).is_dir() else set()


class ExactlyOnceError(EvalkitError, RuntimeError):
    pass


def merge_shards(run_dir: Path, item_order: Sequence[str]) -> list[dict]:
    """Merge every shard into predictions.jsonl in dataset order, checking each item is there once."""
    by_id: dict[str, dict] = {}
    duplicates = set()
    for row in shard_rows(run_dir):
        if row["id"] in by_id:
            duplicates.add(row["id"])
        by_id[row["id"]] = row
    missing = [i for i in item_order if i not in by_id]
    if missing or duplicates:
        raise ExactlyOnceError(
            f"{run_dir}: predictions are not exactly once per item: "
            f"{len(missing)} missing {missing[:10]}, {len(duplicates)} duplicated {sorted(duplicates)[:10]}"
            + (f"; `python -m evalkit.merge {run_dir} --repair` keeps the first copy of each" if duplicates else "")
        )
    rows = [by_id[i] for i in item_order]
    write_jsonl_atomic(run_dir / "predictions.jsonl", rows)
    return rows


def config_differences(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ, as 'key: old -> new'."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            diffs.extend(config_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            diffs.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return diffs


def versions() -> dict:
    import accelerate
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "evalkit_git_commit": git_commit(),
    }


def git_commit() -> Optional[str]:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def write_json(path: Path, data: dict) -> None:
    write_json_atomic(path, data, default=str)


def read_predictions(path: Path | str) -> pd.DataFrame:
    """Read predictions.jsonl. A torn last line (a kill mid-write) is skipped with a warning; a bad
    line elsewhere, a missing `id` or a duplicate id is a ValueError naming the file."""
    path = Path(path)
    rows = read_jsonl(path)
    if not rows:
        raise ValueError(f"{path}: no predictions")
    frame = pd.DataFrame(rows)
    if "id" not in frame.columns:
        raise ValueError(f"{path}: rows have no 'id' column; got {list(frame.columns)}")
    ids = frame["id"].astype(str)
    dups = ids[ids.duplicated()].unique().tolist()
    if dups:
        raise ValueError(f"{path}: {len(dups)} duplicate id(s), e.g. {dups[:10]}")
    return frame
