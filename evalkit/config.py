"""Typed config schemas, registered in Hydra's ConfigStore.

Hydra rejects unknown keys and wrong types when it composes `conf/` against these dataclasses;
`OmegaConf.to_object` then builds the dataclasses, whose `__post_init__` checks what OmegaConf
does not (enum-like strings, cross-field rules such as `full` select strategy with LLaVA-NeXT).
All of it happens before any model loads. Every group option is a yaml file in `conf/` whose
defaults list starts with its schema (`/schema/<group>/<name>`), so the yaml is the registry.

Benchmark schemas live with their benchmark (its `schema`, a DatasetConfig subclass), decoding
schemas with their method (a DecodingMethod's `schema`); both are found by walking their package
(`datasets_adapters`, `evalkit.decoding`), so this file names none of them. A schema is the one
place its settings, defaults and checks live: the adapter or method is built from it
(`build_settings`), and a yaml sets only what its option changes (tests/unit/test_config_contract.py
refuses a yaml value equal to the schema's default). A decoding method of your own needs no
registration: `validate` merges the composed node into the schema its `_target_` names.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, List, Mapping, Optional, Sequence

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf

from datasets_adapters import LLAVA_SHORT_ANSWER
from evalkit.errors import ConfigError, check_choice, unknown_key
from evalkit.models.prompts import PROMPTS

PACKAGE_DIR = Path(__file__).resolve().parent

FAMILIES = ("llava15", "llava16")
SELECT_STRATEGIES = ("default", "full")
ASPECT_MODES = ("pad", "crop")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")


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
    prompt: str = "llava_eval"  # a template of evalkit/models/prompts.py (PROMPTS)
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
            check_choice("model.family", self.family, FAMILIES)
        if self.image_aspect_ratio is not None:
            check_choice("model.image_aspect_ratio", self.image_aspect_ratio, ASPECT_MODES)
        self._check_checkpoint_sources()
        check_choice("model.prompt", self.prompt, PROMPTS)
        if self.vision_feature_select_strategy is not None:
            check_choice("model.vision_feature_select_strategy", self.vision_feature_select_strategy, SELECT_STRATEGIES)
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
    # Images over this many pixels become error rows; null: Pillow's decompression-bomb threshold.
    max_image_pixels: Optional[int] = None

    def __post_init__(self):
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.num_workers == "auto" or str(self.num_workers).isdigit()):
            raise ConfigError(f"num_workers must be auto or an integer >= 0, got {self.num_workers!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 or null, got {self.limit}")


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


def build_settings(schema: type, section: str, values: Mapping[str, Any]):
    """A schema instance from keyword values, the way an adapter or a decoding method is built from
    its yaml (or directly, in tests and tools): an unknown key fails with the closest valid one,
    then the schema's `__post_init__` checks the values. The one validation of those settings."""
    valid = [f.name for f in fields(schema)]
    for key in values:
        if key not in valid:
            raise ConfigError(unknown_key(f"{section}.{key}", f"{section}.", valid))
    return schema(**values)


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
