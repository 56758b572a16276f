"""Run directories for the judge tests: a benchmark's items with given model answers, written as
the pipeline writes them (config.yaml naming the benchmark, predictions.jsonl from outputs.to_row)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Mapping, Optional, Sequence

import yaml

from evalkit.outputs import to_row
from evalkit.types import Item, Prediction


def write_run(run_dir: Path, target: str, items: Sequence[Item], answers: Mapping[str, str],
              errors: Optional[Mapping[str, str]] = None, **dataset) -> Path:
    """`dataset`: the dataset node's other keys (name, path, ...), so that rescoring can rebuild the
    items and check the rows against them, as for a run of `python -m evalkit`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump({"dataset": {"_target_": target, **dataset}}),
                                         encoding="utf-8")
    errors = errors or {}
    lines = []
    for item in items:
        text = answers.get(item.id, "")
        prediction = Prediction(item.id, raw_text=text, text=text.strip(), error=errors.get(item.id))
        lines.append(json.dumps(to_row(item, prediction, text.strip(), None).to_json(), ensure_ascii=False))
    (run_dir / "predictions.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return run_dir
