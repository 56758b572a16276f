"""Prefill and one decode step over a HF causal LM, with left padding, computed the way
`generate` computes them: position ids from the attention mask's cumulative sum (so a left-padded
row sees the positions of its unpadded sequence), the mask grown by one column per step, and a
KV cache carried between calls. The step-level API of evalkit.models.interface is built on this.
"""

from __future__ import annotations

import torch

from evalkit.models.interface import DecodeState, Step
from evalkit.models.prefix import cache_keyword, output_cache


def positions(mask: torch.Tensor) -> torch.Tensor:
    """generate's position ids: 0.. over the real tokens of each row, 0 on padding."""
    return (mask.long().cumsum(-1) - 1).masked_fill(mask == 0, 0)


@torch.inference_mode()
def prefill(model, inputs: dict, use_cache: bool = True) -> Step:
    """`inputs`: the HF keyword arguments of a batch (ids, mask, pixels / encoder outputs, or a
    shared prefix cache under the model's cache keyword, whose tokens are then not fed again)."""
    inputs = dict(inputs)
    mask = inputs["attention_mask"]
    position_ids = positions(mask)
    past = inputs.get(cache_keyword(model))
    if past is not None:  # only the tokens after the shared prefix are new
        done = past.get_seq_length()
        inputs["input_ids"], position_ids = inputs["input_ids"][:, done:], position_ids[:, done:]
    out = model(**inputs, position_ids=position_ids, use_cache=use_cache or past is not None, logits_to_keep=1)
    cache = output_cache(out) if use_cache or past is not None else None
    return Step(logits=out.logits[:, -1], state=DecodeState(cache, mask, position_ids[:, -1:]))


@torch.inference_mode()
def decode_step(model, state: DecodeState, next_tokens: torch.Tensor) -> Step:
    """Feed one token per row ([B]) on top of `state`; the cache is extended in place."""
    mask = torch.cat([state.attention_mask, state.attention_mask.new_ones((state.attention_mask.shape[0], 1))], -1)
    position_ids = state.position_ids + 1
    out = model(input_ids=next_tokens.view(-1, 1).to(mask.device), attention_mask=mask, position_ids=position_ids,
                use_cache=True, **{cache_keyword(model): state.cache})
    return Step(logits=out.logits[:, -1], state=DecodeState(output_cache(out), mask, position_ids))
