"""The one step loop every method that owns decoding runs (sampling, contrastive decoders, the
step_greedy example): pick a token per unfinished row from the step's logits, stop a row at EOS
(kept, then skipped in decoding as generate's), feed padding for finished rows, stop at
`max_new_tokens` without a wasted forward. What a step computes and how a token is picked are
the caller's; per-item randomness comes from `item_generators`, so answers do not depend on the
batch a row sits in, the batch size, the order, the processes or a resume."""

from __future__ import annotations

import hashlib
from typing import Callable, Optional, Sequence

import torch

from evalkit.models.interface import Step

# pick(n, step, done) -> one token per row (finished rows' values are ignored); n counts from 0.
Pick = Callable[[int, Step, Sequence[bool]], Sequence[int]]
# advance(step, fed) -> the next Step after feeding one token per row.
Advance = Callable[[Step, torch.Tensor], Step]


def item_seed(seed: int, item_id: str, stream: str = "") -> int:
    """A 63-bit seed from (run seed, item id); hashlib, not hash(), which changes per process.
    `stream` names an independent stream of the same item (e.g. "noise" beside the sampling draws)."""
    key = f"{int(seed)}\x00{item_id}" + (f"\x00{stream}" if stream else "")
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


def item_generators(seed: int, item_ids: Sequence[str], stream: str = "") -> list[torch.Generator]:
    return [torch.Generator().manual_seed(item_seed(seed, i, stream)) for i in item_ids]


def draw(probs: torch.Tensor, generator: torch.Generator) -> int:
    """One token from a probability row by inverse CDF: one uniform per draw from the row's own
    generator; `right=True` never picks a zero-probability token."""
    cdf = probs.double().cumsum(0)
    u = torch.rand((), generator=generator, dtype=torch.float64)
    return min(int(torch.searchsorted(cdf, u * cdf[-1], right=True)), probs.shape[0] - 1)


def draw_rows(probs: torch.Tensor, generators: Sequence[torch.Generator], done: Sequence[bool]) -> list[int]:
    """One draw per unfinished row (a finished row draws nothing, so its generator's stream stays
    the item's own); -1 for finished rows."""
    probs = probs.cpu()
    return [-1 if d else draw(probs[r], g) for r, (g, d) in enumerate(zip(generators, done))]


def sampling_warpers(temperature: float, top_p: float):
    """HF's temperature and top-p warpers as `generate(do_sample=True)` applies them (identity
    settings left out); they read only the scores, so callers pass None for the input ids."""
    from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

    return LogitsProcessorList(
        ([TemperatureLogitsWarper(temperature)] if temperature != 1.0 else [])
        + ([TopPLogitsWarper(top_p, min_tokens_to_keep=1)] if top_p < 1.0 else []))


def argmax_rows(scores: torch.Tensor) -> list[int]:
    return scores.argmax(-1).tolist()


def run_steps(first: Step, advance: Advance, pick: Pick, stop_ids: Sequence[int], pad_id: int,
              max_new_tokens: int, n_rows: Optional[int] = None) -> list[list[int]]:
    """New token ids per row, each ending at its first EOS (included) or at max_new_tokens.
    `n_rows`: the rows decoded when a step holds more (a contrastive step's negative rows follow
    the positive ones; `advance` feeds them the same tokens)."""
    stop = set(int(s) for s in stop_ids)
    n_rows = first.logits.shape[0] if n_rows is None else n_rows
    rows: list[list[int]] = [[] for _ in range(n_rows)]
    done = [False] * n_rows
    step = first
    for n in range(max_new_tokens):
        tokens = pick(n, step, tuple(done))
        fed = []
        for r, token in enumerate(tokens):
            if done[r]:
                fed.append(pad_id)
                continue
            rows[r].append(int(token))
            done[r] = int(token) in stop
            fed.append(int(token))
        if all(done) or n + 1 == max_new_tokens:
            break
        step = advance(step, torch.tensor(fed))
    return rows


def decode_texts(model, rows: Sequence[Sequence[int]]) -> tuple[str, ...]:
    return tuple(model.tokenizer.batch_decode(list(rows), skip_special_tokens=True,
                                              clean_up_tokenization_spaces=False))
