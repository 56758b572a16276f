"""Finding things by name: the shipped schemas in Hydra's ConfigStore, a group option's schema and
keys, the typed validation of a composed config, and the benchmark of a config, a `--benchmark`
name or a run directory. It walks the benchmark and decoding packages, so it sits above them:
what they import (evalkit.config's schemas, evalkit.benchmark) never imports it back."""

from __future__ import annotations

import functools
import json
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from evalkit.benchmark import Benchmark, BenchmarkError, benchmark_class
from evalkit.config import PACKAGE_DIR, Config, ModelConfig, conf_dir
from evalkit.errors import ConfigError

# Model schemas by name; a yaml option picks one with `- /schema/<group>/<name>@_here_`.
MODEL_SCHEMAS: dict[str, type] = {"llava": ModelConfig}
# The packages whose benchmark classes / decoding methods ship with evalkit; each declares its schema.
BENCHMARK_PACKAGE = "datasets_adapters"
DECODING_PACKAGE = "evalkit.decoding"


def _declared_schemas(package_name: str, base: type) -> dict[str, type]:
    """{schema name: schema} of the `base` subclasses defined in the modules of a package (a
    dataclass default is a class attribute: `schema.name`); classes without a named schema are
    skipped. Walking the package means no file lists them."""
    import importlib
    import pkgutil

    package = importlib.import_module(package_name)
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package_name}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, base) and value.__module__ == module.__name__
                    and value.schema is not None and getattr(value.schema, "name", MISSING) != MISSING):
                found[value.schema.name] = value.schema
    return found


@functools.lru_cache(maxsize=None)
def dataset_schemas() -> dict[str, type]:
    """The shipped benchmarks' schemas by name (`/schema/dataset/<name>`): each benchmark class
    declares its `schema` (a DatasetConfig subclass) in its own module. A benchmark of your own
    needs none (its constructor's arguments are its keys) or declares one the same way."""
    from evalkit.benchmark import Benchmark

    return _declared_schemas(BENCHMARK_PACKAGE, Benchmark)


@functools.lru_cache(maxsize=None)
def decoding_schemas() -> dict[str, type]:
    """The shipped decoding methods' schemas by name (`/schema/decoding/<name>`): greedy, sample,
    yesno_logits, contrastive, contrastive_yesno; presets (vcd, icd, ...) are yamls over them."""
    from evalkit.decoding.base import DecodingMethod

    return _declared_schemas(DECODING_PACKAGE, DecodingMethod)


def schemas(group: str) -> dict[str, type]:
    if group == "model":
        return MODEL_SCHEMAS
    if group == "dataset":
        return dataset_schemas()
    return decoding_schemas() if group == "decoding" else {}


def _asset(relative: str) -> str:
    """${evalkit_asset:checkpoints/x}: a file shipped inside the installed package."""
    return str(PACKAGE_DIR / relative)


def register_configs() -> None:
    """Schemas into Hydra's ConfigStore and the `evalkit_asset` resolver the model yamls use."""
    OmegaConf.register_new_resolver("evalkit_asset", _asset, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="schema_config", node=Config)
    for group in ("model", "dataset", "decoding"):
        for name, node in schemas(group).items():
            cs.store(group=f"schema/{group}", name=name, node=node)
    from evalkit.config import ENGINES, EngineConfig

    for name in ENGINES:
        cs.store(group="schema/engine", name=name, node=EngineConfig)
    from evalkit.judge.config import SCHEMAS as JUDGE_SCHEMAS

    for name, node in JUDGE_SCHEMAS.items():
        cs.store(group="schema/judge", name=name, node=node)


def option_path(group: str, option: str, extra_dirs: Sequence[Path] = ()) -> Optional[Path]:
    """conf/<group>/<option>.yaml, or the same file under a config folder of `hydra.searchpath`."""
    for folder in (conf_dir(), *extra_dirs):
        path = Path(folder) / group / f"{option}.yaml"
        if path.is_file():
            return path
    return None


def schema_of_option(group: str, option: str, extra_dirs: Sequence[Path] = ()) -> type | None:
    """The schema dataclass a group option (conf/<group>/<option>.yaml) declares, if any: the one
    its defaults list names (`/schema/<group>/<name>`), else the `schema` of the class its
    `_target_` names (a decoding method or a benchmark of your own)."""
    import re

    path = option_path(group, option, extra_dirs)
    if path is None:
        return None
    match = re.search(rf"/schema/{group}/(\w+)", path.read_text(encoding="utf-8"))
    if match:
        return schemas(group).get(match.group(1))
    target = OmegaConf.load(path).get("_target_")
    if not target or group not in ("dataset", "decoding"):
        return None
    if group == "decoding":
        from evalkit.decoding.base import method_class

        return method_class(target).schema
    from evalkit.benchmark import benchmark_class

    return benchmark_class(target).schema


