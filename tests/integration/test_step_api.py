"""The step-level model API (`start` / `step`): a greedy loop written over it gives exactly the
tokens of `model.generate(do_sample=False)`, batched with left padding, for both families, with the
feature cache (and shared prefix) on and off. Contrastive decoders build on this equality."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.images import load_image
from evalkit.models.interface import Model
from evalkit.models.llava import LlavaModel

MAX_NEW = 6


def greedy_over_steps(model, batch: dict, max_new_tokens: int) -> list[list[int]]:
    """Argmax per row, stopping a row at EOS (which it keeps, as generate does)."""
    eos = model.tokenizer.eos_token_id
    step = model.start(batch)
    rows = [[] for _ in range(step.logits.shape[0])]
    done = [False] * len(rows)
    for _ in range(max_new_tokens):
        tokens = step.logits.argmax(-1)
        for r, t in enumerate(tokens.tolist()):
            if not done[r]:
                rows[r].append(t)
                done[r] = t == eos
        if all(done):
            break
        fed = torch.tensor([model.tokenizer.pad_token_id if d else t for d, t in zip(done, tokens.tolist())])
        step = model.step(step.state, fed)
    return rows


def generated_tokens(model, batch: dict, max_new_tokens: int) -> list[list[int]]:
    inputs = model._model_inputs(batch, share_prefix=True)
    out = model.model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                               pad_token_id=model.tokenizer.pad_token_id)
    new = out[:, inputs["input_ids"].shape[1]:].tolist()
    eos = model.tokenizer.eos_token_id
    return [row[: row.index(eos) + 1] if eos in row else row for row in new]


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_greedy_loop_over_steps_equals_generate(family, tiny_checkpoints, yesno_file):
    items = YesNoFileDataset(str(yesno_file)).load()
    model = LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu")
    assert isinstance(model, Model)
    for cache in (None, {"enabled": True, "share_prefix": False}, {"enabled": True}):
        model.configure_cache(cache)
        # Items over 3 images, questions of different lengths: left padding and shared prefixes.
        picked = items[:6]
        inputs = [model.prepare(load_image(i.image), i.text_for_prompt + " word" * n) for n, i in enumerate(picked)]
        batch = model.collate(inputs)
        assert int((batch["attention_mask"] == 0).sum()) > 0  # the batch really is left-padded
        ours = greedy_over_steps(model, batch, MAX_NEW)
        theirs = generated_tokens(model, model.collate(inputs), MAX_NEW)
        assert ours == theirs, cache
        assert len({tuple(r) for r in ours}) > 1  # answers differ by row, or equality proves little
