"""The tiny-checkpoint training script: prompts and pixels exactly as evaluation prepares them, the
shared-prefix loss equals per-question losses, a few steps lower the loss and save a checkpoint
that loads with from_pretrained, runs are deterministic. The full recipe is a slow test."""

from __future__ import annotations

import itertools

import pytest
import torch
from transformers import AutoProcessor, LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

from datasets_adapters import LLAVA_SHORT_ANSWER
from datasets_adapters.shapes import ShapesDataset, train_examples
from datasets_adapters.shapes_scene import caption
from evalkit.tools import tiny_eval, train_tiny
from evalkit.models.llava import LlavaModel
from evalkit.tools.tiny import build_model, build_processor, build_tokenizer

FAMILIES = ("llava15", "llava16")
SMALL = dict(patch_steps=5, patch_images=2, lm_steps=6, lm_batch=4, lm_lr=5e-4, align_steps=2, images=2, lr=1e-3,
             steps=2, lr_images=5e-4, lm_lr_images=3e-4, align_weight=1.0)


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(False)


@pytest.mark.parametrize("family", FAMILIES)
def test_encoder_prepares_like_the_evaluation_wrapper(family, tiny_checkpoints):
    wrapper = LlavaModel(name="tiny", path=str(tiny_checkpoints[family]), family=family, device="cpu", dtype="float32")
    encoder = train_tiny.Encoder(wrapper.processor, family)
    for example in itertools.islice(train_examples(seed=5), 3):  # wide, tall and square scenes
        questions = [qa.question for qa in example.qas[:3]]
        pixels, ids = encoder.encode(example.image, questions)
        for question, row in zip(questions, ids):
            prepared = wrapper.prepare(example.image, question + LLAVA_SHORT_ANSWER)
            assert prepared.input_ids.tolist() == row
            assert torch.equal(prepared.pixel_values, pixels["pixel_values"][0])
        assert wrapper.render_prompt("Q").startswith("A chat between a curious user")


@pytest.mark.parametrize("family", FAMILIES)
def test_shared_prefix_loss_equals_per_question_loss(family):
    tokenizer = build_tokenizer()
    processor = build_processor(family, tokenizer)
    model = build_model(family, tokenizer, init_std=0.1, vision_width=32, vision_layers=2, text_width=64)
    encoder = train_tiny.Encoder(processor, family)
    example = next(train_examples(seed=3))
    loss, n_tokens, *_ = train_tiny.image_loss(model, encoder, example)
    pixels, ids = encoder.encode(example.image, [qa.question for qa in example.qas])
    expected = 0.0
    for row, qa in zip(ids, example.qas):
        answer = encoder.answer_ids[qa.answer]
        logits = model(input_ids=torch.tensor([row + answer]), **pixels).logits[0]
        expected += torch.nn.functional.cross_entropy(logits[len(row) - 1: len(row) - 1 + len(answer)],
                                                      torch.tensor(answer), reduction="sum").item()
    assert n_tokens == 2 * len(example.qas)  # "Yes"/"No" + EOS
    assert loss.item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_caption_row_loss_equals_running_the_caption_alone(family):
    """The caption row runs as its own batch on the shared prefix: the same loss as the caption
    prompt + reference caption in one plain forward, and the question losses do not change."""
    tokenizer = build_tokenizer()
    processor = build_processor(family, tokenizer)
    model = build_model(family, tokenizer, init_std=0.1, vision_width=32, vision_layers=2, text_width=64)
    encoder = train_tiny.Encoder(processor, family)
    example = next(train_examples(seed=3))
    plain = train_tiny.image_loss(model, encoder, example)
    both = train_tiny.image_loss(model, encoder, example, describe=True)
    assert both.answer.item() == pytest.approx(plain.answer.item(), rel=1e-5) and both.correct == plain.correct
    pixels, ids = encoder.encode(example.image, [example.qas[0].question], describe=True)
    target = encoder.caption_ids(caption(example.scene))
    logits = model(input_ids=torch.tensor([ids[-1] + target]), **pixels).logits[0]
    expected = torch.nn.functional.cross_entropy(logits[len(ids[-1]) - 1: len(ids[-1]) - 1 + len(target)],
                                                 torch.tensor(target), reduction="sum").item()
    assert both.caption_tokens == len(target)
    assert both.caption.item() == pytest.approx(expected, rel=1e-4)