def option_keys(group: str, option: str, extra_dirs: Sequence[Path] = ()) -> Optional[list[str]]:
    """The keys a group option accepts, for "did you mean" errors: its schema's fields, or for a
    benchmark of your own without a schema its constructor's arguments and the keys evalkit reads
    (`evalkit.benchmark.benchmark_keys`); None when they cannot be known."""
    try:
        schema = schema_of_option(group, option, extra_dirs)
        if schema is not None:
            return sorted(f.name for f in fields(schema))
        path = option_path(group, option, extra_dirs)
        target = OmegaConf.load(path).get("_target_") if path is not None and group == "dataset" else None
        if not target:
            return None
        from evalkit.benchmark import benchmark_class, benchmark_keys

        return benchmark_keys(benchmark_class(target))
    except Exception:  # a module that does not import: the run reports that in its own words
        return None


def option_node(group: str, option: str) -> dict:
    """One group option as a run composes it (its yaml over its schema), as a plain dict."""
    from hydra import compose, initialize_config_dir

    register_configs()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
        cfg = compose(config_name="config", overrides=[f"{group}={option}"])
    return OmegaConf.to_container(cfg[group], resolve=True)


def benchmark_named(name: str, where: Optional[str] = None) -> type[Benchmark]:
    """`--benchmark NAME`: an option of conf/dataset (mme, pope, yesno, ...) or a dotted class path
    (`where`: read from a run directory's file, see benchmark_class)."""

    schema = schema_of_option("dataset", name)
    if schema is not None:
        return benchmark_class(schema._target_)
    if "." in name:
        return benchmark_class(name, where)
    options = sorted(p.stem for p in (conf_dir() / "dataset").glob("*.yaml"))
    raise BenchmarkError(f"unknown benchmark {name!r}; choose one of {', '.join(options)} or give module.Class")


def benchmark_of_config(config: Mapping[str, Any], where: Optional[str] = None) -> type[Benchmark]:
    """The benchmark of a composed or saved run config (its dataset._target_; `where`: the saved
    config's file, whose names evalkit.trust checks)."""
    dataset = config.get("dataset") or {}
    if dataset.get("_target_"):
        return benchmark_class(str(dataset["_target_"]), where)
    if dataset.get("name"):
        return benchmark_named(str(dataset["name"]), where)
    raise BenchmarkError("the config names no dataset (dataset._target_ or dataset.name)")


def benchmark_of_run(run_dir: Path | str) -> type[Benchmark]:
    """The benchmark of a run directory: config.yaml's dataset, or for predictions imported by
    `python -m evalkit.score --benchmark` the benchmark its summary.json names."""
    import yaml

    run_dir = Path(run_dir)
    config_path = run_dir / "config.yaml"
    if config_path.is_file():
        return benchmark_of_config(yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}, str(config_path))
    try:
        source = json.loads((run_dir / "summary.json").read_text(encoding="utf-8")).get("source") or {}
    except (OSError, ValueError):
        source = {}
    if source.get("benchmark"):
        return benchmark_named(str(source["benchmark"]), str(run_dir / "summary.json"))
    raise BenchmarkError(f"{run_dir}: no config.yaml and no imported source: which benchmark is it?")


def validate(cfg) -> Config:
    """Build the typed dataclasses (runs every __post_init__ check) from a composed DictConfig."""
    try:
        typed = OmegaConf.to_object(cfg)
    except ConfigError:
        raise
    except Exception as exc:  # OmegaConf validation errors carry the full key path
        raise ConfigError(str(exc).splitlines()[0]) from exc
    typed.decoding = validate_decoding(cfg.decoding)
    from evalkit.judge.config import validate_judge

    typed.judge = validate_judge(cfg.get("judge"))
    return typed


def validate_decoding(node):
    """The decoding node built as its method's schema: the yaml's `_target_` picks the class."""
    from evalkit.decoding.base import method_class, schema_keys

    if not OmegaConf.is_config(node):
        node = OmegaConf.create(node)
    target = node.get("_target_")
    if not target:
        raise ConfigError("decoding: no _target_; a conf/decoding/<name>.yaml names its DecodingMethod class "
                          "(its schema's _target_, or its own)")
    cls = method_class(target)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.schema), node))
    except ConfigError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"decoding ({target}): {first}; valid keys of decoding: "
                          f"{', '.join(schema_keys(cls))}") from exc
