"""The training script of the shipped tiny checkpoints runs (a few steps here; the full recipe is
`slow`) and writes a checkpoint that loads like any llava-hf checkpoint."""

from __future__ import annotations

import pytest
from transformers import AutoProcessor, LlavaForConditionalGeneration

from evalkit.train_tiny import train


def test_a_few_training_steps_write_a_loadable_checkpoint(tmp_path):
    out = tmp_path / "tiny"
    record = train("llava15", out, steps=2, images_per_step=1)
    model = LlavaForConditionalGeneration.from_pretrained(out)
    processor = AutoProcessor.from_pretrained(out)
    assert processor.tokenizer.padding_side == "left"
    assert model.config.vision_config.image_size == 336 and model.config.vision_config.patch_size == 14
    assert record["steps"] == 2 and record["family"] == "llava15"


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_full_recipe_reproduces(family, tmp_path):
    train(family, tmp_path / family)
    assert (tmp_path / family / "model.safetensors").stat().st_size <= 10 * 2**20
