"""Answers read from one forward pass instead of generated: the option scores of the model
(evalkit/models/choices.py) at the answer position.

- `choice_logits`: every item's options (its task's `choices`: option letters, yes/no) scored in
  one forward pass; the answer is the most probable option and its probabilities are kept
  (`option_probs`), so multiple-choice tasks report calibration (ECE, Brier) beside accuracy.
- `yesno_logits`: its two-option case for yes/no questions: p_yes = P(yes tokens) / P(yes or no
  tokens), written as "Yes" if p_yes >= 0.5 else "No".
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.decoding.base import Decoded, DecodeBatch, DecodingConfig, DecodingMethod
from evalkit.models.yesno import NO, YES, decision


@dataclass
class YesNoLogitsConfig(DecodingConfig):
    _target_: str = "evalkit.decoding.yesno_logits.YesNoLogits"
    name: str = "yesno_logits"


class YesNoLogits(DecodingMethod):
    schema = YesNoLogitsConfig
    answer_keys = ()  # nothing to set: the answer is the model's yes/no mass

    def prepare(self, model) -> None:
        model.option_tokens((YES, NO))  # a tokenizer without yes/no tokens fails here, before any batch

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        probs = model.choice_probs(batch.inputs, [(YES, NO)] * len(batch.item_ids))
        p_yes = [p[0] for p in probs]
        return Decoded(tuple(decision(p) for p in p_yes), tuple(p_yes))


@dataclass
class ChoiceLogitsConfig(DecodingConfig):
    _target_: str = "evalkit.decoding.yesno_logits.ChoiceLogits"
    name: str = "choice_logits"


class ChoiceLogits(DecodingMethod):
    schema = ChoiceLogitsConfig
    answer_keys = ()
    needs_choices = True  # the pipeline refuses items without options before any model loads

    def decode(self, model, batch: DecodeBatch) -> Decoded:
        options = [tuple(c) for c in batch.choices]
        probs = model.choice_probs(batch.inputs, options)
        texts, p_yes, kept = [], [], []
        for labels, p in zip(options, probs):
            best = max(range(len(labels)), key=lambda k: p[k])  # ties: the first option, deterministically
            texts.append(labels[best])
            p_yes.append(p[0] if labels == (YES, NO) else None)
            kept.append(dict(zip(labels, p)))
        return Decoded(tuple(texts), tuple(p_yes), tuple(kept))
