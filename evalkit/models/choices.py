"""Scoring answer options in one forward pass: which tokens spell each option, and how likely each is.

An option is a label ("A", "yes"). Its tokens are every vocabulary entry that is one of its surface
forms, bare or with one word-start marker (SentencePiece "▁", byte-level BPE "Ġ", or a space). A
word's surface forms are its case variants ("yes", "Yes", "YES"); a single character is only
itself (an option letter "A" is not the article "a"). Only whole-word tokens count: a prefix piece
such as "▁N" also starts "Not" and "None". A tokenizer with no whole-word token for an option falls
back to the first token of the encoded form (with a warning), as long as options stay distinct.

An option's score is the logsumexp of its tokens' logits at the answer position (float32); the
probability of option k among the row's options is the softmax of the scores, computed for two
options as sigmoid(s0 - s1) (the same number, and bit-identical to evalkit's earlier P(yes)).
"""

from __future__ import annotations

import logging
from typing import Sequence

import torch

log = logging.getLogger(__name__)

_MARKERS = ("", "▁", "Ġ", " ")


def label_forms(label: str) -> tuple[str, ...]:
    """The surface forms that count as answering `label` (see the module docstring)."""
    if len(label) == 1:
        return (label,)
    forms = (label[:1].upper() + label[1:].lower(), label.lower(), label.upper())
    return tuple(dict.fromkeys(forms))


def option_token_ids(tokenizer, labels: Sequence[str]) -> dict[str, dict[int, str]]:
    """{label: {token id: token}} for each option; fails when options cannot be told apart."""
    vocab = tokenizer.get_vocab()
    found: dict[str, dict[int, str]] = {}
    for label in labels:
        forms = label_forms(label)
        ids = {vocab[m + f]: m + f for f in forms for m in _MARKERS if m + f in vocab}
        if not ids:
            for form in forms:
                encoded = tokenizer.encode(form, add_special_tokens=False)
                first = tokenizer.convert_ids_to_tokens(encoded[0]) if encoded else None
                if first is None or first in _MARKERS:
                    # "B" as ["▁", "<0x42>"]: the answer's first token would be the bare marker,
                    # which every such option shares; one position cannot tell them apart.
                    raise ValueError(f"option {label!r} is not one token in this tokenizer (it encodes as "
                                     f"{tokenizer.convert_ids_to_tokens(encoded)}); scoring options in one "
                                     "forward pass needs single-token options")
                ids[encoded[0]] = first
            log.warning("tokenizer has no whole-word token for option %r; using first pieces %s", label,
                        sorted(ids.values()))
        found[label] = ids
    seen: dict[int, str] = {}
    for label, ids in found.items():
        clash = [seen[i] for i in ids if i in seen]
        if not ids or clash:
            raise ValueError(f"cannot tell the options {list(labels)} apart with this tokenizer: "
                             f"{ {k: sorted(v.values()) for k, v in found.items()} }")
        seen.update({i: label for i in ids})
    return found


def option_scores(logits: torch.Tensor, id_groups: Sequence[Sequence[int]]) -> torch.Tensor:
    """logits [B, V] at the answer position -> [B, K]: logsumexp of each option's token logits."""
    logits = logits.float()
    return torch.stack([torch.logsumexp(logits[:, list(ids)], dim=-1) for ids in id_groups], dim=-1)


def option_probs(scores: torch.Tensor) -> torch.Tensor:
    """[B, K] option scores -> probabilities over the K options."""
    if scores.shape[-1] == 2:
        first = torch.sigmoid(scores[..., 0] - scores[..., 1])
        return torch.stack([first, 1 - first], dim=-1)
    return torch.softmax(scores, dim=-1)
