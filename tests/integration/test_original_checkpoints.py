"""Original-format LLaVA checkpoints (haotian-liu/LLaVA layout): recognised by their files,
refused with the reason before any weight loads, converted once into a content-keyed cache, and
fed to the model with the original `tokenizer_image_token`'s ids. The tiny checkpoints are built
the way the original builder expects them (evalkit/tools/tiny_original.py); the parity against the
original code itself is tests/integration/test_original_parity.py (needs the llava-torch venv)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

pytest.importorskip("sentencepiece")  # in the [convert] extra: a SentencePiece tokenizer.model is converted

from evalkit.config import ModelConfig
from evalkit.errors import ConfigError
from evalkit.models.convert_weights import load_bin
from evalkit.models.original import (
    IMAGE_TOKEN_INDEX, OriginalFormatError, inspect_original, is_original,
    tokenizer_image_token,
)
from evalkit.models.convert_weights import resolve_checkpoint
from evalkit.tools.tiny_original import save_all

SHIPPED = Path(__file__).resolve().parents[2] / "evalkit" / "checkpoints" / "tiny_llava15"


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, Path]:
    return save_all(tmp_path_factory.mktemp("original"))


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("converted")


def _copy(src: Path, dst: Path, config=None, adapter=None) -> Path:
    shutil.copytree(src, dst)
    for name, changes in (("config.json", config), ("adapter_config.json", adapter)):
        if changes:
            data = json.loads((dst / name).read_text())
            data.update(changes)
            (dst / name).write_text(json.dumps(data))
    return dst


def test_recognised_by_files_never_by_name(originals, tmp_path):
    renamed = shutil.copytree(originals["llava15"], tmp_path / "my-model")  # no "llava" in the name
    assert is_original(renamed) and is_original(originals["llava15_lora"])
    assert not is_original(SHIPPED)  # llava-hf: model_type llava too, but nested configs and no mm_* keys
    assert not is_original(shutil.copytree(SHIPPED, tmp_path / "llava-v1.5-lora"))  # a name proves nothing
    assert not is_original(originals["tower"])
    found = inspect_original(originals["llava16"])
    assert (found.family, found.image_aspect_ratio, found.select_layer, found.select_strategy) == \
        ("llava16", "anyres", -2, "default")
    assert found.pinpoints_hw == [[672, 336], [672, 672], [336, 1008]]  # LLaVA's (w, h) -> HF's (h, w)
    assert inspect_original(originals["llava15"]).family == "llava15"


REFUSALS = [
    ("llava15", {"mm_projector_type": "mlp3x_gelu"}, None, "mm_projector_type='mlp3x_gelu'"),
    ("llava15", {"mm_projector_type": "identity"}, None, "only mlp2x_gelu, linear"),
    ("llava15", {"mm_use_im_start_end": True}, None, "mm_use_im_start_end=true"),
    ("llava15", {"s2": True, "s2_scales": "336,672,1008"}, None, "S²"),
    ("llava16", {"mm_patch_merge_type": "flat"}, None, "anyres with mm_patch_merge_type=flat"),
    ("llava16", {"mm_patch_merge_type": "spatial"}, None, "spatial_unpad only"),
    ("llava15", {"architectures": ["LlavaMptForCausalLM"]}, None, "architecture LlavaMptForCausalLM"),
    ("llava15", {"image_aspect_ratio": "anyres_max_9"}, None, "image_aspect_ratio='anyres_max_9'"),
    ("llava15_lora", None, {"loftq_config": {"loftq_bits": 4}}, "quantised LoRA"),
    ("llava15_lora", None, {"use_dora": True}, "DoRA"),
    ("llava15_lora", {"quantization_config": {"load_in_4bit": True}}, None, "quantised"),
]


@pytest.mark.parametrize("name,config,adapter,reason", REFUSALS)
def test_refused_with_the_reason_at_config_time(originals, tmp_path, name, config, adapter, reason):
    """ModelConfig validation (compose time, JSON only) refuses: no weight file is opened."""
    bad = _copy(originals[name], tmp_path / "ckpt", config, adapter)
    base = str(originals["llava15"]) if name == "llava15_lora" else None
    (bad / "model.safetensors").unlink(missing_ok=True)  # never read: a refusal must not need it
    if name == "llava15_lora":
        (bad / "adapter_model.safetensors").write_bytes(b"not read")
    with pytest.raises(ConfigError, match="cannot evaluate this original-format") as info:
        ModelConfig(name="x", path=str(bad), base=base)
    assert reason in str(info.value) and str(bad) in str(info.value)


def test_lora_needs_its_base_and_family_must_agree(originals):
    with pytest.raises(ConfigError, match="set model.base"):
        ModelConfig(name="x", path=str(originals["llava15_lora"]))
    with pytest.raises(ConfigError, match="is a llava16 checkpoint"):
        ModelConfig(name="x", path=str(originals["llava16"]), family="llava15")
    with pytest.raises(ConfigError, match="apply to original-format"):
        ModelConfig(name="x", path=str(SHIPPED), base=str(originals["llava15"]))
    typed = ModelConfig(name="x", path=str(originals["llava15_lora"]), base=str(originals["llava15"]))
    assert typed.family == "llava15"  # the checkpoint's own setting, no family needed


def test_bin_files_are_read_as_tensors_only(tmp_path):
    torch.save({"w": torch.ones(2)}, tmp_path / "ok.bin")
    assert torch.equal(load_bin(tmp_path / "ok.bin")["w"], torch.ones(2))
    torch.save({"w": torch.ones(2), "code": Path("/etc/passwd")}, tmp_path / "pickle.bin")  # an arbitrary object
    with pytest.raises(OriginalFormatError, match="weights_only=True"):
        load_bin(tmp_path / "pickle.bin")


def _hf_weights(directory: str) -> dict:
    from transformers import AutoConfig, LlavaForConditionalGeneration, LlavaNextForConditionalGeneration

    config = AutoConfig.from_pretrained(directory)
    cls = LlavaNextForConditionalGeneration if config.model_type == "llava_next" else LlavaForConditionalGeneration
    return cls.from_pretrained(directory, dtype=torch.float16).state_dict()


def test_full_checkpoints_convert_weight_for_weight(originals, cache):
    for name in ("llava15", "llava16"):
        directory, record = resolve_checkpoint(originals[name], cache_dir=str(cache))
        source, tower = load_file(str(originals[name] / "model.safetensors")), load_file(
            str(originals["tower"] / "model.safetensors"))
        hf = _hf_weights(directory)
        vocab = source["lm_head.weight"].shape[0]
        assert torch.equal(hf["lm_head.weight"][:vocab], source["lm_head.weight"])
        assert not hf["lm_head.weight"][vocab:].any()  # <image>: a zero row, the original logits untouched
        assert torch.equal(hf["model.language_model.layers.1.mlp.down_proj.weight"],
                           source["model.layers.1.mlp.down_proj.weight"])
        assert torch.equal(hf["model.multi_modal_projector.linear_2.bias"], source["model.mm_projector.2.bias"])
        key = "embeddings.patch_embedding.weight"
        if name == "llava16":  # the tuned tower inside the checkpoint wins over mm_vision_tower's weights
            assert torch.equal(hf[f"model.vision_tower.{key}"],
                               source[f"model.vision_tower.vision_tower.vision_model.{key}"])
            assert torch.equal(hf["model.image_newline"], source["model.image_newline"])
            assert record["vision_tower_weights"] == "checkpoint"
        else:
            assert torch.equal(hf[f"model.vision_tower.{key}"], tower[f"vision_model.{key}"])
        assert record["family"] == name and record["bytes"] > 0


def test_lora_merges_as_peft_does(originals, cache):
    """The merged weights equal PEFT's merge_and_unload on the base in fp16 on CPU (what the
    original builder does), and non_lora_trainables.bin replaces the base's projector."""
    peft = pytest.importorskip("peft")
    from transformers import LlamaConfig, LlamaForCausalLM

    from evalkit.tools.tiny_original import TEXT

    base_state = load_file(str(originals["llava15"] / "model.safetensors"))
    language = {k: v for k, v in base_state.items() if not k.startswith("model.mm_projector")}
    llama = LlamaForCausalLM(LlamaConfig(**TEXT, vocab_size=language["lm_head.weight"].shape[0],
                                         tie_word_embeddings=False)).to(torch.float16)
    llama.load_state_dict(language, strict=True)
    # autocast_adapter_dtype=False: adapter weights in the base's fp16, as PEFT 0.10 (the original's) keeps them
    merged = peft.PeftModel.from_pretrained(llama, str(originals["llava15_lora"]), autocast_adapter_dtype=False)
    merged = merged.merge_and_unload().state_dict()

    directory, record = resolve_checkpoint(originals["llava15_lora"], base=str(originals["llava15"]),
                                           cache_dir=str(cache))
    hf = _hf_weights(directory)
    for key in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.gate_proj.weight"):
        assert torch.equal(hf["model.language_model." + key.removeprefix("model.")], merged[key]), key
        assert not torch.equal(merged[key], base_state[key])
    extra = torch.load(originals["llava15_lora"] / "non_lora_trainables.bin", weights_only=True)
    assert torch.equal(hf["model.multi_modal_projector.linear_1.weight"],
                       extra["base_model.model.model.mm_projector.0.weight"])
    assert record["lora_layers_merged"] == 14 and record["base"] == str(originals["llava15"])


