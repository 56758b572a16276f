"""One forward pass per batch: p_yes = P(yes tokens) / P(yes or no tokens) at the answer position
(token variants: evalkit/models/yesno.py), written as "Yes" if p_yes >= 0.5 else "No"."""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.decoding.base import Decoded, DecodeBatch, DecodingConfig, DecodingMethod
from evalkit.models.yesno import decision


@dataclass
class YesNoLogitsConfig(DecodingConfig):
    _target_: str = "evalkit.decoding.yesno_logits.YesNoLogits"
    name: str = "yesno_logits"


class YesNoLogits(DecodingMethod):
    schema = YesNoLogitsConfig
    answer_keys = ()  # nothing to set: the answer is the model's yes/no mass

    def prepare(self, model) -> None:
        model.yes_no_tokens()  # a tokenizer without yes/no tokens fails here, before any batch

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        p_yes = model.yesno_probs(batch.inputs)
        return Decoded(tuple(decision(p) for p in p_yes), tuple(p_yes))
