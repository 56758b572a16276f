"""P(yes) at the answer position: which tokens count as "yes" / "no", and the probability itself.

Token variants: every vocabulary entry that is exactly one of the surface forms below, bare or
with one word-start marker (SentencePiece "▁", byte-level BPE "Ġ", or a literal space). For the
Llama / Vicuna / Mistral vocabularies of LLaVA that is "Yes", "▁Yes", "yes", "▁yes", "YES", "▁YES"
(and the same for No/no/NO) where the vocabulary has them. Only whole-word tokens are used: a
prefix piece such as "▁N" also starts "Not" and "None", so counting it would be guessing. If a
tokenizer has no whole-word token for a side, the first token of the encoded word is used instead
(with a warning) as long as yes and no still get different tokens.

p_yes = P(yes tokens) / (P(yes tokens) + P(no tokens)), computed as
sigmoid(logsumexp(yes logits) - logsumexp(no logits)) in float32: the share of the yes/no mass
that is yes, the quantity AUROC and calibration need. The decision at 0.5 is written as "Yes"/"No".
"""

from __future__ import annotations

from typing import Optional

import torch
from transformers import LogitsProcessor

from evalkit.models.choices import option_probs, option_scores, option_token_ids

YES, NO = "yes", "no"


def yes_no_token_ids(tokenizer) -> dict[str, dict[int, str]]:
    """{"yes": {id: token}, "no": {id: token}}: the two options' tokens (evalkit.models.choices)."""
    return option_token_ids(tokenizer, (YES, NO))


def p_yes_from_logits(logits: torch.Tensor, yes_ids: list[int], no_ids: list[int]) -> list[float]:
    """logits [batch, vocab] at the answer position -> P(yes | yes or no) per row."""
    return option_probs(option_scores(logits, [yes_ids, no_ids]))[:, 0].tolist()


def decision(p_yes: float) -> str:
    return "Yes" if p_yes >= 0.5 else "No"


class FirstStepScores(LogitsProcessor):
    """Keeps a copy of the scores of the first generated token and changes nothing, so greedy
    generation can report p_yes without a second forward pass or keeping every step's logits."""

    def __init__(self):
        self.scores: Optional[torch.Tensor] = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.scores is None:
            self.scores = scores.detach().float().clone()
        return scores
