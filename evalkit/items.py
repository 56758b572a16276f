"""A benchmark's items from a dataset config: the adapter built from its yaml (its class checked
first, never instantiated unchecked), each item checked against the task that scores it, the parse
rule checked against every task. Used by the pipeline and by rescoring's coverage check."""

from __future__ import annotations

from typing import Optional

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig

from evalkit.benchmark import EVALKIT_KEYS, Benchmark, benchmark_class, benchmark_keys
from evalkit.errors import ConfigError, DatasetError, EvalkitError, unknown_key
from evalkit.types import Item


class BuildError(EvalkitError):
    pass



def build(node, what: str, **kwargs):
    """hydra.utils.instantiate, with the adapter's/model's own error shown as one line."""
    try:
        return instantiate(node, **kwargs, _convert_="all")
    except InstantiationException as exc:
        cause = exc.__cause__ or exc
        if isinstance(cause, EvalkitError):
            raise cause from None
        raise BuildError(f"{what}: {type(cause).__name__}: {str(cause).strip().splitlines()[0]}") from cause


def scoring_of(dataset_cfg: DictConfig) -> tuple[type[Benchmark], Optional[str]]:
    """The benchmark class the dataset config builds and the parse rule it asks for, checked
    against every task of the benchmark (a typo fails here, before any model loads)."""
    try:
        benchmark = benchmark_class(str(dataset_cfg.get("_target_")))
        rule = dataset_cfg.get("parse_rule", None)
        for task in benchmark.tasks:
            task.rule(rule)
    except (ValueError, EvalkitError) as exc:
        raise ConfigError(f"dataset {dataset_cfg.get('name')}: {exc}") from None
    return benchmark, rule


def load_items(dataset_cfg: DictConfig, limit: Optional[int]) -> list[Item]:
    """The benchmark's items (its adapter, built from the dataset config), each checked against
    the task that will score it."""
    try:  # the class is checked before anything is built from the config
        benchmark = benchmark_class(str(dataset_cfg.get("_target_")))
    except EvalkitError as exc:
        raise DatasetError(f"dataset {dataset_cfg.get('name')}: {exc}") from None
    valid = benchmark_keys(benchmark)
    unknown = [k for k in dataset_cfg if valid is not None and k not in valid]
    if unknown:  # a benchmark without a schema: its yaml's typo, before its constructor's TypeError
        raise ConfigError(unknown_key(f"dataset.{unknown[0]}", "dataset.", valid))
    args = {k: v for k, v in dataset_cfg.items() if k == "_target_" or k not in EVALKIT_KEYS}
    adapter = build(args, f"dataset {dataset_cfg.name}")
    if not isinstance(adapter, Benchmark):
        raise DatasetError(f"dataset {dataset_cfg.name}: {type(adapter).__name__} is not an evalkit benchmark "
                           "(subclass evalkit.benchmark.Benchmark and declare its tasks)")
    items = adapter.load()
    if limit is not None:
        items = items[:limit]
    if not items:
        raise DatasetError(f"dataset {dataset_cfg.name}: no items to evaluate")
    for item in items:
        try:
            type(adapter).task(item.task).check_item(item)
        except (ValueError, EvalkitError) as exc:
            raise DatasetError(f"dataset {dataset_cfg.name}: {exc}") from None
    for name in dict.fromkeys(item.task for item in items):  # e.g. NLTK data for captions: before any model loads
        type(adapter).task(name).check_ready()
    seen: set[str] = set()
    duplicates = {item.id for item in items if item.id in seen or seen.add(item.id)}
    if duplicates:
        raise DatasetError(f"dataset {dataset_cfg.name}: duplicate item ids {sorted(duplicates)[:5]}")
    return items


def item_choices(items: list[Item], benchmark: type[Benchmark], decoding: str, dataset: str) -> dict[str, tuple]:
    """Each item's answer options (its task's `choices`); every item must have them, checked
    before any model loads."""
    choices = {item.id: benchmark.task(item.task).choices(item) for item in items}
    without = [item for item in items if not choices[item.id]]
    if without:
        tasks = sorted({item.task for item in without})
        raise ConfigError(f"decoding={decoding} scores each item's answer options, but {len(without)} item(s) of "
                          f"dataset {dataset} have none (task(s) {tasks}, e.g. item {without[0].id!r}); "
                          "generate their answers with decoding=greedy")
    return {k: tuple(v) for k, v in choices.items()}
