"""Image-feature cache and shared image prefix: identical greedy answers (and p_yes) to the plain
pixel path for both families, one vision encode per distinct image within and across batches, a
disk cache that a second model instance reuses, keys that follow content and settings, and the
split image/text preparation equal to the processor's own output."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
import torch

from datasets_adapters.yesno_files import YesNoFileDataset
from evalkit.images import expand_to_square, load_image
from evalkit.errors import ConfigError
from evalkit.models.feature_cache import cache_settings
from evalkit.models.llava import LlavaModel
from evalkit.decoding.greedy import Greedy
from evalkit.runner import image_ref_key, iterate_predictions, plan_batches

GREEDY = Greedy(max_new_tokens=5)
COLOURS = ["red", "green", "blue", "yellow"]


@pytest.fixture(scope="module")
def items(yesno_file):
    """4 questions per image (the file's 2 plus 2 more), interleaved so planning must regroup them."""
    base = YesNoFileDataset(str(yesno_file)).load()
    extra = [replace(item, id=f"{item.id}x{c}", question=f"Is there a {c} square?",
                     prompt_question=f"Is there a {c} square?\nAnswer the question using a single word or phrase.")
             for item in base[::2] for c in COLOURS[:2]]
    return base + extra


def _model(tiny_checkpoints, family, **cache):
    return LlavaModel(name="t", path=str(tiny_checkpoints[family]), family=family, device="cpu",
                      feature_cache=cache or None)


def _run(items, model, batch_size, decoding=GREEDY, stats=None):
    out = {}
    for predictions, _ in iterate_predictions(items, model, decoding, batch_size, stats=stats):
        for p in predictions:
            assert p.error is None, p.error
            out[p.item_id] = (p.raw_text, p.p_yes)
    return out


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_cached_and_shared_prefix_answers_equal_plain_path(family, tiny_checkpoints, items):
    model = _model(tiny_checkpoints, family)
    plain = _run(items, model, batch_size=1)
    assert len({text for text, _ in plain.values()}) > 3  # varied answers, or equality proves nothing
    for options, sizes in (({"enabled": True, "share_prefix": False}, (5,)), ({"enabled": True}, (1, 5, 8))):
        for batch_size in sizes:
            model.configure_cache(options)  # empty, so the encode count below is this run's
            stats: dict = {}
            got = _run(items, model, batch_size, stats=stats)
            assert {k: t for k, (t, _) in got.items()} == {k: t for k, (t, _) in plain.items()}, (options, batch_size)
            assert max(abs(got[k][1] - plain[k][1]) for k in plain) < 1e-4
            assert stats["vision_encodes"] == 8  # 8 distinct images, whatever the batching


def test_without_cache_every_row_is_encoded(tiny_checkpoints, items):
    model = _model(tiny_checkpoints, "llava15")
    stats: dict = {}
    _run(items, model, 8, stats=stats)
    assert stats["vision_encodes"] == len(items)
    assert stats["image_preps"] < len(items)  # preprocessing is still shared within a batch


def test_plan_keeps_an_image_together_then_sorts_by_length():
    lengths = [10, 30, 11, 31, 12, 5]
    groups = ["a", "b", "a", "b", "a", "c"]
    assert plan_batches(lengths, 4, groups=groups) == [[3, 1], [4, 2, 0, 5]]  # no image split
    assert plan_batches(lengths, 2, groups=groups) == [[3, 1], [4, 2], [0, 5]]  # larger than a batch: split
    assert plan_batches(lengths, 4, sort_by_length=False, groups=groups) == [[0, 1, 2, 3], [4, 5]]


def test_disk_cache_is_reused_by_a_new_model(tiny_checkpoints, items, tmp_path):
    first = _model(tiny_checkpoints, "llava16", enabled=True, disk_dir=str(tmp_path))
    expected = _run(items, first, 8)
    files = sorted(tmp_path.rglob("*.safetensors"))
    assert len(files) == 8 and not list(tmp_path.rglob("*.tmp"))
    files[0].write_bytes(b"torn")  # a damaged entry is recomputed, not trusted
    second = _model(tiny_checkpoints, "llava16", enabled=True, disk_dir=str(tmp_path))
    stats: dict = {}
    got = _run(items, second, 8, stats=stats)
    assert {k: t for k, (t, _) in got.items()} == {k: t for k, (t, _) in expected.items()}
    assert stats["vision_encodes"] == 1 and second.feature_cache.counters["disk_hits"] == 7


def test_small_memory_cache_still_correct(tiny_checkpoints, items):
    model = _model(tiny_checkpoints, "llava15")
    plain = _run(items, model, 8)
    model.configure_cache({"enabled": True, "max_items": 1})
    got = _run(items, model, 8)
    assert {k: t for k, (t, _) in got.items()} == {k: t for k, (t, _) in plain.items()}
    assert len(model.feature_cache) == 1


def test_keys_follow_content_and_settings(tiny_checkpoints, yesno_file):
    image = load_image(yesno_file.parent / "images" / "img3.png")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    model = _model(tiny_checkpoints, "llava15", enabled=True)
    key = model.feature_cache.key(image)
    assert model.feature_cache.key(load_image(buffer.getvalue())) == key  # same pixels, other reference
    assert model.feature_cache.key(image.transpose(0)) != key
    other = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu",
                       vision_feature_layer=-1, feature_cache={"enabled": True})
    crop = LlavaModel(name="t", path=str(tiny_checkpoints["llava15"]), family="llava15", device="cpu",
                      image_aspect_ratio="crop", feature_cache={"enabled": True})
    assert len({key, other.feature_cache.key(image), crop.feature_cache.key(image)}) == 3
    assert image_ref_key(str(yesno_file)) == image_ref_key(yesno_file)


