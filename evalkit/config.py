"""Typed config schemas, registered in Hydra's ConfigStore.

Hydra rejects unknown keys and wrong types when it composes `conf/` against these dataclasses;
`OmegaConf.to_object` then builds the dataclasses, whose `__post_init__` checks what OmegaConf
does not (enum-like strings, cross-field rules such as `full` select strategy with LLaVA-NeXT).
All of it happens before any model loads. Every group option is a yaml file in `conf/` whose
defaults list starts with its schema (`/schema/<group>/<name>`), so the yaml is the registry.

Decoding options are the exception that makes a method addable without touching this file: the
yaml's `_target_` names a evalkit.decoding.base.DecodingMethod class whose `schema` dataclass
is the option's schema; `validate` merges the composed node into it (unknown keys, wrong types)
and builds it (`__post_init__` checks), with the valid keys listed on error.

Benchmark schemas live with their benchmark (its `schema`, a DatasetConfig subclass, found by
`dataset_schemas`), decoding schemas with their method. Defaults live in the schemas only: a yaml
sets what its option changes (tests/unit/test_config_contract.py refuses a yaml value equal to the
schema's default; decoding yamls list every key, see above), and the adapters' signatures read them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from datasets_adapters import LLAVA_SHORT_ANSWER
from evalkit.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent

FAMILIES = ("llava15", "llava16")
PROMPTS = ("llava_eval", "hf_chat", "mistral_inst")
SELECT_STRATEGIES = ("default", "full")
ASPECT_MODES = ("pad", "crop")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")


def check_choice(section: str, key: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise ConfigError(f"{section}.{key}={value!r} is not valid; choose one of {', '.join(choices)}")


@dataclass
class FeatureCacheConfig:
    """Vision features computed once per image and reused for every question about it; answers
    are identical to the uncached path (tested). Keys hash the decoded pixels and every setting
    that changes the features, never the file path, so a disk cache is safe to share."""

    enabled: bool = True
    max_items: int = 32  # images kept in memory (LRU)
    disk_dir: Optional[str] = None  # also persist features here (content-hash files)
    share_prefix: bool = True  # run the prompt up to the image once per image, then each question

    def __post_init__(self):
        if self.max_items < 1:
            raise ConfigError(f"model.feature_cache.max_items must be >= 1, got {self.max_items}")


@dataclass
class ModelConfig:
    _target_: str = "evalkit.models.llava.LlavaModel"
    name: str = MISSING  # short name used in run directories and reports
    path: str = MISSING  # hub id (llava-hf/...) or a local checkpoint directory
    # llava15 (pad / LlavaForConditionalGeneration) | llava16 (anyres / LlavaNext...) | None: the checkpoint's
    family: Optional[str] = None
    prompt: str = "llava_eval"  # llava_eval | hf_chat | mistral_inst
    # None keeps what the checkpoint's config says; an int or a list of ints overrides it.
    vision_feature_layer: Any = None
    vision_feature_select_strategy: Optional[str] = None  # default | full | None (checkpoint's)
    image_grid_pinpoints: Optional[List[List[int]]] = None  # llava16 only; None = checkpoint's
    # llava15 only: pad (LLaVA's expand-to-square) | crop (HF default) | None: the checkpoint's (pad for llava-hf)
    image_aspect_ratio: Optional[str] = None
    revision: Optional[str] = None
    feature_cache: FeatureCacheConfig = field(default_factory=FeatureCacheConfig)
    # Original-format LLaVA checkpoints (docs/fine_tuned.md): the LoRA output's base (an LLM or a
    # LLaVA checkpoint), a vision tower replacing mm_vision_tower, where conversions are cached.
    base: Optional[str] = None
    vision_tower: Optional[str] = None
    convert_cache: Optional[str] = None  # None: $EVALKIT_CACHE/converted or ~/.cache/evalkit/converted
    adapter: Optional[str] = None  # a PEFT adapter trained on a llava-hf model, merged at load (needs peft)

    def __post_init__(self):
        if self.family is not None:
            check_choice("model", "family", self.family, FAMILIES)
        if self.image_aspect_ratio is not None:
            check_choice("model", "image_aspect_ratio", self.image_aspect_ratio, ASPECT_MODES)
        self._check_checkpoint_sources()
        check_choice("model", "prompt", self.prompt, PROMPTS)
        if self.vision_feature_select_strategy is not None:
            check_choice(
                "model", "vision_feature_select_strategy", self.vision_feature_select_strategy, SELECT_STRATEGIES
            )
        layer = self.vision_feature_layer
        if layer is not None:
            layers = list(layer) if isinstance(layer, (list, tuple)) or OmegaConf.is_list(layer) else [layer]
            if not layers or not all(isinstance(x, int) and not isinstance(x, bool) for x in layers):
                raise ConfigError(f"model.vision_feature_layer must be an int or a list of ints, got {layer!r}")
        if self.family == "llava16" and self.vision_feature_select_strategy == "full":
            raise ConfigError(
                "model.vision_feature_select_strategy=full cannot work with family=llava16: LLaVA-NeXT "
                "reshapes each tile's features into a 24x24 grid, which the extra CLS token breaks; use default"
            )
        if self.family == "llava15" and self.image_grid_pinpoints is not None:
            raise ConfigError("model.image_grid_pinpoints applies to family=llava16 (anyres) only")
        for pinpoint in self.image_grid_pinpoints or []:
            if len(pinpoint) != 2 or any(int(v) <= 0 or int(v) % 14 for v in pinpoint):
                raise ConfigError(
                    f"model.image_grid_pinpoints entry {list(pinpoint)} must be [height, width], "
                    "positive multiples of the 14 px patch size"
                )

    def _check_checkpoint_sources(self) -> None:
        """An original-format checkpoint is recognised and validated here from its JSON files
        (every refusal before any weight loads); its family then decides the checks below."""
        from evalkit.models.original import inspect_original, is_original

        if self.adapter:
            from evalkit.models.adapter import check_adapter

            check_adapter(self.adapter)
        if not is_original(self.path):
            if self.base or self.vision_tower:
                raise ConfigError(f"model.base / model.vision_tower apply to original-format LLaVA checkpoints; "
                                  f"{self.path} is not one (no local config.json with mm_* keys)")
            return
        found = inspect_original(self.path, self.base, self.vision_tower)
        if self.family is not None and self.family != found.family:
            raise ConfigError(f"model.family={self.family}, but {self.path} is a {found.family} checkpoint "
                              f"(image_aspect_ratio={found.image_aspect_ratio}); drop model.family")
        self.family = found.family


@dataclass
class DatasetConfig:
    """Fields every adapter has; each adapter's schema adds its own."""

    _target_: str = MISSING
    name: str = MISSING
    question_suffix: str = LLAVA_SHORT_ANSWER
    parse_rule: Optional[str] = None  # None = the official rule of each item's task


