"""Greedy decoding (or beam search with num_beams > 1) through HF `generate`; p_yes is read from
the first step's scores (greedy only), so it equals decoding=yesno_logits' p_yes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from evalkit.decoding.base import Decoded, DecodeBatch, DecodingConfig, DecodingMethod
from evalkit.errors import ConfigError


@dataclass
class GreedyConfig(DecodingConfig):
    _target_: str = "evalkit.decoding.greedy.Greedy"
    name: str = "greedy"
    max_new_tokens: Optional[int] = None  # None: the run's tasks' length (evalkit/generation.py)
    num_beams: int = 1

    def __post_init__(self):
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"decoding.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if self.num_beams < 1:
            raise ConfigError(f"decoding.num_beams must be >= 1, got {self.num_beams}")


class Greedy(DecodingMethod):
    schema = GreedyConfig
    answer_keys = ("max_new_tokens", "num_beams")

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        length = self.max_new_tokens
        texts, p_yes = model.generate(batch.inputs, max_new_tokens=length,
                                      num_beams=self.settings.num_beams, with_p_yes=True)
        return Decoded(tuple(texts), tuple(p_yes))
