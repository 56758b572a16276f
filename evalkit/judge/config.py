"""The `judge` config group: `judge=openai` (any OpenAI-compatible endpoint) or `judge=hf` (a local
transformers causal LM, loaded in-process). Schemas here, options in conf/judge/*.yaml.

Settings left null take the benchmark's official values (temperature, max_tokens). The API key is
never a setting: `api_key_env` names the environment variable that holds it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Optional

from omegaconf import MISSING, OmegaConf

from evalkit.errors import ConfigError

KINDS = ("openai", "hf")


@dataclass
class JudgeConfig:
    kind: str = MISSING
    # Names the judgments file (judgments-<name>.jsonl): a second judge of the same run writes
    # beside the first. None: derived from the model.
    name: Optional[str] = None
    model: Optional[str] = None  # openai: the served model id; hf: defaults to `path`
    temperature: Optional[float] = None  # None: the benchmark's official value
    max_tokens: Optional[int] = None  # None: the benchmark's official value
    seed: Optional[int] = None  # sent with each request when set (official scripts send none)
    runs: int = 1  # grading runs per answer (MM-Vet's num_run); each run is its own cached request
    concurrency: int = 4  # requests in flight (openai) / prompts per batch (hf)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ConfigError(f"judge.kind={self.kind!r} is not valid; choose one of {', '.join(KINDS)}")
        if self.runs < 1 or self.concurrency < 1:
            raise ConfigError("judge.runs and judge.concurrency must be >= 1")
        if self.name is not None and not re.fullmatch(r"[A-Za-z0-9._-]+", self.name):
            raise ConfigError(f"judge.name={self.name!r}: use letters, digits, '.', '_' or '-' (it names a file)")


@dataclass
class OpenAIJudgeConfig(JudgeConfig):
    kind: str = "openai"
    base_url: Optional[str] = None  # None: OpenAI's API
    api_key_env: str = "OPENAI_API_KEY"  # the variable holding the key (a local server needs none)
    timeout_s: float = 120.0
    max_retries: int = 6  # the openai client's backoff on 429 / 5xx / connection errors

    def __post_init__(self):
        super().__post_init__()
        if not self.model:
            raise ConfigError("judge=openai needs judge.model (the model id the endpoint serves)")


@dataclass
class HFJudgeConfig(JudgeConfig):
    kind: str = "hf"
    path: str = MISSING  # a local transformers causal LM directory (or hub id) with a chat template
    device: str = "cpu"
    dtype: str = "float32"
    default_max_tokens: int = 512  # when neither the benchmark nor judge.max_tokens set a length

    def __post_init__(self):
        super().__post_init__()
        if not self.model:
            self.model = self.path


SCHEMAS = {"openai": OpenAIJudgeConfig, "hf": HFJudgeConfig}


def validate_judge(node: Any) -> Optional[JudgeConfig]:
    """The judge node (a DictConfig, dict or None) as its typed schema; unknown keys and bad values
    fail with the valid keys listed."""
    if node is None:
        return None
    if isinstance(node, JudgeConfig):
        return node
    if not OmegaConf.is_config(node):
        node = OmegaConf.create(dict(node))
    kind = node.get("kind")
    if kind not in SCHEMAS:
        raise ConfigError(f"judge.kind={kind!r} is not valid; choose one of {', '.join(KINDS)}")
    schema = SCHEMAS[kind]
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))
    except ConfigError:
        raise
    except Exception as exc:
        keys = ", ".join(f.name for f in fields(schema))
        raise ConfigError(f"judge ({kind}): {str(exc).splitlines()[0]}; valid keys of judge: {keys}") from None


def judge_name(cfg: JudgeConfig) -> str:
    """judge.name, or one derived from the model id (its last path part, file-name safe)."""
    if cfg.name:
        return cfg.name
    base = str(cfg.model or "judge").rstrip("/").split("/")[-1]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", base) or "judge"