@dataclass
class ShardConfig:
    """One job's part of a benchmark split over `count` jobs (evalkit/shards.py): item i of the
    dataset order runs in shard i % count. Sharding never changes an answer."""

    index: int = 0
    count: int = 1

    def __post_init__(self):
        if self.count < 1:
            raise ConfigError(f"shard.count must be >= 1, got {self.count}")
        if not 0 <= self.index < self.count:
            raise ConfigError(f"shard.index must be in 0..{self.count - 1} (shard.count={self.count}), got {self.index}")


@dataclass
class Config:
    model: ModelConfig = MISSING
    dataset: Any = MISSING
    decoding: Any = MISSING  # a DecodingMethod's schema, chosen by the yaml's _target_ (see validate)
    batch_size: int = 8
    limit: Optional[int] = None  # evaluate only the first N items of the dataset
    output_dir: Optional[str] = None  # default: results/<dataset>/<model>/<run_name>
    run_name: Optional[str] = None  # default: a timestamp
    results_root: str = "results"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    dtype: str = "auto"  # auto (fp16 on cuda, fp32 on cpu) | float32 | float16 | bfloat16
    sort_by_length: bool = True  # group items of similar length into batches (less padding)
    # DataLoader worker processes decoding/preprocessing images ahead of the model: auto (one per
    # spare core, up to 4; none on a 1-core machine or where fork is missing) or a number, 0 = inline.
    num_workers: str = "auto"
    # An existing output_dir is always resumed; resume=true without output_dir picks the latest
    # run directory of this dataset and model.
    resume: bool = False
    num_prompt_samples: int = 5  # rendered prompts kept in predictions.jsonl for the first items
    progress: bool = True
    shard: ShardConfig = field(default_factory=ShardConfig)
    # judge=openai | hf (conf/judge/, schemas in evalkit/judge/config.py): judged benchmarks' judge,
    # run after generation in the same command; null: no judge (judge later with python -m evalkit.judge).
    judge: Any = None

    def __post_init__(self):
        check_choice("", "device", self.device, DEVICES)
        check_choice("", "dtype", self.dtype, DTYPES)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.num_workers == "auto" or str(self.num_workers).isdigit()):
            raise ConfigError(f"num_workers must be auto or an integer >= 0, got {self.num_workers!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 or null, got {self.limit}")


