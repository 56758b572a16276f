"""A decoding method defined outside evalkit (docs/extending.md, example 2): greedy decoding written
over the model's step-level call, argmax per row until EOS. It gives `decoding=greedy`'s answers
(the test checks it); a method that changes the logits at each step (a contrastive decoder, a
constraint) starts from this loop."""

from dataclasses import dataclass

import torch

from evalkit.decoding.base import Decoded, DecodingConfig, DecodingMethod


@dataclass
class StepGreedyConfig(DecodingConfig):
    _target_: str = "step_greedy.StepGreedy"
    name: str = "step_greedy"
    max_new_tokens: int = 4


class StepGreedy(DecodingMethod):
    schema = StepGreedyConfig
    answer_keys = ("max_new_tokens",)

    def decode(self, model, batch):
        stop, pad = set(model.eos_token_ids()), model.tokenizer.pad_token_id
        step = model.start(batch.inputs)
        rows, done = [[] for _ in batch.item_ids], [False] * len(batch.item_ids)
        for _ in range(self.settings.max_new_tokens):
            tokens = step.logits.argmax(-1).tolist()
            fed = [pad if d else t for d, t in zip(done, tokens)]
            for r, t in enumerate(fed):
                if not done[r]:
                    rows[r].append(t)
                    done[r] = t in stop
            if all(done):
                break
            step = model.step(step.state, torch.tensor(fed))
        texts = model.tokenizer.batch_decode(rows, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return Decoded(tuple(texts), (None,) * len(texts))
