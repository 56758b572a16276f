"""Multinomial sampling seeded per item: each row draws from its own torch.Generator seeded by a
stable hash of (run seed, item id), so an item's answer does not depend on which items share its
batch, the batch size, the item order, the number of processes, or whether the run was resumed.
(HF `generate` draws every row from one global generator, which cannot give that.)

The loop runs on the model's step API (`start` / `step`) and warps logits as `generate` does:
temperature, then top-p (HF's own warpers, applied only when they change anything), softmax,
one draw per row and step; a row stops at EOS (kept, then skipped in decoding like generate's).
The loop itself is evalkit.decoding.steploop's, shared with the contrastive decoders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from evalkit.decoding.base import Decoded, DecodeBatch, DecodingConfig, DecodingMethod
from evalkit.decoding.steploop import (decode_texts, draw, draw_rows, item_generators, item_seed, run_steps,
                                      sampling_warpers)
from evalkit.errors import ConfigError


@dataclass
class SampleConfig(DecodingConfig):
    _target_: str = "evalkit.decoding.sample.Sample"
    name: str = "sample"
    max_new_tokens: Optional[int] = None  # None: the run's tasks' length (evalkit/generation.py)
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self):
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ConfigError(f"decoding.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not (self.temperature > 0 and 0 < self.top_p <= 1):
            raise ConfigError("decoding: sampling needs temperature > 0 and 0 < top_p <= 1")


class Sample(DecodingMethod):
    schema = SampleConfig
    answer_keys = ("max_new_tokens", "temperature", "top_p")
    samples = True

    def __init__(self, **settings):
        super().__init__(**settings)
        self.warpers = sampling_warpers(self.settings.temperature, self.settings.top_p)

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        if hasattr(model, "sample"):  # a served engine: the item's seed goes with its request
            texts = model.sample(batch.inputs, [item_seed(batch.seed, i) for i in batch.item_ids],
                                 self.max_new_tokens, self.settings.temperature, self.settings.top_p)
            return Decoded(tuple(texts), (None,) * len(texts))
        generators = item_generators(batch.seed, batch.item_ids)

        def pick(n, step, done):
            scores = self.warpers(None, step.logits.float())  # these warpers never read input ids
            return draw_rows(torch.softmax(scores, dim=-1), generators, done)

        rows = run_steps(model.start(batch.inputs), lambda step, fed: model.step(step.state, fed), pick,
                         model.eos_token_ids(), model.tokenizer.pad_token_id, self.max_new_tokens)
        texts = decode_texts(model, rows)
        return Decoded(texts, (None,) * len(texts))


__all__ = ["Sample", "SampleConfig", "draw", "item_seed"]  # item_seed, draw: evalkit.decoding.steploop
