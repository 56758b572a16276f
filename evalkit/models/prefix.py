"""Shared image prefix: questions about one image share every token up to and including the image
("USER: <image>×N\n", or more), so the language model runs that prefix once per image and each
question runs only its own tokens on top of the prefix's KV cache.

In LLaVA the image tokens are most of the prompt (576 for 1.5, up to ~2.9k for NeXT, against ~20-40
for the question), so for POPE's 6 questions per image this removes most of the language model's
prefill work, on top of the vision tower work the feature cache removes.

Layout of row i, prefix length P_i and suffix length S_i, padded to P and S:
    ids:  [pad]*(P-P_i) prefix_i [pad]*(S-S_i) suffix_i      mask: 0 1 0 1 accordingly
The prefix KV of row i is left-padded with zeros to P (masked, so never attended). Position ids
come from the mask's cumulative sum, as generate computes them, so a suffix token sits at P_i+j
exactly as in the unpadded sequence; the math equals the plain left-padded batch up to rounding.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass
from typing import Sequence

import torch


def cache_keyword(model) -> str:
    """The keyword that passes a KV cache to `forward`/`generate`: `cache` in the transformers
    releases that renamed it (they warn on `past_key_values`, to be removed in 5.40),
    `past_key_values` in the earlier 5.x ones that pyproject still allows."""
    return _cache_keyword_of(type(model))


@functools.lru_cache(maxsize=None)
def _cache_keyword_of(model_class: type) -> str:  # per class: callers ask on every batch
    return "cache" if "cache" in inspect.signature(model_class.forward).parameters else "past_key_values"


def output_cache(output):
    """The KV cache a forward returned, under either name (see `cache_keyword`)."""
    return output["cache"] if "cache" in output else output["past_key_values"]


@dataclass
class SharedBatch:
    input_ids: torch.Tensor  # [rows, P + S], prefix and suffix, padded as above
    attention_mask: torch.Tensor  # [rows, P + S]
    cache: object  # DynamicCache holding the (padded) prefix KV of every row
    prefix_length: int  # P


def split_points(input_ids: Sequence[torch.Tensor], keys: Sequence[str], image_token_id: int) -> list[int] | None:
    """Prefix length per row: the longest prefix shared by all rows of the same image, cut so each
    row keeps at least one token of its own. None when a prefix would not hold all image tokens
    (a template with the image after the question), where sharing cannot apply."""
    groups: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        groups.setdefault(key, []).append(row)
    points = [0] * len(input_ids)
    for rows in groups.values():
        seqs = [input_ids[r] for r in rows]
        limit = min(len(s) for s in seqs) - 1
        common = limit
        for s in seqs[1:]:
            differ = (s[:limit] != seqs[0][:limit]).nonzero()
            common = min(common, int(differ[0]) if len(differ) else limit)
        for r in rows:
            image_positions = (input_ids[r] == image_token_id).nonzero()
            if len(image_positions) and common <= int(image_positions.max()):
                return None
            points[r] = common
    return points


@torch.inference_mode()
def prefix_cache(model, input_ids: Sequence[torch.Tensor], keys: Sequence[str], points: Sequence[int],
                 features: dict[str, torch.Tensor], pad_id: int, device: torch.device) -> SharedBatch:
    """Run each image's prefix once (prefixes of equal length together, no padding) and assemble
    the batch's cache and padded ids."""
    from transformers import DynamicCache
    from transformers.modeling_outputs import BaseModelOutputWithPooling

    first_row = {}
    for row, key in enumerate(keys):
        first_row.setdefault(key, row)
    by_length: dict[int, list[str]] = {}
    for key, row in first_row.items():
        by_length.setdefault(points[row], []).append(key)
    states: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}
    for length, group in by_length.items():
        ids = torch.stack([input_ids[first_row[k]][:length] for k in group]).to(device)
        mm = {"image": BaseModelOutputWithPooling(pooler_output=[features[k] for k in group])}
        out = model.model(input_ids=ids, mm_encoder_outputs=mm, use_cache=True)
        layers = [(layer.keys, layer.values) for layer in output_cache(out).layers]
        for i, key in enumerate(group):
            states[key] = [(k[i : i + 1], v[i : i + 1]) for k, v in layers]

    rows = len(keys)
    prefix_len = max(points)
    suffix_len = max(len(ids) - p for ids, p in zip(input_ids, points))
    full = torch.full((rows, prefix_len + suffix_len), pad_id, dtype=torch.long)
    mask = torch.zeros_like(full)
    for row, (ids, p) in enumerate(zip(input_ids, points)):
        full[row, prefix_len - p : prefix_len] = ids[:p]
        mask[row, prefix_len - p : prefix_len] = 1
        s = len(ids) - p
        full[row, prefix_len + suffix_len - s :] = ids[p:]
        mask[row, prefix_len + suffix_len - s :] = 1

    cache = DynamicCache(config=model.config)
    for layer_idx in range(len(next(iter(states.values())))):
        keys_l, values_l = [], []
        for row, key in enumerate(keys):
            k, v = states[key][layer_idx]
            pad = prefix_len - points[row]
            keys_l.append(torch.nn.functional.pad(k, (0, 0, pad, 0)))  # zeros on the left of the seq axis
            values_l.append(torch.nn.functional.pad(v, (0, 0, pad, 0)))
        cache.update(torch.cat(keys_l), torch.cat(values_l), layer_idx)
    return SharedBatch(full.to(device), mask.to(device), cache, prefix_len)
