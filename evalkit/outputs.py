"""The run directory: what a run writes, and nothing else writes there.

    <run_dir>/config.yaml          fully resolved config
    <run_dir>/shards/rank<R>.jsonl predictions as generated (batch order), appended + flushed per batch
    <run_dir>/predictions.jsonl    every item once, in dataset order (the contract for scoring)
    <run_dir>/metrics.csv          tidy metrics table (evalkit.scoring)
    <run_dir>/summary.json         headline numbers, counts, timing, versions
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Iterable, Optional, Sequence

from evalkit.types import Item, Prediction, PredictionRow

SHARD_DIR = "shards"


def default_run_dir(results_root: str, dataset: str, model: str, run_name: Optional[str], job_num: Optional[int]) -> Path:
    if not run_name:
        run_name = datetime.now().strftime("%Y%m%d-%H%M%S")
        if job_num is not None:  # one sweep can start several jobs within the same second
            run_name += f"-j{job_num}"
    return Path(results_root) / dataset / model / run_name


def to_row(item: Item, prediction: Prediction, parsed: Optional[str], prompt: Optional[str]) -> PredictionRow:
    return PredictionRow(
        id=item.id,
        task=item.task,
        question=item.question,
        answer=item.answer,
        category=item.category,
        group=item.group,
        prediction=prediction.raw_text,
        text=prediction.text,
        parsed=None if prediction.error else parsed,
        correct=prediction.error is None and parsed == item.answer,
        error=prediction.error,
        p_yes=prediction.p_yes,
        batch_size=prediction.batch_size,
        batch_time_s=prediction.batch_time_s,
        n_input_tokens=prediction.n_input_tokens,
        prompt=prompt,
        meta=_jsonable(item.meta),
    )


def _jsonable(meta) -> dict:
    return json.loads(json.dumps(dict(meta), default=str))


class ShardWriter:
    """Appends whole lines and flushes after each batch, so a kill loses at most the batch in flight."""

    def __init__(self, run_dir: Path, rank: int = 0):
        self.path = run_dir / SHARD_DIR / f"rank{rank}.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "a", encoding="utf-8")

    def write(self, rows: Iterable[PredictionRow]) -> None:
        self._file.write("".join(json.dumps(r.to_json(), ensure_ascii=False) + "\n" for r in rows))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def read_jsonl(path: Path) -> list[dict]:
    """Rows of a JSONL file; a torn last line (a kill mid-write) is dropped."""
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            if n == len(lines) - 1:
                continue
            raise ValueError(f"{path}:{n + 1}: corrupt line in the middle of a predictions file")
    return rows


def merge_shards(run_dir: Path, item_order: Sequence[str]) -> list[dict]:
    """Merge every shard into predictions.jsonl in dataset order; each item exactly once."""
    by_id: dict[str, dict] = {}
    for shard in sorted((run_dir / SHARD_DIR).glob("*.jsonl")):
        for row in read_jsonl(shard):
            by_id.setdefault(row["id"], row)  # a resumed item may repeat; the first write wins
    missing = [i for i in item_order if i not in by_id]
    if missing:
        raise RuntimeError(f"{run_dir}: {len(missing)} item(s) have no prediction, e.g. {missing[:5]}")
    rows = [by_id[i] for i in item_order]
    tmp = run_dir / "predictions.jsonl.tmp"
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    tmp.replace(run_dir / "predictions.jsonl")
    return rows


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
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