class _SentencePieceTokenizer:
    """What the original's slow LlamaTokenizer gives for text without special tokens: BOS +
    SentencePiece's own encoding (dummy prefix included)."""

    def __init__(self, model_file: Path):
        import sentencepiece as spm

        self.sp, self.bos_token_id = spm.SentencePieceProcessor(model_file=str(model_file)), 1

    def __call__(self, text):
        return type("Encoded", (), {"input_ids": [self.bos_token_id] + self.sp.encode(text)})


@pytest.mark.parametrize("question", ["Is there a red circle in the image?", "What colour?\nAnswer briefly.",
                                      " leading space", "数字 3"])
def test_token_ids_around_image_equal_tokenizer_image_token(originals, cache, question):
    from evalkit.models.llava import LlavaModel

    model = LlavaModel(name="x", path=str(originals["llava15"]), convert_cache=str(cache), device="cpu")
    prepared = model.prepare(Image.new("RGB", (40, 30), "red"), question)
    ids, image_id = prepared.input_ids.tolist(), model.config.image_token_id
    first = ids.index(image_id)
    collapsed = ids[:first] + [IMAGE_TOKEN_INDEX] + [t for t in ids[first:] if t != image_id]
    original = tokenizer_image_token(prepared.prompt, _SentencePieceTokenizer(originals["llava15"] / "tokenizer.model"))
    assert collapsed == original
    assert ids.count(image_id) == 576
    # the SentencePiece space token the original puts after the image (a legacy=False tokenizer drops it)
    assert model.tokenizer.convert_ids_to_tokens(ids[first + 576]) == "▁"