def test_answer_tokens_are_yes_no_then_eos():
    encoder = train_tiny.Encoder(build_processor("llava15"), "llava15")
    tokenizer = encoder.tokenizer
    assert tokenizer.decode(encoder.answer_ids["yes"], skip_special_tokens=True) == "Yes"
    assert tokenizer.decode(encoder.answer_ids["no"], skip_special_tokens=True) == "No"
    assert encoder.answer_ids["yes"][-1] == tokenizer.eos_token_id


@pytest.mark.parametrize("family", FAMILIES)
def test_patch_cells_follow_the_processor_geometry(family):
    processor = build_processor(family)
    example = next(train_examples(seed=2))
    cells = train_tiny.patch_cells(example.scene, family, processor)
    pixels, _ = train_tiny.Encoder(processor, family).encode(example.image, ["Q?"])
    assert cells.shape == (pixels["pixel_values"].shape[-4] if family == "llava16" else 1, 576)
    assert (cells >= 0).any() and (cells == -1).any() and int(cells.max()) < len(example.scene.objects)


def test_few_steps_lower_the_loss_and_save_a_loadable_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setitem(train_tiny.RECIPES, "llava15", SMALL)
    info = train_tiny.train("llava15", tmp_path / "ck", log_every=1)
    text = [row["loss"] for row in info["history"] if row["stage"] == "text"]
    assert text[-1] < text[0]
    stages = [row["stage"] for row in info["history"]]
    assert stages[0] == "patches" and stages.count("align") == 2 and stages.count("image") == 2
    model = LlavaForConditionalGeneration.from_pretrained(tmp_path / "ck")
    processor = AutoProcessor.from_pretrained(tmp_path / "ck")
    weights = tmp_path / "ck" / "model.safetensors"
    assert weights.is_file() and weights.stat().st_size < 10 * 2**20
    items = ShapesDataset(n_images=1, tasks=["mme"], mme_categories=["existence"]).load()
    answers = tiny_eval.predict(model, processor, "llava15", items)
    assert set(answers) == {item.id for item in items}
    assert set(tiny_eval.report(items, answers)) >= {"overall", "mme/existence"}


def test_training_is_deterministic_and_llava16_checkpoint_loads(tmp_path, monkeypatch):
    small = dict(SMALL, lm_steps=2, align_steps=1, steps=1, images=1, pad_first=dict(align_steps=1, steps=1))
    monkeypatch.setitem(train_tiny.RECIPES, "llava16", small)
    info = train_tiny.train("llava16", tmp_path / "a", seed=1)
    train_tiny.train("llava16", tmp_path / "b", seed=1)
    stages = [row["stage"] for row in info["history"]]
    assert stages == ["patches", "pad text", "pad align", "pad image", "align", "image"]
    a = LlavaNextForConditionalGeneration.from_pretrained(tmp_path / "a").state_dict()
    b = LlavaNextForConditionalGeneration.from_pretrained(tmp_path / "b").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert AutoProcessor.from_pretrained(tmp_path / "a").image_processor.image_grid_pinpoints


@pytest.mark.slow
@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_full_recipe_meets_the_quality_bar(family, tmp_path):
    train_tiny.train(family, tmp_path / family)
    result = tiny_eval.evaluate(tmp_path / family, family, n_images=24, seed=1_000_003)
    floors = {"llava15": (0.85, 0.70), "llava16": (0.70, 0.68)}[family]  # the shipped ones: 85.4/80.8, 72.9/71.9
    assert result["mme/existence"]["acc"] >= floors[0]
    assert result["overall"]["acc"] >= floors[1]


def test_init_continues_a_checkpoint_and_learns_captions(tmp_path, monkeypatch):
    """--init: the recipe's `finetune` overrides on a trained checkpoint, captions in the text and image stages."""
    tiny = dict(SMALL, lm_steps=2, align_steps=1, steps=1, images=1, patch_steps=2)
    monkeypatch.setitem(train_tiny.RECIPES, "llava15", dict(tiny, describe_weight=0.5,
                                                              finetune=dict(patch_steps=0, lm_steps=2, align_steps=0, steps=2)))
    train_tiny.train("llava15", tmp_path / "base", log_every=1)
    info = train_tiny.train("llava15", tmp_path / "tuned", log_every=1, init=tmp_path / "base")
    stages = [row["stage"] for row in info["history"]]
    assert stages == ["text", "text", "image", "image"] and info["recipe"]["init"]["path"] == str(tmp_path / "base")
    assert all(row["caption_loss"] > 0 for row in info["history"])
    assert LlavaForConditionalGeneration.from_pretrained(tmp_path / "tuned")
