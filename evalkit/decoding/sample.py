"""Multinomial sampling seeded per item: each row draws from its own torch.Generator seeded by a
stable hash of (run seed, item id), so an item's answer does not depend on which items share its
batch, the batch size, the item order, the number of processes, or whether the run was resumed.
(HF `generate` draws every row from one global generator, which cannot give that.)

The loop runs on the model's step API (`start` / `step`) and warps logits as `generate` does:
temperature, then top-p (HF's own warpers, applied only when they change anything), softmax,
one draw per row and step; a row stops at EOS (kept, then skipped in decoding like generate's)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Optional

import torch

from evalkit.decoding.base import DEFAULT_MAX_NEW_TOKENS, Decoded, DecodeBatch, DecodingConfig, DecodingMethod
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


def item_seed(seed: int, item_id: str) -> int:
    """A 63-bit seed from (run seed, item id); hashlib, not hash(), which changes per process."""
    digest = hashlib.sha256(f"{int(seed)}\x00{item_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def draw(probs: torch.Tensor, generator: torch.Generator) -> int:
    """One token from a probability row by inverse CDF: one uniform per draw from the row's own
    generator; `right=True` never picks a zero-probability token."""
    cdf = probs.double().cumsum(0)
    u = torch.rand((), generator=generator, dtype=torch.float64)
    return min(int(torch.searchsorted(cdf, u * cdf[-1], right=True)), probs.shape[0] - 1)


class Sample(DecodingMethod):
    schema = SampleConfig
    answer_keys = ("max_new_tokens", "temperature", "top_p")
    samples = True

    def __init__(self, **settings):
        super().__init__(**settings)
        from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

        s = self.settings
        self.warpers = LogitsProcessorList(
            ([TemperatureLogitsWarper(s.temperature)] if s.temperature != 1.0 else [])
            + ([TopPLogitsWarper(s.top_p, min_tokens_to_keep=1)] if s.top_p < 1.0 else []))

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        length = self.settings.max_new_tokens or DEFAULT_MAX_NEW_TOKENS
        generators = [torch.Generator().manual_seed(item_seed(batch.seed, i)) for i in batch.item_ids]
        stop, pad = set(model.eos_token_ids()), model.tokenizer.pad_token_id
        rows: list[list[int]] = [[] for _ in batch.item_ids]
        done = [False] * len(rows)
        step = model.start(batch.inputs)
        for n in range(length):
            scores = self.warpers(None, step.logits.float())  # these warpers never read input ids
            probs = torch.softmax(scores, dim=-1).cpu()
            fed = []
            for r, generator in enumerate(generators):
                token = pad if done[r] else draw(probs[r], generator)
                if not done[r]:
                    rows[r].append(token)
                    done[r] = token in stop
                fed.append(token)
            if all(done) or n + 1 == length:
                break
            step = model.step(step.state, torch.tensor(fed))
        texts = model.tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return Decoded(tuple(texts), (None,) * len(texts))
