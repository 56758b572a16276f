"""The whole evaluation, top to bottom: config → adapter → model → batched run → score → report."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional

import pandas as pd
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from evalkit import engines, images, outputs, rundir, settings, shards, weights
from evalkit.config import Config
from evalkit.distributed import init_ranks
from evalkit.benchmark import Benchmark
from evalkit.decoding.base import DecodingMethod
from evalkit.errors import EvalkitError
from evalkit.fileio import write_atomic
from evalkit.generation import resolve_max_new_tokens
from evalkit.items import build, item_choices, load_items, scoring_of
from evalkit.registry import validate, validate_decoding
from evalkit.runner import iterate_predictions, padding_fraction, plan
from evalkit.scoring.scorer import annotate_rows, score_predictions, write_scores
from evalkit.suite import judge_applies, unjudged_skip
from evalkit.timing import startup_seconds
from evalkit.types import Item

log = logging.getLogger("evalkit")

RunDirError = rundir.RunDirError


def resolve_run_dir(typed: Config, dataset_name: str, sweep_dir: Optional[Path]) -> Path:
    if typed.output_dir:
        return Path(typed.output_dir)
    if typed.shard.count > 1:
        # Every shard job must find the same directory without talking to the others: no timestamp,
        # no sweep job number (a sweep over shard.index gives each job its own number).
        if not typed.run_name:
            raise RunDirError(f"shard.count={typed.shard.count}: set output_dir (or run_name) so that every shard "
                              "job writes the same run directory")
        return outputs.default_run_dir(typed.results_root, dataset_name, typed.model.name, typed.run_name)
    if sweep_dir is not None and not typed.resume:
        return sweep_dir  # a --multirun job: results/multirun/<time>/<job number>
    if typed.resume:
        parent = Path(typed.results_root) / dataset_name / typed.model.name
        previous = sorted(p for p in parent.glob("*") if (p / "config.yaml").is_file()) if parent.is_dir() else []
        if not previous:
            raise RunDirError(f"resume=true: no earlier run of {typed.model.name} on {dataset_name} under {parent}")
        return previous[-1]
    return outputs.default_run_dir(typed.results_root, dataset_name, typed.model.name, typed.run_name)


def check_resumable(run_dir: Path, cfg: DictConfig) -> None:
    """Refuse to mix answers of different settings in one directory."""
    saved = run_dir / "config.yaml"
    if not saved.is_file():
        return
    old = settings.answer_config(OmegaConf.to_container(OmegaConf.load(saved), resolve=True))
    new = settings.answer_config(OmegaConf.to_container(cfg, resolve=True))
    differences = outputs.config_differences(old, new)
    if differences:
        raise RunDirError(
            f"{run_dir} holds a run with settings that change answers; refusing to resume into it. "
            f"Differences: {'; '.join(differences)}. Use another output_dir."
        )


def run(cfg: DictConfig, sweep_dir: Optional[Path] = None) -> Optional[Path]:
    typed: Config = validate(cfg)  # every config error surfaces here, before any model loads
    skipped = unjudged_skip(cfg)  # a suite's judged column without a judge: skipped, never scored otherwise
    if skipped:
        log.warning(skipped)
        return None
    if typed.judge is not None and not judge_applies(cfg):  # a suite's judge is for its judged columns
        typed.judge = None
    rundir.check_names(typed.model.name, cfg.dataset.get("name"), typed.run_name)  # before anything is written
    weights.check_sources(OmegaConf.to_container(cfg.model, resolve=True))
    ranks = init_ranks(typed.device)
    scoring = scoring_of(cfg.dataset)  # a parse rule no task knows fails here, before any model loads
    items = load_items(cfg.dataset, typed.limit)
    if typed.judge is not None and ranks.is_main:  # an unreachable judge fails here, before any generation
        from evalkit.judge.stage import check_judge

        metas: dict[str, list] = {}
        for item in items:
            metas.setdefault(item.task, []).append(item.meta)
        check_judge(typed.judge, scoring[0], metas)
    # A null decoding.max_new_tokens becomes the items' tasks' length (captions: 512), recorded in config.yaml.
    generation = resolve_max_new_tokens(cfg, scoring[0], items)
    typed.decoding = validate_decoding(cfg.decoding)
    decoding: DecodingMethod = build(cfg.decoding, f"decoding {typed.decoding.name}")
    # What a served engine cannot run is refused here, with the reason, before any model or server starts.
    engines.check_supported(typed.engine, OmegaConf.to_container(cfg.model, resolve=True), decoding)
    # What a method that scores answer options (decoding=choice_logits) chooses between, per item.
    choices = item_choices(items, scoring[0], typed.decoding.name, cfg.dataset.name) if decoding.needs_choices else None

    # One directory for all ranks: the main rank names it (a timestamp must not differ per rank).
    run_dir = ranks.broadcast(str(resolve_run_dir(typed, cfg.dataset.name, sweep_dir) if ranks.is_main else None))
    run_dir = Path(run_dir)
    check_resumable(run_dir, cfg)
    # One writer per run directory (per shard job of a sharded run): the main rank holds the lock
    # until the run ends; every rank stops at once when it is held by another run.
    lock = rundir.RunLock(run_dir, _lock_name(typed.shard)) if ranks.is_main else None
    created = ranks.is_main and not run_dir.exists()
    problem = None
    if ranks.is_main:
        try:
            lock.acquire()
            fingerprint = weights.fingerprint(OmegaConf.to_container(cfg.model, resolve=True))
            weights.check_and_record(run_dir, fingerprint)  # resuming onto changed weights is refused
            write_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
        except EvalkitError as exc:
            problem = exc
            lock.release()
    failed = ranks.broadcast(str(problem) if problem else None)
    if problem is not None:
        raise problem
    if failed:
        raise RunDirError(failed)
    try:
        return _run_locked(cfg, typed, ranks, run_dir, scoring, items, generation, decoding, choices)
    except BaseException:
        if created:  # e.g. the model failed to load: no orphan directory of a run that never began
            lock.release()
            rundir.remove_if_unused(run_dir)
        raise
    finally:
        if lock is not None:
            lock.release()


def _lock_name(shard) -> str:
    return f"{outputs.SHARD_DIR}/{shards.file_stem(shard.index, shard.count)}.lock" if shard.count > 1 \
        else rundir.LOCK_NAME


def _run_locked(cfg: DictConfig, typed: Config, ranks, run_dir: Path, scoring, items: list[Item],
                generation, decoding: DecodingMethod, choices: Optional[dict[str, tuple]] = None) -> Optional[Path]:
    ranks.barrier()

    done = outputs.completed_ids(run_dir)
    shard = typed.shard
    ours = shards.select(items, shard.index, shard.count) if shard.count > 1 else items
    todo = [item for item in ours if item.id not in done]
    mine = todo[ranks.rank :: ranks.world_size]  # strided: every rank gets long and short items
    if ranks.is_main:
        log.info(
            "%s on %s%s: %d items, %d already done, %d to run on %d process(es) -> %s",
            typed.model.name, cfg.dataset.name, f" shard {shard.index}/{shard.count}" if shard.count > 1 else "",
            len(ours), len(ours) - len(todo), len(todo), ranks.world_size, run_dir,
        )

    images.MAX_PIXELS = typed.max_image_pixels  # read by load_image, here and in the forked workers
    started = time.perf_counter()
    model = _build_model(cfg, typed, ranks, run_dir) if mine else None
    try:
        return _run_model(cfg, typed, ranks, run_dir, scoring, items, generation, decoding, choices, model, mine,
                          done, ours, shard, time.perf_counter() - started)
    finally:
        engines.close_model(model)  # a served engine's server stops with the run (errors and SIGTERM too)


def _build_model(cfg: DictConfig, typed: Config, ranks, run_dir: Path):
    """The model (engine=hf), or a served engine in its place (one server per process)."""
    if engines.is_served(typed.engine):
        return engines.build_model(OmegaConf.to_container(cfg.model, resolve=True), typed.engine, typed.dtype,
                                   log_dir=run_dir, device=str(ranks.device), label=f"{shards.file_stem(typed.shard.index, typed.shard.count)}"
                                                          f"-rank{ranks.rank}")
    return build(cfg.model, f"model.path={typed.model.path}", device=str(ranks.device), dtype=typed.dtype)


def _run_model(cfg, typed, ranks, run_dir, scoring, items, generation, decoding, choices, model, mine, done, ours,
               shard, load_time) -> Optional[Path]:
    # A shard keeps the rendered prompts a single job would (the first items of the whole
    # dataset's plan), so merged shards equal one run byte for byte.
    prompt_ids = _prompt_ids(items, model, typed) if mine and shard.count > 1 else None
    stats = (generate_rows(mine, model, decoding, scoring, typed, run_dir, ranks, prompt_ids, choices) if mine
             else {"n_items": 0, "wall_time_s": 0.0})
    stats.update(rank=ranks.rank, model_load_s=round(load_time, 3))
    all_stats = ranks.gather(stats)
    ranks.barrier()
    if not ranks.is_main:
        return None
    if shard.count == 1:
        return finish(run_dir, cfg, typed, items, model, all_stats, resumed=len(done), generation=generation)
    shards.write_stats(run_dir, shard.index, shard.count, all_stats)
    generated = sum(s["n_items"] for s in all_stats)
    print(f"shard {shard.index}/{shard.count}: {len(ours)} items ({len(ours) - generated} resumed, "
          f"{generated} generated) -> {run_dir}")
    return merge_if_complete(run_dir, cfg, typed, items, model)


def _prompt_ids(items: list[Item], model, typed: Config) -> set[str]:
    order = [items[i].id for batch in plan(items, model, typed.batch_size, typed.sort_by_length) for i in batch]
    return set(order[: typed.num_prompt_samples])


def merge_if_complete(run_dir: Path, cfg: DictConfig, typed: Config, items: list[Item], model=None,
                      require: bool = False) -> Optional[Path]:
    """Merge and score a sharded run once every item of the dataset is predicted. Missing items:
    None (a shard job: the last shard to finish merges), or an error naming them (`require`:
    `python -m evalkit.merge`)."""
    done = outputs.completed_ids(run_dir)
    missing = [item.id for item in items if item.id not in done]
    if missing:
        message = (f"{run_dir}: {len(missing)} of {len(items)} items not predicted yet "
                   f"({', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''})")
        if require:
            raise RunDirError(f"{message}; run the shards that hold them first")
        print(f"{message}; the last shard to finish merges and scores (or `python -m evalkit.merge {run_dir}`)")
        return None
    try:
        with shards.merge_lock(run_dir):
            all_stats = shards.read_stats(run_dir) or [{"n_items": 0, "wall_time_s": 0.0}]
            generated = sum(s["n_items"] for s in all_stats)
            return finish(run_dir, cfg, typed, items, model, all_stats, resumed=len(items) - generated)
    except shards.LockHeld as exc:
        if require:
            raise RunDirError(str(exc)) from None
        log.info("%s", exc)
        return None


def generate_rows(mine: list[Item], model, decoding: DecodingMethod, scoring: tuple[type[Benchmark], Optional[str]],
                  typed: Config, run_dir: Path, ranks, prompt_ids: Optional[set[str]] = None,
                  choices: Optional[dict[str, tuple]] = None) -> dict:
    """Generate this rank's items, appending rows parsed by `scoring` (the benchmark and the parse
    rule, from scoring_of) to its shard after every batch. Rendered prompts are kept for the items
    in `prompt_ids`, or (None) the first generated here."""
    benchmark, rule = scoring
    by_id = {item.id: item for item in mine}
    stats: dict = {}
    shard = typed.shard
    writer = outputs.ShardWriter(run_dir, rank=ranks.rank,
                                 prefix=f"{shards.file_stem(shard.index, shard.count)}-" if shard.count > 1 else "")
    prompts_kept = 0
    progress = tqdm(total=len(mine), unit="item", disable=not (typed.progress and ranks.is_main),
                    desc=f"{typed.model.name} rank {ranks.rank}/{ranks.world_size}")
    started = time.perf_counter()
    try:
        for predictions, prompts in iterate_predictions(
            mine, model, decoding, typed.batch_size, typed.sort_by_length,
            num_workers=typed.num_workers, seed=typed.seed, stats=stats, choices=choices,
        ):
            rows = []
            for prediction, prompt in zip(predictions, prompts):
                item = by_id[prediction.item_id]
                keep_prompt = prompt is not None and (prompts_kept < typed.num_prompt_samples if prompt_ids is None
                                                      else item.id in prompt_ids)
                prompts_kept += keep_prompt
                task = benchmark.task(item.task)
                details = None if prediction.error else task.details(prediction.text, item.answer)
                rows.append(outputs.to_row(item, prediction, prompt if keep_prompt else None, details).to_json())
            writer.write(annotate_rows(rows, benchmark, rule))
            progress.update(len(rows))
    finally:
        writer.close()
        progress.close()
    wall = time.perf_counter() - started
    stats.update(n_items=len(mine), wall_time_s=round(wall, 3), items_per_s=round(len(mine) / wall, 3) if wall else None,
                 padding_fraction=round(padding_fraction(stats), 4),
                 startup_s=startup_seconds(stats.get("first_batch_at")))
    return stats


def _overhead(all_stats: list[dict]) -> dict:
    """Where the loop's time outside the model went (slowest rank), and the start-up: launch to the
    first batch ready (evalkit.timing; None where the process start is unknown)."""
    first = [s["first_batch_at"] for s in all_stats if s.get("first_batch_at")]
    startup = [s["startup_s"] for s in all_stats if s.get("startup_s") is not None]
    return {"plan_s": max(s.get("plan_s", 0.0) for s in all_stats),
            "wait_for_batches_s": round(max(s.get("wait_s", 0.0) for s in all_stats), 3),
            "num_workers": max(s.get("num_workers", 0) for s in all_stats),
            "first_batch_at": min(first) if first else None,
            "startup_s": max(startup) if startup else None}


def finish(run_dir: Path, cfg: DictConfig, typed: Config, items: list[Item], model, all_stats: list[dict],
           resumed: int, generation: Optional[dict] = None) -> Path:
    """Main rank: merge shards (each item exactly once), score, write summary, print the table."""
    rows = outputs.merge_shards(run_dir, [item.id for item in items])
    benchmark, rule = scoring_of(cfg.dataset)
    from evalkit.judge.stage import judge_run, judges_of_summary, record_judge, scoring_judge

    # The judge stage: judged benchmarks' answers judged now (cached in the run directory), or,
    # without judge=..., the judgments an earlier `python -m evalkit.judge` left in a resumed run.
    judgments = judge_run(run_dir, typed.judge) if typed.judge is not None else scoring_judge(run_dir)
    scores = score_predictions(pd.DataFrame(rows), benchmark, rule=rule, judgments=judgments)
    earlier_judges = judges_of_summary(run_dir)
    wall = max(s["wall_time_s"] for s in all_stats)
    generated = sum(s["n_items"] for s in all_stats)
    generate_time = max(s.get("generate_time_s", 0.0) for s in all_stats)
    summary = {
        "run_dir": str(run_dir),
        "model": model.describe() if model is not None else OmegaConf.to_container(cfg.model, resolve=True),
        "dataset": OmegaConf.to_container(cfg.dataset, resolve=True),
        "decoding": OmegaConf.to_container(cfg.decoding, resolve=True),
        **({"generation": generation} if generation else {}),
        "weights": weights.recorded(run_dir),  # sha256 of every weight file loaded (evalkit.weights)
        "batch_size": typed.batch_size,
        "n_items": len(items),
        "n_errors": sum(1 for r in rows if r["error"]),
        "n_generated_this_session": generated,
        "n_resumed": resumed,
        "n_processes": len(all_stats),
        "wall_time_s": round(wall, 3),
        "items_per_s": round(generated / wall, 3) if wall else None,
        "generate_time_s": round(generate_time, 3),
        "share_outside_generate": round(1 - generate_time / wall, 4) if wall else None,
        **_overhead(all_stats),
        "padding_fraction": round(sum(s.get("padding_fraction", 0) for s in all_stats) / len(all_stats), 4),
        "oom_splits": sum(s.get("oom_splits", 0) for s in all_stats),
        # Vision-tower runs and image preprocessings this session (the feature cache makes them < items).
        "vision_encodes": sum(s.get("vision_encodes", 0) for s in all_stats),
        "image_preps": sum(s.get("image_preps", 0) for s in all_stats),
        "per_rank": [{k: s.get(k) for k in ("rank", "n_items", "items_per_s", "wall_time_s", "model_load_s")}
                     for s in all_stats],
        "versions": outputs.versions(),
    }
    outputs.write_json(run_dir / "summary.json", {**summary, **earlier_judges})
    if judgments is not None:
        record_judge(run_dir, judgments)
    write_scores(run_dir, scores)
    print(scores.format())
    print(f"\n{len(items)} items ({resumed} resumed), {summary['n_errors']} errors, "
          f"{summary['items_per_s']} items/s on {len(all_stats)} process(es) -> {run_dir}")
    if summary["n_errors"]:
        print(error_digest(rows, run_dir))
    return run_dir


def error_digest(rows: list[dict], run_dir: Path, shown: int = 5) -> str:
    """The first error rows (id: reason) and where the whole list is."""
    errors = [r for r in rows if r["error"]]
    lines = [f"{len(errors)} item(s) have no answer (error rows, scored as wrong); the first {min(shown, len(errors))}:"]
    lines += [f"  {r['id']}: {str(r['error']).splitlines()[0][:200]}" for r in errors[:shown]]
    lines.append(f"all of them: the rows of {run_dir / 'predictions.jsonl'} whose \"error\" is set "
                 f"(jq -c 'select(.error)' {run_dir / 'predictions.jsonl'})")
    return "\n".join(lines)