# Model schemas by name; a yaml option picks one with `- /schema/<group>/<name>@_here_`.
MODEL_SCHEMAS: dict[str, type] = {"llava": ModelConfig}
# The package whose benchmark classes ship with evalkit; each declares its own schema.
BENCHMARK_PACKAGE = "datasets_adapters"


@functools.lru_cache(maxsize=None)
def dataset_schemas() -> dict[str, type]:
    """The shipped benchmarks' schemas by name (`/schema/dataset/<name>`). Each benchmark class
    declares its `schema` (a DatasetConfig subclass) in its own module; they are found by walking
    the benchmark package, so this file names none of them. A benchmark of your own needs no
    schema (its constructor checks its arguments) or registers one in Hydra's ConfigStore."""
    import importlib
    import pkgutil

    from evalkit.benchmark import Benchmark

    package = importlib.import_module(BENCHMARK_PACKAGE)
    found: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{BENCHMARK_PACKAGE}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, Benchmark) and value.__module__ == module.__name__
                    and value.schema is not None):
                found[value.schema.name] = value.schema  # a dataclass default is a class attribute
    return found


def schemas(group: str) -> dict[str, type]:
    return dataset_schemas() if group == "dataset" else MODEL_SCHEMAS if group == "model" else {}


def _asset(relative: str) -> str:
    """${evalkit_asset:checkpoints/x}: a file shipped inside the installed package."""
    return str(PACKAGE_DIR / relative)


def register_configs() -> None:
    """Schemas into Hydra's ConfigStore and the `evalkit_asset` resolver the model yamls use."""
    OmegaConf.register_new_resolver("evalkit_asset", _asset, replace=True)
    cs = ConfigStore.instance()
    cs.store(name="schema_config", node=Config)
    for group in ("model", "dataset"):
        for name, node in schemas(group).items():
            cs.store(group=f"schema/{group}", name=name, node=node)
    from evalkit.judge.config import SCHEMAS as JUDGE_SCHEMAS

    for name, node in JUDGE_SCHEMAS.items():
        cs.store(group="schema/judge", name=name, node=node)


def schema_of_option(group: str, option: str) -> type | None:
    """The schema dataclass a group option (conf/<group>/<option>.yaml) declares, if any."""
    import re

    path = conf_dir() / group / f"{option}.yaml"
    if not path.is_file():
        return None
    if group == "decoding":
        from evalkit.decoding.base import method_class

        target = OmegaConf.load(path).get("_target_")
        return method_class(target).schema if target else None
    match = re.search(rf"/schema/{group}/(\w+)", path.read_text(encoding="utf-8"))
    return schemas(group).get(match.group(1)) if match else None


def conf_dir() -> Path:
    """`conf/` beside the package in a source checkout / editable install, or inside it when installed."""
    for candidate in (PACKAGE_DIR.parent / "conf", PACKAGE_DIR / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(f"cannot find evalkit's conf/ directory next to {PACKAGE_DIR}")


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
        raise ConfigError("decoding: no _target_; a conf/decoding/<name>.yaml names its DecodingMethod class")
    cls = method_class(target)
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.schema), node))
    except ConfigError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"decoding ({target}): {first}; valid keys of decoding: "
                          f"{', '.join(schema_keys(cls))}") from exc