def test_cache_is_keyed_by_content(originals, cache, tmp_path):
    first, record = resolve_checkpoint(originals["llava15"], cache_dir=str(cache))
    stamp = (Path(first) / "model.safetensors").stat().st_mtime_ns
    again, _ = resolve_checkpoint(shutil.copytree(originals["llava15"], tmp_path / "moved"), cache_dir=str(cache))
    assert again == first and (Path(again) / "model.safetensors").stat().st_mtime_ns == stamp  # reused
    changed = _copy(originals["llava15"], tmp_path / "changed", {"mm_vision_select_layer": -3})
    other, other_record = resolve_checkpoint(changed, cache_dir=str(cache))
    assert other != first
    assert json.loads((Path(other) / "config.json").read_text())["vision_feature_layer"] == -3


def test_an_unchanged_checkpoint_is_not_hashed_again(originals, cache, tmp_path, monkeypatch):
    """The content key is remembered by the files' (name, size, mtime) in the cache's keys.json,
    so later loads of a large checkpoint read no weights; a changed file is hashed again."""
    from evalkit.models import original

    source = shutil.copytree(originals["llava15"], tmp_path / "ckpt")
    first, _ = resolve_checkpoint(source, cache_dir=str(cache))
    assert (cache / "keys.json").is_file()
    monkeypatch.setattr(original, "_KEYS", {})  # a new process: only keys.json remembers
    read = []
    monkeypatch.setattr(original, "update_digest", lambda digest, path: read.append(path))
    again, _ = resolve_checkpoint(source, cache_dir=str(cache))
    assert again == first and read == []
    config = source / "config.json"
    config.write_text(config.read_text() + " ")  # same content for conversion, new size: hashed again
    monkeypatch.undo()
    monkeypatch.setattr(original, "_KEYS", {})
    changed, _ = resolve_checkpoint(source, cache_dir=str(cache))
    assert changed != first  # the key is of the bytes, and the bytes changed


def test_convert_cli_writes_a_llava_hf_directory(originals, tmp_path, capsys):
    from evalkit.convert import main

    out = tmp_path / "hf"
    assert main([str(originals["llava15_lora"]), str(out), "--base", str(originals["llava15"])]) == 0
    assert (out / "config.json").is_file() and "model=llava15" in capsys.readouterr().out
    assert main([str(originals["llava15_lora"]), str(out), "--base", str(originals["llava15"])]) == 2  # not empty
    assert main([str(SHIPPED), str(tmp_path / "x")]) == 2  # already llava-hf
    assert "not an original-format" in capsys.readouterr().err
