"""Real llava-hf checkpoints on a CUDA GPU (`pytest -m gpu`; needs the hub or a local HF cache).

The same wrapper and runner as the tiny CPU tests: processor token counts match the model's
features for every image shape, and batching does not change the parsed answers."""

from __future__ import annotations

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.models.llava import LlavaModel
from evalkit.decoding.greedy import Greedy
from evalkit.runner import iterate_predictions
from evalkit.scoring.parse import parse_answer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]

CHECKPOINTS = [
    ("llava-hf/llava-1.5-7b-hf", "llava15", "llava_eval"),
    ("llava-hf/llava-v1.6-vicuna-7b-hf", "llava16", "llava_eval"),
    ("llava-hf/llava-v1.6-mistral-7b-hf", "llava16", "mistral_inst"),
]


@pytest.mark.parametrize("path,family,prompt", CHECKPOINTS)
def test_real_checkpoint_batched_answers_match(path, family, prompt, yesno_file):
    items = YesNoFileDataset(str(yesno_file)).load()
    model = LlavaModel(name=path, path=path, family=family, prompt=prompt, device="cuda")
    greedy = Greedy(max_new_tokens=16)
    single = {p.item_id: p for b, _ in iterate_predictions(items, model, greedy, 1) for p in b}
    batched = {p.item_id: p for b, _ in iterate_predictions(items, model, greedy, 8) for p in b}
    assert all(p.error is None for p in single.values())
    parsed_single = {k: parse_answer(p.text, "mme") for k, p in single.items()}
    parsed_batched = {k: parse_answer(p.text, "mme") for k, p in batched.items()}
    # fp16 kernels differ slightly between batch shapes; the yes/no decision must not.
    assert parsed_batched == parsed_single
    assert sum(v in ("yes", "no") for v in parsed_single.values()) >= len(items) - 1