@pytest.mark.parametrize("family", ["llava15", "llava16"])
def test_split_preparation_equals_processor(family, tiny_checkpoints, items):
    model = _model(tiny_checkpoints, family)
    for item in items[:16]:
        image = load_image(item.image)
        prepared = model.prepare(image, item.text_for_prompt)
        if family == "llava15":
            image = expand_to_square(image, model.processor.image_processor.image_mean)
        enc = model.processor(images=[image], text=[prepared.prompt], return_tensors="pt")
        assert torch.equal(enc["input_ids"][0], prepared.input_ids)
        assert torch.equal(enc["pixel_values"][0], prepared.pixel_values)
        if family == "llava16":
            assert torch.equal(enc["image_sizes"][0], prepared.image_size)


def test_cache_settings_reject_unknown_keys():
    with pytest.raises(ConfigError, match="did you mean model.feature_cache.enabled"):
        cache_settings({"enable": True})
    with pytest.raises(ConfigError, match="max_items must be >= 1"):
        cache_settings({"max_items": 0})
    assert cache_settings(None)["enabled"] is False  # a model built directly: no cache
    assert cache_settings({"max_items": 4})["enabled"] is True  # otherwise the schema's default, as in a run


def test_dataloader_workers_with_cache(tiny_checkpoints, items):
    """Workers only preprocess (their forked cache is stale); the main process finds the features."""
    model = _model(tiny_checkpoints, "llava15")
    plain = _run(items, model, 8)
    model.configure_cache({"enabled": True})
    stats: dict = {}
    got = {}
    for predictions, _ in iterate_predictions(items, model, GREEDY, 5, num_workers=1, stats=stats):
        got.update({p.item_id: p.raw_text for p in predictions})
    assert got == {k: t for k, (t, _) in plain.items()}
    assert stats["vision_encodes"] == 8


@pytest.mark.parametrize("cache", [{}, {"enabled": True}])
def test_feature_layer_zero_is_the_embedding_output_and_out_of_range_is_refused(tiny_checkpoints, items, cache):
    """transformers passes the layer index on as `output_hidden_states`, so layer 0 used to turn
    hidden states off and fail on every item; the wrapper writes it as -(layers + 1)."""
    path, n = str(tiny_checkpoints["llava15"]), 3  # the conftest tower has 3 layers
    zero = LlavaModel(name="t", path=path, family="llava15", device="cpu", vision_feature_layer=0,
                      feature_cache=cache or {"enabled": False})
    same = LlavaModel(name="t", path=path, family="llava15", device="cpu", vision_feature_layer=-(n + 1),
                      feature_cache=cache or {"enabled": False})
    assert zero.model.config.vision_feature_layer == -(n + 1)
    assert _run(items[:4], zero, 2) == _run(items[:4], same, 2)
    with pytest.raises(ValueError, match=r"vision_feature_layer 4 is out of range .* 3 layers"):
        LlavaModel(name="t", path=path, family="llava15", device="cpu", vision_feature_layer=n + 1)


def test_kv_cache_keyword_follows_the_installed_transformers():
    """The shared prefix's KV cache goes in under the name the model's forward takes (`cache` from
    transformers 5.24, `past_key_values` in 5.23) and is read back from either output name."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    from evalkit.models.prefix import cache_keyword, output_cache

    class Before:  # the 5.23 signature
        def forward(self, input_ids=None, past_key_values=None, use_cache=None): ...

    class After:
        def forward(self, input_ids=None, cache=None, use_cache=None): ...

    assert (cache_keyword(Before()), cache_keyword(After())) == ("past_key_values", "cache")
    fields = CausalLMOutputWithPast.__dataclass_fields__
    installed = "cache" if "cache" in fields else "past_key_values"  # the output field of this release
    kv = object()
    assert output_cache({"past_key_values": kv}) is kv and output_cache({"cache": kv}) is kv
    # what a real forward returns, under the installed release's field name
    assert output_cache(CausalLMOutputWithPast(logits=torch.zeros(1), **{installed: kv})) is kv
