"""The whole evaluation, top to bottom: config → adapter → model → batched run → score → report."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import pandas as pd
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from evalkit import outputs
from evalkit.config import Config, validate
from evalkit.errors import DatasetError
from evalkit.runner import Decoding, iterate_predictions, padding_fraction
from evalkit.scoring.parse import DEFAULT_RULE, parse_answer
from evalkit.scoring.score import score_predictions, write_scores
from evalkit.types import Item

log = logging.getLogger("evalkit")

# Dataset config keys that steer evalkit itself rather than the adapter.
_NOT_ADAPTER_ARGS = ("name", "parse_rule")


def load_items(dataset_cfg: DictConfig, limit: Optional[int]) -> list[Item]:
    args = {k: v for k, v in dataset_cfg.items() if k not in _NOT_ADAPTER_ARGS}
    adapter = instantiate(args, _convert_="all")
    items = adapter.load()
    if limit is not None:
        items = items[:limit]
    if not items:
        raise DatasetError(f"dataset {dataset_cfg.name}: no items to evaluate")
    seen: set[str] = set()
    duplicates = {item.id for item in items if item.id in seen or seen.add(item.id)}
    if duplicates:
        raise DatasetError(f"dataset {dataset_cfg.name}: duplicate item ids {sorted(duplicates)[:5]}")
    return items


def run(cfg: DictConfig, job_num: Optional[int] = None) -> Path:
    typed: Config = validate(cfg)  # every config error surfaces here, before any model loads
    items = load_items(cfg.dataset, typed.limit)

    run_dir = Path(typed.output_dir) if typed.output_dir else outputs.default_run_dir(
        typed.results_root, cfg.dataset.name, typed.model.name, typed.run_name, job_num
    )
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(OmegaConf.to_yaml(cfg, resolve=True), encoding="utf-8")
    log.info("evaluating %s on %s (%d items) -> %s", typed.model.name, cfg.dataset.name, len(items), run_dir)

    started = time.perf_counter()
    model = instantiate(cfg.model, device=typed.device, dtype=typed.dtype, _convert_="all")
    load_time = time.perf_counter() - started

    rule = typed.dataset.parse_rule
    by_id = {item.id: item for item in items}
    decoding = Decoding(**{k: getattr(typed.decoding, k) for k in Decoding.__dataclass_fields__})
    stats: dict = {}
    writer = outputs.ShardWriter(run_dir, rank=0)
    prompts_kept = 0
    progress = tqdm(total=len(items), unit="item", disable=not typed.progress, desc=typed.model.name)
    run_started = time.perf_counter()
    try:
        for predictions, prompts in iterate_predictions(
            items, model, decoding, typed.batch_size, typed.sort_by_length, seed=typed.seed, stats=stats
        ):
            rows = []
            for prediction, prompt in zip(predictions, prompts):
                item = by_id[prediction.item_id]
                keep_prompt = prompt is not None and prompts_kept < typed.num_prompt_samples
                prompts_kept += keep_prompt
                parsed = parse_answer(prediction.text, rule or DEFAULT_RULE[item.task])
                rows.append(outputs.to_row(item, prediction, parsed, prompt if keep_prompt else None))
            writer.write(rows)
            progress.update(len(rows))
    finally:
        writer.close()
        progress.close()
    run_time = time.perf_counter() - run_started

    rows = outputs.merge_shards(run_dir, [item.id for item in items])
    scores = score_predictions(pd.DataFrame(rows), rule=rule)
    summary = {
        "run_dir": str(run_dir),
        "model": model.describe(),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
        "decoding": OmegaConf.to_container(cfg.decoding, resolve=True),
        "batch_size": typed.batch_size,
        "n_items": len(items),
        "n_errors": sum(1 for r in rows if r["error"]),
        "model_load_s": round(load_time, 3),
        "wall_time_s": round(run_time, 3),
        "items_per_s": round(len(items) / run_time, 3) if run_time else None,
        "generate_time_s": round(stats.get("generate_time_s", 0.0), 3),
        "share_outside_generate": round(1 - stats.get("generate_time_s", 0.0) / run_time, 4) if run_time else None,
        "padding_fraction": round(padding_fraction(stats), 4),
        "n_batches": stats.get("n_batches", 0),
        "versions": outputs.versions(),
    }
    outputs.write_json(run_dir / "summary.json", summary)
    write_scores(run_dir, scores)
    print(scores.format())
    print(f"\n{len(items)} items, {summary['n_errors']} errors, {summary['items_per_s']} items/s -> {run_dir}")
    return run_dir
