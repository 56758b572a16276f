"""The decoding-method contract: what the runner calls, and what a method declares about itself.

A method gets the model (evalkit.models.interface.Model) and one collated batch with its item
ids and the run seed, and returns a text and a p_yes per row. It declares, on the class:
- `schema`: the dataclass of its settings (unknown keys and bad values fail in `validate`,
  before any model loads; `__post_init__` checks values);
- `answer_keys`: the settings that change answers (resume refuses to mix them; reports label by them);
- `samples`: whether the run seed changes answers.
and `prepare(model)` runs once before the first batch, to fail early (e.g. no yes/no tokens).
A mitigation method also names its honest baselines (`controls`), which reports pair it with.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar, Optional

from omegaconf import MISSING

from evalkit.errors import ConfigError

# Generation length when neither the user (decoding.max_new_tokens) nor the run's tasks set one:
# LLaVA's evaluation setting. A caption task asks for its own (evalkit/generation.py).
DEFAULT_MAX_NEW_TOKENS = 128


@dataclass
class DecodingConfig:
    """Fields every method has: the class to build and the name reports and run configs show."""

    _target_: str = MISSING
    name: str = MISSING


@dataclass(frozen=True)
class DecodeBatch:
    inputs: dict  # the model's collated batch (model.collate)
    item_ids: tuple[str, ...]  # one per row, in row order
    seed: int  # the run seed; sampling methods derive each item's randomness from it and the id
    choices: tuple[Optional[tuple[str, ...]], ...] = ()  # each row's answer options (Item.choices)


@dataclass(frozen=True)
class Decoded:
    texts: tuple[str, ...]  # raw decoded text per row
    p_yes: tuple[Optional[float], ...]  # P(yes) per row where the method gives it
    option_probs: tuple[Optional[dict], ...] = ()  # P(option) per row, from choice decoders


class DecodingMethod(ABC):
    schema: ClassVar[type] = DecodingConfig
    answer_keys: ClassVar[tuple[str, ...]] = ()
    samples: ClassVar[bool] = False
    needs_choices: ClassVar[bool] = False  # scores each item's answer options (Item.choices) instead of generating

    def __init__(self, **settings: Any):
        from evalkit.errors import build_settings

        self.settings = build_settings(self.schema, "decoding", settings)  # unknown keys, then __post_init__

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def max_new_tokens(self) -> int:
        """The generation length: the setting, which `evalkit.generation` resolves for a run before
        the method is built; LLaVA's default for methods built directly (the bench, tests)."""
        return getattr(self.settings, "max_new_tokens", None) or DEFAULT_MAX_NEW_TOKENS

    def prepare(self, model) -> None:
        """Called once before any batch: fail here on what would fail every batch."""

    @abstractmethod
    def decode(self, model, batch: DecodeBatch) -> Decoded:
        ...

    @classmethod
    def controls(cls, decoding: dict) -> dict[str, dict]:
        """For a mitigation method: its matched baselines, {role: the decoding values a baseline run
        must have} (`python -m evalkit.report mitigation` pairs a run of this method with them).
        `decoding` is a run's decoding node. Plain methods have none."""
        return {}

    def describe(self) -> dict:
        return {"_target_": f"{type(self).__module__}.{type(self).__qualname__}",
                **{k: v for k, v in asdict(self.settings).items() if k != "_target_"}}


def method_class(target: str) -> type[DecodingMethod]:
    """The DecodingMethod class a `_target_` names."""
    module, _, name = str(target).rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigError(f"decoding._target_={target!r}: cannot import it ({exc})") from None
    if not (isinstance(cls, type) and issubclass(cls, DecodingMethod)):
        raise ConfigError(f"decoding._target_={target!r} is not a evalkit.decoding.base.DecodingMethod")
    return cls


def schema_keys(cls: type[DecodingMethod]) -> list[str]:
    return sorted(f.name for f in fields(cls.schema))
