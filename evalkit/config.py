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
(`build_settings`), and a yaml sets only what its option changes (tests/integration/test_config_contract.py
refuses a yaml value equal to the schema's default). A decoding method of your own needs no
registration: `validate` merges the composed node into the schema its `_target_` names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, List, Optional

from omegaconf import MISSING, OmegaConf

from evalkit.errors import ConfigError, check_choice
from evalkit.models.feature_cache import FeatureCacheConfig
from evalkit.models.prompts import PROMPTS

PACKAGE_DIR = Path(__file__).resolve().parent
# LLaVA's short-answer instruction, appended to questions unless a benchmark's convention differs.
LLAVA_SHORT_ANSWER = "\nAnswer the question using a single word or phrase."

FAMILIES = ("llava15", "llava16")
SELECT_STRATEGIES = ("default", "full")
ASPECT_MODES = ("pad", "crop")
DEVICES = ("auto", "cpu", "cuda")
DTYPES = ("auto", "float32", "float16", "bfloat16")


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


UNJUDGED = ("skip", "fail")


@dataclass
class SuiteConfig:
    """Set by a suite (conf/experiment/<name>.yaml, `+experiment=NAME`): the published table a run is
    a cell of. evalkit/suite.py checks every cell's files before the first model loads."""

    name: Optional[str] = None  # the experiment's name; null: not part of a suite
    # A judged benchmark (llava_bench, mmvet, mmhal) in a suite run without judge=...: skip (one line
    # saying so; the table shows "–") or fail. Never scored by a fallback.
    unjudged: str = "skip"
    # Columns of the published table evalkit cannot run ("Object HalBench: why"): printed once per sweep.
    unavailable: List[str] = field(default_factory=list)

    def __post_init__(self):
        check_choice("suite.unjudged", self.unjudged, UNJUDGED)


ENGINES = ("hf", "vllm", "openai")


@dataclass
class EngineConfig:
    """The `engine` group (conf/engine/*.yaml, docs/engines.md): what generates the answers.
    hf: transformers in this process (the reference); vllm: vLLM's OpenAI-compatible server, started
    by evalkit for model.path from `python` and stopped when the run ends; openai: a server the user
    runs (`base_url`, `model`). The served engines send evalkit's prompt and check, on the first
    item, that the server's prompt tokens equal evalkit's."""

    kind: str = MISSING
    python: Optional[str] = None  # vllm: an interpreter that has vLLM; None: this one
    base_url: Optional[str] = None  # openai: e.g. http://127.0.0.1:8000/v1
    model: Optional[str] = None  # openai: the served model id; vllm: the name it is served under (model.name)
    api_key_env: str = "OPENAI_API_KEY"  # openai: the variable holding the key (never the key)
    concurrency: int = 8  # requests in flight
    tensor_parallel_size: int = 1  # vllm settings, passed through (dtype comes from `dtype`)
    gpu_memory_utilization: Optional[float] = None
    max_model_len: Optional[int] = None
    extra_args: List[str] = field(default_factory=list)  # vllm: more server arguments, as they are
    startup_timeout_s: float = 900.0
    request_timeout_s: float = 600.0
    top_logprobs: int = 20  # log-probs asked per answer token for P(yes) / option scores
    check_prompt: bool = True  # refuse a run whose first prompt's tokens differ from evalkit's

    def __post_init__(self):
        check_choice("engine.kind", self.kind, ENGINES)
        if self.concurrency < 1 or self.tensor_parallel_size < 1 or self.top_logprobs < 1:
            raise ConfigError("engine.concurrency, engine.tensor_parallel_size and engine.top_logprobs must be >= 1")
        if self.kind == "openai" and not (self.base_url and self.model):
            raise ConfigError("engine=openai needs engine.base_url and engine.model (the server you run and the "
                              "model id it serves)")
        if self.kind != "vllm" and (self.python or self.extra_args):
            raise ConfigError(f"engine.python / engine.extra_args apply to engine=vllm, not engine={self.kind}")


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
    # judge=openai | hf (conf/judge/, schemas in evalkit/judge/config.py): judged benchmarks' judge,
    # run after generation in the same command; null: no judge (judge later with python -m evalkit.judge).
    judge: Any = None
    # Where benchmarks in LLaVA's playground/data/eval layout find their files: each benchmark yaml's
    # default path is ${data_root}/<its folder> (dataset.path=... still overrides one benchmark).
    data_root: str = "playground/data/eval"
    suite: SuiteConfig = field(default_factory=SuiteConfig)


    # engine=hf | vllm | openai (conf/engine/, EngineConfig above); None (old run configs): hf.
    engine: Optional[EngineConfig] = None

    def __post_init__(self):
        check_choice("device", self.device, DEVICES)
        check_choice("dtype", self.dtype, DTYPES)
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.num_workers == "auto" or str(self.num_workers).isdigit()):
            raise ConfigError(f"num_workers must be auto or an integer >= 0, got {self.num_workers!r}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 or null, got {self.limit}")


def conf_dir() -> Path:
    """`conf/` beside the package in a source checkout / editable install, or inside it when installed."""
    for candidate in (PACKAGE_DIR.parent / "conf", PACKAGE_DIR / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(f"cannot find evalkit's conf/ directory next to {PACKAGE_DIR}")


