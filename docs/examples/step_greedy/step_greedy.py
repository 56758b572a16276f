"""A decoding method defined outside evalkit (docs/extending.md, example 2): greedy decoding written
over the model's step-level call, argmax per row until EOS. It gives `decoding=greedy`'s answers
(the test checks it); a method that changes the logits at each step (a contrastive decoder, a
constraint) starts from this loop."""

from dataclasses import dataclass

from evalkit.decoding.base import Decoded, DecodingConfig, DecodingMethod
from evalkit.decoding.steploop import argmax_rows, decode_texts, run_steps


@dataclass
class StepGreedyConfig(DecodingConfig):
    _target_: str = "step_greedy.StepGreedy"
    name: str = "step_greedy"
    max_new_tokens: int = 4


class StepGreedy(DecodingMethod):
    schema = StepGreedyConfig
    answer_keys = ("max_new_tokens",)

    def decode(self, model, batch):
        # evalkit's shared step loop: EOS, padding of finished rows and max_new_tokens handled once.
        rows = run_steps(model.start(batch.inputs), lambda step, fed: model.step(step.state, fed),
                         lambda n, step, done: argmax_rows(step.logits), model.eos_token_ids(),
                         model.tokenizer.pad_token_id, self.settings.max_new_tokens)
        texts = decode_texts(model, rows)
        return Decoded(texts, (None,) * len(texts))
